"""Scale-out benchmarks for sharded index builds; figures go to bench/SCALE.md.

    python bench/scale_bench.py corpus --sentences 1000000 --out /tmp/scale/corpus-1m.jsonl
    python bench/scale_bench.py memory --corpus /tmp/scale/corpus-1m.jsonl --shards 2
    python bench/scale_bench.py corpus --names --out /tmp/scale/corpus-1m-names.jsonl
    python bench/scale_bench.py spacy --corpus /tmp/scale/corpus-1m.jsonl --sentences 5000
    python bench/scale_bench.py processes --corpus /tmp/scale/corpus-1m.jsonl --sentences 1500

* ``corpus`` writes a generated corpus: each line one sentence spliced from two random
  sentences of the default corpus (the head of one, the tail of another; seeded), so the
  text looks like Wikipedia's but most sentences are new; ``--names`` also puts a random
  two-word name at each splice, so that most sentences add a phrase of their own.
* ``memory`` runs the whole sharded pipeline in a child process (streaming read through
  ``datasets``, candidate extraction, encoding, shard writing, IVF-PQ training, merge) and
  reports its peak resident memory (``ru_maxrss``), time and bytes per phrase. It uses two
  fast stand-ins, so that 1M sentences fit in minutes on 2 cores: a hashing encoder (384-d,
  mean of seeded random word vectors from a 65,536-row table) and a regex candidate
  extractor (capitalised runs and lowercase word pairs). Their memory does not grow with the
  corpus; ``spacy`` and ``processes`` measure the real tagger and MiniLM.
* ``spacy`` measures spaCy candidate extraction (sentences/s) on the first N sentences.
* ``processes`` builds the first N sentences' MiniLM index with 1 process (1 shard) and with
  ``accelerate launch --num_processes 2`` (2 shards, gloo), reports encoding throughput per
  process, and compares the two indexes' retrieval results for every recipe subquestion.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


SYLLABLES = ("ka lo mi ne ru sa ti vo ze pa do li mu ra se ko ba ni te gu").split()


def make_corpus(sentences: int, out: Path, seed: int = 0, names: bool = False) -> None:
    """Write ``sentences`` spliced sentences, one JSON line each.

    With ``names``, a random two-word name ("Kalomi Rusate", 20 syllables, 3 per word) is
    put at each splice, so that most sentences hold a phrase seen nowhere else.
    """
    from tqdm import tqdm

    from gener.corpus import WikiVitalCorpus
    from gener.io import atomic_file

    source = [s.text.split(" ") for s in WikiVitalCorpus().sentences()]
    source = [words for words in source if len(words) >= 6]
    rng = np.random.default_rng(seed)
    with atomic_file(out) as f:
        for i in tqdm(range(sentences), desc="generating", unit="sentence"):
            a, b = rng.integers(len(source), size=2)
            head, tail = source[a], source[b]
            cut_a, cut_b = rng.integers(2, len(head) - 1), rng.integers(1, len(tail) - 2)
            middle = [("".join(rng.choice(SYLLABLES, 3))).title() for _ in range(2)] \
                if names else []
            text = " ".join(head[:cut_a] + middle + tail[cut_b:])
            f.write(json.dumps({"id": f"g{i}", "text": text}, ensure_ascii=False) + "\n")


class HashingEncoder:
    """A fast stand-in encoder for memory benchmarks: mean of hashed random word vectors."""

    name, dim, contextual = "hashing-384", 384, False
    _WORD = re.compile(r"\w+")

    def __init__(self, buckets: int = 65_536, seed: int = 0) -> None:
        table = np.random.default_rng(seed).standard_normal((buckets, self.dim), np.float32)
        self.table, self.buckets = table, buckets

    def identity(self) -> dict:
        return {"kind": "hashing", "name": self.name, "dim": self.dim, "buckets": self.buckets}

    def encode_questions(self, questions: list[str]) -> np.ndarray:
        return self.encode_texts(questions)

    def encode_texts(self, texts: list[str], progress: bool = False,
                     desc: str = "encoding") -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), 1024):
            ids = [[zlib.crc32(w.encode()) % self.buckets
                    for w in self._WORD.findall(t.lower())] or [0]
                   for t in texts[start:start + 1024]]
            lengths = np.array([len(x) for x in ids])
            rows = self.table[np.concatenate(ids)]
            sums = np.add.reduceat(rows, np.concatenate([[0], np.cumsum(lengths)[:-1]]))
            out[start:start + len(ids)] = sums / np.linalg.norm(sums, axis=1, keepdims=True)
        return out


_CAPITALISED = re.compile(r"[A-Z][\w'-]*(?: (?:of |and |de )?[A-Z][\w'-]*)*")
_PAIR = re.compile(r"\b[a-z]{4,} [a-z]{4,}\b")


def regex_candidates(texts: list[str]) -> list[list[tuple[int, int, bool]]]:
    """A fast stand-in candidate extractor: capitalised runs and lowercase word pairs."""
    return [sorted({(m.start(), m.end(), False) for m in _CAPITALISED.finditer(t)}
                   | {(m.start(), m.end(), m.group().endswith("s"))
                      for m in _PAIR.finditer(t)}) for t in texts]


def build_child(corpus: str, cache: str, shards: int, index_type: str) -> None:
    """In a child process: the sharded build with the stand-ins; prints the manifest."""
    from gener.retrieval.index import ensure_index
    from gener.retrieval.index_format import IndexSettings
    from gener.retrieval.sharding import DatasetsStreamCorpus

    started = time.perf_counter()
    path, manifest = ensure_index(DatasetsStreamCorpus(corpus), HashingEncoder(), cache,
                                  IndexSettings(index_type=index_type), progress=False,
                                  rebuild=True, shards=shards, candidates=regex_candidates)
    manifest["wall_seconds"] = round(time.perf_counter() - started, 1)
    print("MANIFEST", json.dumps({"path": str(path), **manifest}))


def memory(args) -> dict:
    before = load()
    started = time.perf_counter()
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import scale_bench; "
            f"scale_bench.build_child({str(args.corpus)!r}, {str(args.cache)!r}, "
            f"{args.shards}, {args.index_type!r})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if done.returncode:
        sys.exit(done.stderr[-3000:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB, largest child
    manifest = json.loads(done.stdout.split("MANIFEST", 1)[1])
    return {"what": "memory", "corpus": str(args.corpus), "shards": args.shards,
            "encoder": "hashing-384 (stand-in)", "candidates": "regex (stand-in)",
            "counts": manifest["counts"], "faiss_file": manifest["faiss_file"],
            "peak_rss_gib": round(peak / 2**20, 3),
            "wall_seconds": round(time.perf_counter() - started, 1),
            "build_seconds": manifest["build_seconds"],
            "shard_seconds": manifest["sharding"]["shard_seconds"],
            "load_before": before, "load_after": load()}


def first_sentences(corpus: Path, n: int, out: Path) -> Path:
    with open(corpus, encoding="utf-8") as f, open(out, "w", encoding="utf-8") as g:
        for _, line in zip(range(n), f, strict=False):
            g.write(line)
    return out


def spacy_speed(args) -> dict:
    from gener.retrieval.candidates import extract_candidates, load_tagger

    texts = [json.loads(line)["text"] for _, line in zip(range(args.sentences),
                                                         open(args.corpus, encoding="utf-8"),
                                                         strict=False)]
    nlp = load_tagger()
    before = load()
    tick = time.perf_counter()
    n = sum(len(x) for x in extract_candidates(texts, nlp))
    seconds = time.perf_counter() - tick
    return {"what": "spacy", "sentences": len(texts), "candidates": n,
            "seconds": round(seconds, 1), "sentences_per_s": round(len(texts) / seconds),
            "hours_for_1m": round(1e6 / (len(texts) / seconds) / 3600, 2),
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
            "load_before": before, "load_after": load()}


def gener_command(launcher: list[str], corpus: Path, cache: Path, shards: int) -> dict:
    command = [*launcher, "index", "build", "--corpus", str(corpus), "--streaming",
               "--cache-dir", str(cache), "--shards", str(shards), "--rebuild"]
    before = load()
    tick = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": "",
                               "TOKENIZERS_PARALLELISM": "false"})
    if done.returncode:
        sys.exit(done.stderr[-3000:])
    manifest = json.loads(done.stdout)
    per_process = []
    for seconds, counts in zip(manifest["sharding"]["shard_seconds"],
                               manifest["sharding"]["shard_counts"], strict=True):
        encode = seconds["sentences"] + seconds["phrases"]
        per_process.append({"sentences": counts["sentences"], "phrases": counts["phrases"],
                            "encode_seconds": round(encode, 1),
                            "candidate_seconds": seconds["candidates"],
                            "sentences_per_s": round(counts["sentences"] / encode, 1),
                            "texts_per_s": round((counts["sentences"] + counts["phrases"])
                                                 / encode, 1)})
    return {"command": " ".join(command[-12:]),
            "wall_seconds": round(time.perf_counter() - tick, 1),
            "per_shard": per_process, "path": manifest["path"],
            "counts": manifest["counts"], "load_before": before, "load_after": load()}


def processes(args) -> dict:
    from gener.recipes import available_recipes, load_recipe
    from gener.retrieval.encoders import load_encoder
    from gener.retrieval.index import load_index
    from gener.retrieval.search import Searcher

    small = first_sentences(args.corpus, args.sentences,
                            args.cache / f"first-{args.sentences}.jsonl")
    gener = [sys.executable, "-m", "gener"]
    accelerate = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
                  "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
                  "--dynamo_backend", "no", "--main_process_port", "29561", "-m", "gener"]
    one = gener_command(gener, small, args.cache / "one", 1)
    two = gener_command(accelerate, small, args.cache / "two", 2)
    encoder = load_encoder("minilm")
    sqs = [(sq.question, sq.type) for name in available_recipes()
           for sq in load_recipe(name).subquestions]
    sqs = sorted(set(sqs))
    ranked = [Searcher(load_index(Path(r["path"])), encoder).rank(
        [q for q, _ in sqs], entity_types=[t for _, t in sqs]) for r in (one, two)]
    same_top, max_diff = [], 0.0
    for (occ_a, score_a), (occ_b, score_b) in zip(*ranked, strict=True):
        same_top.append(bool(np.array_equal(occ_a[:100], occ_b[:100])))
        max_diff = max(max_diff, float(np.abs(score_a[:100] - score_b[:100]).max()))
    return {"what": "processes", "sentences": args.sentences, "one_process": one,
            "two_processes": two, "questions": len(sqs),
            "identical_top100_occurrences": sum(same_top),
            "max_top100_score_difference": max_diff,
            "speedup_wall": round(one["wall_seconds"] / two["wall_seconds"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["corpus", "memory", "spacy", "processes"])
    parser.add_argument("--corpus", type=Path, default=Path("/tmp/scale/corpus-1m.jsonl"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--sentences", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--index-type", default="ivfpq")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/scale/cache"))
    parser.add_argument("--json", type=Path, default=None, help="append the figures here")
    parser.add_argument("--names", action="store_true",
                        help="corpus: put a random name at each splice (more unique phrases)")
    args = parser.parse_args()
    if args.what == "corpus":
        make_corpus(args.sentences, args.out or args.corpus, names=args.names)
        return
    args.cache.mkdir(parents=True, exist_ok=True)
    result = {"memory": memory, "spacy": spacy_speed, "processes": processes}[args.what](args)
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "a", encoding="utf-8") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
