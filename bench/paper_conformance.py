"""Compare ``gener match --policy paper`` with GeNER's own ``annotate.py`` (dmis-lab/GeNER).

Both read the same retrieval folders in GeNER's format (the output of GeNER's retrieve.py:
phrases normalized by its ``normalize_phrase``, overlapping spans of a sentence dropped),
for the 9 CoNLL-2003 subquestions of GeNER's config with abbreviations (rule 8) and boundary
refinement (rule 10) off. Inputs: bench/make_matching_input.py's synthetic folder, real
sentences of the default corpus with the phrases gener's retrieval returns for each
subquestion, and the synthetic folder with its phrases as written ("the X", "X,"). Per
sentence, the entity spans of both outputs are compared (token offsets, then
with types); each command is timed as a whole process, alternately, several times.

The upstream code is needed only to run this script, never by the tests. Steps (each reuses
what an earlier run left in --work)::

    python bench/paper_conformance.py --upstream /path/to/GeNER \\
        --upstream-python /path/to/venv/bin/python [--work /tmp/gener-conformance] \\
        [--repeat 5] [--upstream-repeat 1] [--policy paper default] \\
        [--inputs synthetic real synthetic-as-written]

The upstream Python needs numpy, tqdm, nltk and inflect (no NLTK data: the stopword list is
written under --work). Differing sentences go to
``<work>/<input>/gener_<policy>/differences.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = Path(__file__).resolve().parents[2] / "shared/data/gener/configs/conll-2003.json"
PER_SUBQUESTION = 5000
INPUTS = ("synthetic", "real", "synthetic-as-written")


# --- inputs --------------------------------------------------------------------------------

def _subquestion_configs(config: Path) -> list[dict]:
    """The config's subquestions with the defaults of ``default.json`` filled in."""
    defaults = json.loads((config.parent / "default.json").read_text())["default"]
    return [{**defaults, **entry}
            for entry in json.loads(config.read_text())["subquestion_configs"]]


def _file_name(entry: dict) -> str:
    return "_".join(entry["query_template"].replace("[TYPE]", entry["subtype"]).split()) + ".json"


def retrieve_real(out: Path, config: Path, k: int) -> None:
    """A raw retrieval folder of the default corpus: gener's retrieval for each subquestion,
    its top ``k`` sentences with their phrases as retrieved (not normalized)."""
    from gener.corpus import open_corpus
    from gener.interop import load_gener_config
    from gener.recipes.recipe import Recipe
    from gener.retrieval.search import open_searcher, retrieve_with

    recipe = Recipe("conformance", tuple(replace(sq, k=k) for sq in load_gener_config(config)))
    searcher = open_searcher(open_corpus(), progress=False)
    out.mkdir(parents=True, exist_ok=True)
    for entry, retrieval in zip(_subquestion_configs(config), retrieve_with(searcher, recipe),
                                strict=True):
        lines = [json.dumps({"sentence": s.sentence, "abbreviations": {}, "phrases": [
            {"name": p.name, "start": p.start, "end": p.end} for p in s.phrases]})
            for s in retrieval.sentences]
        (out / _file_name(entry)).write_text("\n".join(lines) + "\n", encoding="utf-8")


