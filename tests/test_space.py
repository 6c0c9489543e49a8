"""The Gradio Space (spaces/gener/app.py), served on a free local port and called through
gradio_client: every tab, the queue under 20 concurrent requests, and polite refusals."""

import importlib.util
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.test_retrieval import DOCS

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

APP = Path(__file__).resolve().parents[1] / "spaces" / "gener" / "app.py"
DISEASES = ["cystic fibrosis", "malaria", "tuberculosis", "measles", "influenza", "asthma"]
PLACES = ["ireland", "nigeria", "paris", "tokyo", "japan", "brazil"]
TEMPLATES = ["{d} is common in {p} .", "in {p} , {d} is a major disease .",
             "{p} reported cases of {d} ."]
NAMES = ["O", "B-Disease", "I-Disease", "B-LOC", "I-LOC"]


def load_app():
    """The Space's module, imported from its file (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location("gener_space_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tagging_dataset():
    """Sentences with the example texts' diseases and places, tagged."""
    import datasets

    rows = {"tokens": [], "ner_tags": []}
    for i, d in enumerate(DISEASES * 3):
        p = PLACES[(i * 5) % len(PLACES)]
        words, tags = [], []
        for part in TEMPLATES[i % len(TEMPLATES)].split():
            if part in ("{d}", "{p}"):
                label = "Disease" if part == "{d}" else "LOC"
                name = (d if part == "{d}" else p).split()
                words += name
                tags += [f"B-{label}"] + [f"I-{label}"] * (len(name) - 1)
            else:
                words.append(part)
                tags.append("O")
        rows["tokens"].append(words)
        rows["ner_tags"].append([NAMES.index(t) for t in tags])
    features = datasets.Features({"tokens": datasets.List(datasets.Value("string")),
                                  "ner_tags": datasets.List(datasets.ClassLabel(names=NAMES))})
    return datasets.Dataset.from_dict(rows, features=features)


def train_tiny_model(folder: Path) -> Path:
    """A 2-layer, 32-wide BERT trained for a few seconds to tag the examples' entities."""
    import torch

    from tests.tiny_models import save_tiny_bert
    from trainers.self_training import TrainConfig, train

    base = folder / "base"
    save_tiny_bert(base, max_position_embeddings=64)
    config = TrainConfig(t_early=25, t_update=5, max_steps=25, eval_every=25, batch_size=8,
                         learning_rate=1e-2, warmup_ratio=0.0, max_length=32, progress=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # much faster for so small a model, above all on a busy machine
    try:
        return train(tagging_dataset(), folder / "runs" / "tiny" / "model",
                     model_name=str(base), config=config).model_dir
    finally:
        torch.set_num_threads(threads)


def write_tiny_dataset(folder: Path, corpus, cache: Path) -> None:
    """A Hub-format dataset folder with one config built from the tiny corpus."""
    from gener.dataset import write_config
    from gener.matching import annotate, to_dataset
    from gener.recipes import recipe_from_types
    from gener.retrieval.search import retrieve

    recipe = recipe_from_types("disease,country", k=6, name="tiny")
    result = annotate(retrieve(recipe, corpus, cache_dir=cache, progress=False), recipe.labels,
                      progress=False)
    manifest = {"recipe": "tiny", "corpus": "tiny.txt", "labels": recipe.labels,
                "subquestions": [{"label": sq.label, "question": sq.question, "k": sq.k,
                                  "rules": list(sq.rules)} for sq in recipe.subquestions],
                "version": "test"}
    write_config(folder, "tiny", to_dataset(result.records, recipe.labels), manifest)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="package")
def space_settings(tmp_path_factory):
    """Settings over a tiny corpus, a tiny trained model and a tiny dataset folder."""
    from gener.corpus import TextCorpus

    root = tmp_path_factory.mktemp("space")
    corpus = root / "tiny.txt"
    corpus.write_text("\n".join(DOCS) + "\n", encoding="utf-8")
    cache = root / "cache"
    train_tiny_model(root / "models")
    write_tiny_dataset(root / "dataset", TextCorpus(corpus), cache)
    app = load_app()
    return app, app.Settings(corpus=str(corpus), models=[str(root / "models" / "runs")],
                             datasets=[str(root / "dataset")], cache_dir=str(cache))


@pytest.fixture(scope="package")
def served(space_settings):
    """The Space launched on a free local port: app module, url, model and config choices."""
    app, settings = space_settings
    demo = app.build_app(settings)
    port = free_port()
    options = dict(app.launch_options(), server_name="127.0.0.1")
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True, **options)
    yield SimpleNamespace(app=app, url=f"http://127.0.0.1:{port}/",
                          model=demo.space.models[0][1], config=next(iter(demo.space.configs)))
    demo.close()


