"""The labelling policy: presets, overrides, resolution order, and its digest."""

import json

import pytest

from gener.errors import GenerError
from gener.pipeline import prepare
from gener.policy import PRESETS, LabellingPolicy, resolve_policy
from gener.recipes import load_recipe


def test_presets_differ_only_where_they_say():
    default, paper = LabellingPolicy.named("default"), LabellingPolicy.named("paper")
    assert default == LabellingPolicy()
    changed = {k for k, v in paper.to_dict().items() if default.to_dict()[k] != v}
    assert changed == {"preset", *(k for k, v in PRESETS["paper"].items()
                                   if getattr(default, k) != v)}
    assert paper.labeling == "counts" and paper.retrieved_rule9 == "off" and not paper.rule11
    assert default.digest() != paper.digest()
    assert paper.describe() == "paper"


def test_overrides_parse_command_line_strings_by_field_type():
    policy = LabellingPolicy().with_overrides(
        ["rule9=common", "head_extension=false", "head_similarity=0.3", "feedback_phrases=0",
         "deterministic=yes"])
    assert (policy.rule9, policy.head_extension, policy.head_similarity,
            policy.feedback_phrases, policy.deterministic) == ("common", False, 0.3, 0, True)
    assert LabellingPolicy(head_similarity=0.3).with_overrides(
        ["head_similarity=none"]).head_similarity is None
    assert policy.describe().startswith("default (")


@pytest.mark.parametrize("item, message", [
    ("rule7=all", "unknown policy field 'rule7'"),
    ("preset=paper", "unknown policy field 'preset'"),
    ("rule9", "expected field=value"),
    ("head_extension=maybe", "policy field head_extension: expected bool"),
    ("feedback_phrases=many", "policy field feedback_phrases: expected int"),
    ("feedback_phrases=-1", "feedback_phrases: must be 0 (off) or more"),
    ("labeling=random", "policy field labeling: must be one of phrase, counts"),
    ("head_similarity=2", "head_similarity: must be a cosine"),
])
def test_bad_overrides_are_one_line_errors(item, message):
    with pytest.raises(GenerError, match="^[^\\n]*$") as err:
        LabellingPolicy().with_overrides([item])
    assert message in str(err.value)


def test_yaml_values_keep_their_types_and_wrong_types_are_refused():
    assert LabellingPolicy().with_overrides({"definition_weight": 1}).definition_weight == 1.0
    with pytest.raises(GenerError, match="expected bool"):
        LabellingPolicy().with_overrides({"rule11": "sometimes"})
    with pytest.raises(GenerError, match="expected int"):
        LabellingPolicy().with_overrides({"feedback_phrases": True})


def test_resolution_order_recipe_then_preset_then_user():
    recipe = {"rule9": "common"}
    assert resolve_policy(recipe).rule9 == "common"
    assert resolve_policy(recipe, "default").rule9 == "common"  # the recipe's own preset
    assert resolve_policy(recipe, "paper") == LabellingPolicy.named("paper")
    assert resolve_policy(recipe, None, ["rule9=all"]).rule9 == "all"
    assert resolve_policy("paper").preset == "paper"
    assert resolve_policy({"preset": "paper", "rule11": True}).rule11 is True


def test_round_trip_through_the_manifest_dict():
    policy = LabellingPolicy.named("paper").with_overrides(["rule9=common"])
    again = LabellingPolicy.from_dict(json.loads(json.dumps(policy.to_dict())))
    assert again == policy and again.digest() == policy.digest()


def test_prepare_applies_rule3_scope_and_rule11():
    ncbi = load_recipe("ncbi_disease")
    assert all(11 in sq.rules for sq in prepare(ncbi, LabellingPolicy()).subquestions)
    paper = prepare(ncbi, LabellingPolicy.named("paper"))
    assert not any(11 in sq.rules for sq in paper.subquestions)
    assert not any(sq.names_only for sq in paper.subquestions)
