"""`gener build` / `gener materialize` end to end on a tiny corpus with the offline MiniLM."""

import datasets
import pytest
import yaml
from huggingface_hub import DatasetCard

from gener.cli import main

DOCS = [
    "Tuberculosis is an infectious disease caused by bacteria. It mostly affects the lungs.",
    "Malaria is a mosquito-borne disease that affects humans. Malaria causes fever.",
    "Asthma is a common long-term disease of the airways. Asthma is not contagious.",
    "France is a country in Western Europe. Its capital is Paris.",
    "Germany is a country in Central Europe. Berlin is the largest city of Germany.",
    "Japan is an island country in East Asia. Tokyo is the capital city of Japan.",
    "Chess is a board game for two players. Bread is a staple food.",
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("materialize")
    (root / "corpus.txt").write_text("\n".join(DOCS) + "\n", encoding="utf-8")
    for name, label, entity_type, rules in (("disease_tiny", "Disease", "disease", [4, 9]),
                                            ("country_tiny", "LOC", "country", [1, 3, 4])):
        # A seven-line corpus holds no confident answer: these recipes take the paper's
        # quota of k sentences (answer confidence: tests/test_answers.py).
        (root / f"{name}.yaml").write_text(yaml.safe_dump({
            "name": name, "policy": {"min_confidence": 0},
            "subquestions": [{"label": label, "type": entity_type, "k": 4,
                              "rules": rules}]}))
    return root


def _materialize(workspace, out, *extra):
    return main(["materialize", str(workspace / "disease_tiny.yaml"),
                 str(workspace / "country_tiny.yaml"), "--out", str(out),
                 "--corpus", str(workspace / "corpus.txt"),
                 "--cache-dir", str(workspace / "cache"), *extra])


def test_materialize_two_configs_and_load_them_back(workspace, capsys):
    out = workspace / "out"
    assert _materialize(workspace, out) == 0
    assert "config country_tiny" in capsys.readouterr().out
    for config, label in (("disease_tiny", "Disease"), ("country_tiny", "LOC")):
        train = datasets.load_dataset(str(out), config)["train"]
        assert train.features["ner_tags"] == datasets.List(
            datasets.ClassLabel(names=["O", f"B-{label}", f"I-{label}"]))
        assert 0 < len(train) <= 4
        assert len(set(train["sentence_id"])) == len(train)
        names = train.features["ner_tags"].feature.names
        tagged = [names[t] for tags in train["ner_tags"] for t in tags]
        assert f"B-{label}" in tagged
        for row in train:
            for span in row["spans"]:
                assert row["ner_tags"][span["start"]] == names.index(f"B-{span['type']}")
    card = DatasetCard.load(out / "README.md")
    assert {c["config_name"] for c in card.data.to_dict()["configs"]} == {"disease_tiny",
                                                                         "country_tiny"}
    assert "Which disease?" in card.text and "Which country?" in card.text


def test_materialize_again_is_byte_identical(workspace):
    first, second = workspace / "first", workspace / "second"
    assert _materialize(workspace, first, "--seed", "3") == 0
    assert _materialize(workspace, second, "--seed", "3") == 0
    for config in ("disease_tiny", "country_tiny"):
        name = f"{config}/train-00000-of-00001.parquet"
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_materialize_bad_input(workspace, capsys):
    assert main(["materialize", "nope", "--out", str(workspace / "x")]) == 1
    assert "unknown recipe 'nope' (known: bc5cdr" in capsys.readouterr().err
    foreign = workspace / "foreign"
    foreign.mkdir()
    (foreign / "README.md").write_text("another dataset")
    (foreign / "data.csv").write_text("a,b\n")
    assert _materialize(workspace, foreign) == 1
    assert "holds another dataset" in capsys.readouterr().err
    assert main(["materialize", "--out", str(workspace / "x")]) == 1
    assert "name one or more CONFIGs, or --all" in capsys.readouterr().err


def test_builder_class_generates_a_shipped_config(workspace, tmp_path, monkeypatch):
    from builders import GenerBuilder
    from gener.recipes import load_recipe

    monkeypatch.setenv("GENER_CACHE", str(workspace / "cache"))
    builder = GenerBuilder(config_name="demo", k=2, corpus=str(workspace / "corpus.txt"),
                           policy={"min_confidence": 0}, cache_dir=str(tmp_path))
    builder.download_and_prepare()
    train = builder.as_dataset("train")
    assert train.features["ner_tags"].feature.names == [
        "O", "B-LOC", "I-LOC", "B-Disease", "I-Disease"]
    questions = {sq.question for sq in load_recipe("demo").subquestions}
    assert set(train["question"]) <= questions
    assert 0 < len(train) <= 2 * len(questions)  # k=2 sentences per subquestion at most


def test_build_redoes_retrieval_when_the_score_weights_change(workspace, tmp_path):
    import dataclasses

    from gener.corpus import TextCorpus
    from gener.policy import LabellingPolicy
    from gener.recipes import load_recipe
    from gener.stages import BuildSettings, generate

    recipe = load_recipe(str(workspace / "disease_tiny.yaml"))
    settings = BuildSettings(cache_dir=str(workspace / "cache"), progress=False,
                             policy=LabellingPolicy(min_confidence=0))
    corpus = TextCorpus(workspace / "corpus.txt")
    first = generate(recipe, corpus, tmp_path, settings)
    done = (tmp_path / "retrieval.done.json").read_text()
    assert generate(recipe, corpus, tmp_path, settings).manifest == first.manifest  # reused
    assert (tmp_path / "retrieval.done.json").read_text() == done
    policy = settings.policy.with_overrides({"definition_weight": 0.0})
    settings = dataclasses.replace(settings, policy=policy)
    again = generate(recipe, corpus, tmp_path, settings)
    assert (tmp_path / "retrieval.done.json").read_text() != done  # retrieved again
    assert again.manifest["version"] != first.manifest["version"]


def test_build_labels_each_phrase_of_a_multi_label_recipe_once(workspace, tmp_path):
    import json

    from gener.corpus import TextCorpus
    from gener.policy import LabellingPolicy
    from gener.recipes import load_recipe
    from gener.stages import BuildSettings, generate

    recipe = load_recipe("demo")  # LOC and Disease subquestions
    corpus = TextCorpus(workspace / "corpus.txt")
    settings = BuildSettings(cache_dir=str(workspace / "cache"), progress=False,
                             policy=LabellingPolicy(min_confidence=0))
    by_phrase = generate(recipe, corpus, tmp_path / "phrase", settings)
    labels = json.loads((tmp_path / "phrase/retrieval/phrase_labels.json").read_text())
    dictionary = json.loads(by_phrase.dictionary_path.read_text())["phrases"]
    assert labels and set(labels) == set(dictionary)
    assert all(types == {labels[key]: sum(types.values())} for key, types in dictionary.items())
    assert by_phrase.manifest["policy"]["labeling"] == "phrase"
    counts = generate(recipe, corpus, tmp_path / "counts",
                      BuildSettings(cache_dir=str(workspace / "cache"), progress=False,
                                    policy=LabellingPolicy(labeling="counts",
                                                           min_confidence=0)))
    assert json.loads((tmp_path / "counts/retrieval/phrase_labels.json").read_text()) == {}
    assert counts.manifest["version"] != by_phrase.manifest["version"]


def test_rebuilding_with_other_settings_never_reuses_the_old_dataset(workspace, tmp_path):
    import json

    from gener.corpus import TextCorpus
    from gener.policy import LabellingPolicy
    from gener.recipes import load_recipe
    from gener.stages import RECORDS, BuildSettings, build

    recipe = load_recipe(str(workspace / "disease_tiny.yaml"))  # rule 9 on
    corpus = TextCorpus(workspace / "corpus.txt")
    records = tmp_path / ".gener-work" / "disease_tiny" / "matching" / RECORDS
    tags = {}
    for choice in ("off", "all"):  # rule 9 on retrieved phrases changes the records
        policy = LabellingPolicy(retrieved_rule9=choice, min_confidence=0)
        build(recipe, corpus, tmp_path, BuildSettings(cache_dir=str(workspace / "cache"),
                                                      progress=False, policy=policy))
        train = datasets.load_dataset(str(tmp_path), "disease_tiny", split="train")
        names = train.features["ner_tags"].feature.names
        written = [json.loads(line)["ner_tags"] for line in records.read_text().splitlines()]
        assert [[names[i] for i in row] for row in train["ner_tags"]] == written
        tags[choice] = written
    assert tags["off"] != tags["all"]


def test_labelling_changes_reuse_the_retrieval_and_the_policy_is_recorded(workspace,
                                                                           tmp_path):
    import argparse

    from gener.commands.build import add_build_options, settings_from_args
    from gener.corpus import TextCorpus
    from gener.recipes import load_recipe
    from gener.stages import BuildSettings, generate

    corpus = TextCorpus(workspace / "corpus.txt")
    recipe = load_recipe(str(workspace / "disease_tiny.yaml"))
    parser = argparse.ArgumentParser()
    add_build_options(parser)
    manifests, done = {}, {}
    for name, argv in (("default", []), ("rule9", ["--set", "rule9=common"]),
                       ("no-heads", ["--set", "head_extension=false"])):
        settings = settings_from_args(parser.parse_args(argv), recipe)
        settings = BuildSettings(cache_dir=str(workspace / "cache"), progress=False,
                                 policy=settings.policy)
        manifests[name] = generate(recipe, corpus, tmp_path / "work", settings).manifest
        done[name] = (tmp_path / "work" / "retrieval.done.json").read_text()
        assert manifests[name]["policy"] == settings.policy.to_dict()
        assert manifests[name]["policy_digest"] == settings.policy.digest()
    assert done["rule9"] == done["default"]  # a labelling field: retrieval reused
    assert done["no-heads"] != done["default"]  # a retrieval field: retrieved again
    assert len({m["version"] for m in manifests.values()}) == 3