@pytest.fixture(scope="package")
def client(served):
    return gradio_client.Client(served.url, verbose=False)


def labelled(highlighted) -> list[tuple[str, str]]:
    """``(text, label)`` of the labelled segments of a HighlightedText value."""
    return [(seg["token"], seg["class_or_confidence"]) for seg in highlighted
            if seg["class_or_confidence"]]


def test_ask_on_a_corpus_without_confident_answers_says_so(client):
    status, entities, evidence, dictionary, path = client.predict(
        "Which disease?\n  Which country? ", 3, api_name="/ask")
    assert "2 question(s)" in status and "no answer reached confidence 0.5" in status
    assert "no candidate names a document of this corpus" in status
    assert "confidence" in entities["headers"] and path is None


def test_ask_lists_entities_evidence_dictionary_and_dataset(space_settings):
    import dataclasses

    from gener.policy import LabellingPolicy

    app, settings = space_settings  # the quota of k sentences: the tiny corpus has no
    space = app.Space(dataclasses.replace(settings, policy=LabellingPolicy(min_confidence=0)))
    status, entities, evidence, dictionary, path = space.ask(
        "Which disease?\n  Which country? ", 3)
    assert "2 question(s)" in status
    rows = entities.to_dict("records")
    assert {r["question"] for r in rows} == {"Which disease?", "Which country?"}
    diseases = [r for r in rows if r["label"] == "DISEASE"]
    assert 1 <= len(diseases) <= 3 and {r["entity"] for r in diseases} & set(
        ["Tuberculosis", "Malaria", "Asthma", "Influenza"])
    assert all(r["entity"] in r["evidence"] for r in rows)
    assert [r["score"] for r in diseases] == sorted((r["score"] for r in diseases), reverse=True)
    spans = [(text, label) for text, label in evidence if label]
    assert {label for _, label in spans} == {"DISEASE", "COUNTRY"}
    assert "disease" not in {text for text, _ in spans}
    phrases = set(dictionary["phrase"])
    assert {text.lower() for text, _ in spans} <= phrases
    records = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
    assert len(records) == 6 and {r["question"] for r in records} == {"Which disease?",
                                                                      "Which country?"}
    assert all(set(r) >= {"tokens", "ner_tags", "spans"} for r in records)


def test_ask_asks_every_type_of_a_question(space_settings):
    import dataclasses

    from gener.policy import LabellingPolicy

    app, settings = space_settings
    space = app.Space(dataclasses.replace(settings, policy=LabellingPolicy(min_confidence=0)))
    rows = space.ask("Which diseases and countries?", 3)[1].to_dict("records")
    assert {(r["question"], r["label"]) for r in rows} == {("Which disease?", "DISEASE"),
                                                           ("Which country?", "COUNTRY")}


@pytest.mark.parametrize("questions,message", [
    ("", "please type a question"),
    ("  \n\t\n", "please type a question"),
    ("Which " + "x" * 600 + "?", "at most 512 characters"),
    ("\n".join(f"Which thing {i}?" for i in range(6)), "at most 5 questions"),
    ("x" * 10_000, "too long"),
    ("Which rivers/lakes/seas/cities/towns/villages?", "at most 5 types at a time (6 asked)"),
])
def test_ask_refuses_politely(client, questions, message):
    status, entities, evidence, dictionary, path = client.predict(questions, 3, api_name="/ask")
    assert status.startswith("⚠️") and message in status and "Traceback" not in status
    assert not entities["data"] and not evidence and path is None


def test_tag_highlights_entities(client, served):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/ask", "/tag", "/explore"} <= set(endpoints)
    status, highlighted, table = client.predict(served.app.EXAMPLES[0], served.model,
                                                api_name="/tag")
    spans = labelled(highlighted)
    assert ("Cystic fibrosis", "Disease") in spans and ("Ireland", "LOC") in spans
    assert "".join(seg["token"] for seg in highlighted) == served.app.EXAMPLES[0]
    assert status == f"{len(table['data'])} entities."


def test_tag_long_text_uses_the_sliding_window(client, served):
    text = " ".join([served.app.EXAMPLES[0]] * 40)  # about 6,000 characters: many windows
    _, highlighted, table = client.predict(text, served.model, api_name="/tag")
    assert "".join(seg["token"] for seg in highlighted) == text
    rows = [dict(zip(table["headers"], row, strict=True)) for row in table["data"]]
    assert all(text[r["start"]:r["end"]] == r["text"] for r in rows)
    assert max(r["start"] for r in rows) > 0.9 * len(text)  # tagged to the end, not truncated
    assert sum(r["text"] == "Ireland" for r in rows) > 20


