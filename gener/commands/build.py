"""``gener build RECIPE``: retrieval -> normalization -> matching -> dataset config."""

from __future__ import annotations

from gener.commands.options import (
    add_corpus_options,
    add_policy_options,
    add_recipe_options,
    open_corpus_from_args,
    policy_from_args,
    recipe_from_args,
)


def add_build_options(parser) -> None:
    """Options of a build besides recipe and corpus (shared with `gener demo`)."""
    parser.add_argument("--encoder", default="minilm",
                        help="retrieval encoder: minilm (default, offline), a Hub id or a path")
    parser.add_argument("--seed", type=int, default=0, help="seed for multi-label draws")
    parser.add_argument("--cache-dir", default=None,
                        help="phrase index cache (default: $GENER_CACHE or ~/.cache/gener)")
    add_policy_options(parser)


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
    parser.add_argument("--overwrite", action="store_true",
                        help="write into --out even if it holds other files")
    parser.set_defaults(run=run)


def settings_from_args(args, recipe):
    """BuildSettings from :func:`add_build_options`' arguments, for ``recipe``."""
    from gener.stages import BuildSettings

    return BuildSettings(encoder=args.encoder, seed=args.seed, cache_dir=args.cache_dir,
                         policy=policy_from_args(args, recipe))


def run(args) -> int:
    from gener.stages import build

    recipe = recipe_from_args(args)
    result = build(recipe, open_corpus_from_args(args), args.out,
                   settings_from_args(args, recipe), overwrite=args.overwrite)
    print(result.summary())
    return 0
