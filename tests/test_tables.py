"""`gener tables`: plan parsing, resumable runs, seed-entity matching and RESULTS.md cells."""

import json
import subprocess

import pytest

from gener.cli import main
from gener.corpus import BenchmarkCorpus, open_corpus
from gener.errors import GenerError
from trainers import tables
from trainers.evaluation import score_tags

PLAN = """
root: {root}
notes: [Tiny plan.]
benchmarks: [ncbi_disease, bc5cdr]
groups: [[ncbi_disease, bc5cdr]]
commands:
  build: >-
    gener build {{recipe}} --corpus {{corpus}} --encoder {{encoder}} --k {{k}}
    --out {{run}}/dataset
  train: >-
    gener train --dataset {{run}}/dataset --config {{recipe}} --out {{run}}/model
    --max-steps {{max_steps}}
  evaluate: gener evaluate {{run}}/model --benchmark {{benchmark}} --split test --json
defaults: {{encoder: minilm, k: 100}}
schedules:
  ncbi_disease: {{max_steps: 20}}
  bc5cdr: {{max_steps: 10}}
rows:
  - {{id: seeds, label: Seed Entities, kind: seed_entities}}
  - id: xtrain
    label: GeNER on X_train
    corpus: "benchmark:{{benchmark}}:train"
    benchmarks: {{bc5cdr: {{k: 50}}}}
  - {{id: retriever, extends: xtrain, label: GeNER + trained retriever, encoder: runs/enc,
      not_run: {{bc5cdr: no encoder for it}}}}
  - id: paper
    label: TALLOR (quoted)
    kind: quoted
    figures: {{ncbi_disease: [61.5, 34.7, 44.3]}}
seed_entities:
  ncbi_disease: {{Disease: [dmd, tay - sachs disease]}}
"""


@pytest.fixture
def plan(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.format(root=tmp_path / "runs"))
    return tables.load_plan(path)


def test_plan_commands_fill_templates_and_extends(plan, tmp_path):
    run = (tmp_path / "runs" / "xtrain" / "bc5cdr").as_posix()
    commands = plan.commands_for(plan.row("xtrain"), "bc5cdr")
    assert commands["build"] == (f"gener build bc5cdr --corpus benchmark:bc5cdr:train "
                                 f"--encoder minilm --k 50 --out {run}/dataset")
    assert commands["train"].endswith("--max-steps 10")
    # The one-line row changes only the encoder (and its run folder).
    other = plan.commands_for(plan.row("retriever"), "ncbi_disease")["build"]
    assert "--encoder runs/enc --k 100 " in other and "/retriever/ncbi_disease/dataset" in other
    assert [r.kind for r in plan.rows] == ["seed_entities", "trained", "trained", "quoted"]
    assert plan.row("retriever").not_run == {"bc5cdr": "no encoder for it"}
    assert plan.row("xtrain").not_run == {}


@pytest.mark.parametrize("change, message", [
    (("[ncbi_disease, bc5cdr]", "[ncbi_disease, nope]"), "unknown or no benchmarks"),
    (("extends: xtrain", "extends: ghost"), "extends unknown or circular row 'ghost'"),
    (("kind: quoted", "kind: magic"), "kind must be one of"),
    (("{{encoder: minilm, k: 100}}", "{{encoder: minilm}}"), "has no value for 'k'"),
    (("[61.5, 34.7, 44.3]", "[61.5, 44.3]"), "figures of ncbi_disease must be"),
    (("groups: [[ncbi_disease, bc5cdr]]", "groups: [[wnut16]]"), "groups name benchmarks"),
    (("{{bc5cdr: no encoder for it}}", "[bc5cdr]"), "not_run must map benchmarks to reasons"),
])
def test_bad_plans_give_one_line_errors(tmp_path, change, message):
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.replace(*change).format(root=tmp_path / "runs"))
    with pytest.raises(GenerError, match=message) as err:
        plan = tables.load_plan(path)
        for row in plan.rows:
            if row.kind == "trained":
                plan.commands_for(row, "ncbi_disease")
    assert "\n" not in str(err.value)
    with pytest.raises(GenerError, match="cannot read plan"):
        tables.load_plan(tmp_path / "missing.yaml")


