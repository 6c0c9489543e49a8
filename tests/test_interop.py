"""Reading GeNER retrieval folders and configs, and the ``gener match`` verb."""

import json
import re
from pathlib import Path

import pytest

from gener.cli import main
from gener.errors import GenerError
from gener.interop import load_gener_config, read_gener_retrieval

SHARED_CONFIGS = Path(__file__).resolve().parents[2] / "shared/data/gener/configs"
CONFIG = {"add_abbreviation": False, "refine_boundary": False, "subquestion_configs": [
    {"type": "LOC", "subtype": "city", "top_k": 2, "skip_lowercase_ngram": 1},
    {"type": "ORG", "subtype": "sports team", "remove_the": False, "skip_lowercase_ngram": 0}]}


def write_folder(tmp_path, city_lines=None):
    city = city_lines or [
        {"sentence": "Paris and Rome are cities .",
         "phrases": [{"name": "Paris and Rome", "start": 0, "end": 14}], "abbreviations": {}},
        {"sentence": "I left Rome for paris .", "phrases": [], "abbreviations": {}}]
    tmp_path.mkdir(parents=True, exist_ok=True)
    team = [{"sentence": "the Boston Red Sox beat Paris FC .",
             "phrases": [{"name": "the Boston Red Sox", "start": 0, "end": 18}]}]
    (tmp_path / "Which_city.json").write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in city) + "\n")
    (tmp_path / "Which_sports team.json").write_text("\n".join(map(json.dumps, team)) + "\n")
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    return tmp_path


def test_config_rules(tmp_path):
    city, team = load_gener_config(write_folder(tmp_path) / "config.json")
    assert (city.label, city.type, city.question, city.k) == ("LOC", "city", "Which city", 2)
    assert city.rules == (1, 2, 3, 4, 5, 6, 7, 9)
    assert team.rules == (1, 2, 3, 5, 6, 7)


@pytest.mark.skipif(not SHARED_CONFIGS.exists(), reason="shared GeNER configs not present")
def test_paper_configs_load_with_defaults():
    subquestions = load_gener_config(SHARED_CONFIGS / "conll-2003.json")
    assert [s.type for s in subquestions][:3] == ["athlete", "actor", "politician"]
    company = next(s for s in subquestions if s.type == "company")
    assert company.has_rule(1)  # misspelt "split composite mention" falls back to the default
    assert all(s.has_rule(8) and s.has_rule(10) for s in subquestions)
    disease = load_gener_config(SHARED_CONFIGS / "bc5cdr.json")[0]
    assert not disease.has_rule(1) and not disease.has_rule(3) and not disease.has_rule(9)


def test_bad_lines_name_file_and_line(tmp_path):
    folder = write_folder(tmp_path, [{"sentence": "Paris", "phrases": []}, "{not json"])
    subquestions = load_gener_config(folder / "config.json")
    with pytest.raises(GenerError, match=r"Which_city.json: line 2: not valid JSON"):
        read_gener_retrieval(folder, subquestions)
    folder = write_folder(tmp_path, [{"sentence": "Paris", "phrases": [{"name": "Paris"}]}])
    with pytest.raises(GenerError, match=r"line 1: each phrase needs"):
        read_gener_retrieval(folder, subquestions)
    with pytest.raises(GenerError, match="retrieval folder not found"):
        read_gener_retrieval(tmp_path / "missing", subquestions)


def test_gener_match_writes_jsonl_and_dictionary(tmp_path, capsys):
    folder = write_folder(tmp_path / "in")
    args = ["match", "--from-gener-retrieval", str(folder), "--gener-config",
            str(folder / "config.json"), "--out", str(tmp_path / "out"), "--deterministic"]
    assert main(args) == 0
    records = [json.loads(line) for line in (tmp_path / "out/train.jsonl").open()]
    assert [r["tokens"][0] for r in records] == ["Paris", "I", "the"]
    assert records[0]["ner_tags"][:3] == ["B-LOC", "O", "B-LOC"]
    assert records[1]["ner_tags"] == ["O", "O", "B-LOC", "O", "O", "O"]  # rule 9: "paris"
    assert records[2]["ner_tags"][:4] == ["B-ORG", "I-ORG", "I-ORG", "I-ORG"]  # rule 4 off
    assert records[2]["ner_tags"][5] == "B-LOC"
    dictionary = json.loads((tmp_path / "out/dictionary.json").read_text())
    assert dictionary["phrases"]["paris"] == {"LOC": 1}
    assert "3 sentences" in capsys.readouterr().err
    first = (tmp_path / "out/train.jsonl").read_bytes()
    assert main(args) == 0 and (tmp_path / "out/train.jsonl").read_bytes() == first


