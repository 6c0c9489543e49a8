"""`gener evaluate --data`: users' labelled data in CoNLL, JSONL and datasets formats."""

import json

import pytest

from gener.benchmarks import load_labelled_data
from gener.cli import main
from tests.tiny_models import save_tiny_bert

SENTENCES = [(["Cystic", "fibrosis", "in", "Ireland", "."],
              ["B-Disease", "I-Disease", "O", "B-LOC", "O"]),
             (["Paris", "and", "London", "have", "flu"], ["B-LOC", "O", "B-LOC", "O", "B-Disease"])]


def _expected(dataset):
    names = dataset.features["ner_tags"].feature.names
    return [[names[i] for i in row] for row in dataset["ner_tags"]]


def test_conll_space_iob1_with_docstart(tmp_path):
    path = tmp_path / "my.conll"
    path.write_text("-DOCSTART- -X- -X- O\n\n"
                    "Cystic NN B-NP I-Disease\nfibrosis NN I-NP I-Disease\nin IN O O\n"
                    "Ireland NNP B-NP I-LOC\n. . O O\n\n"
                    "Paris NNP B-NP I-LOC\nand CC O O\nLondon NNP B-NP I-LOC\nhave VB O O\n"
                    "flu NN B-NP I-Disease\n")
    dataset = load_labelled_data(str(path))
    assert dataset["tokens"] == [tokens for tokens, _ in SENTENCES]
    assert _expected(dataset) == [tags for _, tags in SENTENCES]


def test_tab_bio_and_jsonl_and_datasets_folders(tmp_path):
    tsv = tmp_path / "my.tsv"
    tsv.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in zip(*s, strict=True))
                               for s in SENTENCES) + "\n")
    jsonl = tmp_path / "my.jsonl"
    jsonl.write_text("".join(json.dumps({"tokens": w, "ner_tags": t}) + "\n"
                             for w, t in SENTENCES))
    from_tsv = load_labelled_data(str(tsv))
    assert _expected(from_tsv) == [tags for _, tags in SENTENCES]
    assert _expected(load_labelled_data(str(jsonl))) == _expected(from_tsv)

    import datasets

    dict_ = datasets.DatasetDict({"test": from_tsv, "train": from_tsv.select([0])})
    dict_.save_to_disk(str(tmp_path / "saved"))
    assert _expected(load_labelled_data(str(tmp_path / "saved"))) == _expected(from_tsv)
    assert len(load_labelled_data(str(tmp_path / "saved"), "train")) == 1
    (tmp_path / "hub" / "data").mkdir(parents=True)
    from_tsv.to_parquet(str(tmp_path / "hub" / "data" / "test-00000-of-00001.parquet"))
    assert _expected(load_labelled_data(str(tmp_path / "hub"))) == _expected(from_tsv)


@pytest.mark.parametrize("content, name, message", [
    ("Cystic B-Disease\nfibrosis\n", "bad.tsv", "bad.tsv:2: malformed line"),
    ("Cystic X-Disease\n", "bad.tsv", "bad.tsv:1: malformed tag 'X-Disease'"),
    ('{"tokens": ["a"], "ner_tags": [1]}\n', "bad.jsonl", "must hold tag strings"),
    ('{"words": ["a"]}\n', "bad.jsonl", "bad.jsonl:1: needs 'tokens' and a tag list"),
])
def test_malformed_data_is_one_line(tmp_path, content, name, message):
    from gener.errors import GenerError

    (tmp_path / name).write_text(content)
    with pytest.raises(GenerError, match=message.replace("(", r"\(")):
        load_labelled_data(str(tmp_path / name))


def test_evaluate_data_with_map_and_json(tmp_path, capsys):
    model = save_tiny_bert(tmp_path / "model",
                           labels=["O", "B-Disease", "I-Disease", "B-City", "I-City"])
    tsv = tmp_path / "my.tsv"
    tsv.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in zip(*s, strict=True))
                               for s in SENTENCES * 20) + "\n")
    assert main(["evaluate", model, "--data", str(tsv), "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["data"] == str(tsv) and plain["sentences"] == 40
    assert plain["ignored_gold_types"] == ["LOC"] and plain["ignored_predicted_types"] == ["City"]
    assert main(["evaluate", model, "--data", str(tsv), "--map", "City=LOC", "--json"]) == 0
    mapped = json.loads(capsys.readouterr().out)
    assert set(mapped["per_type"]) == {"Disease", "LOC"} and not mapped["ignored_gold_types"]
    assert mapped["per_type"]["Disease"] == plain["per_type"]["Disease"]

    from trainers.evaluation import score_tags
    from trainers.inference import Tagger

    dataset = load_labelled_data(str(tsv))
    predicted = Tagger(model).tag_words(dataset["tokens"])
    renamed = [[t.replace("City", "LOC") for t in row] for row in predicted]
    assert score_tags(renamed, _expected(dataset), ["Disease", "LOC"])["f1"] == mapped["f1"]

    assert main(["evaluate", model, "--data", str(tsv), "--map", "Town=LOC"]) == 1
    assert "--map: the model has no type Town (its types: Disease, City)" in \
        capsys.readouterr().err


def test_evaluate_on_a_folder_that_is_not_a_model(tmp_path, capsys):
    (tmp_path / "ds" / "custom").mkdir(parents=True)
    (tmp_path / "ds" / "custom" / "gener.json").write_text("{}")
    (tmp_path / "weird").mkdir()
    (tmp_path / "weird" / "config.json").write_text('{"architectures": ["BertModel"]}')
    for folder, message in ((tmp_path / "ds", "not a model folder (a dataset folder?)"),
                            (tmp_path / "weird", "not a token-classification model (BertModel)"),
                            (tmp_path / "none", "model folder")):
        assert main(["evaluate", str(folder), "--data", "x.tsv"]) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
