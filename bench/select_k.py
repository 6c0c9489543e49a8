"""Choose k (evidence sentences per subquestion) on a benchmark's validation split.

For each candidate k, the pseudo-dictionary is rebuilt from the first k sentences of a
finished build's retrieval files (retrieval ranks sentences, so a smaller k is a prefix),
and matched over the validation sentences; its P/R/F1 there measures the labels' quality
without training. Usage::

    python bench/select_k.py RUN/dataset/.gener-work/ncbi_disease --benchmark ncbi_disease \\
        --ks 100,200,300,500,1000
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gener.errors import GenerError


def dictionary_scores(work_dir: str | Path, benchmark: str, ks: list[int],
                      split: str = "validation", benchmarks_dir=None,
                      rule9: str | None = None, abbreviations: str = "dictionary"
                      ) -> list[dict]:
    """Validation P/R/F1 of the dictionary of each k (most frequent label per phrase)."""
    from gener.stages import load_phrase_labels, load_retrievals
    from gener.recipes import load_recipe

    work_dir = Path(work_dir)
    done = work_dir / "retrieval.done.json"
    if not done.exists():
        raise GenerError(f"{work_dir}: no finished retrieval stage")
    recipe = load_recipe(json.loads(done.read_text())["inputs"]["recipe"]["name"])
    return retrieval_scores(load_retrievals(recipe, work_dir), recipe, benchmark, ks, split,
                            benchmarks_dir, load_phrase_labels(work_dir), rule9,
                            abbreviations)


def retrieval_scores(retrieved, recipe, benchmark: str, ks: list[int],
                     split: str = "validation", benchmarks_dir=None,
                     phrase_labels: dict[str, str] | None = None,
                     rule9: str | None = None, abbreviations: str = "dictionary"
                     ) -> list[dict]:
    """Like :func:`dictionary_scores`, for retrievals in memory (one per subquestion).

    ``phrase_labels`` as the build's; ``rule9`` and ``abbreviations`` as the labelling
    policy's fields (``rule9`` None: the recipe's policy).
    """
    from gener.artifacts import SubquestionRetrieval
    from gener.benchmarks import load_benchmark
    from gener.common_words import common_words
    from gener.matching import annotate
    from gener.policy import resolve_policy
    from trainers.evaluation import gold_tags, score_tags
    from trainers.tables import seed_entity_tags

    dataset = load_benchmark(benchmark, split, benchmarks_dir)
    sentences = [list(t) for t in dataset["tokens"]]
    gold = gold_tags(dataset)
    rules = (9,) if all(sq.has_rule(9) for sq in recipe.subquestions) else ()
    common = common_words() if (rule9 or resolve_policy(recipe.policy).rule9) == "common" \
        else None
    rows = []
    for k in ks:
        retrievals = [SubquestionRetrieval(r.subquestion, r.sentences[:k]) for r in retrieved]
        dictionary = annotate(
            retrievals, recipe.labels, progress=False, phrase_labels=phrase_labels,
            abbreviation_entries=common_words() if abbreviations == "dictionary" else None
        ).dictionary
        phrases = {label: [] for label in recipe.labels}
        for key, counts in dictionary.counts.items():
            phrases[max(counts, key=counts.get)].append(key)
        tags = seed_entity_tags(sentences, phrases, rules=rules, common_words=common,
                                capitals_only=frozenset(dictionary.capitals_only))
        scores = score_tags(tags, gold, recipe.labels)
        rows.append({"k": k, "phrases": len(dictionary),
                     **{m: round(scores[m], 4) for m in ("precision", "recall", "f1")}})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", help="a build's .gener-work/<config> folder")
    parser.add_argument("--benchmark", required=True)
    parser.add_argument("--ks", default="100,200,300,500,1000")
    parser.add_argument("--benchmarks", default=None, help="benchmarks folder")
    parser.add_argument("--rule9", choices=("all", "common"), default=None,
                        help="the labelling policy's rule9 (default: the recipe's)")
    parser.add_argument("--abbreviations", choices=("dictionary", "sentence"),
                        default="dictionary", help="the labelling policy's abbreviations")
    args = parser.parse_args(argv)
    try:
        ks = [int(k) for k in args.ks.split(",")]
        for row in dictionary_scores(args.work_dir, args.benchmark, ks,
                                     benchmarks_dir=args.benchmarks, rule9=args.rule9,
                                     abbreviations=args.abbreviations):
            print(json.dumps(row))
    except (GenerError, ValueError) as err:
        print(f"select_k: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
