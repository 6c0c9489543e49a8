"""Dev P@100 of the searcher's score weights on the dev types held out of retriever training.

The dev types are the description types that ``gener retriever train`` holds out (none is a
benchmark type). For each, "Which [type]?" is asked over the default corpus and the top 100
occurrences are judged by whether their phrase is the title of one of that type's articles.
Prints one JSON line per weight combination (sentence weight λ, title bonus, class penalty,
definition weight ν): dev P@100, distinct correct phrases, diversity.

    python bench/score_weights_dev.py --sentence 1,2,3 --title 0.2,1.6 --class 0.3 --definition 1
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    from gener.corpus import WikiVitalCorpus
    from gener.retrieval.search import open_searcher
    from gener.retrieval.training import (
        OccurrenceTargets,
        benchmark_type_forms,
        question,
        training_types,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentence", type=floats, default=[1.0])
    parser.add_argument("--title", type=floats, default=[0.2])
    parser.add_argument("--class", dest="class_penalty", type=floats, default=[0.3])
    parser.add_argument("--definition", type=floats, default=[1.0])
    args = parser.parse_args(argv)
    corpus = WikiVitalCorpus()
    searcher = open_searcher(corpus, progress=False)
    index = searcher.index
    dev = training_types(corpus.articles(), benchmark_type_forms()).dev
    targets = OccurrenceTargets(index, set())
    names = list(dev)
    positives = {t: set(targets.positives(dev[t]).tolist()) for t in names}
    for weights in itertools.product(args.sentence, args.title, args.class_penalty,
                                     args.definition):
        (searcher.sentence_weight, searcher.title_bonus, searcher.class_penalty,
         searcher.definition_weight) = weights
        ranked = searcher.rank([question(t) for t in names], entity_types=names)
        precision, distinct, diversity = [], [], []
        for name, (occurrences, _) in zip(names, ranked, strict=True):
            top = occurrences[:100].tolist()
            hits = [o for o in top if o in positives[name]]
            precision.append(len(hits) / 100)
            distinct.append(len({int(index.occ_key[o]) for o in hits}))
            diversity.append(len({int(index.occ_key[o]) for o in top}))
        print(json.dumps({"lambda": weights[0], "title": weights[1], "class_penalty": weights[2],
                          "nu": weights[3], "dev_p100": round(float(np.mean(precision)), 4),
                          "distinct": round(float(np.mean(distinct)), 2),
                          "diversity": round(float(np.mean(diversity)), 1)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
