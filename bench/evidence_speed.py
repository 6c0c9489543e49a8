"""Time gener.answers.evidence: the corpus's sentences where a recipe's kept answers occur.

For each recipe, the kept answers of every subquestion (default policy, default corpus,
cached index) are found once; then evidence() runs for all the subquestions, ``--rounds``
times, and the median seconds are printed with the sentences found.

    python bench/evidence_speed.py [--recipes conll2003,wnut16,bc5cdr] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    from gener import answers as ga
    from gener.corpus import WikiVitalCorpus
    from gener.pipeline import open_searcher, prepare
    from gener.policy import LabellingPolicy
    from gener.recipes import load_recipe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="conll2003,wnut16,bc5cdr")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    policy = LabellingPolicy()
    searcher = open_searcher(WikiVitalCorpus(), policy, progress=False)
    for name in args.recipes.split(","):
        recipe = prepare(load_recipe(name), policy)
        retrievals = ga.retrieve_answers(searcher, recipe, policy.min_confidence)
        kept = [([a for a in r.answers if a.confidence >= policy.min_confidence], r.subquestion.k)
                for r in retrievals]
        seconds = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            found = [ga.evidence(searcher, answers, k) for answers, k in kept]
            seconds.append(time.perf_counter() - started)
        print(f"{name}: {len(kept)} subquestions, {sum(len(a) for a, _ in kept)} kept answers, "
              f"{sum(map(len, found))} sentences, evidence {statistics.median(seconds):.2f} s "
              f"(median of {args.rounds})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
