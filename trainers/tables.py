"""The plan behind RESULTS.md: runs as data, their execution, and the Table 3 layout.

A plan (``trainers/tables_plan.yaml``) has rows and benchmarks. A ``trained`` row runs, on
each benchmark and for each of its seeds, three commands (build, train, evaluate) made from
templates; a run lives in ``<root>/<row>/<benchmark>/seed<N>/`` with ``run.json`` (each
finished step: command, seconds, load average, code) and ``test.json`` (the evaluation).
A ``seed_entities`` row is computed on the fly, a ``quoted`` row copies the paper.

A figure is shown only when its commands are the plan's current ones, read from the run
folder or, where that folder is not on this machine, from the records file beside the plan
(``tables_records.json``, written by ``gener tables --out``).
"""

from __future__ import annotations

import json
import os
import shlex
import statistics
import string
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
ROW_KEYS = ("id", "label", "kind", "seeds", "benchmarks", "figures")


@dataclass
class Row:
    """One table row: ``kind`` trained (runs), seed_entities (computed) or quoted (paper)."""

    id: str
    label: str
    kind: str = "trained"
    seeds: tuple[int, ...] = (0,)
    variables: dict = field(default_factory=dict)
    overrides: dict = field(default_factory=dict)  # benchmark -> variables
    figures: dict = field(default_factory=dict)  # quoted: benchmark -> [P, R, F1]


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

    def run_dir(self, row: Row, benchmark: str, seed: int) -> Path:
        return self.root / row.id / benchmark / f"seed{seed}"

    def values(self, row: Row, benchmark: str) -> dict:
        """The template variables of a row on a benchmark (without ``seed`` and ``run``)."""
        return {**row.variables, **self.schedules.get(benchmark, {}),
                **row.overrides.get(benchmark, {})}

    def commands_for(self, row: Row, benchmark: str, seed: int) -> dict[str, str]:
        """The build/train/evaluate command lines of one run."""
        values = {**self.values(row, benchmark), "benchmark": benchmark, "recipe": benchmark,
                  "seed": seed, "run": self.run_dir(row, benchmark, seed).as_posix()}
        try:
            return {step: _fill(self.commands[step], values, strict=True) for step in STEPS}
        except KeyError as err:
            raise GenerError(f"{self.source}: row {row.id} has no value for {err} "
                             f"(needed by the command templates)") from None
        except (ValueError, IndexError) as err:
            raise GenerError(f"{self.source}: row {row.id}: bad template ({err})") from None

    def templates_for(self, row: Row) -> dict[str, str]:
        """The row's command lines with what varies by benchmark or seed left as ``{name}``."""
        each = [self.values(row, b) for b in self.benchmarks]
        values = {k: v for k, v in each[0].items() if all(e.get(k) == v for e in each)}
        values.update(recipe="{benchmark}",
                      run=f"{self.root.as_posix()}/{row.id}/{{benchmark}}/seed{{seed}}")
        return {step: _fill(self.commands[step], values, strict=False) for step in STEPS}


