"""`gener tables`: plan parsing, resumable runs over seeds, seed-entity matching and RESULTS.md."""

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
    gener build {{recipe}} --corpus {{corpus}} --policy {{policy}} --k {{k}} --seed {{seed}}
    --out {{run}}/dataset
  train: >-
    gener train --dataset {{run}}/dataset --config {{recipe}} --out {{run}}/model
    --max-steps {{max_steps}} --seed {{seed}}
  evaluate: gener evaluate {{run}}/model --benchmark {{benchmark}} --split test --json
defaults: {{policy: default, k: 100}}
schedules:
  ncbi_disease: {{max_steps: 20}}
  bc5cdr: {{max_steps: 10}}
rows:
  - {{id: seeds, label: Seed Entities, kind: seed_entities}}
  - id: xtrain
    label: gener on X_train
    corpus: "benchmark:{{benchmark}}:train"
    seeds: [0, 1]
    benchmarks: {{bc5cdr: {{k: 50}}}}
  - {{id: paper, label: paper policy, corpus: wiki-vital, policy: paper}}
  - id: tallor
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


def test_plan_commands_fill_templates_per_benchmark_and_seed(plan, tmp_path):
    run = (tmp_path / "runs" / "xtrain" / "bc5cdr" / "seed1").as_posix()
    commands = plan.commands_for(plan.row("xtrain"), "bc5cdr", 1)
    assert commands["build"] == (f"gener build bc5cdr --corpus benchmark:bc5cdr:train "
                                 f"--policy default --k 50 --seed 1 --out {run}/dataset")
    assert commands["train"].endswith("--max-steps 10 --seed 1")
    other = plan.commands_for(plan.row("paper"), "ncbi_disease", 0)["build"]
    assert "--corpus wiki-vital --policy paper --k 100 --seed 0 " in other
    assert other.endswith("/paper/ncbi_disease/seed0/dataset")
    assert [r.kind for r in plan.rows] == ["seed_entities", "trained", "trained", "quoted"]
    assert plan.row("xtrain").seeds == (0, 1) and plan.row("paper").seeds == (0,)
    # What a benchmark or a seed changes stays a placeholder in the row's templates.
    build = plan.templates_for(plan.row("xtrain"))["build"]
    assert build == ("gener build {benchmark} --corpus benchmark:{benchmark}:train "
                     "--policy default --k {k} --seed {seed} --out "
                     f"{(tmp_path / 'runs').as_posix()}/xtrain/{{benchmark}}/seed{{seed}}/dataset")


@pytest.mark.parametrize("change, message", [
    (("[ncbi_disease, bc5cdr]", "[ncbi_disease, nope]"), "unknown or no benchmarks"),
    (("kind: quoted", "kind: magic"), "kind must be one of"),
    (("{{policy: default, k: 100}}", "{{policy: default}}"), "has no value for 'k'"),
    (("[61.5, 34.7, 44.3]", "[61.5, 44.3]"), "figures of ncbi_disease must be"),
    (("groups: [[ncbi_disease, bc5cdr]]", "groups: [[wnut16]]"), "groups name benchmarks"),
    (("seeds: [0, 1]", "seeds: [0, 0]"), "seeds must be a list of distinct integers"),
    (("kind: seed_entities}}", "kind: seed_entities, k: 3}}"), "a seed_entities row takes no k"),
])
def test_bad_plans_give_one_line_errors(tmp_path, change, message):
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.replace(*change).format(root=tmp_path / "runs"))
    with pytest.raises(GenerError, match=message) as err:
        plan = tables.load_plan(path)
        for row in plan.rows:
            if row.kind == "trained":
                plan.commands_for(row, "ncbi_disease", 0)
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


