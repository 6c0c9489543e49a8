"""Tagging throughput: `gener tag` against transformers' token-classification pipeline.

Same model, same sentences (the first N of a benchmark's test split, words joined by spaces,
one per line), CPU. Three ways, each in its own process so that its peak memory (maximum
resident set size) is its own; rounds alternate the three so that a busy machine hurts all
alike:

* ``gener tag MODEL FILE --out OUT`` - the whole command: interpreter start, imports, model
  load and tagging (so its figure is a lower bound);
* ``pipeline("token-classification", aggregation_strategy="first")`` called once per
  sentence, the usual way - timed from the first call to the last (model load excluded);
* the same pipeline given the whole list with ``batch_size`` - timed likewise.

The entities are compared too: (label, start, end) of each line from `gener tag` against the
pipeline's (entity_group, start, end). The model is MiniLM (the default tagger's base) with a
fresh classification head for the benchmark's labels (seed 0), unless ``--model`` names one.

    python bench/tag_throughput.py [--benchmark bc5cdr] [--sentences 2000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def fresh_model(folder: Path, labels: list[str]) -> str:
    """MiniLM with a new token-classification head for ``labels`` (seed 0), saved."""
    import torch
    from transformers import AutoModelForTokenClassification

    from gener.models import resolve_model_path
    from trainers.data import load_tokenizer

    base = resolve_model_path("minilm")
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(
        base, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)})
    model.save_pretrained(folder)
    load_tokenizer(base).save_pretrained(folder)
    return str(folder)


def child_pipeline(model: str, inputs: str, out: str, batch_size: int | None) -> None:
    """Run in a child process: tag with the pipeline, write entities and the seconds."""
    from transformers import pipeline

    texts = Path(inputs).read_text(encoding="utf-8").splitlines()
    tagger = pipeline("token-classification", model=model, aggregation_strategy="first",
                      device="cpu")
    started = time.perf_counter()
    if batch_size is None:
        results = [tagger(text) for text in texts]
    else:
        results = tagger(texts, batch_size=batch_size)
    seconds = time.perf_counter() - started
    rows = [[{"label": e["entity_group"], "start": int(e["start"]), "end": int(e["end"])}
             for e in entities] for entities in results]
    Path(out).write_text(json.dumps({"seconds": seconds, "rows": rows}), encoding="utf-8")


def run_measured(argv: list[str], work: Path) -> tuple[float, int]:
    """Wall seconds and peak resident memory (MiB) of a command. The memory is measured by
    GNU time, which forks the command itself: Linux carries a process's peak over exec, so a
    child of this (large) process would report this process's peak."""
    memory = work / "peak.txt"
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(memory), *argv], cwd=ROOT,
                          stdout=subprocess.DEVNULL)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode})")
    return time.perf_counter() - started, int(memory.read_text().split()[-1]) // 1024


def agreement(ours: list[list[dict]], theirs: list[list[dict]]) -> dict:
    """Lines with identical entities, and entities found by both (of each side's)."""
    same = both = n_ours = n_theirs = 0
    for a, b in zip(ours, theirs, strict=True):
        a = {(e["label"], e["start"], e["end"]) for e in a}
        b = {(e["label"], e["start"], e["end"]) for e in b}
        same += a == b
        both += len(a & b)
        n_ours += len(a)
        n_theirs += len(b)
    return {"identical_lines": same, "lines": len(ours), "shared_entities": both,
            "gener_entities": n_ours, "pipeline_entities": n_theirs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmark", default="bc5cdr")
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default=None, help="a token-classification model folder")
    parser.add_argument("--child", nargs=4, metavar=("MODEL", "INPUT", "OUT", "BATCH"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, inputs, out, batch = args.child
        child_pipeline(model, inputs, out, int(batch) or None)
        return

    from gener.benchmarks import load_benchmark
    from trainers.data import label_names

    test = load_benchmark(args.benchmark, "test")
    test = test.select(range(min(args.sentences, len(test))))
    work = Path(tempfile.mkdtemp(prefix="gener-tag-bench-"))
    inputs = work / "sentences.txt"
    inputs.write_text("".join(" ".join(t) + "\n" for t in test["tokens"]), encoding="utf-8")
    model = args.model or fresh_model(work / "model", label_names(test))
    n = len(test)
    runs = {"gener tag": [], "pipeline, one call per sentence": [],
            "pipeline, whole list, batch_size": []}
    rows = {}
    for _ in range(args.rounds):
        wall, peak = run_measured([sys.executable, "-m", "gener", "tag", model, str(inputs),
                                   "--out", str(work / "gener.jsonl"),
                                   "--batch-size", str(args.batch_size)], work)
        runs["gener tag"].append((wall, wall, peak))
        rows["gener tag"] = [json.loads(line)["entities"] for line in
                             (work / "gener.jsonl").read_text(encoding="utf-8").splitlines()]
        for name, batch in (("pipeline, one call per sentence", 0),
                            ("pipeline, whole list, batch_size", args.batch_size)):
            out = work / f"pipeline{batch}.json"
            wall, peak = run_measured([sys.executable, __file__, "--child", model, str(inputs),
                                       str(out), str(batch)], work)
            result = json.loads(out.read_text(encoding="utf-8"))
            runs[name].append((result["seconds"], wall, peak))
            rows[name] = result["rows"]

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d')}; model: {args.model or 'MiniLM + fresh head (seed 0)'}; "
          f"{n} sentences of {args.benchmark} test; batch size {args.batch_size}; "
          f"{args.rounds} rounds (median)")
    ours = n / statistics.median(s for s, _, _ in runs["gener tag"])
    print("| way | timed | sentences/s | gener tag's speed-up | whole process, sentences/s "
          "| gener tag's speed-up, whole processes | peak memory (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for name, measured in runs.items():
        seconds = statistics.median(s for s, _, _ in measured)
        whole = statistics.median(w for _, w, _ in measured)
        timed = "whole command" if name == "gener tag" else "tagging only"
        print(f"| {name} | {timed} | {n / seconds:.1f} | {ours / (n / seconds):.2f}x | "
              f"{n / whole:.1f} | {ours / (n / whole):.2f}x | "
              f"{max(p for _, _, p in measured)} |")
    for name in ("pipeline, one call per sentence", "pipeline, whole list, batch_size"):
        same = agreement(rows["gener tag"], rows[name])
        print(f"entities, gener tag vs {name}: {json.dumps(same)}")


if __name__ == "__main__":
    main()