def normalize_folder(raw: Path, out: Path, config: Path, upstream: Path | None) -> None:
    """GeNER's retrieve.py post-processing of a raw folder (run with the upstream Python):
    each phrase through its ``normalize_phrase``, in order, a part kept only where its text
    is the sentence's and it overlaps no part kept before. Without ``upstream``, the phrases
    are kept as they are (only the files and the config are laid out for annotate.py)."""
    entries = _subquestion_configs(config)
    if upstream is None:
        def normalize_phrase(name, entry, ignore):
            return [name], [0]
        ignore = []
    else:
        import inflect

        sys.path.insert(0, str(upstream))
        from utils.norm_utils import normalize_phrase

        plural = inflect.engine()
        ignore = [form for e in entries if e["remove_subtype"]
                  for form in (e["subtype"].lower(), plural.plural(e["subtype"].lower()))]
    out.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        name = _file_name(entry)
        source = raw / name if (raw / name).exists() else raw / f"Which_{entry['subtype']}.json"
        lines = []
        for line in source.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            text, kept, taken = row["sentence"], [], [False] * len(row["sentence"])
            for phrase in row["phrases"]:
                names, starts = normalize_phrase(phrase["name"], entry, ignore)
                for part, offset in zip(names, starts or [], strict=True):
                    start = phrase["start"] + offset
                    end = start + len(part)
                    if text[start:end] == part and not any(taken[start:end]):
                        kept.append({"name": part, "start": start, "end": end})
                        taken[start:end] = [True] * (end - start)
            lines.append(json.dumps({"sentence": text, "phrases": kept, "abbreviations": {}}))
        (out / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.copy(config.parent / "default.json", out / "default.json")
    settings = json.loads(config.read_text())
    settings.update(add_abbreviation=False, refine_boundary=False, retrieved_path=str(out))
    (out / "config.json").write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")


def _write_stopwords(folder: Path) -> Path:
    """NLTK's English stopword list where ``nltk.corpus.stopwords`` finds it."""
    from gener.normalize import STOPWORDS

    target = folder / "nltk_data/corpora/stopwords"
    target.mkdir(parents=True, exist_ok=True)
    (target / "english").write_text("\n".join(sorted(STOPWORDS - {"us"})) + "\n")
    return folder / "nltk_data"


# --- comparison ----------------------------------------------------------------------------

def entity_spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """``(start, end, type)`` of the spans of a tag sequence: a span starts at B- and at an
    I- that does not continue a span of its type."""
    spans: list[list] = []
    for i, tag in enumerate(tags):
        if tag == "O":
            continue
        kind = tag[2:]
        if tag[0] == "I" and spans and spans[-1][1] == i and spans[-1][2] == kind:
            spans[-1][1] = i + 1
        else:
            spans.append([i, i + 1, kind])
    return [tuple(s) for s in spans]


def compare(upstream_lines: list[dict], gener_lines: list[dict],
            multi_label: frozenset[str] = frozenset()) -> dict:
    """Per-sentence agreement of two outputs in the same sentence order. ``multi_label``:
    dictionary keys with several labels, whose label is drawn at random on both sides (by
    NumPy's generator in order of matching there, by a hash of the sentence here), so a
    sentence whose spans agree and whose types differ only on those counts as ``draws``."""
    if len(upstream_lines) != len(gener_lines):
        raise SystemExit(f"{len(upstream_lines)} upstream sentences, {len(gener_lines)} gener")
    counts = {"sentences": len(gener_lines), "tokens_differ": 0, "span_identical": 0,
              "type_identical": 0, "draws": 0}
    differences = []
    for i, (a, b) in enumerate(zip(upstream_lines, gener_lines, strict=True)):
        if a["tokens"] != b["tokens"]:
            counts["tokens_differ"] += 1
            differences.append({"line": i, "tokens": a["tokens"], "gener_tokens": b["tokens"]})
            continue
        sa, sb = entity_spans(a["ner_tags"]), entity_spans(b["ner_tags"])
        if [s[:2] for s in sa] == [s[:2] for s in sb]:
            counts["span_identical"] += 1
            counts["type_identical"] += sa == sb
            if sa == sb:
                continue
            tokens = a["tokens"]
            if all(" ".join(tokens[s:e]).lower() in multi_label
                   for (s, e, t), (_, _, u) in zip(sa, sb, strict=True) if t != u):
                counts["draws"] += 1
        differences.append({"line": i, "text": " ".join(a["tokens"]),
                            "upstream": [[s, e, t, " ".join(a["tokens"][s:e])] for s, e, t in sa
                                         if (s, e, t) not in sb],
                            "gener": [[s, e, t, " ".join(b["tokens"][s:e])] for s, e, t in sb
                                      if (s, e, t) not in sa]})
    counts["differences"] = differences
    return counts


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# --- running -------------------------------------------------------------------------------

def _timed(command: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the process and the children it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_input(folder: Path, args, env: dict) -> list[dict]:
    """Run annotate.py ``args.upstream_repeat`` times, each followed by ``args.repeat``
    runs of gener match under each policy; compare the last outputs; median times. One
    result per policy."""
    config = json.loads((folder / "config.json").read_text())
    commands = {policy: [str(Path(sys.executable).parent / "gener"), "match",
                         "--from-gener-retrieval", str(folder), "--gener-config",
                         str(folder / "config.json"), "--out", str(folder / f"gener_{policy}"),
                         "--policy", policy] for policy in args.policy}
    upstream_times, gener_times = [], {policy: [] for policy in args.policy}
    annotated = folder / "annotated"
    run_config = folder / "run.json"
    run_config.write_text(json.dumps({**config, "annotated_path": str(annotated)}))
    for _ in range(args.upstream_repeat):
        shutil.rmtree(annotated, ignore_errors=True)
        upstream_times.append(_timed([args.upstream_python, str(args.upstream / "annotate.py"),
                                      "--gener_config_path", str(run_config)], env))
        for _ in range(args.repeat):
            for policy, command in commands.items():
                gener_times[policy].append(_timed(command))
    upstream = _read_jsonl(annotated / "train_hf.json")
    results = []
    for policy in args.policy:
        out = folder / f"gener_{policy}"
        dictionary = json.loads((out / "dictionary.json").read_text())["phrases"]
        result = compare(upstream, _read_jsonl(out / "train.jsonl"),
                         frozenset(k for k, v in dictionary.items() if len(v) > 1))
        with (out / "differences.jsonl").open("w", encoding="utf-8") as f:
            for row in result.pop("differences"):
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        for side, times in (("upstream", upstream_times), ("gener", gener_times[policy])):
            result[f"{side}_s"] = statistics.median(t for t, _ in times)
            result[f"{side}_cpu"] = statistics.median(c for _, c in times)
        results.append({"policy": policy, **result})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", type=Path, required=True, help="GeNER checkout")
    parser.add_argument("--upstream-python", required=True, help="Python with its packages")
    parser.add_argument("--work", type=Path, default=Path("/tmp/gener-conformance"))
    parser.add_argument("--config", type=Path, default=CONFIG, help="GeNER config JSON")
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed runs of gener match after each run of annotate.py")
    parser.add_argument("--upstream-repeat", type=int, default=1,
                        help="timed runs of annotate.py (about 80 s each on an idle core)")
    parser.add_argument("--policy", nargs="+", default=["paper", "default"],
                        help="gener match --policy, each compared with the same annotate.py "
                             "output")
    parser.add_argument("--inputs", nargs="+", choices=INPUTS, default=["synthetic", "real"],
                        help="synthetic-as-written: the synthetic phrases as "
                             "make_matching_input.py writes them (\"the X\", \"X,\"), "
                             "not normalized by GeNER's retrieve.py")
    parser.add_argument("--normalize", nargs=2, type=Path, metavar=("RAW", "OUT"),
                        help=argparse.SUPPRESS)  # the step run with the upstream Python
    args = parser.parse_args()
    if args.normalize:
        normalize_folder(*args.normalize, args.config, args.upstream)
        return
    env = {**os.environ, "NLTK_DATA": str(_write_stopwords(args.work))}
    print("| input | policy | sentences | span-identical | identical with types | types differ by "
          "draws only | tokens differ | annotate.py s (CPU s) | gener match s (CPU s) "
          "| speed-up, wall (CPU) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.inputs:
        raw, folder = args.work / f"{name.split('-')[0]}_raw", args.work / name
        if not raw.exists():
            if name == "synthetic":
                subprocess.run([sys.executable, str(HERE / "make_matching_input.py"), str(raw),
                                "--sentences", str(PER_SUBQUESTION)], check=True)
            else:
                retrieve_real(raw, args.config, PER_SUBQUESTION)
        if name == "synthetic-as-written" and not (folder / "config.json").exists():
            normalize_folder(raw, folder, args.config, None)
        elif not (folder / "config.json").exists():
            subprocess.run([args.upstream_python, __file__, "--upstream", str(args.upstream),
                            "--upstream-python", args.upstream_python, "--config",
                            str(args.config), "--normalize", str(raw), str(folder)],
                           env=env, check=True)
        for r in run_input(folder, args, env):
            n = r["sentences"]
            print(f"| {name} | {r['policy']} | {n:,} | {r['span_identical'] / n:.2%} "
                  f"| {r['type_identical'] / n:.2%} | {r['draws']} | {r['tokens_differ']} "
                  f"| {r['upstream_s']:.2f} ({r['upstream_cpu']:.2f}) "
                  f"| {r['gener_s']:.2f} ({r['gener_cpu']:.2f}) "
                  f"| {r['upstream_s'] / r['gener_s']:.0f}x "
                  f"({r['upstream_cpu'] / r['gener_cpu']:.0f}x) |", flush=True)


if __name__ == "__main__":
    main()