def _fake_subprocess(calls, f1=1 / 3):
    def run(argv, stdout=None, **_):
        if argv[0] == "git":
            return subprocess.CompletedProcess(argv, 0, stdout="abc1234-dirty\n")
        command = argv[3:]
        calls.append(command[0])
        out = command[command.index("--out") + 1] if "--out" in command else None
        if out:
            (tables.Path(out)).mkdir(parents=True, exist_ok=True)
        printed = json.dumps({"precision": 0.5, "recall": 0.25, "f1": f1})
        return subprocess.CompletedProcess(argv, 0, stdout=printed if stdout else None)
    return run


def test_runs_resume_and_cells_give_mean_and_sd_over_seeds(plan, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(tables.subprocess, "run", _fake_subprocess(calls))
    row = plan.row("xtrain")
    tables.execute_run(plan, row, "ncbi_disease", 0, echo=lambda _: None)
    assert calls == ["build", "train", "evaluate"]
    tables.execute_run(plan, row, "ncbi_disease", 0, echo=lambda _: None)
    assert len(calls) == 3  # finished: nothing rerun
    assert tables.run_status(plan, row, "ncbi_disease", 0) == "measured"
    assert tables.run_status(plan, row, "ncbi_disease", 1) == "not run"
    info = {"best_f1": 0.45, "best_step": 10, "steps": 20}
    (plan.run_dir(row, "ncbi_disease", 0) / "model" / tables.INFO_NAME).write_text(
        json.dumps(info))

    cells = tables.collect(plan, benchmarks_dir=tmp_path / "no-benchmarks")
    cell = cells["xtrain", "ncbi_disease"]
    assert (cell.status, cell.mean, cell.sd) == ("1 of 2 seeds", (50.0, 25.0, 33.3), None)
    text = tables.render(plan, cells)
    assert "| gener on X_train [r2] | 50.0 | 25.0 | 33.3 (1 of 2 seeds) |  |  | not run |" in text
    assert "- ncbi_disease (k 100, max_steps 20): seed 0 F1 33.3 (build 0 s, train 0 s, " \
           "evaluate 0 s (load" in text
    assert "; code abc1234-dirty; kept step 10 of 20 (validation F1 45.0)); seed 1 not run" \
        in text
    assert "- bc5cdr (k 50, max_steps 10): seed 0 not run; seed 1 not run" in text
    assert "| TALLOR (quoted) | 61.5 | 34.7 | 44.3 |  |  | unavailable |" in text
    assert "## Notes\n\n- Tiny plan.\n- Quoted rows (TALLOR (quoted)) are" in text
    assert cells["seeds", "ncbi_disease"].status == "unavailable"  # no benchmarks folder

    # The second seed: the mean and the sample standard deviation of the two.
    monkeypatch.setattr(tables.subprocess, "run", _fake_subprocess(calls, f1=0.437))
    tables.execute_run(plan, row, "ncbi_disease", 1, echo=lambda _: None)
    cell = tables.collect(plan, tmp_path / "x")["xtrain", "ncbi_disease"]
    assert (cell.status, cell.mean[2], cell.sd) == ("measured", 38.5, (0.0, 0.0, 7.4))
    assert "| 50.0 ± 0.0 | 25.0 ± 0.0 | 38.5 ± 7.4 |" in tables.render(plan, {
        **tables.collect(plan, tmp_path / "x")})

    # A changed train template makes the run stale, then redoes train and evaluate only.
    plan.commands["train"] += " --lr 1e-4"
    assert tables.run_status(plan, row, "ncbi_disease", 0) == "stale"
    del calls[:]
    tables.execute_run(plan, row, "ncbi_disease", 0, echo=lambda _: None)
    assert calls == ["train", "evaluate"]


def test_measured_runs_are_recorded_and_shown_where_their_folder_is_absent(
        plan, monkeypatch, tmp_path):
    import shutil

    monkeypatch.setattr(tables.subprocess, "run", _fake_subprocess([]))
    row = plan.row("paper")
    tables.execute_run(plan, row, "ncbi_disease", 0, echo=lambda _: None)
    cells = tables.collect(plan, benchmarks_dir=tmp_path / "no-benchmarks")
    assert tables.record_runs(plan, cells) == 1
    assert tables.record_runs(plan, cells) == 0  # unchanged: nothing rewritten
    record = json.loads(tables.records_path(plan).read_text())["paper/ncbi_disease/seed0"]
    assert record["figures"] == [50.0, 25.0, 33.3]
    shutil.rmtree(tmp_path / "runs")  # another machine: no run folders
    cell = tables.collect(plan, tmp_path / "x")["paper", "ncbi_disease"]
    assert (cell.status, cell.mean) == ("measured", (50.0, 25.0, 33.3))
    assert cell.runs[0].status == "recorded" and cell.runs[0].timing == record["timing"]
    assert "recorded in tables_records.json" in tables.render(plan, {
        **tables.collect(plan, tmp_path / "x")})
    # A record of other commands fills no cell: the row's figures need its own commands.
    plan.row("paper").variables["policy"] = "default"
    assert tables.collect(plan, tmp_path / "x")["paper", "ncbi_disease"].status == "not run"


def test_failed_step_is_a_one_line_error(plan, monkeypatch):
    monkeypatch.setattr(tables.subprocess, "run",
                        lambda argv, **_: subprocess.CompletedProcess(argv, 2, stdout=""))
    with pytest.raises(GenerError, match=r"xtrain/bc5cdr/seed1: build failed \(exit 2\)"):
        tables.execute_run(plan, plan.row("xtrain"), "bc5cdr", 1, echo=lambda _: None)


def test_tables_verb_collects_and_rejects_bad_input(plan, tmp_path, capsys, benchmarks_dir):
    out = tmp_path / "RESULTS.md"
    assert main(["tables", "--plan", plan.source, "--out", str(out),
                 "--benchmarks", str(benchmarks_dir)]) == 0
    text = out.read_text()
    # Table C.1's seeds matched on the NCBI-disease test split.
    assert "| Seed Entities [r1] | " in text
    assert "| gener on X_train [r2] |  |  | not run |  |  | not run |" in text
    assert main(["tables", "--plan", plan.source, "--run", "--row", "xtrain",
                 "--benchmark", "bc5cdr", "--seed", "1", "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "[xtrain/bc5cdr/seed1] build: gener build bc5cdr " in dry
    assert "seed0" not in dry and "ncbi_disease" not in dry
    assert main(["tables", "--plan", plan.source, "--row", "xtrain"]) == 1
    assert "--row, --benchmark, --seed and --dry-run go with --run" in capsys.readouterr().err
    assert main(["tables", "--plan", plan.source, "--run", "--row", "nope"]) == 1
    assert "no row 'nope'" in capsys.readouterr().err
    assert main(["tables", "--plan", plan.source, "--run", "--benchmark", "conll2003"]) == 1
    assert "benchmark 'conll2003' is not in the plan" in capsys.readouterr().err


def test_shipped_plan_has_the_papers_layout():
    plan = tables.load_plan()
    assert set(plan.seed_entities) == set(plan.benchmarks)
    assert plan.seed_entities["wikigold"]["LOC"][0] == "england"  # swapped back
    trained = [row for row in plan.rows if row.kind == "trained"]
    assert {row.variables["policy"] for row in trained} == {"default", "paper"}
    assert all(row.seeds == (0, 1, 2) for row in trained)
    for row in trained:
        for benchmark in plan.benchmarks:
            commands = plan.commands_for(row, benchmark, 2)
            assert commands["evaluate"].endswith("--json")
            assert f"--policy {row.variables['policy']} " in commands["build"]
    assert [r.id for r in plan.rows if r.kind == "quoted"] == [
        "paper_seed_entities", "paper_tallor", "paper_gener"]


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
    from bench.select_k import dictionary_scores
    from gener.artifacts import RetrievedPhrase, RetrievedSentence
    from gener.recipes import load_recipe

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