def test_gener_match_jsonl_path_stays_light(tmp_path):
    from tests.subprocess_cli import run_cli

    folder = write_folder(tmp_path / "in")
    done, loaded = run_cli(["match", "--from-gener-retrieval", str(folder), "--gener-config",
                            str(folder / "config.json"), "--out", str(tmp_path / "out")],
                           ("torch", "transformers", "datasets", "spacy", "numpy", "yaml"))
    assert done.returncode == 0, done.stderr
    assert loaded == []


def test_two_process_reading_gives_the_sequential_result(tmp_path):
    from gener.matching import annotate, annotate_folder

    city = [{"sentence": f"Paris and Rome {i} , Washington met paris .",
             "phrases": [{"name": "Paris and Rome", "start": 0, "end": 14}] if i % 3 else []}
            for i in range(7)]
    city.append({"sentence": "Washington is Washington .",
                 "phrases": [{"name": "Washington", "start": 0, "end": 10}]})
    folder = write_folder(tmp_path / "in", city)
    (folder / "Which_sports team.json").write_text("\n".join(json.dumps(
        {"sentence": f"the Washington {i} beat Paris FC .",
         "phrases": [{"name": "the Washington", "start": 0, "end": 14}]}) for i in range(5)))
    subquestions = load_gener_config(folder / "config.json")
    expected = annotate(read_gener_retrieval(folder, subquestions), ["LOC", "ORG"], seed=4,
                        progress=False, detect_abbreviations=False, workers=1)
    got = annotate_folder(folder, subquestions, ["LOC", "ORG"], seed=4, progress=False,
                          workers=2)
    assert got.records.text == expected.records.text
    assert got.stats == expected.stats and got.dictionary.counts == expected.dictionary.counts
    assert list(got.dictionary.counts) == list(expected.dictionary.counts)
    assert got.dictionary.counts["the washington"] == {"ORG": 5}  # rule 4 off for ORG
    written = annotate_folder(folder, subquestions, ["LOC", "ORG"], seed=4, progress=False,
                              workers=2, jsonl=tmp_path / "o/train.jsonl",
                              dictionary_json=tmp_path / "o/dictionary.json")
    assert (tmp_path / "o/train.jsonl").read_text() == expected.records.text + "\n"
    assert written.records == expected.records and written.stats == expected.stats
    assert (tmp_path / "o/dictionary.json").read_text() == expected.dictionary.to_json()
    folder = write_folder(tmp_path / "bad", city + ["{not json"])
    with pytest.raises(GenerError, match=r"Which_city.json: line 9: not valid JSON"):
        annotate_folder(folder, subquestions, ["LOC", "ORG"], progress=False, workers=2)


def test_reading_a_folder_with_rule_11_gives_the_sequential_result(tmp_path):
    from dataclasses import replace

    from gener.matching import annotate, annotate_folder

    pairs = [("breast", "ovarian"), ("lung", "ovarian"), ("breast", "ovarian"),
             ("skin", "ovarian"), ("lung", "gastric"), ("colon", "ovarian")]
    texts = [f"Risk {i} of {w} and {m} cancer or {w} cancer ." for i, (w, m) in enumerate(pairs)]
    lines = [{"sentence": text, "phrases": [{"name": f"{m} cancer", "start": text.index(m),
                                             "end": text.index(m) + len(m) + 7}]}
             for text, (_, m) in zip(texts, pairs, strict=True)]
    folder = write_folder(tmp_path / "in", lines)
    subquestions = [replace(sq, rules=(*(r for r in sq.rules if r != 3), 11))
                    for sq in load_gener_config(folder / "config.json")]  # lowercase kept
    expected = annotate(read_gener_retrieval(folder, subquestions), ["LOC", "ORG"], seed=4,
                        progress=False, detect_abbreviations=False, workers=1)
    got = annotate_folder(folder, subquestions, ["LOC", "ORG"], seed=4, progress=False,
                          workers=2)
    assert list(expected.dictionary.counts)[:6] == [  # in the order of first occurrence
        "ovarian cancer", "breast cancer", "lung cancer", "skin cancer", "gastric cancer",
        "colon cancer"]
    assert list(got.dictionary.counts) == list(expected.dictionary.counts)
    assert got.dictionary.counts == expected.dictionary.counts
    assert got.records.text == expected.records.text


