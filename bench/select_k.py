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
                      split: str = "validation", benchmarks_dir=None, policy=None
                      ) -> list[dict]:
    """Validation P/R/F1 of the dictionary of each k (most frequent label per phrase), under
    ``policy`` (default: the recipe's)."""
    from gener.recipes import load_recipe
    from gener.stages import load_phrase_labels, load_retrievals

    work_dir = Path(work_dir)
    done = work_dir / "retrieval.done.json"
    if not done.exists():
        raise GenerError(f"{work_dir}: no finished retrieval stage")
    recipe = load_recipe(json.loads(done.read_text())["inputs"]["recipe"]["name"])
    return retrieval_scores(load_retrievals(recipe, work_dir), recipe, benchmark, ks, split,
                            benchmarks_dir, load_phrase_labels(work_dir), policy)


def retrieval_scores(retrieved, recipe, benchmark: str, ks: list[int],
                     split: str = "validation", benchmarks_dir=None,
                     phrase_labels: dict[str, str] | None = None, policy=None
                     ) -> list[dict]:
    """Like :func:`dictionary_scores`, for retrievals in memory (one per subquestion), with
    ``phrase_labels`` as the build's."""
    from gener import pipeline
    from gener.artifacts import SubquestionRetrieval
    from gener.benchmarks import load_benchmark
    from gener.common_words import common_words
    from gener.policy import resolve_policy
    from trainers.evaluation import gold_tags, score_tags
    from trainers.tables import seed_entity_tags

    dataset = load_benchmark(benchmark, split, benchmarks_dir)
    sentences = [list(t) for t in dataset["tokens"]]
    gold = gold_tags(dataset)
    rules = (9,) if all(sq.has_rule(9) for sq in recipe.subquestions) else ()
    policy = policy or resolve_policy(recipe.policy)
    common = common_words() if policy.rule9 == "common" else None
    rows = []
    for k in ks:
        retrievals = [SubquestionRetrieval(r.subquestion, r.sentences[:k]) for r in retrieved]
        dictionary = pipeline.label(retrievals, recipe, policy, phrase_labels,
                                    progress=False).dictionary
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
    parser.add_argument("--policy", default=None, help="labelling policy preset")
    parser.add_argument("--set", action="append", default=[], dest="overrides",
                        metavar="FIELD=VALUE", help="a labelling policy field (repeatable)")
    args = parser.parse_args(argv)
    try:
        from gener.policy import resolve_policy

        ks = [int(k) for k in args.ks.split(",")]
        policy = resolve_policy(None, args.policy, args.overrides) \
            if args.policy or args.overrides else None
        for row in dictionary_scores(args.work_dir, args.benchmark, ks,
                                     benchmarks_dir=args.benchmarks, policy=policy):
            print(json.dumps(row))
    except (GenerError, ValueError) as err:
        print(f"select_k: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
