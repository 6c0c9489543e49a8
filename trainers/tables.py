"""The plan behind RESULTS.md: runs as data, their execution, and the Table 3 layout.

A plan (``trainers/tables_plan.yaml``) has rows (our settings, quoted paper rows, the seed
entity baseline) and benchmarks. A trained row's run on a benchmark is three commands
(build, train, evaluate) made from templates; it lives in ``<root>/<row>/<benchmark>/`` with
``run.json`` (each finished step: command, seconds, load average) and ``test.json`` (the
evaluation). Figures are shown only when the recorded commands are the plan's current ones.

Run folders hold models and stay on the machine that ran them; what RESULTS.md shows of a
measured run (figures, commands, timing) is also kept in ``tables_records.json`` beside the
plan, which is tracked, so that the table survives on other machines and is not lost when
the runs are collected again elsewhere.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from gener.errors import GenerError, first_line
from trainers.model_card import INFO_NAME

PLAN_PATH = Path(__file__).resolve().parent / "tables_plan.yaml"
RECORDS_NAME = "tables_records.json"
STEPS = ("build", "train", "evaluate")
RUN_LOG, RESULT = "run.json", "test.json"
# What each step's command writes inside the run folder (the templates must agree).
OUTPUTS = {"build": "dataset", "train": "model", "evaluate": RESULT}
KINDS = ("trained", "seed_entities", "quoted")


@dataclass
class Row:
    """One table row: ``kind`` trained (runs), seed_entities (computed) or quoted (paper)."""

    id: str
    label: str
    kind: str = "trained"
    variables: dict = field(default_factory=dict)
    overrides: dict = field(default_factory=dict)  # benchmark -> variables
    figures: dict = field(default_factory=dict)  # quoted: benchmark -> [P, R, F1]
    not_run: dict = field(default_factory=dict)  # benchmark -> why the row skips it


@dataclass
class Plan:
    """A parsed, checked plan."""

    root: Path
    benchmarks: list[str]
    groups: list[list[str]]
    commands: dict[str, str]
    rows: list[Row]
    schedules: dict[str, dict]
    seed_entities: dict[str, dict[str, list[str]]]
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def row(self, row_id: str) -> Row:
        for row in self.rows:
            if row.id == row_id:
                return row
        raise GenerError(f"{self.source}: no row {row_id!r} "
                         f"(rows: {', '.join(r.id for r in self.rows)})")

    def run_dir(self, row: Row, benchmark: str) -> Path:
        return self.root / row.id / benchmark

    def commands_for(self, row: Row, benchmark: str) -> dict[str, str]:
        """The build/train/evaluate command lines of a trained row's run on ``benchmark``."""
        values = {**row.variables, **self.schedules.get(benchmark, {}),
                  **row.overrides.get(benchmark, {})}
        values.update(benchmark=benchmark, recipe=benchmark,
                      run=self.run_dir(row, benchmark).as_posix())
        try:
            for _ in range(3):  # variables may refer to {benchmark} etc.
                values = {k: str(v).format(**values) for k, v in values.items()}
            return {step: " ".join(self.commands[step].format(**values).split())
                    for step in STEPS}
        except KeyError as err:
            raise GenerError(f"{self.source}: row {row.id} has no value for {err} "
                             f"(needed by the command templates)") from None
        except (ValueError, IndexError) as err:
            raise GenerError(f"{self.source}: row {row.id}: bad template ({err})") from None


