"""``gener train``: self-train a tagger on a generated dataset (paper §3.4)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="self-train a NER model on a generated dataset",
        description="Fine-tune a token classifier on the generated labels for T_early steps, "
                    "then self-train it BOND-style (teacher soft labels, teacher refreshed every "
                    "T_update steps), keeping the student with the best validation F1. Writes a "
                    "transformers model folder with a model card and train_log.jsonl. Runs "
                    "under `accelerate launch` too.")
    parser.add_argument("--dataset", required=True,
                        help="Hub-format dataset folder (with --config), save_to_disk folder, "
                             "or parquet file/folder")
    parser.add_argument("--config", default=None, help="dataset config, e.g. ncbi_disease")
    parser.add_argument("--validation", default=None,
                        help="benchmark whose validation split selects the best student "
                             "(default: the recipe's benchmark; 'none' for no validation)")
    parser.add_argument("--benchmarks", default=None, help="benchmarks folder")
    parser.add_argument("--model", default="minilm",
                        help="minilm (default, offline), a Hub id or a local model folder")
    parser.add_argument("--out", required=True, help="model folder to write")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="optimizer steps (default: T_early + 2 T_update)")
    parser.add_argument("--t-early", type=int, default=None,
                        help="steps before self-training (default: the recipe's, else 900)")
    parser.add_argument("--t-update", type=int, default=None,
                        help="teacher refresh period (default: the recipe's, else 300)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--grad-accum", type=int, default=1, help="gradient accumulation steps")
    parser.add_argument("--lr", type=float, default=5e-5, help="peak learning rate")
    parser.add_argument("--threshold", type=float, default=0.9,
                        help="teacher confidence needed to train on a token")
    parser.add_argument("--o-weight", type=float, default=1.0,
                        help="weight of O tags in the supervised stage's loss, in (0, 1] "
                             "(default 1; lower trusts the dictionary's misses less)")
    parser.add_argument("--balance-labels", action=argparse.BooleanOptionalAction,
                        default=True,
                        help="weight rare entity tags up in the supervised stage's loss "
                             "(default: on; --no-balance-labels weighs every tag alike)")
    parser.add_argument("--calibrate", action="store_true",
                        help="choose a bias on O on the validation split and fold it into the "
                             "kept model's classifier (trainers.calibration)")
    parser.add_argument("--max-length", type=int, default=128, help="tokens per window")
    parser.add_argument("--eval-every", type=int, default=100,
                        help="steps between evaluations and checkpoints")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mixed-precision", choices=["no", "bf16", "fp16"], default="no")
    parser.add_argument("--capital-rule", choices=["recipe", "off"], default="recipe",
                        help="recipe (default): drop predicted entities without a capital "
                             "letter for the labels whose subquestions all apply rule 3, in "
                             "validation and in the pipeline shipped with the model; off: keep "
                             "every prediction")
    parser.add_argument("--common-word-rule", choices=["recipe", "off"], default="recipe",
                        help="recipe (default): drop predicted one-word entities that are "
                             "lowercase common words for the labels whose subquestions all "
                             "apply rule 9, in the same places; off: keep them")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the checkpoint an interrupted run left in --out")
    parser.set_defaults(run=run)


def _schedule(args, manifest: dict) -> tuple[int, int]:
    """T_early and T_update: flags, else the dataset's manifest, else its recipe, else defaults."""
    from gener.errors import GenerError
    from gener.recipes import load_recipe
    from trainers.self_training import TrainConfig

    schedule = manifest.get("self_training")
    if schedule is None and args.config:
        try:
            recipe = load_recipe(args.config)
            schedule = {"t_early": recipe.self_training.t_early,
                        "t_update": recipe.self_training.t_update}
        except GenerError:
            schedule = None
    schedule = schedule or {"t_early": TrainConfig.t_early, "t_update": TrainConfig.t_update}
    t_early = args.t_early if args.t_early is not None else schedule["t_early"]
    t_update = args.t_update if args.t_update is not None else schedule["t_update"]
    return t_early, t_update


def _dataset_recipe(args, manifest: dict):
    """The recipe the dataset was built from (its manifest's, else --config), or None."""
    from gener.errors import GenerError
    from gener.recipes import load_recipe

    name = manifest.get("recipe") or args.config
    try:
        return load_recipe(name) if name else None
    except GenerError:
        return None


def _validation_name(args, manifest: dict) -> str | None:
    if args.validation:
        return None if args.validation.lower() == "none" else args.validation
    recipe = _dataset_recipe(args, manifest)
    return recipe.benchmark if recipe else None


def _types_with_rule(args, manifest: dict, rule: int, switch: str) -> list[str]:
    """Labels whose subquestions all apply ``rule``: from the dataset's subquestions, else
    from the recipe named by --config (none when neither is known or ``switch`` is off)."""
    from gener.recipes import labels_with_rule

    if switch == "off":
        return []
    if manifest.get("subquestions"):
        return labels_with_rule(manifest["subquestions"], rule)
    recipe = _dataset_recipe(args, manifest)
    return labels_with_rule(recipe.subquestions, rule) if recipe else []


def run(args) -> int:
    from gener.benchmarks import load_benchmark
    from gener.errors import GenerError
    from trainers.data import load_training_dataset, read_manifest
    from trainers.model_card import record_policy, thin_labels
    from trainers.self_training import TrainConfig, train

    dataset = load_training_dataset(args.dataset, config=args.config)
    manifest = read_manifest(args.dataset, args.config)
    thin = thin_labels(manifest)
    if thin:
        print(f"warning: few answers in the data's corpus for {thin}: the model will see "
              "little of them")
    t_early, t_update = _schedule(args, manifest)
    validation_name = _validation_name(args, manifest)
    validation = None
    if validation_name:
        try:
            validation = load_benchmark(validation_name, "validation", args.benchmarks)
        except GenerError as err:
            if args.validation:
                raise
            print(f"no validation set ({err}): the last student will be kept")
            validation_name = None
    config = TrainConfig(
        t_early=t_early, t_update=t_update,
        max_steps=args.max_steps if args.max_steps is not None else t_early + 2 * t_update,
        batch_size=args.batch_size, grad_accum=args.grad_accum, learning_rate=args.lr,
        confidence_threshold=args.threshold, o_weight=args.o_weight,
        balance_labels=args.balance_labels,
        calibrate=args.calibrate,
        max_length=args.max_length,
        eval_every=args.eval_every, seed=args.seed, mixed_precision=args.mixed_precision,
        resume=args.resume, recipe=manifest.get("recipe") or args.config,
        data_version=manifest.get("version"), validation_name=validation_name,
        capitalized_types=_types_with_rule(args, manifest, 3, args.capital_rule),
        rule9_types=_types_with_rule(args, manifest, 9, args.common_word_rule))
    result = train(dataset, args.out, model_name=args.model, validation_dataset=validation,
                   config=config)
    record_policy(result.model_dir, manifest)
    best = (f", best validation F1 {result.best_f1:.4f} at step {result.best_step}"
            if result.best_f1 is not None else ", no validation: kept the last student")
    print(f"model: {result.model_dir} ({result.steps} steps in {result.seconds:.0f}s{best}); "
          f"log: {result.log_path}")
    return 0
