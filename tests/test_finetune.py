"""`gener finetune`: sampling, mean ± sd, head reuse and errors, on a tiny random BERT."""

import json

import pytest

from gener.cli import main
from gener.errors import GenerError
from tests.test_trainer import NAMES, make_dataset, quick_config
from tests.tiny_models import save_tiny_bert
from trainers import finetune as ft
from trainers.data import label_names
from trainers.self_training import train


def test_mean_and_sample_sd():
    mean, sd = ft.mean_sd([0.5, 0.7, 0.9])
    assert mean == pytest.approx(0.7) and sd == pytest.approx(0.2)  # sqrt(0.08 / 2)
    assert ft.mean_sd([0.4]) == (0.4, 0.0)
    with pytest.raises(GenerError):
        ft.mean_sd([])


def test_samples_are_seeded_and_bounded():
    first = ft.sample_sentences(50, 5, seed=0)
    assert first == ft.sample_sentences(50, 5, seed=0) and len(set(first)) == 5
    assert first != ft.sample_sentences(50, 5, seed=1)
    with pytest.raises(GenerError, match="k=6 is larger than the split"):
        ft.sample_sentences(5, 6, seed=0)


def test_finetune_reuses_the_head_of_a_model_with_the_same_types(tmp_path):
    base = save_tiny_bert(tmp_path / "base")
    # A "GeNER model" whose label order differs from the benchmark's.
    reordered = ["O", "B-LOC", "I-LOC", "B-Disease", "I-Disease"]
    gener_model = train(make_dataset(names=reordered), tmp_path / "gener", model_name=base,
                        config=quick_config(max_steps=2, t_early=2)).model_dir
    data = make_dataset(n=12)
    settings = ft.FinetuneSettings(k=4, samples=2, max_steps=2, batch_size=4, max_length=32)
    result = ft.finetune(str(gener_model), data, data, tmp_path / "ft", settings)
    assert result["kept_head"] and len(result["runs"]) == 2
    f1s = [r["f1"] for r in result["runs"]]
    assert result["f1"]["mean"] == pytest.approx(sum(f1s) / 2)
    assert result["f1"]["sd"] == pytest.approx(abs(f1s[0] - f1s[1]) / 2 ** 0.5)
    saved = json.loads((tmp_path / "ft" / "sample-0" / "config.json").read_text())
    assert [saved["id2label"][str(i)] for i in range(5)] == reordered
    assert result["runs"][0]["sentences"] == ft.sample_sentences(12, 4, 0)
    # A base model without those labels gets a new head in the benchmark's order.
    assert not ft.finetune(base, data, data, tmp_path / "ft2", settings)["kept_head"]
    relabelled = ft._as_model_labels(data, reordered)
    assert label_names(relabelled) == reordered
    assert [reordered[t] for t in relabelled[0]["ner_tags"]] == \
        [NAMES[t] for t in data[0]["ner_tags"]]


def test_finetune_verb_errors_are_one_line(tmp_path, capsys, benchmarks_dir):
    common = ["--out", str(tmp_path / "out"), "--benchmarks", str(benchmarks_dir)]
    assert main(["finetune", "minilm", "--benchmark", "nope", *common]) == 1
    assert "unknown benchmark 'nope'" in capsys.readouterr().err
    assert main(["finetune", "minilm", "--benchmark", "ncbi_disease", "--k", "100000",
                 *common]) == 1
    err = capsys.readouterr().err
    assert "--k 100000 is larger than the ncbi_disease train split (5424 sentences)" in err
    assert main(["finetune", str(tmp_path / "no-such-model"), "--benchmark", "ncbi_disease",
                 "--k", "2", *common]) == 1
    err = capsys.readouterr().err.strip()
    assert "model folder" in err and "not found" in err and "\n" not in err
