"""Validation dictionary P/R/F1 of each benchmark's build, with and without the labelling
and matching changes of gener over the paper (bench/MATCHING.md).

For each benchmark, its recipe's subquestions are retrieved (k evidence sentences each, as
``gener build --k``) from a corpus (default: the benchmark's own train sentences without
labels, the X_train setting), and the pseudo-dictionary is matched over the benchmark's
**validation** split (``bench/select_k.py``'s measure: label quality without training).
Variants, each adding one change to the previous:

* ``paper``: labels drawn by retrieval counts, rule 9 on every lowercase single token,
  abbreviations tagged only where defined;
* ``+phrase labels``: one label per phrase by phrase-question similarity (``--labeling``);
* ``+rule 9 scope``: the recipe's rule 9 scope (``rule9: common`` in bc5cdr.yaml);
* ``+abbreviation entries``: rule 8's abbreviations become entries (``--abbreviations``).

``--ks`` sweeps k instead (one k list for every benchmark, or ``NAME=K,K,...`` per
benchmark) and ``--variants current`` keeps only the last variant (gener's build): how the
old tables plan's ``gener_xtrain_k`` row (bench/tables/plan.yaml) chose k on validation.

    python bench/dictionary_dev.py [--benchmarks conll2003,...] [--corpus xtrain|wiki-vital]
        [--ks 500,1000 | --ks conll2003=1000,5000 --ks bc5cdr=500,2000]
        [--variants all|current] [--feedback-phrases N] [--no-head-extension] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BENCHMARKS = ("conll2003", "wikigold", "wnut16", "ncbi_disease", "bc5cdr")
# Evidence sentences per subquestion in setting (b), as in trainers/tables_plan.yaml.
XTRAIN_K = {"wikigold": 100, "wnut16": 10}
# Labelling-policy fields of each variant, over the recipe's policy.
VARIANTS = [("paper", {"labeling": "counts", "rule9": "all", "abbreviations": "sentence"}),
            ("+phrase labels", {"rule9": "all", "abbreviations": "sentence"}),
            ("+rule 9 scope", {"abbreviations": "sentence"}),
            ("+abbreviation entries", {})]


def parse_ks(values: list[str]) -> dict[str, list[int]]:
    """``--ks`` values: benchmark name ("" for all) -> k values."""
    sweeps = {}
    for value in values:
        name, _, ks = value.rpartition("=")
        try:
            sweeps[name] = [int(k) for k in ks.split(",")]
        except ValueError:
            raise SystemExit(f"dictionary_dev: error: --ks {value!r}: expected K,K,... "
                             "or NAME=K,K,...") from None
    return sweeps


def main(argv: list[str] | None = None) -> int:
    from bench.select_k import retrieval_scores
    from gener import pipeline
    from gener.corpus import open_corpus
    from gener.io import atomic_write_text
    from gener.policy import resolve_policy
    from gener.recipes import load_recipe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", default=",".join(BENCHMARKS))
    parser.add_argument("--corpus", choices=("xtrain", "wiki-vital"), default="xtrain")
    parser.add_argument("--k", type=int, default=1000,
                        help="evidence sentences per subquestion (X_train: Wikigold 100, "
                             "WNUT-16 10, as in the tables plan)")
    parser.add_argument("--ks", action="append", default=[],
                        help="k values to sweep: K,K,... for all benchmarks or NAME=K,K,...")
    parser.add_argument("--variants", choices=("all", "current"), default="all")
    parser.add_argument("--feedback-phrases", type=int, default=None,
                        help="the search's pseudo-relevance feedback (0: off; default: gener's)")
    parser.add_argument("--no-head-extension", dest="head_extension", action="store_false",
                        help="retrieve without head extension")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    sweeps = parse_ks(args.ks)
    variants = VARIANTS if args.variants == "all" else VARIANTS[-1:]
    rows = []
    for name in args.benchmarks.split(","):
        xtrain = args.corpus == "xtrain"
        ks = sweeps.get(name) or sweeps.get("") or [
            XTRAIN_K.get(name, args.k) if xtrain else args.k]
        corpus = open_corpus(f"benchmark:{name}:train" if xtrain else "wiki-vital")
        base = load_recipe(name)
        retrieval = {"head_extension": args.head_extension}
        if args.feedback_phrases is not None:
            retrieval["feedback_phrases"] = args.feedback_phrases
        policy = resolve_policy(base.policy, None, retrieval)
        searcher = pipeline.open_searcher(corpus, policy, progress=False)
        for k in ks:
            recipe = pipeline.prepare(base.with_k(k), policy)
            retrieved, by_phrase = pipeline.retrieve(recipe, searcher, policy)
            for variant, fields in variants:
                labelling = policy.with_overrides(fields)
                score = retrieval_scores(
                    retrieved, recipe, name, [k], policy=labelling,
                    phrase_labels=by_phrase if labelling.labeling == "phrase" else None)[0]
                rows.append({"benchmark": name, "corpus": args.corpus, "variant": variant,
                             **score})
                print(json.dumps(rows[-1]), flush=True)
    if args.json:
        atomic_write_text(args.json, json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
