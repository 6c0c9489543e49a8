"""``gener build RECIPE``: retrieval -> normalization -> matching -> dataset config."""

from __future__ import annotations

from gener.commands.options import (
    add_corpus_options,
    add_recipe_options,
    open_corpus_from_args,
    recipe_from_args,
)
from gener.phrase_labels import LABELINGS
from gener.recipes.recipe import RETRIEVED_RULE9


def add_build_options(parser) -> None:
    """Options of a build besides recipe and corpus (shared with `gener demo`)."""
    parser.add_argument("--encoder", default="minilm",
                        help="retrieval encoder: minilm (default, offline), a Hub id or a path")
    parser.add_argument("--seed", type=int, default=0, help="seed for multi-type draws")
    parser.add_argument("--deterministic", action="store_true",
                        help="give multi-type phrases their most frequent type instead of a draw")
    parser.add_argument("--cache-dir", default=None,
                        help="phrase index cache (default: $GENER_CACHE or ~/.cache/gener)")
    parser.add_argument("--labeling", choices=LABELINGS, default="phrase",
                        help="label of a phrase retrieved for several labels: the label whose "
                             "questions its text is most similar to (phrase, default), or a "
                             "draw in proportion to its retrieval counts (counts, the paper's)")
    parser.add_argument("--rule9", choices=("all", "common"), default=None,
                        help="for subquestions with rule 9, the lowercase single tokens never "
                             "matched: all (the paper's) or common words only (default: the "
                             "recipe's rule9, else all)")
    parser.add_argument("--abbreviations", choices=("dictionary", "sentence"),
                        default="dictionary",
                        help="rule 8: abbreviations of retrieved phrases become dictionary "
                             "entries, common words excepted (dictionary, default), or are "
                             "tagged only where defined (sentence, the paper's)")
    parser.add_argument("--retrieved-rule9", choices=RETRIEVED_RULE9,
                        default="common",
                        help="for subquestions with rule 9, a single lowercase token retrieved "
                             "as an answer is not tagged where it was retrieved either if it "
                             "is a common word (common, default), always (all), or is tagged "
                             "(off, gener before 2026-12-02)")
    parser.add_argument("--no-head-extension", dest="head_extension", action="store_false",
                        help="do not also retrieve the longer candidate that a retrieved "
                             "single lowercase word ends (\"ovarian cancer\" for \"cancer\"; "
                             "gener before 2026-12-02)")
    parser.add_argument("--head-similarity", type=float, default=None, metavar="MIN",
                        help="drop a retrieved lowercase phrase of several words whose last "
                             "word's similarity to the question is under MIN (\"first "
                             "report\" for \"Which disease?\"); bi-encoders only (default: "
                             "off; 0.3 chosen for MiniLM on validation labels)")
    add_definition_weight_option(parser)
    add_feedback_option(parser)


def add_feedback_option(parser, default: int | None = None) -> None:
    """``--feedback-phrases``: pseudo-relevance feedback of the search (builds: on; `gener
    ask`: off, as its default corpus's proxy benchmark prefers, bench/RETRIEVAL.md)."""
    parser.add_argument("--feedback-phrases", type=int, default=default, metavar="N",
                        help="ask each question again, moved toward the mean vector of its N "
                             "best phrases; 0 turns it off (default "
                             f"{50 if default is None else default})")


DEFINITION_WEIGHT_HELP = ("weight of the first sentence of the document a phrase names, in "
                          "corpora with titled documents; 0 turns it off (default {})")


def add_definition_weight_option(parser, default: float = 0.0) -> None:
    """``--definition-weight``: ν of the search score (builds 0.0; `gener ask` 1.0)."""
    parser.add_argument("--definition-weight", type=float, default=default, metavar="NU",
                        help=DEFINITION_WEIGHT_HELP.format(default))


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "build", help="generate a labelled dataset from a recipe",
        description="Ask the recipe's questions over the corpus, normalize the retrieved "
                    "phrases into a pseudo-dictionary, match it over the evidence sentences, "
                    "and write the dataset config into a Hub-format folder "
                    "(OUT/<config>/train-*.parquet + README.md). Finished stages are reused.")
    add_recipe_options(parser)
    add_corpus_options(parser)
    add_build_options(parser)
    parser.add_argument("--out", default="artifacts/datasets", help="dataset folder")
    parser.set_defaults(run=run)


def settings_from_args(args):
    """BuildSettings from :func:`add_build_options`' arguments."""
    from gener.build import BuildSettings

    return BuildSettings(encoder=args.encoder, seed=args.seed, deterministic=args.deterministic,
                         cache_dir=args.cache_dir, definition_weight=args.definition_weight,
                         labeling=args.labeling, rule9=args.rule9,
                         abbreviations=args.abbreviations,
                         retrieved_rule9=args.retrieved_rule9,
                         head_extension=args.head_extension,
                         feedback_phrases=args.feedback_phrases,
                         head_similarity=args.head_similarity)


def run(args) -> int:
    from gener.build import build

    recipe = recipe_from_args(args)
    result = build(recipe, open_corpus_from_args(args), args.out, settings_from_args(args))
    print(result.summary())
    return 0
