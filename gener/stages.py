"""``gener build``: recipe -> retrieval -> normalization + matching -> dataset config.

Each stage writes its output under a work folder together with a ``.done.json`` record of
the inputs it was made from. A re-run with the same inputs reuses finished stages, so an
interrupted build resumes where it stopped; changed inputs redo the stage. All files are
written atomically, and with the same inputs and seed the output is byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from gener import __version__
from gener.artifacts import RetrievedSentence, SubquestionRetrieval
from gener.corpus import Corpus
from gener.dataset import check_output_folder, records_dataset, write_config
from gener.errors import GenerError
from gener.io import atomic_write_text
from gener.policy import LabellingPolicy
from gener.recipes import Recipe

logger = logging.getLogger(__name__)


@dataclass
class BuildSettings:
    """Inputs of a build besides the recipe and the corpus."""

    encoder: str = "minilm"
    seed: int = 0
    cache_dir: str | None = None
    progress: bool = True
    policy: LabellingPolicy = field(default_factory=LabellingPolicy)


@dataclass
class BuildResult:
    """Where a build wrote its outputs, with its summary figures."""

    dataset_dir: Path
    config: str
    version: str
    num_sentences: int
    entities_per_type: dict[str, int]
    dictionary_size: int
    seconds_per_stage: dict[str, float] = field(default_factory=dict)
    # Per label: answers kept, estimated precision, mentions, sentences, few_answers
    # (gener.answers.label_report); None under a quota of k sentences.
    labels_report: dict[str, dict] | None = None

    def summary(self) -> str:
        """A few human-readable lines."""
        from gener.answers import report_lines

        entities = ", ".join(f"{k} {v}" for k, v in self.entities_per_type.items()) or "none"
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds_per_stage.items())
        lines = [f"dataset: {self.dataset_dir} (config {self.config}, version {self.version})",
                 f"sentences: {self.num_sentences}; entities: {entities}; "
                 f"dictionary: {self.dictionary_size} phrases"]
        for label, row in (self.labels_report or {}).items():
            estimate = row["estimated_precision"]
            lines.append(f"{label}: {row['answers']} answers kept, estimated precision "
                         f"{'-' if estimate is None else f'{estimate:.2f}'}, "
                         f"{row['mentions']} mentions in {row['sentences']} sentences")
        lines += report_lines(self.labels_report or {})
        return "\n".join(lines + [f"time: {stages}"])


def _digest(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


RECORDS, DICTIONARY, STATS = "records.jsonl", "dictionary.json", "stats.json"
PHRASE_LABELS = "phrase_labels.json"


@dataclass
class Generated:
    """The labelled records of a recipe, with the manifest describing how they were made."""

    records_path: Path
    dictionary_path: Path
    manifest: dict
    seconds_per_stage: dict[str, float]


class _Stage:
    """A build stage's folder, finished when its ``.done.json`` holds the current inputs."""

    def __init__(self, work_dir: Path, name: str, inputs: dict) -> None:
        self.dir = work_dir / name
        self.done = work_dir / f"{name}.done.json"
        self.key = _digest(inputs)
        self.inputs = inputs

    def finished(self) -> bool:
        if not self.done.exists():
            return False
        try:
            return json.loads(self.done.read_text())["key"] == self.key
        except (ValueError, KeyError):
            return False

    def mark_done(self) -> None:
        atomic_write_text(self.done, json.dumps({"key": self.key, "inputs": self.inputs},
                                                indent=2, sort_keys=True) + "\n")


def _retrieval_file(stage_dir: Path, index: int, retrieval_type: str) -> Path:
    return stage_dir / f"{index:02d}_{_slug(retrieval_type)}.jsonl"


def _answers_file(stage_dir: Path, index: int, retrieval_type: str) -> Path:
    return stage_dir / f"{index:02d}_{_slug(retrieval_type)}.answers.jsonl"


