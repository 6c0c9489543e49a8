"""Tagging throughput: `gener tag` against transformers' token-classification pipeline.

Same model, same sentences (the first N of a benchmark's test split, words joined by spaces,
one per line), CPU. Each way runs in its own process so that its peak memory (maximum
resident set size) is its own; rounds alternate the ways so that a busy machine hurts all
alike:

* ``gener tag MODEL FILE --out OUT [--precision bf16]`` - the whole command: interpreter
  start, imports, model load and tagging;
* gener's Tagger (what `gener tag` calls, in its chunks of lines), fp32 and bf16 - timed
  from the first call to the last (model load excluded);
* ``pipeline("token-classification", aggregation_strategy="first")`` called once per
  sentence, the usual way - timed likewise;
* the same pipeline given the whole list with ``batch_size`` - timed likewise.

The entities are compared too: (label, start, end) of each line from gener against the
pipeline's (entity_group, start, end), and bf16's against fp32's. The model is MiniLM (the
default tagger's base) with a fresh classification head for the benchmark's labels (seed
0), unless ``--model`` names one; a model saved by `gener train` with rules on predictions
differs from the plain pipeline where its rules act.

Last, the ceiling: the model's forward FLOPs for these sentences (its matrix products, as the
tokenizer splits them, without padding) and this CPU's rate on a matrix product of the
model's shapes in fp32 and bf16 give the most sentences/s any tagger of this model can reach
in each precision, and each way's share of it.

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


def child_tagger(model: str, inputs: str, out: str, batch_size: int, precision: str) -> None:
    """Run in a child process: tag with gener's Tagger as `gener tag` does, write entities
    and the seconds."""
    from gener.commands.tag import CHUNK_LINES
    from trainers.inference import Tagger

    texts = Path(inputs).read_text(encoding="utf-8").splitlines()
    tagger = Tagger(model, batch_size=batch_size, precision=precision)
    started = time.perf_counter()
    results = []
    for begin in range(0, len(texts), CHUNK_LINES):
        results += tagger.tag_many(texts[begin:begin + CHUNK_LINES])
    seconds = time.perf_counter() - started
    rows = [[{"label": e.label, "start": e.start, "end": e.end} for e in entities]
            for entities in results]
    Path(out).write_text(json.dumps({"seconds": seconds, "rows": rows}), encoding="utf-8")


def forward_gflop(model: str, texts: list[str]) -> float:
    """The model's forward FLOPs (GFLOP) over ``texts``: its layers' matrix products and
    attention, for each text's tokens alone (no padding)."""
    from transformers import AutoConfig

    from trainers.data import load_tokenizer

    config = AutoConfig.from_pretrained(model)
    hidden, inner = config.hidden_size, config.intermediate_size
    lengths = [len(ids) for ids in load_tokenizer(model)(texts)["input_ids"]]
    per_token = 2 * (4 * hidden * hidden + 2 * hidden * inner)  # projections and feed-forward
    attention = sum(4 * n * n * hidden for n in lengths)  # scores and weighted values
    return config.num_hidden_layers * (per_token * sum(lengths) + attention) / 1e9


