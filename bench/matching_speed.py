"""Time ``gener match --format jsonl`` as a whole process on synthetic paper-scale input.

Generates retrieval folders with bench/make_matching_input.py (cached under --work) and
reports the best and median wall time of --repeat runs for 5k/15k/45k sentences (~6,900
phrases) and 1k/7k/70k phrases (45k sentences), the median CPU time (user + system of the
process and its forked child), and the 1-minute load average before the case (other jobs on
the machine inflate the wall times much more than the CPU times). Usage::

    python bench/matching_speed.py [--work /tmp/gener-matching-bench] [--repeat 5] [--workers N]
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
             workers: int | None = None) -> dict:
    folder = work / f"s{per_question}_p{phrases}"
    if not (folder / "config.json").exists():
        subprocess.run([sys.executable, str(HERE / "make_matching_input.py"), str(folder),
                        "--sentences", str(per_question), "--phrases", str(phrases)], check=True)
    command = ["gener", "match", "--from-gener-retrieval", str(folder), "--gener-config",
               str(folder / "config.json"), "--out", str(folder / "out"), "--format", "jsonl"]
    if workers:
        command += ["--workers", str(workers)]
    load = os.getloadavg()[0]
    times, cpu = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    dictionary = json.loads((folder / "out/dictionary.json").read_text())
    with open(folder / "out/train.jsonl", encoding="utf-8") as f:
        tokens = sum(len(json.loads(line)["tokens"]) for line in f)
    return {"sentences": per_question * 9, "tokens": tokens,
            "dictionary_phrases": len(dictionary["phrases"]), "best_s": round(min(times), 3),
            "median_s": round(sorted(times)[len(times) // 2], 3),
            "cpu_s": round(sorted(cpu)[len(cpu) // 2], 2), "load": round(load, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/gener-matching-bench"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None, help="gener match --workers")
    args = parser.parse_args()
    print("| sentences | tokens | dictionary phrases | best wall s | median wall s "
          "| median CPU s | load |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for per_question, phrases in CASES:
        r = run_case(args.work, per_question, phrases, args.repeat, args.workers)
        print(f"| {r['sentences']:,} | {r['tokens']:,} | {r['dictionary_phrases']:,} "
              f"| {r['best_s']} | {r['median_s']} | {r['cpu_s']} | {r['load']} |", flush=True)


if __name__ == "__main__":
    main()
