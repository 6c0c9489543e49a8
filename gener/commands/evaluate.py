"""``gener evaluate MODEL``: entity-level P/R/F1 of a saved model on a benchmark split."""

from __future__ import annotations

import json


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="score a trained model on a benchmark split",
        description="Tag a benchmark split with a saved model (sliding windows, no truncation) "
                    "and print entity-level precision, recall and F1, overall and per type "
                    "(seqeval). Types are matched by name; types only one side knows are "
                    "left out and listed.")
    parser.add_argument("model", help="model folder written by `gener train`")
    parser.add_argument("--benchmark", required=True,
                        help="conll2003, wikigold, wnut16, ncbi_disease or bc5cdr")
    parser.add_argument("--split", default="test", help="train, validation or test")
    parser.add_argument("--benchmarks", default=None, help="benchmarks folder")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--update-card", action="store_true",
                        help="add the result to the model card's model-index")
    parser.set_defaults(run=run)


def run(args) -> int:
    import time

    from gener.benchmarks import load_benchmark
    from trainers.evaluation import evaluate_model
    from trainers.model_card import add_result

    dataset = load_benchmark(args.benchmark, args.split, args.benchmarks)
    started = time.perf_counter()
    scores = evaluate_model(args.model, dataset, batch_size=args.batch_size)
    scores = {"model": str(args.model), "benchmark": args.benchmark, "split": args.split,
              **scores, "seconds": round(time.perf_counter() - started, 1)}
    if args.update_card:
        add_result(args.model, args.benchmark, args.split, scores)
    if args.json:
        print(json.dumps(scores))
        return 0
    print(f"{args.benchmark} {args.split} ({scores['sentences']} sentences): "
          f"P {scores['precision']:.4f} R {scores['recall']:.4f} F1 {scores['f1']:.4f}")
    for name, row in scores["per_type"].items():
        print(f"  {name}: P {row['precision']:.4f} R {row['recall']:.4f} F1 {row['f1']:.4f} "
              f"(support {row['support']})")
    for key in ("ignored_gold_types", "ignored_predicted_types"):
        if scores[key]:
            print(f"  {key.replace('_', ' ')}: {', '.join(scores[key])}")
    return 0