def test_seed_entity_matching_on_a_hand_made_case():
    sentences = [["Tay-Sachs", "disease", "and", "DMD", "."],
                 ["HD-like", "signs", "of", "HD"],
                 ["no", "entity"]]
    seeds = {"Disease": ["tay - sachs disease", "dmd", "hd"]}
    predicted = tables.seed_entity_tags(sentences, seeds)
    assert predicted == [["B-Disease", "I-Disease", "O", "B-Disease", "O"],
                         ["O", "O", "O", "B-Disease"],  # "HD" inside "HD-like" is dropped
                         ["O", "O"]]
    gold = [["B-Disease", "I-Disease", "O", "B-Disease", "O"],
            ["B-Disease", "O", "O", "O"],
            ["O", "B-Disease"]]
    scores = score_tags(predicted, gold)
    # 3 predicted, 4 gold, 2 correct: P 2/3, R 1/2, F1 2PR/(P+R) = 4/7.
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(1 / 2)
    assert scores["f1"] == pytest.approx(4 / 7)


def _fake_subprocess(calls):
    def run(argv, stdout=None, **_):
        if argv[0] == "git":
            return subprocess.CompletedProcess(argv, 0, stdout="abc1234-dirty\n")
        command = argv[3:]
        calls.append(command[0])
        out = command[command.index("--out") + 1] if "--out" in command else None
        if out:
            (tables.Path(out)).mkdir(parents=True, exist_ok=True)
        printed = json.dumps({"precision": 0.5, "recall": 0.25, "f1": 1 / 3})
        return subprocess.CompletedProcess(argv, 0, stdout=printed if stdout else None)
    return run


