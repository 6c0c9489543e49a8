"""Phrase-index build and retrieval speed on the default corpus.

Measures (wall-clock, this machine): a cold index build into a fresh cache folder, reusing
the built index (loading encoder + index, as `gener ask` does), and retrieving the top 5,000
evidence sentences for each of the 9 conll2003 subquestions from the loaded index (with
the builds' pseudo-relevance feedback, which ranks twice, unless ``--feedback-phrases 0``).

    python bench/retrieval_speed.py [--cache-dir DIR] [--skip-build] [--feedback-phrases N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from gener.corpus import WikiVitalCorpus
from gener.recipes import load_recipe
from gener.retrieval.encoders import load_encoder
from gener.retrieval.index import open_index
from gener.retrieval.search import FEEDBACK_PHRASES, Searcher, retrieve_with


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default=None,
                        help="index cache (default: a fresh temporary folder)")
    parser.add_argument("--feedback-phrases", type=int, default=FEEDBACK_PHRASES,
                        help="pseudo-relevance feedback of the retrieval (builds' default; 0: "
                             "off, one ranking per question)")
    parser.add_argument("--skip-build", action="store_true",
                        help="time only reuse and retrieval (the index must exist)")
    args = parser.parse_args(argv)
    cache = args.cache_dir or tempfile.mkdtemp(prefix="gener-speed-")
    corpus = WikiVitalCorpus()
    if not args.skip_build:
        started = time.perf_counter()
        open_index(corpus, load_encoder("minilm"), cache, rebuild=True,
                   progress=sys.stderr.isatty())
        print(f"cold build (encoder load + candidates + encoding + FAISS): "
              f"{time.perf_counter() - started:.1f}s")
    started = time.perf_counter()
    encoder = load_encoder("minilm")
    index = open_index(corpus, encoder, cache, progress=False)
    print(f"reuse (encoder load + fingerprint + index load): {time.perf_counter() - started:.2f}s")
    recipe = load_recipe("conll2003").with_k(5000)
    searcher = Searcher(index, encoder, feedback_phrases=args.feedback_phrases)
    started = time.perf_counter()
    results = retrieve_with(searcher, recipe)  # what builds call
    seconds = time.perf_counter() - started
    print(f"retrieval, 9 questions x top-5000 sentences: {seconds:.2f}s "
          f"({sum(len(r.sentences) for r in results)} sentences)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
