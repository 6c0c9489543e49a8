"""gener Space: ask questions of a corpus, tag text with a trained model, explore datasets.

Run with ``python app.py`` or ``gradio app.py`` (serves on 127.0.0.1 unless
``GRADIO_SERVER_NAME`` says otherwise). Settings come from environment variables:

* ``GENER_SPACE_CORPUS``: corpus spec for the Ask tab (default ``wiki-vital``).
* ``GENER_SPACE_MODELS``: comma-separated model folders, parent folders of models, or Hub
  model ids (default: ``artifacts/demo/model`` and ``artifacts/runs``, plus
  ``$GENER_HUB_ORG/gener-demo`` when the Hub is reachable).
* ``GENER_SPACE_DATASETS``: comma-separated Hub-format dataset folders or Hub dataset ids
  (default: ``artifacts/demo/dataset``, plus ``$GENER_HUB_ORG/gener`` when online).
* ``GENER_CACHE``: where phrase indexes are cached (default ``~/.cache/gener``).

Open ``/?tab=tag&example=0`` to land on the Tag tab with the first example tagged.
"""

import hashlib
import importlib.util
import logging
import os
import re
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402

from gener.corpus import DEFAULT_CORPUS  # noqa: E402
from gener.errors import GenerError  # noqa: E402
from gener.recipes.recipe import MAX_QUESTION_CHARS  # noqa: E402

logger = logging.getLogger("gener.space")

MAX_TEXT_CHARS = 20_000
MAX_QUESTIONS = 5
MAX_TOP_K = 100
SAMPLE_SENTENCES = 8
FREQUENT_ENTITIES = 20
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [
    "Cystic fibrosis is a genetic disease that is common in Ireland. Malaria and tuberculosis "
    "are still major causes of death in Nigeria, and Paris reported cases of measles.",
    "Tokyo is the capital of Japan. Influenza spreads quickly in winter, while asthma is a "
    "long-term disease of the airways that affects millions of people in Brazil.",
]
TABS = ("ask", "tag", "explore")


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _online() -> bool:
    from huggingface_hub.constants import is_offline_mode

    return not is_offline_mode()


def _default_paths(*relative: str) -> list[str]:
    """Each relative path under the working folder, else under the project root."""
    found = []
    for rel in relative:
        candidates = [Path.cwd() / rel, PROJECT_ROOT / rel]
        found.append(str(next((p for p in candidates if p.exists()), candidates[0])))
    return found


@dataclass
class Settings:
    """Where the Space finds its corpus, models, datasets and index cache."""

    corpus: str = DEFAULT_CORPUS
    models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    cache_dir: str | None = None
    encoder: str = "minilm"
    policy: object = "default"  # the Ask tab's labelling policy: a preset or LabellingPolicy

    @classmethod
    def from_env(cls) -> "Settings":
        """Settings from the ``GENER_SPACE_*`` variables, with working defaults."""
        org = os.environ.get("GENER_HUB_ORG", "").strip()
        hub = bool(org) and _online()
        models = os.environ.get("GENER_SPACE_MODELS")
        datasets = os.environ.get("GENER_SPACE_DATASETS")
        return cls(
            corpus=os.environ.get("GENER_SPACE_CORPUS") or DEFAULT_CORPUS,
            models=_split(models) if models else (
                _default_paths("artifacts/demo/model", "artifacts/runs")
                + ([f"{org}/gener-demo"] if hub else [])),
            datasets=_split(datasets) if datasets else (
                _default_paths("artifacts/demo/dataset") + ([f"{org}/gener"] if hub else [])),
            cache_dir=os.environ.get("GENER_CACHE") or None,
            policy=os.environ.get("GENER_SPACE_POLICY") or "default",
        )


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def find_model_choices(entries: list[str]) -> list[tuple[str, str]]:
    """``(label, value)`` for every model folder under ``entries``, and Hub ids when online.

    A folder is labelled with its model name (``demo`` for ``artifacts/demo/model``, the run
    folder's name otherwise), never with a path of the machine."""
    from gener.publish import find_models, model_name

    values = []
    for entry in entries:
        if Path(entry).is_dir():
            values += [(model_name(m), str(m)) for m in find_models(entry)]
        elif HUB_ID.match(entry) and _online():
            values.append((entry, entry))
    choices, seen = [], Counter()
    for name, value in dict.fromkeys(values):
        seen[name] += 1
        choices.append((name if seen[name] == 1 else f"{name} ({seen[name]})", value))
    return choices


