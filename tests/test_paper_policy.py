"""``gener match --policy paper`` labels a GeNER retrieval folder as GeNER's annotate.py does.

The expected tags of the fixture are annotate.py's own output on it (dmis-lab/GeNER, with
abbreviations and boundary refinement off); bench/paper_conformance.py compares the two at
scale.
"""

import json

from gener.cli import main

CITY = [
    {"sentence": "Paris and Rome are cities , and Rome, is old .",
     "phrases": [{"name": "Paris and Rome", "start": 0, "end": 14},
                 {"name": "Rome,", "start": 32, "end": 37}]},
    {"sentence": "I left Rome for paris and the Chinese police .",
     "phrases": [{"name": "Chinese police", "start": 30, "end": 44}]}]
TEAM = [
    {"sentence": "the Boston Red Sox beat Paris FC in Rome .",
     "phrases": [{"name": "the Boston Red Sox", "start": 0, "end": 18}]},
    {"sentence": "The Boston Red Sox and the boston red sox fans met Chinese police in paris .",
     "phrases": []}]
CONFIG = {"add_abbreviation": False, "refine_boundary": False, "subquestion_configs": [
    {"type": "LOC", "subtype": "city", "top_k": 2, "skip_lowercase_ngram": 1},
    {"type": "ORG", "subtype": "sports team", "top_k": 2, "skip_lowercase_ngram": 1}]}
# annotate.py's tags: phrases as the folder holds them ("the Boston Red Sox", "Rome,",
# "Paris and Rome" are entries and spans as written), matched lowercased, rule 9 on "paris".
ANNOTATE_PY = [
    "B-LOC I-LOC I-LOC O O O O B-LOC I-LOC O O O",
    "O O O O O O O B-LOC I-LOC O",
    "B-ORG I-ORG I-ORG I-ORG O O O O O O",
    "B-ORG I-ORG I-ORG I-ORG O B-ORG I-ORG I-ORG I-ORG O O B-LOC I-LOC O O O"]


def _folder(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, rows in (("Which_city.json", CITY), ("Which_sports_team.json", TEAM)):
        (folder / name).write_text("".join(json.dumps({**row, "abbreviations": {}}) + "\n"
                                           for row in rows))
    (folder / "config.json").write_text(json.dumps(CONFIG))
    return folder


def _tags(tmp_path, *options):
    folder = _folder(tmp_path) if not (tmp_path / "in").exists() else tmp_path / "in"
    out = tmp_path / "out"
    assert main(["match", "--from-gener-retrieval", str(folder), "--gener-config",
                 str(folder / "config.json"), "--out", str(out), *options]) == 0
    with (out / "train.jsonl").open() as f:
        return [" ".join(json.loads(line)["ner_tags"]) for line in f]


def test_paper_policy_tags_as_annotate_py(tmp_path):
    assert _tags(tmp_path, "--policy", "paper") == ANNOTATE_PY
    dictionary = json.loads((tmp_path / "out/dictionary.json").read_text())["phrases"]
    assert set(dictionary) == {"paris and rome", "rome ,", "chinese police",
                               "the boston red sox"}


def test_default_policy_normalizes_the_phrases_again(tmp_path):
    tags = _tags(tmp_path)
    assert tags[0] == "B-LOC O B-LOC O O O O B-LOC O O O O"  # rules 1 and 2
    assert tags[2] == "O B-ORG I-ORG I-ORG O B-LOC O O B-LOC O"  # rule 4
    assert _tags(tmp_path, "--set", "renormalize=false") == ANNOTATE_PY


def test_a_gener_config_keeps_the_papers_rule3_under_the_default_policy(tmp_path):
    assert _tags(tmp_path)[1].endswith("B-LOC I-LOC O")  # "Chinese police"
    assert _tags(tmp_path, "--set", "rule3=names")[1] == "O O B-LOC O O O O O O O"


def test_unknown_policy_field_is_a_one_line_error(tmp_path, capsys):
    folder = _folder(tmp_path)
    assert main(["match", "--from-gener-retrieval", str(folder), "--gener-config",
                 str(folder / "config.json"), "--out", str(tmp_path / "out"),
                 "--set", "colour=red"]) == 1
    err = capsys.readouterr().err.strip()
    assert "unknown policy field 'colour'" in err and "\n" not in err


def test_phrases_inside_tokens_tag_the_tokens_they_touch(tmp_path):
    """annotate.py tags the tokens a phrase touches ("Canada–United States" for "United
    States": the en dash is not ASCII punctuation), each phrase over the ones before it
    ("Tijuana" after "San Diego" in "San Diego–Tijuana")."""
    text = "The Canada–United States border and the San Diego–Tijuana area ."
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "Which_city.json").write_text(json.dumps({"sentence": text, "abbreviations": {},
        "phrases": [{"name": name, "start": text.index(name), "end": text.index(name) + len(name)}
                    for name in ("United States", "San Diego", "Tijuana")]}) + "\n")
    (folder / "Which_sports_team.json").write_text(json.dumps({
        "sentence": "Canada beat the Sox .", "abbreviations": {},
        "phrases": [{"name": "Canada", "start": 0, "end": 6}]}) + "\n")
    (folder / "config.json").write_text(json.dumps(CONFIG))
    assert _tags(tmp_path, "--policy", "paper")[0] == "O B-LOC I-LOC O O O B-LOC B-LOC O O"
    assert _tags(tmp_path)[0] == "O O O O O O O O O O"  # the default skips such phrases
