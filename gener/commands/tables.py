"""``gener tables``: collect (or run) the plan's runs and write RESULTS.md (paper Table 3)."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "tables", help="write RESULTS.md from the runs of a plan (Table 3 layout)",
        description="Read the plan (rows x benchmarks x seeds; each trained run is a build, "
                    "a train and an evaluate command), compute the seed-entity baseline, "
                    "collect the finished runs' test.json files and write a Markdown table in "
                    "the paper's Table 3 layout (mean ± sd over seeds) where every row refers "
                    "to its commands. Without --run nothing is trained. With --run the missing "
                    "or changed steps are run first (finished ones are skipped, so it "
                    "resumes). With --out, measured runs are also kept in tables_records.json "
                    "beside the plan, which stands in for run folders absent on this machine.")
    parser.add_argument("--plan", default=None,
                        help="plan YAML (default: trainers/tables_plan.yaml)")
    parser.add_argument("--out", default=None, help="Markdown file to write (default: print)")
    parser.add_argument("--root", default=None, help="run folder (default: the plan's root)")
    parser.add_argument("--run", dest="execute", action="store_true",
                        help="execute missing runs first")
    parser.add_argument("--row", action="append", default=None,
                        help="with --run: only this row id (repeatable)")
    parser.add_argument("--benchmark", action="append", default=None,
                        help="with --run: only this benchmark (repeatable)")
    parser.add_argument("--seed", action="append", type=int, default=None,
                        help="with --run: only this seed (repeatable)")
    parser.add_argument("--dry-run", action="store_true",
                        help="with --run: print the commands of the missing steps, run nothing")
    parser.add_argument("--benchmarks", default=None, help="benchmarks folder")
    parser.set_defaults(run=run)


def _selected_runs(plan, rows, benchmarks, seeds):
    from gener.errors import GenerError

    for name in benchmarks or []:
        if name not in plan.benchmarks:
            raise GenerError(f"benchmark {name!r} is not in the plan "
                             f"({', '.join(plan.benchmarks)})")
    chosen = [plan.row(r) for r in rows] if rows else plan.rows
    return [(row, b, s) for row in chosen if row.kind == "trained"
            for b in (benchmarks or plan.benchmarks)
            for s in row.seeds if seeds is None or s in seeds]


def run(args) -> int:
    import os

    from gener.errors import GenerError
    from gener.io import atomic_write_text
    from trainers.tables import (
        collect,
        execute_run,
        load_plan,
        record_runs,
        records_path,
        render,
        run_status,
    )

    plan = load_plan(args.plan, args.root)
    if (args.row or args.benchmark or args.seed or args.dry_run) and not args.execute:
        raise GenerError("--row, --benchmark, --seed and --dry-run go with --run")
    if args.execute:
        env = dict(os.environ)
        if args.benchmarks:
            env["GENER_BENCHMARKS"] = str(args.benchmarks)
        for row, benchmark, seed in _selected_runs(plan, args.row, args.benchmark, args.seed):
            name = f"{row.id}/{benchmark}/seed{seed}"
            if run_status(plan, row, benchmark, seed) == "measured":
                print(f"[{name}] done")
                continue
            if args.dry_run:
                for step, command in plan.commands_for(row, benchmark, seed).items():
                    print(f"[{name}] {step}: {command}")
                continue
            execute_run(plan, row, benchmark, seed, env)
        if args.dry_run:
            return 0
    cells = collect(plan, args.benchmarks)
    text = render(plan, cells)
    if args.out:
        changed = record_runs(plan, cells)
        if changed:
            print(f"recorded {changed} run(s) in {records_path(plan)}")
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0