def find_dataset_configs(entries: list[str]) -> dict[str, tuple[Path, str, dict]]:
    """``label -> (folder, config, manifest)`` for every config of the given dataset folders."""
    from gener.dataset import read_manifests

    configs = {}
    for entry in entries:
        folder = Path(entry)
        if not folder.is_dir() and HUB_ID.match(entry) and _online():
            try:
                from huggingface_hub import snapshot_download

                folder = Path(snapshot_download(entry, repo_type="dataset"))
            except Exception as err:  # a Hub id that cannot be fetched is skipped, not fatal
                logger.warning("dataset %s not available: %s", entry, err)
                continue
        for config, manifest in read_manifests(folder).items() if folder.is_dir() else ():
            configs[f"{config} ({_display(folder) if folder.is_dir() else entry})"] = (
                folder, config, manifest)
    return configs


def _highlight(text: str, spans) -> list[tuple[str, str | None]]:
    """HighlightedText segments of ``text`` with ``(start, end, label)`` character spans."""
    segments, pos = [], 0
    for start, end, label in sorted(spans):
        if start < pos:
            continue
        if start > pos:
            segments.append((text[pos:start], None))
        segments.append((text[start:end], label))
        pos = end
    if pos < len(text):
        segments.append((text[pos:], None))
    return segments


def _token_segments(tokens: list[str], spans: list[dict]) -> list[tuple[str, str | None]]:
    """HighlightedText segments of a tokenized sentence with token-offset spans."""
    offsets, pos = [], 0
    for token in tokens:
        offsets.append(pos)
        pos += len(token) + 1
    ends = [start + len(token) for start, token in zip(offsets, tokens, strict=True)]
    return _highlight(" ".join(tokens),
                      [(offsets[s["start"]], ends[s["end"] - 1], s["type"]) for s in spans])


def _warn(err: GenerError) -> str:
    gr.Warning(str(err))
    return f"⚠️ {err}"