def test_runs_resume_and_cells_carry_commands(plan, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(tables.subprocess, "run", _fake_subprocess(calls))
    row = plan.row("xtrain")
    tables.execute_run(plan, row, "ncbi_disease", echo=lambda _: None)
    assert calls == ["build", "train", "evaluate"]
    tables.execute_run(plan, row, "ncbi_disease", echo=lambda _: None)
    assert len(calls) == 3  # finished: nothing rerun
    assert tables.run_status(plan, row, "ncbi_disease") == "measured"
    info = {"best_f1": 0.45, "best_step": 10, "steps": 20}
    (plan.run_dir(row, "ncbi_disease") / "model" / tables.INFO_NAME).write_text(json.dumps(info))

    cells = tables.collect(plan, benchmarks_dir=tmp_path / "no-benchmarks")
    text = tables.render(plan, cells)
    cell = cells["xtrain", "ncbi_disease"]
    assert cell.figures == (50.0, 25.0, 33.3)
    assert f"| GeNER on X_train | 50.0 | 25.0 | 33.3 [{cell.ref}] |  |  | pending [" in text
    run = (tmp_path / "runs" / "xtrain" / "ncbi_disease").as_posix()
    assert f"  - model: `{run}/model`" in text
    assert f"  - evaluate: `gener evaluate {run}/model --benchmark ncbi_disease " \
           f"--split test --json`" in text
    assert "; code abc1234-dirty; kept step 10 of 20 (validation F1 45.0)" in text
    assert "| TALLOR (quoted) | 61.5 | 34.7 | 44.3 |  |  | unavailable |" in text
    assert "## Notes\n\n- Tiny plan.\n- Quoted rows (TALLOR (quoted)) are" in text
    assert cells["seeds", "ncbi_disease"].status == "unavailable"  # no benchmarks folder

    # A changed train template makes the run stale, then redoes train and evaluate only.
    plan.commands["train"] += " --seed 1"
    assert tables.run_status(plan, row, "ncbi_disease") == "stale"
    tables.execute_run(plan, row, "ncbi_disease", echo=lambda _: None)
    assert calls[3:] == ["train", "evaluate"]


def test_measured_runs_are_recorded_and_shown_where_their_folder_is_absent(
        plan, monkeypatch, tmp_path):
    import shutil

    monkeypatch.setattr(tables.subprocess, "run", _fake_subprocess([]))
    row = plan.row("xtrain")
    tables.execute_run(plan, row, "ncbi_disease", echo=lambda _: None)
    cells = tables.collect(plan, benchmarks_dir=tmp_path / "no-benchmarks")
    assert tables.record_cells(plan, cells) == 1
    assert tables.record_cells(plan, cells) == 0  # unchanged: nothing rewritten
    record = json.loads(tables.records_path(plan).read_text())["xtrain/ncbi_disease"]
    assert record["figures"] == [50.0, 25.0, 33.3]
    shutil.rmtree(tmp_path / "runs")  # another machine: no run folders
    again = tables.collect(plan, benchmarks_dir=tmp_path / "no-benchmarks")
    cell = again["xtrain", "ncbi_disease"]
    assert (cell.status, cell.figures) == ("measured", (50.0, 25.0, 33.3))
    assert cell.note == "recorded in tables_records.json" and cell.timing == record["timing"]
    plan.commands["train"] += " --seed 1"  # a record of other commands is not shown
    assert tables.collect(plan, tmp_path / "x")["xtrain", "ncbi_disease"].status == "pending"


def test_failed_step_is_a_one_line_error(plan, monkeypatch):
    monkeypatch.setattr(tables.subprocess, "run",
                        lambda argv, **_: subprocess.CompletedProcess(argv, 2, stdout=""))
    with pytest.raises(GenerError, match=r"xtrain/bc5cdr: build failed \(exit 2\)"):
        tables.execute_run(plan, plan.row("xtrain"), "bc5cdr", echo=lambda _: None)


def test_tables_verb_collects_and_rejects_bad_input(plan, tmp_path, capsys, benchmarks_dir):
    out = tmp_path / "RESULTS.md"
    assert main(["tables", "--plan", plan.source, "--out", str(out),
                 "--benchmarks", str(benchmarks_dir)]) == 0
    text = out.read_text()
    # Table C.1's seeds matched on the NCBI-disease test split.
    assert "| Seed Entities | " in text and "computed" in text
    assert "pending [r3]" in text and "gener tables --run" in text
    assert "not run [r6]" in text and "bc5cdr: not run (no encoder for it)" in text
    assert main(["tables", "--plan", plan.source, "--run", "--row", "retriever",
                 "--dry-run"]) == 0
    assert "[retriever/ncbi_disease] build" in (dry := capsys.readouterr().out)
    assert "retriever/bc5cdr" not in dry
    assert main(["tables", "--plan", plan.source, "--row", "xtrain"]) == 1
    assert "--row, --benchmark and --dry-run go with --run" in capsys.readouterr().err
    assert main(["tables", "--plan", plan.source, "--run", "--row", "nope"]) == 1
    assert "no row 'nope'" in capsys.readouterr().err
    assert main(["tables", "--plan", plan.source, "--run", "--benchmark", "conll2003"]) == 1
    assert "benchmark 'conll2003' is not in the plan" in capsys.readouterr().err


def test_shipped_plan_loads_with_seed_entities_for_every_benchmark():
    plan = tables.load_plan()
    assert set(plan.seed_entities) == set(plan.benchmarks)
    assert plan.seed_entities["wikigold"]["LOC"][0] == "england"  # swapped back
    for row in plan.rows:
        if row.kind == "trained":
            for benchmark in plan.benchmarks:
                assert plan.commands_for(row, benchmark)["evaluate"].endswith("--json")


def test_benchmark_corpus_yields_unlabeled_sentences(benchmarks_dir, monkeypatch):
    monkeypatch.setenv("GENER_BENCHMARKS", str(benchmarks_dir))
    corpus = open_corpus("benchmark:ncbi_disease:validation")
    assert isinstance(corpus, BenchmarkCorpus)
    sentences = list(corpus.sentences())
    assert len(sentences) == 923 and sentences[0].id == "validation-0:0"
    assert open_corpus("benchmark:ncbi_disease").split == "train"
    with pytest.raises(GenerError, match="unknown benchmark corpus nope:train"):
        open_corpus("benchmark:nope")


def test_select_k_scores_prefixes_of_the_retrieval(tmp_path, benchmarks_dir):
    from gener.artifacts import RetrievedPhrase, RetrievedSentence
    from gener.recipes import load_recipe
    from trainers.select_k import dictionary_scores

    work = tmp_path / "work"
    (work / "retrieval").mkdir(parents=True)
    (work / "retrieval.done.json").write_text(
        json.dumps({"inputs": {"recipe": {"name": "ncbi_disease"}}}))
    phrases = ["Breast cancer", "Ataxia-telangiectasia"]
    for i, sq in enumerate(load_recipe("ncbi_disease").subquestions):
        lines = [json.dumps(RetrievedSentence(f"{p} is rare .", [RetrievedPhrase(
            p, 0, len(p))]).to_dict()) for p in phrases]
        (work / "retrieval" / f"{i:02d}_{sq.type}.jsonl").write_text("\n".join(lines) + "\n")
    rows = dictionary_scores(work, "ncbi_disease", [1, 2], benchmarks_dir=benchmarks_dir)
    assert [(r["k"], r["phrases"]) for r in rows] == [(1, 1), (2, 2)]
    expected = tables.seed_entity_scores("ncbi_disease", {"Disease": [
        "breast cancer", "ataxia - telangiectasia"]}, "validation", benchmarks_dir)
    assert rows[1]["f1"] == round(expected["f1"], 4) and rows[1]["f1"] > 0
