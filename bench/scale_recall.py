"""Recall@k of gener's IVF-PQ against the exact flat index, on real MiniLM phrase vectors.

Reads the phrase vectors of an existing flat index (default: the default corpus's MiniLM
index in the cache), builds the OPQ + IVF-PQ index exactly as ``gener index build --index ivfpq``
does (same construction, seeded training sample), and compares top-k phrase keys for

* every subquestion of the shipped recipes (encoded with the index's encoder), and
* a seeded sample of the corpus's sentence vectors used as queries.

It also reports how many of the exact top k are among the IVF-PQ top ``rescore·k``, and
(questions, nprobe 64) the recall of gener's re-scoring search: the top 10·k candidates
re-scored with their texts encoded again (``gener.retrieval.index.rescore``). Last, whole
searches as builds run them (every hit asked for, the first 10,000 re-scored), per shipped
recipe against the flat index: phrases, ranked occurrences and the evidence sentences kept.

Usage: python bench/scale_recall.py [--index DIR] [--k 100] [--nprobe 16 64 256]
       [--trained FILE] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def recall_at_k(exact: np.ndarray, approx: np.ndarray) -> float:
    """Mean fraction of each row's exact top-k found in its approximate top-k."""
    return float(np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(exact, approx,
                                                                         strict=True)]))


class MemoEncoder:
    """An encoder that remembers the texts it encoded (each phrase is re-encoded once)."""

    def __init__(self, encoder) -> None:
        self.encoder, self.memo, self.encoded = encoder, {}, 0

    def __getattr__(self, name):
        return getattr(self.encoder, name)

    def encode_texts(self, texts, progress=False, desc="encoding"):
        missing = sorted({t for t in texts if t not in self.memo})
        if missing:
            self.encoded += len(missing)
            for text, vector in zip(missing, self.encoder.encode_texts(missing, progress, desc),
                                    strict=True):
                self.memo[text] = vector
        return np.stack([self.memo[t] for t in texts]) if texts else np.zeros((0, self.dim))


def compare_searches(folder: Path, ivfpq, encoder, k: int) -> dict:
    """Whole searches as builds and ``gener ask`` run them (every hit asked for, so only the
    head is re-scored), IVF-PQ (nprobe 64) against the flat index, per shipped recipe:
    phrase recall@k, occurrence recall@k of ``Searcher.rank``, and the overlap of the
    evidence sentences that ``retrieve_with`` keeps (each subquestion's top k_l), from one
    ranking per recipe and index."""
    from gener.recipes import available_recipes, load_recipe
    from gener.retrieval.index import load_index
    from gener.retrieval.search import Searcher

    flat_index, approx_index = load_index(folder), load_index(folder)
    memo = MemoEncoder(encoder)
    approx_index.faiss_index, approx_index.encoder = ivfpq, memo
    flat, approx = Searcher(flat_index, encoder), Searcher(approx_index, memo)
    figures = {"phrases": [], "occurrences": [], "evidence": []}
    seconds = 0.0
    for name in available_recipes():
        recipe = load_recipe(name)
        questions = [sq.question for sq in recipe.subquestions]
        types = [sq.type for sq in recipe.subquestions]
        tick = time.perf_counter()
        ranked = approx.rank(questions, entity_types=types)
        seconds += time.perf_counter() - tick
        queries = encoder.encode_questions(questions)
        every = approx_index.search(queries, approx_index.faiss_index.ntotal)[1][:, :k]
        figures["phrases"] += [recall_at_k(flat_index.faiss_index.search(queries, k)[1], every)]
        exact = flat.rank(questions, entity_types=types)
        figures["occurrences"] += [recall_at_k([r[0][:k] for r in exact],
                                               [r[0][:k] for r in ranked])]
        # What retrieve_with keeps from each ranking: the subquestion's top k_l sentences.
        for sq, exact_ranked, approx_ranked in zip(recipe.subquestions, exact, ranked,
                                                   strict=True):
            ids = {s.sentence_id for s in flat.evidence(exact_ranked, sq, sq.k)}
            found = {s.sentence_id for s in approx.evidence(approx_ranked, sq, sq.k)}
            figures["evidence"].append(len(ids & found) / max(1, len(ids)))
    return {"recipes": len(available_recipes()),
            "subquestions": len(figures["evidence"]),
            f"phrase_recall@{k}": round(float(np.mean(figures["phrases"])), 4),
            f"occurrence_recall@{k}": round(float(np.mean(figures["occurrences"])), 4),
            "evidence_overlap": round(float(np.mean(figures["evidence"])), 4),
            "rank_seconds_all_recipes": round(seconds, 1),
            "phrases_re_encoded": memo.encoded}


