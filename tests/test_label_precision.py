"""The judge of bench/label_precision.py on a toy gold."""

import pytest

from bench.label_precision import (
    HELD_OUT,
    Judge,
    TypeSpec,
    check_held_out,
    estimated_precision,
    gold_titles,
    head_nouns,
    key,
    mean_row,
    names,
)
from gener.errors import GenerError

ARTICLES = [
    {"title": "Nile", "description": "Major river in Africa",
     "extract": "The Nile is a major north-flowing river in northeastern Africa."},
    {"title": "Amazon River", "description": "Largest river in South America",
     "extract": "The Amazon River is the largest river by discharge."},
    {"title": "Don (river)", "description": None,
     "extract": "The Don is the fifth-longest river in Europe."},
    {"title": "Valley", "description": "Low area between hills, often with a river",
     "extract": "A valley is an elongated low area often running between hills."},
    {"title": "River delta", "description": "Silt deposition landform at the mouth of a river",
     "extract": "A river delta is a landform shaped like a triangle."},
    {"title": "Tributary", "description": "Stream or river that flows into a main river",
     "extract": "A tributary is a stream or river that flows into a larger stream."},
]


def test_head_nouns():
    assert head_nouns("Italian painter and sculptor") == {"painter", "sculptor"}
    assert head_nouns("Egyptian war and sky deity") == {"deity"}
    assert head_nouns("Species of bird") == {"species", "bird"}
    assert head_nouns("One of the Great Lakes in North America") == {"one", "lakes"}
    assert head_nouns("Infectious disease caused by bacteria") == {"disease"}
    assert head_nouns("Activity involving ascending mountains") == {"activity"}
    assert head_nouns("Bowed string instrument") == {"instrument"}
    assert head_nouns(None) == set()


def test_gold_reads_descriptions_and_first_sentences_and_leaves_out_classes():
    spec = TypeSpec(name_words=("river",))
    # Don has no description: its first sentence's category names a river. A river delta
    # is not a river; a tributary is a class of rivers (its title lacks the type word, so
    # it stays: the rule only drops titles with the type word that open "A ...").
    assert gold_titles(ARTICLES, "river", spec) == ["Nile", "Amazon River", "Don (river)",
                                                    "Tributary"]
    assert gold_titles(ARTICLES, "river", TypeSpec(not_answers=("Tributary",))) == [
        "Nile", "Amazon River", "Don (river)"]


def test_names_and_keys():
    assert key("The  Rhône") == "rhone" and key("Lake Eyre–Kati") == "lake eyre - kati"
    assert names("Amazon River", TypeSpec(name_words=("river",))) == {"amazon river", "amazon"}
    assert names("Don (river)", TypeSpec()) == {"don"}
    assert names("Vincent van Gogh", TypeSpec(person=True)) == {"vincent van gogh", "gogh",
                                                                "van gogh"}
    assert names("Raphael", TypeSpec(person=True)) == {"raphael"}


def test_judge_scores_mentions_distinct_strings_and_recall():
    judge = Judge(["Nile", "Amazon River", "Don (river)", "Volga"],
                  TypeSpec(name_words=("river",)))
    occurring = judge.occurring(["The Nile flows north.", "the amazon floods.",
                                 "He rode along the Don."])
    assert occurring == {"Nile", "Amazon River", "Don (river)"}  # the Volga is never named
    mentions = ["Nile", "the Nile", "Amazon", "north", "north", "water", "Volga"]
    assert judge.score(mentions, occurring) == {
        "mentions": 7, "distinct": 5, "mention_precision": round(4 / 7, 4),
        "distinct_precision": 0.6, "gold": 4, "gold_in_corpus": 3, "gold_labelled": 2,
        "recall": round(2 / 3, 4)}
    empty = judge.score([], set())
    assert empty["mention_precision"] is None and empty["recall"] is None


def test_estimated_precision_and_means():
    manifest = {"labels_report": {"RIVER": {"estimated_precision": 0.7}}}
    assert estimated_precision(manifest, "RIVER") == 0.7
    assert estimated_precision({}, "RIVER") is None
    rows = [{"mentions": 10, "mention_precision": 0.5, "distinct_precision": 0.2,
             "recall": 1.0, "calibration_error": None},
            {"mentions": 0, "mention_precision": None, "distinct_precision": None,
             "recall": 0.5, "calibration_error": None}]
    assert mean_row(rows) == {"types": 2, "mentions": 10, "mention_precision": 0.5,
                              "distinct_precision": 0.2, "recall": 0.75,
                              "calibration_error": None}


def test_held_out_types_are_checked(monkeypatch):
    articles = [{"title": "X", "description": "River", "extract": "X is a river."}]
    check_held_out(list(HELD_OUT), articles)
    with pytest.raises(GenerError, match="not a held-out type"):
        check_held_out(["disease"], articles)
    monkeypatch.setitem(HELD_OUT, "disease", TypeSpec())  # a recipe's type word
    with pytest.raises(GenerError, match="used by a recipe or a fitting"):
        check_held_out(["disease"], articles)
