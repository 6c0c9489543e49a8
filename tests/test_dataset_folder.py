import datasets
import pytest
from huggingface_hub import DatasetCard

from builders import BenchmarkBuilder
from gener.dataset import check_output_folder, generated_features, write_config
from gener.errors import GenerError


def _records(labels, n):
    records = []
    for i in range(n):
        label = labels[i % len(labels)]
        records.append({
            "id": f"s{i}", "tokens": ["Visit", "New", "York", "now"],
            "ner_tags": ["O", f"B-{label}", f"I-{label}", "O"],
            "spans": [{"start": 1, "end": 3, "type": label, "source": "retrieved"}],
            "question": f"Which {label}?", "retrieval_score": 0.5, "sentence_id": f"doc:{i}",
        })
    return records


def _dataset(labels, n):
    return datasets.Dataset.from_list(_records(labels, n), features=generated_features(labels))


def _manifest(labels):
    return {"version": "0.1.0+abc", "corpus": "test", "encoder": "minilm", "seed": 0,
            "dictionary_size": 3, "entities_per_type": {label: 1 for label in labels},
            "subquestions": [{"label": label, "question": f"Which {label}?", "k": 5,
                              "rules": [2, 4]} for label in labels]}


def test_two_configs_load_back_with_classlabels(tmp_path):
    write_config(tmp_path, "alpha", _dataset(["LOC"], 3), _manifest(["LOC"]))
    write_config(tmp_path, "beta", _dataset(["Disease", "Chemical"], 4),
                 _manifest(["Disease", "Chemical"]), default_config="alpha")
    alpha = datasets.load_dataset(str(tmp_path), "alpha")["train"]
    beta = datasets.load_dataset(str(tmp_path), "beta")["train"]
    assert len(alpha) == 3 and len(beta) == 4
    assert beta.features["ner_tags"] == datasets.List(datasets.ClassLabel(
        names=["O", "B-Disease", "I-Disease", "B-Chemical", "I-Chemical"]))
    assert beta[1]["ner_tags"] == [0, 3, 4, 0]
    assert beta.features["spans"] == generated_features(["X"])["spans"]
    default = datasets.load_dataset(str(tmp_path))["train"]
    assert default.features["ner_tags"].feature.names == ["O", "B-LOC", "I-LOC"]

    card = DatasetCard.load(tmp_path / "README.md")
    configs = {c["config_name"]: c for c in card.data.to_dict()["configs"]}
    assert set(configs) == {"alpha", "beta"} and configs["alpha"].get("default")
    infos = {i["config_name"]: i for i in card.data.to_dict()["dataset_info"]}
    assert infos["beta"]["splits"][0]["num_examples"] == 4
    assert "Which Chemical?" in card.text and "CC BY-SA 4.0" in card.text


def test_writing_twice_is_byte_identical(tmp_path):
    paths = []
    for run in ("a", "b"):
        write_config(tmp_path / run, "alpha", _dataset(["LOC"], 5), _manifest(["LOC"]))
        paths.append(tmp_path / run / "alpha" / "train-00000-of-00001.parquet")
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert (tmp_path / "a" / "README.md").read_text() == (tmp_path / "b" / "README.md").read_text()


def test_foreign_folder_is_refused_unless_overwrite(tmp_path):
    (tmp_path / "README.md").write_text("someone else's dataset")
    (tmp_path / "data").mkdir()
    with pytest.raises(GenerError, match="holds another dataset.*--overwrite"):
        check_output_folder(tmp_path)
    check_output_folder(tmp_path, overwrite=True)
    ours = tmp_path / "ours"
    write_config(ours, "alpha", _dataset(["LOC"], 2), _manifest(["LOC"]))
    check_output_folder(ours)  # a gener folder may receive more configs


def test_benchmark_builder_matches_reader(benchmarks_dir, tmp_path):
    builder = BenchmarkBuilder(config_name="ncbi_disease", data_dir=str(benchmarks_dir),
                               cache_dir=str(tmp_path))
    builder.download_and_prepare()
    splits = builder.as_dataset()
    assert {k: len(v) for k, v in splits.items()} == {"train": 5424, "validation": 923,
                                                      "test": 940}
    assert splits["test"].features["ner_tags"].feature.names == ["O", "B-Disease", "I-Disease"]
