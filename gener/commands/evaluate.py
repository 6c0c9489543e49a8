"""``gener evaluate MODEL``: entity-level P/R/F1 of a saved model on a benchmark split or on
labelled data."""

from __future__ import annotations

import json

from gener.errors import GenerError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="score a trained model on a benchmark split or labelled data",
        description="Tag a benchmark split or your own labelled data with a saved model "
                    "(sliding windows, no truncation) and print entity-level precision, recall "
                    "and F1, overall and per type (seqeval). Types are matched by name (see "
                    "--map); types only one side knows are left out and listed.")
    parser.add_argument("model", help="model folder written by `gener train`")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--benchmark",
                        help="conll2003, wikigold, wnut16, ncbi_disease or bc5cdr")
    source.add_argument("--data", metavar="PATH|hf:ID[:SPLIT]",
                        help="labelled data: a CoNLL/BIO file (word first, tag last, tab- or "
                             "space-separated, IOB1 or BIO), a .jsonl file of 'tokens' and "
                             "'ner_tags' strings, a datasets folder, or hf:ID[:SPLIT]")
    parser.add_argument("--split", default=None,
                        help="train, validation or test (default: test; for --data, the only "
                             "split when there is one)")
    parser.add_argument("--map", action="append", default=[], metavar="MODEL_LABEL=DATA_LABEL",
                        help="score the model's type MODEL_LABEL as the data's DATA_LABEL "
                             "(repeatable)")
    parser.add_argument("--benchmarks", default=None, help="benchmarks folder")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--update-card", action="store_true",
                        help="add the result to the model card's model-index")
    parser.set_defaults(run=run)


def _label_map(pairs: list[str]) -> dict[str, str]:
    """``--map`` values as {model type: data type}."""
    mapping = {}
    for pair in pairs:
        model_label, sep, data_label = (part.strip() for part in pair.partition("="))
        if not sep or not model_label or not data_label:
            raise GenerError(f"--map {pair!r}: expected MODEL_LABEL=DATA_LABEL")
        mapping[model_label] = data_label
    return mapping


def run(args) -> int:
    import time

    from trainers.inference import check_model_folder

    label_map = _label_map(args.map)
    check_model_folder(args.model)
    if args.data:
        from gener.benchmarks import load_labelled_data

        dataset = load_labelled_data(args.data, args.split)
        name, split = args.data, args.split or ""
    else:
        from gener.benchmarks import load_benchmark

        name, split = args.benchmark, args.split or "test"
        dataset = load_benchmark(name, split, args.benchmarks)
    from trainers.evaluation import evaluate_model
    from trainers.model_card import add_result

    started = time.perf_counter()
    scores = evaluate_model(args.model, dataset, batch_size=args.batch_size,
                            label_map=label_map)
    scores = {"model": str(args.model), "data" if args.data else "benchmark": name,
              "split": split, **scores, "seconds": round(time.perf_counter() - started, 1)}
    if args.update_card:
        add_result(args.model, name, split, scores)
    if args.json:
        print(json.dumps(scores))
        return 0
    print(f"{f'{name} {split}'.strip()} ({scores['sentences']} sentences): "
          f"P {scores['precision']:.4f} R {scores['recall']:.4f} F1 {scores['f1']:.4f}")
    for type_name, row in scores["per_type"].items():
        print(f"  {type_name}: P {row['precision']:.4f} R {row['recall']:.4f} "
              f"F1 {row['f1']:.4f} (support {row['support']})")
    for key in ("ignored_gold_types", "ignored_predicted_types"):
        if scores[key]:
            print(f"  {key.replace('_', ' ')}: {', '.join(scores[key])}")
    return 0