class _Keep(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def _fill(template: str, values: dict, strict: bool) -> str:
    """``template`` with ``values`` (which may refer to each other), on one line."""
    text = template
    for _ in range(4):  # variables may refer to {benchmark} etc.
        text = text.format(**values) if strict else text.format_map(_Keep(values))
    return " ".join(text.split())


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
    rows, seen = [], set()
    for entry in data.get("rows") or []:
        if not isinstance(entry, dict) or "id" not in entry:
            raise GenerError(f"{source}: every row needs an id")
        if entry["id"] in seen:
            raise GenerError(f"{source}: row {entry['id']!r} appears twice")
        seen.add(entry["id"])
        rows.append(_make_row(entry, defaults, source))
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


def _make_row(entry: dict, defaults: dict, source: str) -> Row:
    row_id = entry["id"]
    kind = entry.get("kind", "trained")
    if kind not in KINDS:
        raise GenerError(f"{source}: row {row_id}: kind must be one of {', '.join(KINDS)}")
    seeds = entry.get("seeds", [0])
    if (not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds)
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise GenerError(f"{source}: row {row_id}: seeds must be a list of distinct integers")
    figures = entry.get("figures") or {}
    for benchmark, values in figures.items():
        if not (isinstance(values, list) and len(values) == 3
                and all(isinstance(v, (int, float)) for v in values)):
            raise GenerError(f"{source}: row {row_id}: figures of {benchmark} must be "
                             f"[P, R, F1]")
    variables = {k: v for k, v in entry.items() if k not in ROW_KEYS}
    if kind == "trained":
        variables = {**defaults, **variables}
    elif variables:
        raise GenerError(f"{source}: row {row_id}: a {kind} row takes no "
                         f"{', '.join(sorted(variables))}")
    return Row(row_id, entry.get("label") or row_id, kind, tuple(seeds), variables,
               dict(entry.get("benchmarks") or {}), figures)


# --- runs ----------------------------------------------------------------------------------

def read_run(run_dir: Path) -> dict:
    path = run_dir / RUN_LOG
    if not path.exists():
        return {"steps": {}}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise GenerError(f"{path}: not valid JSON; delete it to redo the run") from None


def run_status(plan: Plan, row: Row, benchmark: str, seed: int) -> str:
    """measured, stale (finished with other commands than the plan's) or not run."""
    run_dir = plan.run_dir(row, benchmark, seed)
    if not (run_dir / RESULT).exists():
        return "not run"
    steps = read_run(run_dir)["steps"]
    commands = plan.commands_for(row, benchmark, seed)
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


def execute_run(plan: Plan, row: Row, benchmark: str, seed: int, env: dict | None = None,
                echo=print) -> dict:
    """Run the steps of one run that are not yet done with the current commands.

    A step is redone when its recorded command differs or an earlier step was redone. The
    evaluation's JSON goes to ``test.json``; ``run.json`` is rewritten after each step.
    """
    from gener.io import atomic_write_text

    run_dir = plan.run_dir(row, benchmark, seed)
    log = read_run(run_dir)
    commands = plan.commands_for(row, benchmark, seed)
    name = f"{row.id}/{benchmark}/seed{seed}"
    redo = False
    for step in STEPS:
        done = (log["steps"].get(step, {}).get("command") == commands[step]
                and (run_dir / OUTPUTS[step]).exists())
        if done and not redo:
            continue
        redo = True
        echo(f"[{name}] {step}: {commands[step]}")
        load = os.getloadavg()
        started = time.perf_counter()
        completed = subprocess.run(_gener_argv(commands[step]), env=env, text=True,
                                   stdout=subprocess.PIPE if step == "evaluate" else None)
        if completed.returncode != 0:
            raise GenerError(f"{name}: {step} failed (exit {completed.returncode}): "
                             f"{commands[step]}")
        if step == "evaluate":
            lines = completed.stdout.strip().splitlines()
            scores = json.loads(lines[-1]) if lines else None
            if not isinstance(scores, dict) or "f1" not in scores:
                raise GenerError(f"{name}: evaluate printed no JSON scores")
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


# --- cells ---------------------------------------------------------------------------------

BENCHMARK_TITLES = {"conll2003": "CoNLL-2003", "wikigold": "Wikigold", "wnut16": "WNUT-16",
                    "ncbi_disease": "NCBI-disease", "bc5cdr": "BC5CDR"}


@dataclass
class Run:
    """One seed's run of a trained cell: its status, figures (percent) and provenance."""

    seed: int
    status: str  # measured, recorded, stale, not run
    commands: dict
    figures: tuple[float, float, float] | None = None
    timing: str = ""

    def record(self) -> dict:
        """What :func:`record_runs` keeps of a measured run."""
        return {"commands": self.commands, "figures": list(self.figures),
                "timing": self.timing}


@dataclass
class Cell:
    """One (row, benchmark) cell: its figures over seeds (mean, sd) and where they come from."""

    ref: str
    status: str  # measured, computed, quoted, unavailable, not run, or "n of m seeds"
    mean: tuple[float, float, float] | None = None
    sd: tuple[float, float, float] | None = None
    note: str = ""
    runs: list[Run] = field(default_factory=list)


def records_path(plan: Plan) -> Path:
    """The plan's records file: ``tables_records.json`` beside it."""
    return Path(plan.source or PLAN_PATH).with_name(RECORDS_NAME)


def load_records(plan: Plan) -> dict[str, dict]:
    """``{"<row>/<benchmark>/seed<N>": record}`` of the runs measured so far, anywhere."""
    path = records_path(plan)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise GenerError(f"{path}: not valid JSON") from None


def record_runs(plan: Plan, cells: dict[tuple[str, str], Cell]) -> int:
    """Add the runs measured from run folders to the records file; how many changed."""
    from gener.io import atomic_write_text

    records = load_records(plan)
    changed = 0
    for (row_id, benchmark), cell in cells.items():
        for run in cell.runs:
            key = f"{row_id}/{benchmark}/seed{run.seed}"
            if run.status == "measured" and records.get(key) != run.record():
                records[key] = run.record()
                changed += 1
    if changed:
        atomic_write_text(records_path(plan),
                          json.dumps(records, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return changed


def _pct(scores: dict) -> tuple[float, float, float]:
    return tuple(round(100 * scores[k], 1) for k in ("precision", "recall", "f1"))


def _timing(run_dir: Path) -> str:
    log = read_run(run_dir)
    parts = [f"{step} {log['steps'][step]['seconds']:.0f} s" for step in STEPS
             if step in log["steps"]]
    load = log["steps"].get("build", {}).get("load_average", [None])[0]
    codes = sorted({e["code"] for e in log["steps"].values() if "code" in e})
    text = ", ".join(parts) + (f" (load {load})" if load is not None else "")
    text += f"; code {', '.join(codes)}" if codes else ""
    info = run_dir / "model" / INFO_NAME
    if info.exists():
        info = json.loads(info.read_text(encoding="utf-8"))
        if info.get("best_f1") is not None:
            text += (f"; kept step {info['best_step']} of {info['steps']} "
                     f"(validation F1 {100 * info['best_f1']:.1f})")
    return text


def _run(plan: Plan, row: Row, benchmark: str, seed: int, records: dict) -> Run:
    commands = plan.commands_for(row, benchmark, seed)
    status = run_status(plan, row, benchmark, seed)
    run_dir = plan.run_dir(row, benchmark, seed)
    if status == "measured":
        scores = json.loads((run_dir / RESULT).read_text(encoding="utf-8"))
        return Run(seed, status, commands, _pct(scores), _timing(run_dir))
    record = records.get(f"{row.id}/{benchmark}/seed{seed}")
    if status == "not run" and record and record.get("commands") == commands:
        return Run(seed, "recorded", commands, tuple(record["figures"]), record["timing"])
    return Run(seed, status, commands)


def _mean_sd(runs: list[Run]):
    figures = [r.figures for r in runs if r.figures]
    if not figures:
        return None, None
    columns = list(zip(*figures, strict=True))
    mean = tuple(round(statistics.fmean(c), 1) for c in columns)
    sd = tuple(round(statistics.stdev(c), 1) for c in columns) if len(figures) > 1 else None
    return mean, sd


def collect(plan: Plan, benchmarks_dir=None) -> dict[tuple[str, str], Cell]:
    """Every cell of the plan; seed-entity cells are computed now (seconds)."""
    cells = {}
    records = load_records(plan)
    refs = {row.id: f"r{n}" for n, row in
            enumerate((r for r in plan.rows if r.kind != "quoted"), start=1)}
    for row in plan.rows:
        ref = refs.get(row.id, "")
        for benchmark in plan.benchmarks:
            if row.kind == "quoted":
                figures = row.figures.get(benchmark)
                cells[row.id, benchmark] = Cell(
                    ref, "quoted" if figures else "unavailable",
                    tuple(figures) if figures else None, note="Table 3 of the paper")
            elif row.kind == "seed_entities":
                cells[row.id, benchmark] = _seed_cell(plan, benchmark, ref, benchmarks_dir)
            else:
                runs = [_run(plan, row, benchmark, s, records) for s in row.seeds]
                mean, sd = _mean_sd(runs)
                done = sum(r.figures is not None for r in runs)
                status = ("measured" if done == len(runs) else
                          "not run" if not done else f"{done} of {len(runs)} seeds")
                cells[row.id, benchmark] = Cell(ref, status, mean, sd, runs=runs)
    return cells


def _seed_cell(plan: Plan, benchmark: str, ref: str, benchmarks_dir) -> Cell:
    seeds = plan.seed_entities.get(benchmark)
    if not seeds:
        return Cell(ref, "unavailable", note="no seed entities in the plan")
    try:
        scores = seed_entity_scores(benchmark, seeds, "test", benchmarks_dir)
    except GenerError as err:
        return Cell(ref, "unavailable", note=str(err))
    return Cell(ref, "computed", _pct(scores))


# --- RESULTS.md ----------------------------------------------------------------------------

def _figure(cell: Cell, i: int) -> str:
    text = f"{cell.mean[i]:.1f}"
    return text + (f" ± {cell.sd[i]:.1f}" if cell.sd else "")


def render(plan: Plan, cells: dict[tuple[str, str], Cell]) -> str:
    """RESULTS.md: one table per benchmark group (P, R, F1), then each row's runs."""
    lines = ["# Results", "",
             "Entity-level precision, recall and F1 (%) on the test splits, laid out as the "
             f"paper's Table 3. Written by `gener tables` from `{Path(plan.source).name}`. "
             "Trained rows give the mean ± sample standard deviation over their seeds (a cell "
             "that has fewer seeds says how many); each row's reference [rN] leads to its "
             "commands under *Runs*. A cell is filled only by runs made with exactly those "
             "commands. Rows marked *quoted* are copied from the paper, not measured.", ""]
    for group in plan.groups:
        header = ["Model"] + [f"{BENCHMARK_TITLES.get(b, b)} {m}" for b in group
                              for m in ("P", "R", "F1")]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in plan.rows:
            values = [row.label + (f" [{cells[row.id, group[0]].ref}]"
                                   if row.kind != "quoted" else "")]
            for benchmark in group:
                cell = cells[row.id, benchmark]
                if cell.mean:
                    marks = "" if cell.status in ("measured", "computed", "quoted") else \
                        f" ({cell.status})"
                    values += [_figure(cell, 0), _figure(cell, 1), _figure(cell, 2) + marks]
                else:
                    values += ["", "", cell.status]
            lines.append("| " + " | ".join(values) + " |")
        lines.append("")
    lines += ["## Runs", ""]
    for row in plan.rows:
        if row.kind == "quoted":
            continue
        ref = cells[row.id, plan.benchmarks[0]].ref
        lines.append(f"**{ref}** {row.label}")
        if row.kind == "seed_entities":
            lines.append("- computed by `gener tables`: the plan's `seed_entities` (the paper's "
                         "Table C.1) matched on each test split; no model.")
            lines += [f"- {b}: {cells[row.id, b].note}" for b in plan.benchmarks
                      if cells[row.id, b].note]
            lines.append("")
            continue
        templates = plan.templates_for(row)
        lines += [f"- {step}: `{templates[step]}`" for step in STEPS]
        lines.append(f"- model: `{plan.root.as_posix()}/{row.id}/{{benchmark}}/seed{{seed}}"
                     f"/model`; seeds {', '.join(map(str, row.seeds))}")
        for benchmark in plan.benchmarks:
            lines.append(f"- {benchmark}{_varying(plan, row, benchmark, templates)}: "
                         + "; ".join(_run_text(run) for run in cells[row.id, benchmark].runs))
        lines.append("")
    quoted = [r.label for r in plan.rows if r.kind == "quoted"]
    notes = list(plan.notes)
    if quoted:
        notes.append("Quoted rows (" + "; ".join(quoted) + ") are the paper's Table 3 figures "
                     "(Kim et al., EMNLP 2022), reproduced for comparison.")
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines).rstrip("\n") + "\n"


def _varying(plan: Plan, row: Row, benchmark: str, templates: dict[str, str]) -> str:
    """`` (k 1000, t_early 300)``: the values a benchmark gives a row's templates."""
    names = {name for text in templates.values()
             for _, name, _, _ in string.Formatter().parse(text)
             if name and name not in ("benchmark", "seed")}
    values = plan.values(row, benchmark)
    shown = [f"{name} {_fill(str(values[name]), {'benchmark': benchmark}, strict=False)}"
             for name in sorted(names) if name in values]
    return f" ({', '.join(shown)})" if shown else ""


def _run_text(run: Run) -> str:
    if not run.figures:
        return f"seed {run.seed} {run.status}"
    text = f"seed {run.seed} F1 {run.figures[2]:.1f}"
    details = [run.timing] if run.timing else []
    if run.status == "recorded":
        details.append(f"recorded in {RECORDS_NAME}")
    return text + (f" ({'; '.join(details)})" if details else "")