@pytest.mark.parametrize("text,message", [
    ("", "please paste some text"),
    ("word " * 4001, "the limit is 20,000"),
])
def test_tag_refuses_politely(client, served, text, message):
    status, highlighted, table = client.predict(text, served.model, api_name="/tag")
    assert status.startswith("⚠️") and message in status
    assert not highlighted and not table["data"]


def test_tag_unknown_model_is_a_clear_error(client, served):
    with pytest.raises(gradio_client.exceptions.AppError, match="not in the list of choices"):
        client.predict("Malaria in Ireland.", "/no/such/model", api_name="/tag")


def test_explore_shows_counts_entities_samples_and_plot(client, served):
    info, counts, frequent, samples, plot = client.predict(served.config, api_name="/explore")
    assert info.startswith("**tiny**: 12 sentences")
    per_type = dict(counts["data"])
    assert set(per_type) == {"DISEASE", "COUNTRY"} and all(n > 0 for n in per_type.values())
    assert sum(row[2] for row in frequent["data"]) == sum(per_type.values())
    assert {label for _, label in labelled(samples)} <= {"DISEASE", "COUNTRY"}
    assert labelled(samples)
    assert plot["mark"] == "bar" and plot["columns"] == ["type", "entities"]
    assert plot["data"] == counts["data"]


def test_twenty_concurrent_requests_are_all_answered(client, served):
    jobs = [client.submit(f"{served.app.EXAMPLES[i % 2]} ({i})", served.model, api_name="/tag")
            for i in range(20)]
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda job: job.result(timeout=60), jobs))
    assert len(results) == 20
    assert all(status.endswith("entities.") for status, _, _ in results)
    for i, (_, highlighted, _) in enumerate(results):
        assert "".join(seg["token"] for seg in highlighted).endswith(f"({i})")


def test_settings_from_env(monkeypatch, space_settings, served, tmp_path):
    app, settings = space_settings
    monkeypatch.setenv("GENER_SPACE_MODELS", f"{settings.models[0]}, {tmp_path / 'missing'}")
    monkeypatch.setenv("GENER_SPACE_DATASETS", settings.datasets[0])
    monkeypatch.setenv("GENER_SPACE_CORPUS", "some.txt")
    monkeypatch.setenv("GENER_CACHE", str(tmp_path))
    env = app.Settings.from_env()
    assert (env.corpus, env.cache_dir) == ("some.txt", str(tmp_path))
    assert [Path(value).name for _, value in app.find_model_choices(env.models)] == ["model"]
    assert list(app.find_dataset_configs(env.datasets)) == [served.config]
    for name in ("GENER_SPACE_MODELS", "GENER_SPACE_DATASETS", "GENER_SPACE_CORPUS"):
        monkeypatch.delenv(name)
    default = app.Settings.from_env()
    assert default.corpus == "wiki-vital"
    assert [Path(p).parts[-2:] for p in default.models] == [("demo", "model"),
                                                            ("artifacts", "runs")]
    assert Path(default.datasets[0]).parts[-2:] == ("demo", "dataset")


def test_without_models_or_datasets_the_tabs_say_what_to_do(space_settings, tmp_path):
    app, settings = space_settings
    space = app.Space(app.Settings(corpus=str(tmp_path / "missing.txt"), models=[],
                                   datasets=[str(tmp_path)]))
    assert "run `make demo` or set GENER_SPACE_MODELS" in space.tag("Malaria.", None)[0]
    assert "run `make demo` or set GENER_SPACE_DATASETS" in space.explore(None)[0]
    status = space.ask("Which disease?", 3)[0]
    assert status.startswith("⚠️") and "missing.txt" in status


def test_model_dropdown_shows_names_and_the_plot_starts_at_zero(tmp_path, monkeypatch):
    app = load_app()
    for folder in ("demo/model", "runs/ncbi_disease", "other/ncbi_disease"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "config.json").write_text("{}")
        (tmp_path / folder / "model.safetensors").write_bytes(b"")
    monkeypatch.chdir(tmp_path / "demo")  # no path is shown relative to the working folder
    choices = app.find_model_choices([str(tmp_path / "demo" / "model"), str(tmp_path / "runs"),
                                      str(tmp_path / "other")])
    assert [label for label, _ in choices] == ["demo", "ncbi_disease", "ncbi_disease (2)"]
    assert [Path(value) for _, value in choices] == [
        tmp_path / "demo" / "model", tmp_path / "runs" / "ncbi_disease",
        tmp_path / "other" / "ncbi_disease"]
    demo = app.build_app(app.Settings(corpus=str(tmp_path / "missing.txt"), models=[],
                                      datasets=[str(tmp_path)]))
    plots = [block for block in demo.blocks.values() if type(block).__name__ == "BarPlot"]
    assert [plot.y_lim for plot in plots] == [[0, None]]
