"""``gener finetune MODEL``: few-shot fine-tuning on k sampled benchmark sentences (§4.2)."""

from __future__ import annotations

import json

from gener.commands.options import positive_int


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "finetune", help="few-shot fine-tune a model on k benchmark sentences, several samples",
        description="Draw k sentences from a benchmark's train split (sample s uses seed s), "
                    "fine-tune the model on them with plain supervision, score it on a split, "
                    "and report each sample's P/R/F1 and their mean ± standard deviation, as "
                    "in the paper's few-shot experiment. MODEL is a model folder written by "
                    "`gener train` (its classifier head is kept when it knows the benchmark's "
                    "types) or a base model (minilm, a Hub id, a folder).")
    parser.add_argument("model", help="starting model: a `gener train` folder, minilm, a Hub id")
    parser.add_argument("--benchmark", required=True,
                        help="conll2003, wikigold, wnut16, ncbi_disease or bc5cdr")
    parser.add_argument("--k", type=positive_int, default=20, help="training sentences per sample")
    parser.add_argument("--samples", type=positive_int, default=5, help="sampled training sets")
    parser.add_argument("--split", default="test", help="split to score on (default: test)")
    parser.add_argument("--out", required=True, help="folder for the sample models and the JSON")
    parser.add_argument("--max-steps", type=positive_int, default=100)
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument("--lr", type=float, default=5e-5, help="peak learning rate")
    parser.add_argument("--max-length", type=positive_int, default=128)
    parser.add_argument("--benchmarks", default=None, help="benchmarks folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    from gener.benchmarks import load_benchmark
    from gener.errors import GenerError
    from gener.io import atomic_write_text
    from trainers.finetune import FinetuneSettings, finetune

    train_split = load_benchmark(args.benchmark, "train", args.benchmarks)
    if args.k > len(train_split):
        raise GenerError(f"--k {args.k} is larger than the {args.benchmark} train split "
                         f"({len(train_split)} sentences)")
    model = Path(args.model)
    if not model.exists() and (args.model.startswith((".", "/", "~")) or model.parent.is_dir()
                               and str(model.parent) != "."):
        raise GenerError(f"model folder {args.model} not found")
    eval_split = load_benchmark(args.benchmark, args.split, args.benchmarks)
    settings = FinetuneSettings(k=args.k, samples=args.samples, max_steps=args.max_steps,
                                batch_size=args.batch_size, learning_rate=args.lr,
                                max_length=args.max_length)
    result = finetune(args.model, train_split, eval_split, args.out, settings)
    result = {"benchmark": args.benchmark, "split": args.split, **result}
    atomic_write_text(Path(args.out) / "finetune.json", json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
        return 0
    for run_ in result["runs"]:
        print(f"sample {run_['sample']}: P {run_['precision']:.4f} R {run_['recall']:.4f} "
              f"F1 {run_['f1']:.4f}")
    figures = "  ".join(f"{m[0].upper() if m != 'f1' else 'F1'} {result[m]['mean']:.4f} ± "
                        f"{result[m]['sd']:.4f}" for m in ("precision", "recall", "f1"))
    print(f"{args.benchmark} {args.split}, k={args.k}, {args.samples} samples: {figures}")
    print(f"results: {Path(args.out) / 'finetune.json'}")
    return 0