def _jsonl(rows) -> str:
    lines = [json.dumps(row, sort_keys=True, ensure_ascii=False) for row in rows]
    return "\n".join(lines) + ("\n" if lines else "")


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def load_retrievals(recipe: Recipe, work_dir: str | Path) -> list[SubquestionRetrieval]:
    """The retrieval stage's output in a build's work folder, one per subquestion."""
    from gener.answers import Answer

    retrievals = []
    for i, sq in enumerate(recipe.subquestions):
        stage_dir = Path(work_dir) / "retrieval"
        sentences = [RetrievedSentence.from_dict(row)
                     for row in _read_jsonl(_retrieval_file(stage_dir, i, sq.type))]
        answers_path = _answers_file(stage_dir, i, sq.type)
        answers = ([Answer.from_dict(row) for row in _read_jsonl(answers_path)]
                   if answers_path.exists() else [])
        retrievals.append(SubquestionRetrieval(sq, sentences, answers))
    return retrievals


def load_phrase_labels(work_dir: str | Path) -> dict[str, str]:
    """The retrieval stage's ``{phrase key: label}`` (empty when it chose none)."""
    path = Path(work_dir) / "retrieval" / PHRASE_LABELS
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def run_retrieval(recipe: Recipe, corpus: Corpus, settings: BuildSettings, stage: _Stage):
    """Retrieve (or reload) phrases and evidence sentences for every subquestion, and label
    the phrases retrieved for several labels; return the retrievals and the labels."""
    if stage.finished():
        logger.info("retrieval: reusing %s", stage.dir)
        work_dir = stage.dir.parent
        return load_retrievals(recipe, work_dir), load_phrase_labels(work_dir)
    from gener import pipeline

    searcher = pipeline.open_searcher(corpus, settings.policy, settings.encoder,
                                      settings.cache_dir, settings.progress)
    retrievals, labels = pipeline.retrieve(recipe, searcher, settings.policy)
    for i, retrieval in enumerate(retrievals):
        sq_type = retrieval.subquestion.type
        atomic_write_text(_retrieval_file(stage.dir, i, sq_type),
                          _jsonl(s.to_dict() for s in retrieval.sentences))
        if retrieval.answers:
            atomic_write_text(_answers_file(stage.dir, i, sq_type),
                              _jsonl(a.to_dict() for a in retrieval.answers))
    atomic_write_text(stage.dir / PHRASE_LABELS,
                      json.dumps(labels, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    stage.mark_done()
    return retrievals, labels


def run_annotation(retrievals, recipe: Recipe, settings: BuildSettings, stage: _Stage,
                   phrase_labels: dict[str, str] | None = None) -> Path:
    """Normalize, build the pseudo-dictionary and match; write records, dictionary and stats."""
    if stage.finished():
        logger.info("matching: reusing %s", stage.dir)
        return stage.dir
    from gener import pipeline
    from gener.matching import write_jsonl

    result = pipeline.label(retrievals, recipe, settings.policy, phrase_labels,
                            seed=settings.seed, progress=settings.progress)
    if not result.records:
        raise GenerError(f"recipe {recipe.name}: retrieval returned no sentences")
    write_jsonl(result.records, stage.dir / RECORDS)
    result.dictionary.save(stage.dir / DICTIONARY)
    atomic_write_text(stage.dir / STATS, json.dumps(result.stats, indent=2, sort_keys=True) + "\n")
    stage.mark_done()
    return stage.dir


def generate(recipe: Recipe, corpus: Corpus, work_dir: str | Path,
             settings: BuildSettings | None = None) -> Generated:
    """Run (or resume) retrieval and matching; return where the labelled records are."""
    from gener.answers import fingerprint as answers_fingerprint
    from gener.answers import label_report, nothing_kept
    from gener.matching import MATCHING_VERSION
    from gener.pipeline import prepare
    from gener.retrieval.encoders import encoder_fingerprint
    from gener.retrieval.search import RETRIEVAL_VERSION, scoring

    settings = settings or BuildSettings()
    policy = settings.policy
    recipe = prepare(recipe, policy)
    work_dir = Path(work_dir)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    corpus_fingerprint = corpus.fingerprint()
    # Retrieval depends on these policy fields only: labelling changes reuse it.
    retrieval_policy = {k: v for k, v in policy.to_dict().items() if k in RETRIEVAL_FIELDS}
    inputs = {"recipe": recipe.to_dict(), "corpus": corpus_fingerprint,
              "encoder": encoder_fingerprint(settings.encoder),
              "scoring": scoring(policy.definition_weight, policy.feedback_phrases),
              "policy": retrieval_policy, "retrieval": RETRIEVAL_VERSION, "gener": __version__}
    if policy.min_confidence > 0:
        inputs["answers"] = answers_fingerprint()
    retrievals, phrase_labels = run_retrieval(recipe, corpus, settings,
                                              _Stage(work_dir, "retrieval", inputs))
    timings["retrieval"] = time.perf_counter() - started
    answers = [a for r in retrievals for a in r.answers]
    if answers and not any(r.sentences for r in retrievals):
        raise GenerError(f"recipe {recipe.name}: {nothing_kept(answers, policy.min_confidence)}"
                         " (--set min_confidence=P with a lower P keeps less likely ones)")

    started = time.perf_counter()
    inputs = {**inputs, "seed": settings.seed, "policy": policy.to_dict(),
              "matching": MATCHING_VERSION}
    annotation_dir = run_annotation(retrievals, recipe, settings,
                                    _Stage(work_dir, "matching", inputs), phrase_labels)
    timings["matching"] = time.perf_counter() - started
    stats = json.loads((annotation_dir / STATS).read_text(encoding="utf-8"))
    report = (label_report(answers, recipe.labels, policy.min_confidence,
                           stats["spans_per_type"], _sentences_per_label(annotation_dir))
              if answers else None)
    manifest = {
        "recipe": recipe.name,
        "description": recipe.description,
        "subquestions": [{"label": sq.label, "question": sq.question, "k": sq.k,
                          "rules": list(sq.rules)} for sq in recipe.subquestions],
        "labels": recipe.labels,
        "corpus": corpus.name,
        "corpus_fingerprint": corpus_fingerprint,
        "encoder": settings.encoder,
        "policy": policy.to_dict(),
        "policy_digest": policy.digest(),
        "seed": settings.seed,
        "version": f"{__version__}+{_digest(inputs)}",
        "dictionary_size": stats["dictionary_phrases"],
        "entities_per_type": stats["spans_per_type"],
        **({"labels_report": report} if report else {}),
        "self_training": {"t_early": recipe.self_training.t_early,
                          "t_update": recipe.self_training.t_update},
    }
    return Generated(annotation_dir / RECORDS, annotation_dir / DICTIONARY, manifest, timings)


def _sentences_per_label(annotation_dir: Path) -> dict[str, int]:
    """How many labelled sentences have an entity of each label."""
    counts: dict[str, int] = {}
    for record in _read_jsonl(annotation_dir / RECORDS):
        for label in {span["type"] for span in record["spans"]}:
            counts[label] = counts.get(label, 0) + 1
    return counts


# The policy fields that change what retrieval returns (the others act after it).
RETRIEVAL_FIELDS = ("definition_weight", "feedback_phrases", "head_extension",
                    "head_similarity", "labeling", "min_confidence")


def build(recipe: Recipe, corpus: Corpus, out_dir: str | Path,
          settings: BuildSettings | None = None, work_dir: str | Path | None = None,
          overwrite: bool = False) -> BuildResult:
    """Build the recipe's dataset config into the Hub-format folder ``out_dir``.

    ``out_dir`` may already hold other gener configs (they are kept); a folder holding
    anything else is refused unless ``overwrite``.
    """
    settings = settings or BuildSettings()
    out_dir = Path(out_dir)
    check_output_folder(out_dir, overwrite)
    work_dir = Path(work_dir) if work_dir else out_dir / ".gener-work" / recipe.name
    generated = generate(recipe, corpus, work_dir, settings)
    started = time.perf_counter()
    m = generated.manifest
    dataset = records_dataset(generated.records_path, m["labels"], m["version"],
                              cache_dir=work_dir / "hf")
    write_config(out_dir, recipe.name, dataset, m)
    copy_dictionary = out_dir / recipe.name / DICTIONARY
    atomic_write_text(copy_dictionary, generated.dictionary_path.read_text(encoding="utf-8"))
    generated.seconds_per_stage["write"] = time.perf_counter() - started
    return BuildResult(out_dir, recipe.name, m["version"], len(dataset), m["entities_per_type"],
                       m["dictionary_size"], generated.seconds_per_stage,
                       m.get("labels_report"))
