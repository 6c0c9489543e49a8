"""Validation dictionary F1 of wiki-vital builds for several definition weights ν.

For each ν, every benchmark recipe's subquestions are retrieved from the default corpus
(k evidence sentences each, as ``gener build --k``), the pseudo-dictionary is built and
matched over the benchmark's **validation** split (``bench/select_k.py``'s measure: label
quality without training). Used to choose the searcher's ``DEFINITION_WEIGHT`` on dev data.

    python bench/definition_weight_dev.py [--weights 0,0.5,1,1.5] [--k 1000] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BENCHMARKS = ("conll2003", "wikigold", "wnut16", "ncbi_disease", "bc5cdr")


def main(argv: list[str] | None = None) -> int:
    from bench.select_k import retrieval_scores
    from gener.corpus import WikiVitalCorpus
    from gener.io import atomic_write_text
    from gener.recipes import load_recipe
    from gener.retrieval.search import open_searcher, retrieve_with

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="0,0.5,1,1.5")
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--benchmarks", default=",".join(BENCHMARKS))
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    searcher = open_searcher(WikiVitalCorpus(), progress=False)
    rows = []
    for name in args.benchmarks.split(","):
        recipe = load_recipe(name).with_k(args.k)
        for weight in [float(w) for w in args.weights.split(",")]:
            searcher.definition_weight = weight
            retrieved = retrieve_with(searcher, recipe)
            score = retrieval_scores(retrieved, recipe, name, [args.k])[0]
            rows.append({"benchmark": name, "definition_weight": weight, **score})
            print(json.dumps(rows[-1]), flush=True)
    if args.json:
        atomic_write_text(args.json, json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