def gemm_rate(hidden: int, inner: int, dtype_name: str, rows: int = 4096) -> float:
    """GFLOP/s of this CPU on a (rows x hidden) @ (hidden x inner) product, best of five."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(rows, hidden, dtype=dtype), torch.randn(hidden, inner, dtype=dtype)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(10):
            a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * rows * hidden * inner * 10 / best / 1e9


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
            "entities": n_ours, "pipeline_entities": n_theirs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmark", default="bc5cdr")
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default=None, help="a token-classification model folder")
    parser.add_argument("--child", nargs=5, metavar=("KIND", "MODEL", "INPUT", "OUT", "ARG"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, model, inputs, out, arg = args.child
        if kind == "pipeline":
            child_pipeline(model, inputs, out, int(arg) or None)
        else:
            child_tagger(model, inputs, out, args.batch_size, arg)
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
    batch = str(args.batch_size)
    # name: (command's extra arguments, child kind and argument); a command is timed whole.
    ways = {
        "gener tag": (["--precision", "fp32"], None),
        "gener tag --precision bf16": (["--precision", "bf16"], None),
        "gener Tagger": (None, ("tagger", "fp32")),
        "gener Tagger, bf16": (None, ("tagger", "bf16")),
        "pipeline, one call per sentence": (None, ("pipeline", "0")),
        "pipeline, whole list, batch_size": (None, ("pipeline", batch)),
    }
    runs = {name: [] for name in ways}
    rows = {}
    for _ in range(args.rounds):
        for name, (extra, child) in ways.items():
            out = work / "out.json"
            if child is None:
                wall, peak = run_measured([sys.executable, "-m", "gener", "tag", model,
                                           str(inputs), "--out", str(out),
                                           "--batch-size", batch, *extra], work)
                runs[name].append((wall, wall, peak))
                rows[name] = [json.loads(line)["entities"] for line in
                              out.read_text(encoding="utf-8").splitlines()]
                continue
            wall, peak = run_measured([sys.executable, __file__, "--batch-size", batch,
                                       "--child", child[0], model, str(inputs), str(out),
                                       child[1]], work)
            result = json.loads(out.read_text(encoding="utf-8"))
            runs[name].append((result["seconds"], wall, peak))
            rows[name] = result["rows"]

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d')}; model: {args.model or 'MiniLM + fresh head (seed 0)'}; "
          f"{n} sentences of {args.benchmark} test; batch size {args.batch_size}; "
          f"{args.rounds} rounds (median)")
    speed = {}
    print("| way | timed | sentences/s | whole process, sentences/s | peak memory (MiB) |")
    print("|---|---|---|---|---|")
    for name, measured in runs.items():
        seconds = statistics.median(s for s, _, _ in measured)
        whole = statistics.median(w for _, w, _ in measured)
        speed[name] = (n / seconds, n / whole)
        timed = "whole command" if ways[name][1] is None else "tagging only"
        print(f"| {name} | {timed} | {n / seconds:.1f} | {n / whole:.1f} | "
              f"{max(p for _, _, p in measured)} |")
    one, listed = "pipeline, one call per sentence", "pipeline, whole list, batch_size"
    # gener's ways, each with its fp32 counterpart (None for the fp32 ones).
    ours = {"gener tag": None, "gener tag --precision bf16": "gener tag",
            "gener Tagger": None, "gener Tagger, bf16": "gener Tagger"}
    for name, fp32 in ours.items():
        timed, whole = speed[name]
        same = json.dumps(agreement(rows[name], rows[one]))
        print(f"{name}: {timed / speed[one][0]:.2f}x / {timed / speed[listed][0]:.2f}x the "
              "pipeline one call per sentence / whole list (timed parts); whole processes "
              f"{whole / speed[one][1]:.2f}x / {whole / speed[listed][1]:.2f}x; entities "
              f"against one call per sentence: {same}")
        if fp32:
            print(f"  {name}, entities against {fp32}: "
                  f"{json.dumps(agreement(rows[name], rows[fp32]))}")

    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model)
    gflop = forward_gflop(model, inputs.read_text(encoding="utf-8").splitlines())
    print(f"ceiling: {gflop:.0f} GFLOP of forward passes ({gflop / n * 1000:.0f} MFLOP a "
          "sentence)")
    for precision, ways_of in (("float32", ("gener Tagger", one, listed)),
                               ("bfloat16", ("gener Tagger, bf16",))):
        rate = gemm_rate(config.hidden_size, config.intermediate_size, precision)
        most = rate / gflop * n
        shares = ", ".join(f"{name} {speed[name][0] / most:.0%}" for name in ways_of)
        print(f"  {precision}: matrix products at {rate:.0f} GFLOP/s, at most {most:.0f} "
              f"sentences/s = {most / speed[one][0]:.2f}x the pipeline one call per "
              f"sentence; reached: {shares}")


if __name__ == "__main__":
    main()