def run_match(tmp_path, folder, config, *extra):
    return main(["match", "--from-gener-retrieval", str(folder), "--gener-config", str(config),
                 "--out", str(tmp_path / "out"), *extra])


def test_gener_match_bad_input_is_a_one_line_error(tmp_path, capsys):
    good = {"sentence": "Paris is nice .", "phrases": [{"name": "Paris", "start": 0, "end": 5}]}
    cases = [  # (city lines, config subtypes, expected message)
        (None, ["city"], r"missing: retrieval folder not found$"),
        ([good, "{not json"], ["city"], r"Which_city.json: line 2: not valid JSON"),
        ([good], ["city", "country"], r"no retrieval file Which_country.json$"),
        ([good, {"sentence": "Rome .", "phrases": [{"name": "Rome", "start": 4, "end": 8}]}],
         ["city"], r"Which_city.json: line 2: phrase 'Rome' at 4-8 is outside the sentence"),
    ]
    for i, (lines, subtypes, message) in enumerate(cases):
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        config = folder / "config.json"
        config.write_text(json.dumps(
            {"subquestion_configs": [{"type": "LOC", "subtype": s} for s in subtypes]}))
        if lines is None:
            folder = folder / "missing"
        else:
            (folder / "Which_city.json").write_text("\n".join(
                line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
        for workers in ("1", "2"):  # sequential and two-process reading
            assert run_match(tmp_path, folder, config, "--workers", workers) == 1
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and err.startswith("gener match: error: "), err
            assert re.search(message, err.strip()), err
            assert not list(tmp_path.glob("out/.train.jsonl.*"))  # no temporary file left
    assert run_match(tmp_path, tmp_path, tmp_path / "nope.json") == 1
    assert "nope.json: cannot read" in capsys.readouterr().err


def test_detected_abbreviations_are_tagged_not_added_to_the_dictionary(tmp_path, capsys):
    pytest.importorskip("scispacy")
    text = "Duchenne muscular dystrophy ( DMD ) is severe , and DMD patients rarely walk ."
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "Which_disease.json").write_text(json.dumps({
        "sentence": text, "phrases": [{"name": "Duchenne muscular dystrophy", "start": 0,
                                       "end": 27}], "abbreviations": {}}) + "\n")
    (folder / "config.json").write_text(json.dumps({
        "add_abbreviation": True, "refine_boundary": False,
        "subquestion_configs": [{"type": "Disease", "subtype": "disease"}]}))
    assert run_match(tmp_path, folder, folder / "config.json", "--detect-abbreviations") == 0
    record = json.loads((tmp_path / "out/train.jsonl").read_text())
    dmd = [i for i, t in enumerate(record["tokens"]) if t == "DMD"]
    assert [(s["start"], s["source"]) for s in record["spans"]] == [
        (0, "retrieved"), (dmd[0], "abbreviation"), (dmd[1], "abbreviation")]
    assert [record["ner_tags"][i] for i in dmd] == ["B-Disease", "B-Disease"]
    dictionary = json.loads((tmp_path / "out/dictionary.json").read_text())
    assert list(dictionary["phrases"]) == ["duchenne muscular dystrophy"]
    assert run_match(tmp_path, folder, folder / "config.json") == 0  # the files' (none)
    assert json.loads((tmp_path / "out/train.jsonl").read_text())["spans"][1:] == []
    from gener.matching import annotate

    subquestions = load_gener_config(folder / "config.json")
    result = annotate(read_gener_retrieval(folder, subquestions), ["Disease"], progress=False)
    assert result.records[0]["spans"] == record["spans"]
    assert "dmd" not in result.dictionary.counts
