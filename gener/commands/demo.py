"""``gener demo``: the whole pipeline on the embedded default corpus and model."""

from __future__ import annotations

import time
from pathlib import Path

from gener.commands.build import add_build_options, settings_from_args
from gener.commands.options import positive_int

# Benchmarks whose test split has the demo recipe's types (LOC, Disease).
DEMO_EVALUATIONS = (("conll2003", "LOC"), ("ncbi_disease", "Disease"))


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="build the demo dataset on the default corpus and train a small tagger",
        description="Runs the `demo` recipe (Which country, city, state in the USA? Which "
                    "disease, disorder?) over "
                    "the default Wikipedia corpus, builds the dataset, self-trains the default "
                    "MiniLM tagger on it, and prints where the artifacts are and their figures. "
                    "When the benchmarks folder is present, the tagger is also scored on the "
                    "CoNLL-2003 (LOC) and NCBI-disease test splits.")
    add_build_options(parser)
    parser.add_argument("--out", default="artifacts/demo", help="artifacts folder")
    parser.add_argument("--k", type=positive_int, default=None,
                        help="most evidence sentences per subquestion")
    parser.add_argument("--max-steps", type=positive_int, default=200, help="training steps")
    parser.add_argument("--model", default="minilm", help="tagger to fine-tune")
    parser.add_argument("--benchmarks", default=None, help="benchmarks folder (optional)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from gener.benchmarks import load_benchmark
    from gener.corpus import open_corpus
    from gener.errors import GenerError
    from gener.recipes import labels_with_rule, load_recipe
    from gener.stages import build
    from trainers.data import load_training_dataset, read_manifest
    from trainers.evaluation import evaluate_model
    from trainers.model_card import record_policy
    from trainers.self_training import TrainConfig, train

    started = time.perf_counter()
    out = Path(args.out)
    recipe = load_recipe("demo")
    if args.k:
        recipe = recipe.with_k(args.k)
    built = build(recipe, open_corpus(None), out / "dataset", settings_from_args(args, recipe))
    print(built.summary())

    dataset = load_training_dataset(str(out / "dataset"), config=recipe.name)
    manifest = read_manifest(str(out / "dataset"), recipe.name)
    applied = manifest.get("subquestions", [])  # the rules as the build applied them
    config = TrainConfig(t_early=recipe.self_training.t_early,
                         t_update=recipe.self_training.t_update,
                         max_steps=args.max_steps, seed=args.seed,
                         recipe=recipe.name, data_version=built.version,
                         capitalized_types=labels_with_rule(applied, 3),
                         rule9_types=labels_with_rule(applied, 9))
    trained = train(dataset, out / "model", model_name=args.model, config=config)
    record_policy(trained.model_dir, manifest)
    print(f"model: {trained.model_dir} ({trained.steps} steps, {trained.seconds:.0f}s)")

    for benchmark, label in DEMO_EVALUATIONS:
        try:
            test = load_benchmark(benchmark, "test", args.benchmarks)
        except GenerError as err:
            print(f"{benchmark}: not evaluated ({err})")
            continue
        scores = evaluate_model(trained.model_dir, test)
        figures = scores["per_type"].get(label, {})
        print(f"{benchmark} test, {label}: P {figures.get('precision', 0):.3f} "
              f"R {figures.get('recall', 0):.3f} F1 {figures.get('f1', 0):.3f}")
    print(f"artifacts: dataset {out / 'dataset'}, model {out / 'model'} "
          f"(total {time.perf_counter() - started:.0f}s)")
    return 0