class Space:
    """The Space's state (searcher, taggers, datasets, downloads) and its event handlers."""

    def __init__(self, settings: Settings) -> None:
        from gener.policy import LabellingPolicy

        self.settings = settings
        self.policy = (settings.policy if isinstance(settings.policy, LabellingPolicy)
                       else LabellingPolicy.named(settings.policy))
        self.models = find_model_choices(settings.models)
        self.configs = find_dataset_configs(settings.datasets)
        self.downloads = tempfile.TemporaryDirectory(prefix="gener-space-")
        self._searcher = None
        self._taggers: dict[str, object] = {}
        self._datasets: dict[str, object] = {}
        # One lock each, so that building the index does not hold up tagging or exploring.
        self._searcher_lock = threading.Lock()
        self._tagger_lock = threading.Lock()
        self._dataset_lock = threading.Lock()

    # --- shared resources -------------------------------------------------------------------

    def searcher(self):
        """The corpus's phrase searcher, loaded (or built and cached) on first use."""
        with self._searcher_lock:
            if self._searcher is None:
                from gener import pipeline
                from gener.corpus import open_corpus

                corpus = open_corpus(self.settings.corpus)
                self._searcher = pipeline.open_searcher(corpus, self.policy,
                                                        self.settings.encoder,
                                                        self.settings.cache_dir, progress=False)
            return self._searcher

    def tagger(self, model: str):
        """The tagger for a model folder or Hub id, loaded on first use."""
        if not model:
            raise GenerError("no tagging model found: run `make demo` or set GENER_SPACE_MODELS")
        with self._tagger_lock:
            if model not in self._taggers:
                from trainers.inference import Tagger

                folder = model
                if not Path(model).is_dir():
                    from huggingface_hub import snapshot_download

                    try:
                        folder = snapshot_download(model)
                    except Exception as err:  # offline, missing or private repository
                        raise GenerError(f"cannot download model {model}: {err}") from None
                self._taggers[model] = Tagger(folder)
            return self._taggers[model]

    def dataset(self, choice: str):
        """The ``train`` split of a materialized config, loaded on first use."""
        if not choice:
            raise GenerError("no dataset config found: run `make demo` or set "
                             "GENER_SPACE_DATASETS")
        with self._dataset_lock:
            if choice not in self._datasets:
                import datasets

                folder, config, _ = self.configs[choice]
                self._datasets[choice] = datasets.load_dataset(str(folder), config, split="train")
            return self._datasets[choice]

    # --- Ask ----------------------------------------------------------------------------------

    @staticmethod
    def parse_questions(text: str) -> list[str]:
        """Non-empty question lines; a polite error when there are none or too many."""
        text = text or ""
        if len(text) > MAX_QUESTIONS * (MAX_QUESTION_CHARS + 1):
            raise GenerError(f"the questions are too long ({len(text):,} characters): ask at most "
                             f"{MAX_QUESTIONS} questions of up to {MAX_QUESTION_CHARS} characters")
        questions = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
        if not questions:
            raise GenerError('please type a question, for example "Which disease?"')
        if len(questions) > MAX_QUESTIONS:
            raise GenerError(f"at most {MAX_QUESTIONS} questions at a time "
                             f"({len(questions)} given)")
        for question in questions:
            if len(question) > MAX_QUESTION_CHARS:
                raise GenerError(f"a question may have at most {MAX_QUESTION_CHARS} characters "
                                 f"(this one has {len(question):,})")
        return questions

    def ask(self, text: str, top_k: float):
        """Retrieve entities and evidence for each question, then build the dataset."""
        empty = (pd.DataFrame(), [], pd.DataFrame(), None)
        try:
            questions = self.parse_questions(text)
            top_k = int(top_k or 0)
            if not 1 <= top_k <= MAX_TOP_K:
                raise GenerError(f"top-k must be between 1 and {MAX_TOP_K}")
            return self._ask(questions, top_k)
        except GenerError as err:
            return (_warn(err), *empty)

    def _ask(self, questions: list[str], top_k: int):
        from gener import pipeline
        from gener.matching import write_jsonl
        from gener.normalize import normalize_retrieval
        from gener.recipes import Recipe, recipe_from_question, with_other_types

        asked = [sq for q in questions for sq in recipe_from_question(q, k=top_k).subquestions]
        if len(asked) > MAX_QUESTIONS:
            raise GenerError(f"at most {MAX_QUESTIONS} types at a time ({len(asked)} asked)")
        recipe = pipeline.prepare(Recipe("space", with_other_types(asked)), self.policy)
        searcher = self.searcher()
        ranked = searcher.rank_subquestions(list(recipe.subquestions))
        retrievals, phrase_labels = pipeline.retrieve(recipe, searcher, self.policy)
        rows, segments = [], []  # segments: evidence with normalized phrases
        for sq, found, retrieval in zip(recipe.subquestions, ranked, retrievals, strict=True):
            confidence = {a.name.casefold(): a.confidence for a in retrieval.answers}
            for rank, hit in enumerate(searcher.unique_phrases(found, sq), 1):
                rows.append({"question": sq.question, "rank": rank, "entity": hit.phrase,
                             "label": sq.label, "score": round(hit.score, 4),
                             "confidence": confidence.get(hit.phrase.casefold()),
                             "evidence": hit.sentence})
                if rank >= top_k:
                    break
            segments.append((f"{sq.question}\n", None))
            for sentence in normalize_retrieval(retrieval).sentences:
                segments += _highlight(sentence.sentence,
                                       [(p.start, p.end, sq.label) for p in sentence.phrases])
                segments.append(("\n", None))
            segments.append(("\n", None))
        if not any(r.sentences for r in retrievals):
            from gener.answers import nothing_kept

            reason = nothing_kept([a for r in retrievals for a in r.answers],
                                  self.policy.min_confidence)
            return (f"{len(rows)} entities for {len(questions)} question(s); {reason}; no "
                    "dataset was made", pd.DataFrame(rows), segments, pd.DataFrame(), None)
        result = pipeline.label(retrievals, recipe, self.policy, phrase_labels, progress=False,
                                detect_abbreviations=importlib.util.find_spec("scispacy")
                                is not None)
        dictionary = pd.DataFrame(
            [{"phrase": key, "labels": ", ".join(f"{label} ×{n}" for label, n in types.items()),
              "count": sum(types.values())} for key, types in result.dictionary.counts.items()],
            columns=["phrase", "labels", "count"]).sort_values(
                ["count", "phrase"], ascending=[False, True], kind="stable")
        digest = hashlib.sha1(f"{questions}|{top_k}".encode()).hexdigest()[:10]
        path = Path(self.downloads.name) / f"gener-{digest}.jsonl"
        write_jsonl(result.records, path)
        stats = result.stats
        status = (f"{len(rows)} entities for {len(questions)} question(s); "
                  f"{stats['sentences']} evidence sentences; pseudo-dictionary of "
                  f"{stats['dictionary_phrases']} phrases; "
                  f"{sum(stats['spans_per_type'].values())} entities in the generated dataset.")
        answers = [a for r in retrievals for a in r.answers]
        if answers:
            from gener.answers import label_report, report_lines

            report = label_report(answers, recipe.labels, self.policy.min_confidence,
                                  stats["spans_per_type"], {})
            status += "".join(f" {label}: {row['answers']} answers kept (estimated precision "
                              f"{row['estimated_precision'] or 0:.2f})."
                              for label, row in report.items())
            status += "".join(f" {line}." for line in report_lines(report))
        return status, pd.DataFrame(rows), segments, dictionary, str(path)

    # --- Tag ----------------------------------------------------------------------------------

    def tag(self, text: str, model: str):
        """Tag ``text`` with ``model`` over sliding windows."""
        try:
            text = text or ""
            if not text.strip():
                raise GenerError("please paste some text to tag, or pick an example")
            if len(text) > MAX_TEXT_CHARS:
                raise GenerError(f"the text has {len(text):,} characters; the limit is "
                                 f"{MAX_TEXT_CHARS:,}. Please tag a shorter text.")
            entities = self.tagger(model).tag(text)
        except GenerError as err:
            return _warn(err), None, pd.DataFrame()
        table = pd.DataFrame([e.to_dict() for e in entities],
                             columns=["label", "text", "start", "end", "score"])
        highlighted = {"text": text, "entities": [
            {"entity": e.label, "start": e.start, "end": e.end} for e in entities]}
        return f"{len(entities)} entities.", highlighted, table

    # --- Explore ------------------------------------------------------------------------------

    def explore(self, choice: str):
        """Counts per type, frequent entities, sample sentences and a plot for a config."""
        try:
            data = self.dataset(choice)
        except GenerError as err:
            return _warn(err), pd.DataFrame(), pd.DataFrame(), [], pd.DataFrame()
        _, config, manifest = self.configs[choice]
        per_type, entities = Counter(), Counter()
        for tokens, spans in zip(data["tokens"], data["spans"], strict=True):
            for span in spans:
                per_type[span["type"]] += 1
                entities[(" ".join(tokens[span["start"]:span["end"]]), span["type"])] += 1
        types = manifest.get("labels") or sorted(per_type)
        counts = pd.DataFrame({"type": types, "entities": [per_type[t] for t in types]})
        frequent = pd.DataFrame([{"entity": e, "type": t, "count": n}
                                 for (e, t), n in entities.most_common(FREQUENT_ENTITIES)],
                                columns=["entity", "type", "count"])
        samples = []
        spread = range(0, len(data), max(1, len(data) // SAMPLE_SENTENCES))[:SAMPLE_SENTENCES]
        for row in data.select(spread):
            samples += _token_segments(row["tokens"], row["spans"]) + [("\n\n", None)]
        questions = ", ".join(sq["question"] for sq in manifest.get("subquestions", []))
        info = (f"**{config}**: {len(data):,} sentences, {sum(per_type.values()):,} entities; "
                f"corpus `{manifest.get('corpus', '?')}`; questions: {questions or '?'}; "
                f"version `{manifest.get('version', '?')}`.")
        return info, counts, frequent, samples, counts

    # --- page load ----------------------------------------------------------------------------

    def on_load(self, request: gr.Request):
        """Honour ``?tab=ask|tag|explore`` and, for the Tag tab, ``&example=N`` (tags it).

        Returns the selected tab, then the Tag tab's text and outputs, then the Explore tab's.
        """
        params = dict(request.query_params) if request else {}
        tab = params.get("tab", "ask").lower()
        tabs = gr.Tabs(selected=tab if tab in TABS else "ask")
        tag_outputs, explore_outputs = (gr.skip(),) * 4, (gr.skip(),) * 5
        example = params.get("example", "")
        if tab == "tag" and example.isdigit() and int(example) < len(EXAMPLES):
            text = EXAMPLES[int(example)]
            tag_outputs = (text, *self.tag(text, self.models[0][1] if self.models else ""))
        elif tab == "explore" and self.configs:
            explore_outputs = self.explore(next(iter(self.configs)))
        return tabs, *tag_outputs, *explore_outputs


def build_app(settings: Settings | None = None) -> gr.Blocks:
    """The Blocks app with the Ask, Tag and Explore tabs."""
    space = Space(settings or Settings.from_env())
    with gr.Blocks(title="gener", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        demo.space = space
        gr.Markdown("# gener\nGenerate NER data from simple questions such as *Which disease?* "
                    "(GeNER, Kim et al., EMNLP 2022).")
        with gr.Tabs() as tabs:
            with gr.Tab("Ask", id="ask"):
                with gr.Row():
                    questions = gr.Textbox(label="Questions (one per line)", lines=3,
                                           value="Which disease?", scale=3)
                    top_k = gr.Slider(1, MAX_TOP_K, value=10, step=1, label="top-k", scale=1)
                ask_button = gr.Button("Ask", variant="primary")
                ask_status = gr.Markdown()
                ask_entities = gr.Dataframe(label="Retrieved entities", wrap=True)
                ask_evidence = gr.HighlightedText(label="Evidence sentences", show_legend=True)
                ask_dictionary = gr.Dataframe(label="Pseudo-dictionary")
                ask_file = gr.File(label="Generated dataset (JSONL)")
            with gr.Tab("Tag", id="tag"):
                with gr.Row():
                    tag_text = gr.Textbox(label=f"Text (up to {MAX_TEXT_CHARS:,} characters)",
                                          lines=6, scale=3)
                    tag_model = gr.Dropdown(space.models, label="Model", scale=1,
                                            value=space.models[0][1] if space.models else None)
                gr.Examples([[t] for t in EXAMPLES], inputs=[tag_text])
                tag_button = gr.Button("Tag", variant="primary")
                tag_status = gr.Markdown()
                tag_output = gr.HighlightedText(label="Entities", show_legend=True,
                                                elem_id="tag-entities")
                tag_table = gr.Dataframe(label="Spans")
            with gr.Tab("Explore", id="explore") as explore_tab:
                names = list(space.configs)
                config = gr.Dropdown(names, value=names[0] if names else None,
                                     label="Dataset config")
                explore_info = gr.Markdown()
                with gr.Row():
                    explore_counts = gr.Dataframe(label="Entities per type")
                    explore_plot = gr.BarPlot(x="type", y="entities", y_lim=[0, None],
                                              title="Entities per type")
                explore_frequent = gr.Dataframe(label="Most frequent entities")
                explore_samples = gr.HighlightedText(label="Sample sentences", show_legend=True)
        ask_outputs = [ask_status, ask_entities, ask_evidence, ask_dictionary, ask_file]
        ask_button.click(space.ask, [questions, top_k], ask_outputs, api_name="ask")
        questions.submit(space.ask, [questions, top_k], ask_outputs, api_visibility="private")
        tag_outputs = [tag_status, tag_output, tag_table]
        tag_button.click(space.tag, [tag_text, tag_model], tag_outputs, api_name="tag")
        explore_outputs = [explore_info, explore_counts, explore_frequent, explore_samples,
                           explore_plot]
        config.change(space.explore, [config], explore_outputs, api_name="explore")
        explore_tab.select(space.explore, [config], explore_outputs, api_visibility="private")
        demo.load(space.on_load, None, [tabs, tag_text, *tag_outputs, *explore_outputs],
                  api_visibility="private")
    demo.queue(default_concurrency_limit=2, max_size=64)
    return demo


def launch_options() -> dict:
    """``launch()`` keywords: local host by default, local fonts, no analytics."""
    return {"server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
            "theme": gr.themes.Default()}


def _warm_up(space: Space) -> None:
    """Load (or build) the phrase index in the background so the first question is fast."""
    try:
        space.searcher()
    except Exception as err:  # best effort: the first question loads it again and reports
        logger.warning("phrase index not preloaded: %s", err)


demo = build_app()

if __name__ == "__main__":
    if not os.environ.get("GRADIO_WATCH_DIRS"):  # not under `gradio app.py`, which re-runs edits
        threading.Thread(target=_warm_up, args=(demo.space,), daemon=True).start()
    demo.launch(**launch_options())
