"""Model cards name the recipe, data version and labelling policy of their training data."""

import json

from gener.policy import LabellingPolicy
from trainers.model_card import INFO_NAME, policy_text, record_policy, write_model_card


def test_card_names_recipe_data_version_and_policy(tmp_path):
    info = {"config": {"recipe": "demo", "data_version": "0.1.0+abc"}, "labels": ["O", "B-X"],
            "model_name": "minilm", "train_sentences": 3, "train_windows": 3, "steps": 1,
            "seconds": 1.0, "tokens": 9, "results": []}
    (tmp_path / INFO_NAME).write_text(json.dumps(info))
    write_model_card(tmp_path, info)
    assert "- labelling policy: `unknown`" in (tmp_path / "README.md").read_text()
    policy = LabellingPolicy.named("paper")
    manifest = {"policy": policy.to_dict(), "policy_digest": policy.digest()}
    record_policy(tmp_path, manifest)
    card = (tmp_path / "README.md").read_text()
    assert "- recipe: `demo`" in card and "- data version: `0.1.0+abc`" in card
    assert f"- labelling policy: `paper, digest {policy.digest()}`" in card
    assert json.loads((tmp_path / INFO_NAME).read_text())["policy"] == policy_text(manifest)
    changed = LabellingPolicy.named("default").with_overrides({"labeling": "counts"})
    assert policy_text({"policy": changed.to_dict()}).startswith("default (labeling=counts), ")
