import pytest
import yaml

from gener.errors import GenerError
from gener.recipes import (
    COMMON_RULES,
    available_recipes,
    labels_with_rule,
    load_recipe,
    recipe_from_question,
    recipe_from_types,
)
from gener.recipes.questions import question_labels
from gener.recipes.recipe import config_name

PAPER_RECIPES = {"conll2003", "wikigold", "wnut16", "ncbi_disease", "bc5cdr", "chemdner",
                 "crossner_enzyme", "crossner_astronomical_object", "crossner_award",
                 "crossner_conference"}


def test_every_paper_recipe_ships_and_validates():
    assert PAPER_RECIPES <= set(available_recipes())
    for name in available_recipes():
        recipe = load_recipe(name)
        assert recipe.name == name
        assert recipe.subquestions


def test_conll2003_matches_table_c2_and_c3():
    recipe = load_recipe("conll2003")
    assert recipe.labels == ["PER", "LOC", "ORG"]
    assert len(recipe.subquestions) == 9
    assert {sq.k for sq in recipe.subquestions} == {5000}
    assert recipe.subquestions[5].question == "Which state in the USA?"
    assert set(recipe.subquestions[0].rules) == {1, 3, 4} | set(COMMON_RULES)
    assert (recipe.self_training.t_early, recipe.self_training.t_update) == (900, 300)


def test_ncbi_disease_sizes():
    recipe = load_recipe("ncbi_disease")
    assert [(sq.type, sq.k) for sq in recipe.subquestions] == [
        ("disease", 20000), ("disorder", 15000), ("condition", 15000)]
    assert not recipe.subquestions[0].has_rule(1)
    assert recipe.subquestions[0].has_rule(9)


def _write(tmp_path, data):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


GOOD = {"name": "x", "subquestions": [{"label": "D", "type": "disease", "k": 5, "rules": [4]}]}


@pytest.mark.parametrize("change, message", [
    ({"subquestion": []}, "subquestion: unknown key"),
    ({"subquestions": [{"label": "D", "type": "disease", "k": 5, "rules": [4], "topk": 3}]},
     "subquestions[0].topk: unknown key"),
    ({"subquestions": [{"label": "D", "k": 5}]}, "subquestions[0].type: missing field"),
    ({"subquestions": [{"label": "D", "type": "disease", "k": 5, "rules": [12]}]},
     "subquestions[0].rules: rule 12 is outside 1-11"),
    ({"subquestions": [{"label": "D", "type": "  ", "k": 5}]}, "empty question type"),
    ({"subquestions": [{"label": "D", "type": "disease", "k": 0}]},
     "subquestions[0].k: must be a positive integer"),
    ({"subquestions": []}, "subquestions: expected a non-empty list"),
    ({"self_training": {"t_early": 10, "t_late": 3}}, "self_training.t_late: unknown key"),
    ({"policy": {"rule9": "some"}}, "policy: policy field rule9: must be one of all, common"),
    ({"policy": {"rule7": "all"}}, "policy: unknown policy field 'rule7'"),
    ({"policy": "fancy"}, "policy: unknown policy 'fancy' (known: default, paper)"),
    ({"rule9": "common"}, "rule9: unknown key"),
])
def test_bad_recipe_is_one_line_error_naming_file_and_key(tmp_path, change, message):
    path = _write(tmp_path, {**GOOD, **change})
    with pytest.raises(GenerError) as err:
        load_recipe(path)
    text = str(err.value)
    assert message in text
    assert str(path) in text
    assert "\n" not in text


def test_missing_name_and_unknown_recipe(tmp_path):
    with pytest.raises(GenerError, match="name: missing field"):
        load_recipe(_write(tmp_path, {"subquestions": GOOD["subquestions"]}))
    with pytest.raises(GenerError, match="unknown recipe 'nope' .*known: .*conll2003"):
        load_recipe("nope")
    with pytest.raises(GenerError, match="recipe file not found"):
        load_recipe(tmp_path / "missing.yaml")


def test_one_line_recipes():
    recipe = recipe_from_question("Which microbe?", k=50)
    assert recipe.subquestions[0].question == "Which microbe?"
    assert recipe.labels == ["MICROBE"]
    recipe = recipe_from_types("disease, chemical compound")
    assert recipe.labels == ["DISEASE", "CHEMICAL_COMPOUND"]
    assert recipe.subquestions[1].question == "Which chemical compound?"
    with pytest.raises(GenerError, match="empty question"):
        recipe_from_question("   ")
    with pytest.raises(GenerError, match="empty question type"):
        recipe_from_types(" , ")
    with pytest.raises(GenerError, match="longer than 512"):
        recipe_from_question("Which " + "x" * 600 + "?")