def load_plan(path: str | Path | None = None, root: str | Path | None = None) -> Plan:
    """Read and check a plan; ``root`` overrides its run folder."""
    import yaml

    path = Path(path) if path else PLAN_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise GenerError(f"cannot read plan {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise GenerError(f"{path}: not valid YAML ({first_line(err)})") from None
    if not isinstance(data, dict):
        raise GenerError(f"{path}: a plan must be a mapping")
    from gener.benchmarks import BENCHMARKS

    source = str(path)
    benchmarks = list(data.get("benchmarks") or [])
    unknown = [b for b in benchmarks if b not in BENCHMARKS]
    if not benchmarks or unknown:
        raise GenerError(f"{source}: unknown or no benchmarks {unknown} "
                         f"(known: {', '.join(BENCHMARKS)})")
    commands = data.get("commands") or {}
    missing = [s for s in STEPS if s not in commands]
    if missing:
        raise GenerError(f"{source}: commands lack {', '.join(missing)}")
    defaults = dict(data.get("defaults") or {})
    raw_rows = {}
    for entry in data.get("rows") or []:
        if not isinstance(entry, dict) or "id" not in entry:
            raise GenerError(f"{source}: every row needs an id")
        if entry["id"] in raw_rows:
            raise GenerError(f"{source}: row {entry['id']!r} appears twice")
        raw_rows[entry["id"]] = entry
    rows = [_make_row(entry, raw_rows, defaults, source) for entry in raw_rows.values()]
    if not rows:
        raise GenerError(f"{source}: no rows")
    groups = [list(g) for g in data.get("groups") or [benchmarks]]
    stray = [b for g in groups for b in g if b not in benchmarks]
    if stray:
        raise GenerError(f"{source}: groups name benchmarks outside the plan: {stray}")
    return Plan(Path(root if root is not None else data.get("root", "artifacts/runs/tables")),
                benchmarks, groups, {s: str(commands[s]) for s in STEPS}, rows,
                dict(data.get("schedules") or {}), dict(data.get("seed_entities") or {}),
                source, [str(n) for n in data.get("notes") or []])


def _make_row(entry: dict, raw_rows: dict, defaults: dict, source: str) -> Row:
    """A row with its ``extends`` chain resolved (the extending row's keys win)."""
    chain, current = [entry], entry
    while "extends" in current:
        parent = raw_rows.get(current["extends"])
        if parent is None or parent in chain:
            raise GenerError(f"{source}: row {current['id']} extends unknown or circular row "
                             f"{current['extends']!r}")
        chain.append(parent)
        current = parent
    merged: dict = {}
    for item in reversed(chain):
        merged.update({k: v for k, v in item.items() if k != "extends"})
    kind = merged.pop("kind", "trained")
    if kind not in KINDS:
        raise GenerError(f"{source}: row {merged['id']}: kind must be one of {', '.join(KINDS)}")
    row_id, label = merged.pop("id"), merged.pop("label", None) or entry["id"]
    overrides = merged.pop("benchmarks", None) or {}
    figures = merged.pop("figures", None) or {}
    not_run = merged.pop("not_run", None) or {}
    if not isinstance(not_run, dict) or not all(isinstance(v, str) for v in not_run.values()):
        raise GenerError(f"{source}: row {row_id}: not_run must map benchmarks to reasons")
    for benchmark, values in figures.items():
        if not (isinstance(values, list) and len(values) == 3
                and all(isinstance(v, (int, float)) for v in values)):
            raise GenerError(f"{source}: row {row_id}: figures of {benchmark} must be "
                             f"[P, R, F1]")
    variables = {**defaults, **merged} if kind == "trained" else {}
    return Row(row_id, label, kind, variables, overrides, figures, not_run)


# --- runs ----------------------------------------------------------------------------------

def read_run(run_dir: Path) -> dict:
    path = run_dir / RUN_LOG
    if not path.exists():
        return {"steps": {}}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise GenerError(f"{path}: not valid JSON; delete it to redo the run") from None


def run_status(plan: Plan, row: Row, benchmark: str) -> str:
    """measured, stale (finished with other commands than the plan's) or pending."""
    run_dir = plan.run_dir(row, benchmark)
    if not (run_dir / RESULT).exists():
        return "pending"
    steps = read_run(run_dir)["steps"]
    commands = plan.commands_for(row, benchmark)
    same = all(steps.get(s, {}).get("command") == commands[s] for s in STEPS)
    return "measured" if same else "stale"


def _gener_argv(command: str) -> list[str]:
    words = shlex.split(command)
    if not words or words[0] != "gener":
        raise GenerError(f"plan commands must start with 'gener': {command!r}")
    return [sys.executable, "-m", "gener", *words[1:]]


def _code_version() -> str:
    """``git describe --always --dirty`` of the checkout, or "unknown"."""
    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty"], text=True,
                              capture_output=True, cwd=Path(__file__).resolve().parents[1])
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def execute_run(plan: Plan, row: Row, benchmark: str, env: dict | None = None,
                echo=print) -> dict:
    """Run the steps of one run that are not yet done with the current commands.

    A step is redone when its recorded command differs or an earlier step was redone. The
    evaluation's JSON goes to ``test.json``; ``run.json`` is rewritten after each step.
    """
    from gener.io import atomic_write_text

    run_dir = plan.run_dir(row, benchmark)
    log = read_run(run_dir)
    commands = plan.commands_for(row, benchmark)
    redo = False
    for step in STEPS:
        done = (log["steps"].get(step, {}).get("command") == commands[step]
                and (run_dir / OUTPUTS[step]).exists())
        if done and not redo:
            continue
        redo = True
        echo(f"[{row.id}/{benchmark}] {step}: {commands[step]}")
        load = os.getloadavg()
        started = time.perf_counter()
        completed = subprocess.run(_gener_argv(commands[step]), env=env, text=True,
                                   stdout=subprocess.PIPE if step == "evaluate" else None)
        if completed.returncode != 0:
            raise GenerError(f"{row.id}/{benchmark}: {step} failed (exit "
                             f"{completed.returncode}): {commands[step]}")
        if step == "evaluate":
            lines = completed.stdout.strip().splitlines()
            scores = json.loads(lines[-1]) if lines else None
            if not isinstance(scores, dict) or "f1" not in scores:
                raise GenerError(f"{row.id}/{benchmark}: evaluate printed no JSON scores")
            atomic_write_text(run_dir / RESULT, json.dumps(scores, indent=2) + "\n")
        log["steps"][step] = {"command": commands[step], "code": _code_version(),
                              "seconds": round(time.perf_counter() - started, 1),
                              "load_average": [round(x, 2) for x in load],
                              "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write_text(run_dir / RUN_LOG, json.dumps(log, indent=2) + "\n")
    return log


# --- seed entities -------------------------------------------------------------------------

def seed_entity_tags(sentences: list[list[str]], seeds: dict[str, list[str]],
                     rules: tuple[int, ...] = (),
                     common_words: frozenset[str] | None = None,
                     capitals_only: frozenset[str] = frozenset()) -> list[list[str]]:
    """BIO tags from matching ``seeds`` (label -> phrases) over tokenized sentences.

    Uses gener's dictionary matcher (longest match, left to right, case-insensitive; of the
    matching rules only ``rules``, e.g. 9) on the words joined by spaces; a match that does
    not start and end on the benchmark's word boundaries (part of a word such as "HD-like")
    is dropped. ``common_words``: rule 9's word list, ``capitals_only``: keys matched only
    where written in capitals (see :func:`gener.matching.match`).
    """
    from gener.artifacts import RetrievedPhrase, RetrievedSentence, SubquestionRetrieval
    from gener.matching import match
    from gener.recipes import Subquestion
    from gener.text import tokenize

    labels = list(seeds)
    if not labels or not any(seeds.values()):
        raise GenerError("no seed entities")
    retrievals = []
    for label, phrases in seeds.items():  # one "evidence sentence" per seed: the seed itself
        question = f"seed entities: {label}"
        retrievals.append(SubquestionRetrieval(
            Subquestion(label, label, len(phrases), (), question),
            [RetrievedSentence(p, [RetrievedPhrase(p, 0, len(p))]) for p in phrases]))
    retrievals.append(SubquestionRetrieval(
        Subquestion(labels[0], "sentence", len(sentences), tuple(rules), "sentences"),
        [RetrievedSentence(" ".join(words), []) for words in sentences]))
    result = match(retrievals, labels, deterministic=True, progress=False, workers=1,
                   common_words=common_words, capitals_only=capitals_only)
    records = result.records[len(result.records) - len(sentences):]
    tags = []
    for words, record in zip(sentences, records, strict=True):
        owner, first, last = [], set(), set()
        for w, word in enumerate(words):
            pieces = len(tokenize(word))
            first.add(len(owner))
            owner += [w] * pieces
            last.add(len(owner) - 1)
        if len(owner) != len(record["tokens"]):
            raise GenerError(f"cannot align tokens of sentence {' '.join(words)!r}")
        row = ["O"] * len(words)
        for span in record["spans"]:
            start, end = span["start"], span["end"]
            if start in first and end - 1 in last:
                a, b = owner[start], owner[end - 1]
                row[a:b + 1] = [f"B-{span['type']}"] + [f"I-{span['type']}"] * (b - a)
        tags.append(row)
    return tags


def seed_entity_scores(benchmark: str, seeds: dict[str, list[str]], split: str = "test",
                       benchmarks_dir=None) -> dict:
    """P/R/F1 (seqeval) of the seed entities matched on a benchmark split."""
    from gener.benchmarks import load_benchmark
    from trainers.evaluation import gold_tags, score_tags

    dataset = load_benchmark(benchmark, split, benchmarks_dir)
    sentences = [list(t) for t in dataset["tokens"]]
    return score_tags(seed_entity_tags(sentences, seeds), gold_tags(dataset), list(seeds))


# --- RESULTS.md ----------------------------------------------------------------------------

BENCHMARK_TITLES = {"conll2003": "CoNLL-2003", "wikigold": "Wikigold", "wnut16": "WNUT-16",
                    "ncbi_disease": "NCBI-disease", "bc5cdr": "BC5CDR"}


@dataclass
class Cell:
    """One (row, benchmark) cell: figures in percent (or None) and where they come from."""

    ref: str
    status: str  # measured, computed, quoted, stale, pending, unavailable, not run
    figures: tuple[float, float, float] | None = None
    note: str = ""
    commands: dict = field(default_factory=dict)
    model: str = ""
    timing: str = ""
    from_run_folder: bool = False  # measured here, so worth recording

    def record(self) -> dict:
        """What :func:`record_cells` keeps of a measured cell."""
        return {"commands": self.commands, "figures": list(self.figures), "model": self.model,
                "timing": self.timing}


def records_path(plan: Plan) -> Path:
    """The plan's records file: ``tables_records.json`` beside it."""
    return Path(plan.source or PLAN_PATH).with_name(RECORDS_NAME)


def load_records(plan: Plan) -> dict[str, dict]:
    """``{"<row>/<benchmark>": record}`` of the runs measured so far, anywhere."""
    path = records_path(plan)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise GenerError(f"{path}: not valid JSON") from None


def record_cells(plan: Plan, cells: dict[tuple[str, str], Cell]) -> int:
    """Add the cells measured from run folders to the records file; how many changed."""
    from gener.io import atomic_write_text

    records = load_records(plan)
    changed = 0
    for (row_id, benchmark), cell in cells.items():
        key = f"{row_id}/{benchmark}"
        if cell.from_run_folder and records.get(key) != cell.record():
            records[key] = cell.record()
            changed += 1
    if changed:
        atomic_write_text(records_path(plan),
                          json.dumps(records, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return changed


def _pct(scores: dict) -> tuple[float, float, float]:
    return tuple(round(100 * scores[k], 1) for k in ("precision", "recall", "f1"))


def _timing(log: dict) -> str:
    parts = []
    for step in STEPS:
        entry = log["steps"].get(step)
        if entry:
            load = entry.get("load_average", [None])[0]
            parts.append(f"{step} {entry['seconds']:.0f} s (load {load})")
    codes = sorted({e["code"] for e in log["steps"].values() if "code" in e})
    return ", ".join(parts) + (f"; code {', '.join(codes)}" if codes else "")


def collect(plan: Plan, benchmarks_dir=None) -> dict[tuple[str, str], Cell]:
    """Every cell of the plan; seed-entity cells are computed now (seconds). A run whose
    folder is absent here shows its record, if its commands are the plan's."""
    cells, number = {}, 0
    records = load_records(plan)
    for row in plan.rows:
        for benchmark in plan.benchmarks:
            number += row.kind != "quoted"
            ref = f"r{number}" if row.kind != "quoted" else ""
            if row.kind == "quoted":
                figures = row.figures.get(benchmark)
                cells[row.id, benchmark] = Cell(
                    ref, "quoted" if figures else "unavailable",
                    tuple(figures) if figures else None, "Table 3 of the paper")
            elif benchmark in row.not_run:
                cells[row.id, benchmark] = Cell(ref, "not run", note=row.not_run[benchmark])
            elif row.kind == "seed_entities":
                cells[row.id, benchmark] = _seed_cell(plan, benchmark, ref, benchmarks_dir)
            else:
                cells[row.id, benchmark] = _run_cell(plan, row, benchmark, ref,
                                                     records.get(f"{row.id}/{benchmark}"))
    return cells


def _seed_cell(plan: Plan, benchmark: str, ref: str, benchmarks_dir) -> Cell:
    seeds = plan.seed_entities.get(benchmark)
    command = {"computed by": f"gener tables (seed_entities.{benchmark} of the plan, "
                              f"matched on the {benchmark} test split)"}
    if not seeds:
        return Cell(ref, "unavailable", note="no seed entities in the plan", commands=command)
    try:
        scores = seed_entity_scores(benchmark, seeds, "test", benchmarks_dir)
    except GenerError as err:
        return Cell(ref, "unavailable", note=str(err), commands=command)
    return Cell(ref, "computed", _pct(scores), commands=command,
                model="none (dictionary matching)")


def _run_cell(plan: Plan, row: Row, benchmark: str, ref: str, record: dict | None = None
              ) -> Cell:
    run_dir = plan.run_dir(row, benchmark)
    commands = plan.commands_for(row, benchmark)
    status = run_status(plan, row, benchmark)
    cell = Cell(ref, status, commands=commands, model=(run_dir / "model").as_posix())
    if status == "pending" and record and record.get("commands") == commands:
        return Cell(ref, "measured", tuple(record["figures"]), f"recorded in {RECORDS_NAME}",
                    commands, record["model"], record["timing"])
    if status == "pending":
        cell.note = "not run yet: `gener tables --run` runs it"
        return cell
    cell.timing = _timing(read_run(run_dir))
    info = run_dir / "model" / INFO_NAME
    if info.exists():
        info = json.loads(info.read_text(encoding="utf-8"))
        if info.get("best_f1") is not None:
            cell.timing += (f"; kept step {info['best_step']} of {info['steps']} "
                            f"(validation F1 {100 * info['best_f1']:.1f})")
    if status == "stale":
        cell.note = "finished with other commands than the plan's: `gener tables --run` redoes it"
        return cell
    scores = json.loads((run_dir / RESULT).read_text(encoding="utf-8"))
    cell.figures = _pct(scores)
    cell.from_run_folder = True
    return cell


def render(plan: Plan, cells: dict[tuple[str, str], Cell]) -> str:
    """RESULTS.md: one table per benchmark group (P, R, F1), then every cell's provenance."""
    lines = ["# Results", "",
             "Entity-level precision, recall and F1 (%) on the test splits, laid out as the "
             "paper's Table 3. Written by `gener tables` from "
             f"`{Path(plan.source).name}`; each figure is followed by its run reference, "
             "listed under *Runs* with the commands that produced it and the model folder it "
             "was measured on. Rows marked *quoted* are copied from the paper, not measured.", ""]
    for group in plan.groups:
        header = ["Model"] + [f"{BENCHMARK_TITLES.get(b, b)} {m}" for b in group
                              for m in ("P", "R", "F1")]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in plan.rows:
            values = [row.label]
            for benchmark in group:
                cell = cells[row.id, benchmark]
                mark = f" [{cell.ref}]" if cell.ref else ""
                if cell.figures:
                    p, r, f = cell.figures
                    values += [f"{p:.1f}", f"{r:.1f}", f"{f:.1f}{mark}"]
                else:
                    values += ["", "", f"{cell.status}{mark}"]
            lines.append("| " + " | ".join(values) + " |")
        lines.append("")
    lines += ["## Runs", ""]
    for row in plan.rows:
        if row.kind == "quoted":
            continue
        for benchmark in plan.benchmarks:
            cell = cells[row.id, benchmark]
            lines.append(f"- **{cell.ref}** {row.label}, {benchmark}: {cell.status}"
                         + (f" ({cell.note})" if cell.note else ""))
            if cell.model:
                lines.append(f"  - model: `{cell.model}`")
            for step, command in cell.commands.items():
                lines.append(f"  - {step}: `{command}`")
            if cell.timing:
                lines.append(f"  - time: {cell.timing}")
    quoted = [r.label for r in plan.rows if r.kind == "quoted"]
    notes = list(plan.notes)
    if quoted:
        notes.append("Quoted rows (" + "; ".join(quoted) + ") are the paper's Table 3 figures "
                     "(Kim et al., EMNLP 2022), reproduced for comparison.")
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"