def main() -> None:
    import faiss

    from gener.io import default_cache_dir
    from gener.recipes import available_recipes, load_recipe
    from gener.retrieval.encoders import load_encoder
    from gener.retrieval.faiss_store import (
        describe_faiss,
        new_faiss_index,
        set_nprobe,
        train_faiss_index,
        train_sample_size,
        write_faiss_index,
    )
    from gener.retrieval.index import rescore

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=None,
                        help="a flat index folder (default: the cached wiki-vital MiniLM one)")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--nprobe", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--sentence-queries", type=int, default=500)
    parser.add_argument("--rescore", type=int, default=10,
                        help="also report recall within the top rescore·k (default 10)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--trained", type=Path, default=None,
                        help="keep the trained IVF-PQ index in this file and reuse it if present")
    args = parser.parse_args()
    folder = args.index or next(
        p for p in sorted((default_cache_dir() / "index").glob("wiki_vital-*"))
        if json.loads((p / "manifest.json").read_text())["faiss"]["type"] == "flat")
    manifest = json.loads((folder / "manifest.json").read_text())
    flat = faiss.read_index(str(folder / "phrases.faiss"))
    n = flat.ntotal
    vectors = flat.reconstruct_n(0, n)
    questions = sorted({sq.question for name in available_recipes()
                        for sq in load_recipe(name).subquestions})
    encoder = load_encoder(manifest["encoder"]["name"])
    queries = {"questions": encoder.encode_questions(questions)}
    sentences = np.load(folder / "sentences.npy", mmap_mode="r")
    pick = np.sort(np.random.default_rng(1).permutation(len(sentences))[:args.sentence_queries])
    queries["sentences"] = np.ascontiguousarray(sentences[pick], np.float32)

    started = time.perf_counter()
    if args.trained and args.trained.is_file():
        index, train_seconds, sample = faiss.read_index(str(args.trained)), None, []
    else:
        index = new_faiss_index(vectors.shape[1], n, "ivfpq")
        sample = np.sort(np.random.default_rng(0).permutation(n)[:train_sample_size(index, n)])
        train_faiss_index(index, vectors[sample])
        train_seconds = round(time.perf_counter() - started, 1)
        index.add(vectors)
    build_seconds = time.perf_counter() - started
    if train_seconds is None:
        size = args.trained.stat().st_size
    else:  # written beside its destination, then renamed: no half-written index to reuse
        scratch = (args.trained or Path(os.environ.get("TMPDIR", "/tmp")) / "scale_recall.faiss"
                   ).with_suffix(f".{os.getpid()}.tmp")
        size = write_faiss_index(index, scratch)
        if args.trained:
            scratch.replace(args.trained)
        else:
            scratch.unlink()
    result = {"index": str(folder), "encoder": manifest["encoder"]["name"], "phrases": n,
              "faiss": describe_faiss(index), "bytes_per_phrase": round(size / n, 2),
              "train_vectors": len(sample), "train_seconds": train_seconds,
              "build_seconds": round(build_seconds, 1), "k": args.k,
              "queries": {name: len(q) for name, q in queries.items()},
              "load": os.getloadavg()[0], "recall": {}}
    exact = {name: flat.search(q, args.k)[1] for name, q in queries.items()}
    for nprobe in args.nprobe:
        set_nprobe(index, nprobe)
        for name, q in queries.items():
            tick = time.perf_counter()
            approx = index.search(q, args.k)[1]
            ms = 1000 * (time.perf_counter() - tick) / len(q)
            wide = index.search(q, args.rescore * args.k)[1]
            result["recall"][f"{name}@nprobe={nprobe}"] = {
                "recall": round(recall_at_k(exact[name], approx), 4),
                "ms_per_query": round(ms, 2),
                # The best exact re-scoring of the top rescore·k candidates can do.
                f"recall_if_top{args.rescore * args.k}_rescored": round(
                    recall_at_k(exact[name], wide), 4)}
    # What gener's search does when asked for k results: re-score FAISS's top 10·k exactly.
    phrase_texts = json.loads((folder / "phrases.json").read_text(encoding="utf-8"))
    set_nprobe(index, 64)
    tick = time.perf_counter()
    rescored = rescore(index, encoder, phrase_texts, queries["questions"], args.k)[1]
    result["recall"]["questions@nprobe=64,rescored"] = {
        "recall": round(recall_at_k(exact["questions"], rescored), 4),
        "ms_per_query": round(1000 * (time.perf_counter() - tick) / len(questions), 1)}
    result["searches"] = compare_searches(folder, index, encoder, args.k)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