@pytest.mark.parametrize(("question", "entity_type"), [
    ("Which river?", "river"), ("Which rivers?", "river"), ("rivers", "river"),
    ("What rivers are there?", "river"), ("Name a river.", "river"),
    ("Give me a list of cities", "city"), ("List all the countries.", "country"),
    ("What kinds of fruit are there?", "fruit"), ("What are the diseases mentioned?", "disease"),
    ("Which churches?", "church"), ("Which viruses?", "virus"), ("Which people?", "person"),
    ("Which states in the USA?", "state in the USA"), ("Which U.S. states?", "U.S. state"),
    ("Which satellites made by an American company?", "satellite made by an American company"),
    ("Which species?", "species"), ("Which physics?", "physics"), ("Which gas?", "gas"),
    ("Which news agency?", "news agency"), ("Which chemical compound?", "chemical compound"),
    ("Which theses?", "thesis"), ("Which lenses?", "lens"), ("Which AIDS drugs?", "AIDS drug"),
    ("Which salt and pepper shakers?", "salt and pepper shakers"), ("Which rivers;", "river"),
    ("Which rock and roll bands?", "rock and roll band"),
    ("Which heart and lung diseases?", "heart and lung disease"),
    ("Which HIV/AIDS drugs?", "HIV/AIDS drug"),
    ("Which diseases of the heart and lungs?", "disease of the heart and lungs"),
    ("Which states in the USA and Canada?", "state in the USA and Canada"),
    ("Which rivers that are in Germany?", "river that are in Germany"),
    ("Which people named John?", "person named John"),
    ("Which Tae Kwon Do schools?", "Tae Kwon Do school"),
    ("Which diseases does the text mention?", "disease"),
    ("Which Rivers?", "River"), ("WHICH RIVERS?", "river"), ("Which Cities?", "City"),
])
def test_a_question_asks_for_its_type_however_phrased(question, entity_type):
    assert question_labels(question) == [(entity_type,)]
    recipe = recipe_from_question(question)
    assert recipe.subquestions[0].type == entity_type
    assert recipe.subquestions[0].question == f"Which {entity_type}?"
    assert recipe.name == config_name(question)  # builds of other phrasings keep apart


def test_a_question_listing_types_asks_each_under_its_label():
    recipe = recipe_from_question("Which diseases and drugs?", k=5)
    assert [(sq.label, sq.type, sq.question) for sq in recipe.subquestions] == [
        ("DISEASE", "disease", "Which disease?"), ("DRUG", "drug", "Which drug?")]
    assert recipe.name == "which_diseases_and_drugs"
    assert question_labels("Which cities, towns or villages?") == [("city",), ("town",),
                                                                   ("village",)]
    assert question_labels("Which genes/proteins?") == [("gene",), ("protein",)]
    assert question_labels("Which rivers or rivers?") == [("river",)]
    # singular alternatives are one label
    union = recipe_from_question("Which river or lake?")
    assert [(sq.label, sq.type) for sq in union.subquestions] == [
        ("RIVER_OR_LAKE", "river"), ("RIVER_OR_LAKE", "lake")]
    assert question_labels("Which city, town or village?") == [("city", "town", "village")]
    assert question_labels("Which city or town in France?") == [("city", "town in France")]
    assert recipe_from_types("diseases, chemical compounds, disease").labels == [
        "DISEASE", "CHEMICAL_COMPOUND"]
    assert recipe_from_types("Texas, lens").labels == ["TEXAS", "LENS"]  # no plurals
    assert recipe_from_question("Which genes and Gene?").labels == ["GENE"]


@pytest.mark.parametrize("question", ["Which?", "Name all", "What is?", "What is there?",
                                      "Which types of?", "What types of are there?", "?!?!"])
def test_a_question_of_frame_words_names_no_type(question):
    assert question_labels(question) == []
    with pytest.raises(GenerError, match="names no entity type"):
        recipe_from_question(question)


def test_recipe_round_trips_through_to_dict(tmp_path):
    recipe = load_recipe("wnut16")
    again = load_recipe(_write(tmp_path, recipe.to_dict()))
    assert again.subquestions == recipe.subquestions
    assert again.self_training == recipe.self_training
    bc5cdr = load_recipe("bc5cdr")
    assert (bc5cdr.policy, recipe.policy) == ({"rule9": "common"}, {})
    assert load_recipe(_write(tmp_path, bc5cdr.to_dict())).policy == {"rule9": "common"}
    assert bc5cdr.with_k(3).policy == {"rule9": "common"}


def test_labels_with_a_rule_are_those_whose_subquestions_all_apply_it():
    assert labels_with_rule(load_recipe("conll2003").subquestions, 3) == ["PER", "LOC", "ORG"]
    assert labels_with_rule(load_recipe("demo").subquestions, 3) == ["LOC"]  # not Disease
    assert labels_with_rule(load_recipe("ncbi_disease").subquestions, 3) == []
    manifest = [{"label": "product", "rules": [3]}, {"label": "product", "rules": [1, 4]},
                {"label": "person", "rules": [2, 3]}]
    assert labels_with_rule(manifest, 3) == ["person"]  # one product subquestion lacks rule 3
    assert labels_with_rule(load_recipe("bc5cdr").subquestions, 9) == ["Disease", "Chemical"]
    assert labels_with_rule(load_recipe("conll2003").subquestions, 9) == []


def test_rule3_scope_comes_from_the_policy(tmp_path):
    from gener.pipeline import prepare
    from gener.policy import LabellingPolicy

    conll = load_recipe("conll2003")
    assert all(sq.names_only for sq in prepare(conll, LabellingPolicy()).subquestions)
    paper = prepare(conll, LabellingPolicy.named("paper"))
    assert not any(sq.names_only for sq in paper.subquestions)
    lowercase = load_recipe(_write(tmp_path, {**conll.to_dict(), "policy": {"rule3": "lowercase"}}))
    assert lowercase.policy == {"rule3": "lowercase"}
    with pytest.raises(GenerError, match="rule3"):
        load_recipe(_write(tmp_path, {**conll.to_dict(), "policy": {"rule3": "everything"}}))
