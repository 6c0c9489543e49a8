"""Time ``gener match --format jsonl`` as a whole process on synthetic paper-scale input.

Generates retrieval folders with bench/make_matching_input.py (cached under --work) and
reports the best and median wall time of --repeat runs for 5k/15k/45k sentences (~6,900
phrases) and 1k/7k/70k phrases (45k sentences), the median CPU time (user + system of the
process and its forked child), and the 1-minute load average before the case (other jobs on
the machine inflate the wall times much more than the CPU times). With ``--baseline DIR`` (a
folder holding another version's ``gener/`` package, such as an exported commit) each run of
this version is followed by one of that version, with ``PYTHONPATH=DIR``: both get a row,
this version's with the ratios of its median wall and CPU times to the baseline's, and a case
whose outputs differ between the two is an error. Usage::

    python bench/matching_speed.py [--work /tmp/gener-matching-bench] [--repeat 5] [--workers N]
                                   [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
CASES = [(556, 6900), (1667, 6900), (5000, 6900), (5000, 1000), (5000, 70000)]


def run_case(work: Path, per_question: int, phrases: int, repeat: int,
             workers: int | None = None, baseline: Path | None = None) -> list[dict]:
    """Time one case: a row for this version, and one for ``baseline`` when given."""
    folder = work / f"s{per_question}_p{phrases}"
    if not (folder / "config.json").exists():
        subprocess.run([sys.executable, str(HERE / "make_matching_input.py"), str(folder),
                        "--sentences", str(per_question), "--phrases", str(phrases)], check=True)
    versions = [("this", folder / "out", None)]
    if baseline is not None:
        env = {**os.environ, "PYTHONPATH": str(baseline.resolve())}
        versions.append(("baseline", folder / "out-baseline", env))
    load = os.getloadavg()[0]
    times = {name: [] for name, _, _ in versions}
    cpu = {name: [] for name, _, _ in versions}
    for _ in range(repeat):
        for name, out, env in versions:
            command = ["gener", "match", "--from-gener-retrieval", str(folder), "--gener-config",
                       str(folder / "config.json"), "--out", str(out), "--format", "jsonl"]
            if workers:
                command += ["--workers", str(workers)]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env=env)
            times[name].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    outputs = {name: [(out / f).read_bytes() for f in ("train.jsonl", "dictionary.json")]
               for name, out, _ in versions}
    if baseline is not None and outputs["this"] != outputs["baseline"]:
        raise SystemExit(f"{folder}: the outputs of this version and the baseline differ")
    dictionary = json.loads(outputs["this"][1])
    tokens = sum(len(json.loads(line)["tokens"])
                 for line in outputs["this"][0].decode("utf-8").splitlines())
    rows = []
    for name, _, _ in versions:
        rows.append({"version": name, "sentences": per_question * 9, "tokens": tokens,
                     "dictionary_phrases": len(dictionary["phrases"]),
                     "best_s": round(min(times[name]), 3), "median_s": _median(times[name]),
                     "cpu_s": _median(cpu[name]), "load": round(load, 2)})
    if baseline is not None:
        this, base = rows
        this["wall_ratio"] = round(this["median_s"] / base["median_s"], 3)
        this["cpu_ratio"] = round(this["cpu_s"] / base["cpu_s"], 3)
    return rows


def _median(values: list[float]) -> float:
    return round(sorted(values)[len(values) // 2], 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/gener-matching-bench"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None, help="gener match --workers")
    parser.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                        help="folder holding another version's gener/ to time alternately")
    args = parser.parse_args()
    compare = args.baseline is not None
    print("| sentences | tokens | dictionary phrases | best wall s | median wall s "
          "| median CPU s | load |" + (" version | wall ratio | CPU ratio |" if compare else ""))
    print("|---:|---:|---:|---:|---:|---:|---:|" + ("---|---:|---:|" if compare else ""))
    for per_question, phrases in CASES:
        for r in run_case(args.work, per_question, phrases, args.repeat, args.workers,
                          args.baseline):
            ratios = f" {r['version']} | {r.get('wall_ratio', '')} | {r.get('cpu_ratio', '')} |"
            print(f"| {r['sentences']:,} | {r['tokens']:,} | {r['dictionary_phrases']:,} "
                  f"| {r['best_s']} | {r['median_s']} | {r['cpu_s']} | {r['load']} |"
                  + (ratios if compare else ""), flush=True)

if __name__ == "__main__":
    main()
