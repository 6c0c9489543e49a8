"""``gener publish``: the dataset folder, trained models and the Space to the Hub."""

from __future__ import annotations

import argparse

DEFAULT_DATASETS = "artifacts/datasets"
DEFAULT_MODEL_ROOTS = ("artifacts/runs", "artifacts/demo/model")
DEFAULT_SPACE = "spaces/gener"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "publish", help="upload datasets, models and the Space to the Hugging Face Hub",
        description="Publishes the dataset folder (to the dataset repo ORG/gener), each trained "
                    "model folder (to ORG/gener-<name>) and the Space folder (to the Gradio "
                    "Space ORG/gener). The default is a dry run that prints the plan: repos, "
                    "files and sizes. With --no-dry-run the repos are created when missing and "
                    "changed files uploaded; unchanged repos get no commit. With none of "
                    "--datasets/--models/--space, all three are published from their default "
                    "folders; naming one or more publishes only those. The token comes from "
                    "HF_TOKEN or `hf auth login` and is never printed.")
    parser.add_argument("--org", default=None,
                        help="user or organization that owns the repos (default: "
                             "$GENER_HUB_ORG, else the token's user)")
    parser.add_argument("--datasets", nargs="?", const=DEFAULT_DATASETS, metavar="DIR",
                        help=f"dataset folder written by `gener materialize` "
                             f"(default: {DEFAULT_DATASETS})")
    parser.add_argument("--models", nargs="*", metavar="DIR",
                        help="model folders written by training (default: every model "
                             f"under {' and '.join(DEFAULT_MODEL_ROOTS)})")
    parser.add_argument("--space", nargs="?", const=DEFAULT_SPACE, metavar="DIR",
                        help=f"Space folder (default: {DEFAULT_SPACE})")
    parser.add_argument("--dry-run", action=argparse.BooleanOptionalAction, default=True,
                        help="print the plan without uploading (default); --no-dry-run uploads")
    parser.set_defaults(run=run)


def run(args) -> int:
    import logging
    import os
    from pathlib import Path

    from gener.errors import GenerError
    from gener.publish import ORG_ENV, find_models, format_plan, plan, publish

    everything = args.datasets is None and args.models is None and args.space is None
    datasets_dir, space_dir = args.datasets, args.space
    if args.models:
        model_dirs = [Path(m) for m in args.models]
    elif args.models is not None or everything:
        model_dirs = find_models(*DEFAULT_MODEL_ROOTS)
        if args.models is not None and not model_dirs:
            raise GenerError(f"no model folders under {' or '.join(DEFAULT_MODEL_ROOTS)}")
    else:
        model_dirs = []
    left_out = []
    if everything:  # defaults that do not exist yet are left out, not errors, and named
        datasets_dir = DEFAULT_DATASETS if Path(DEFAULT_DATASETS).is_dir() else None
        space_dir = DEFAULT_SPACE if Path(DEFAULT_SPACE).is_dir() else None
        if datasets_dir is None:
            left_out.append(f"the dataset ({DEFAULT_DATASETS} not found: `gener build` or "
                            "`gener materialize` writes it)")
        if not model_dirs:
            left_out.append(f"models (none under {' or '.join(DEFAULT_MODEL_ROOTS)})")
        if space_dir is None:
            left_out.append(f"the Space ({DEFAULT_SPACE} not found)")
    targets = plan(datasets_dir, model_dirs, space_dir)
    if not targets:
        raise GenerError("nothing to publish: no dataset folder, model or Space found "
                         "(see `gener publish --help` for the folders it looks in)")
    for item in left_out:
        print(f"left out: {item}")
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per request otherwise
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.dry_run:
        from huggingface_hub import constants

        org = args.org or os.environ.get(ORG_ENV) or "<token user>"
        print(format_plan(targets, org, constants.ENDPOINT))
        print("dry run: nothing uploaded; publish with --no-dry-run")
        return 0
    publish(targets, org=args.org)
    return 0
