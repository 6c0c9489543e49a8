"""Few-shot fine-tuning (paper §4.2): k sampled benchmark sentences, several samples.

Each sample s (s = 0, 1, ...) draws k training sentences with ``random.Random(s)``, trains
the starting model on them with plain supervision (:func:`trainers.self_training.train` with
``t_early = max_steps``, the last step kept) and scores it on the chosen split. When the
starting model already knows every benchmark tag (a GeNER model of the same types), the
tags are renumbered to its label order so that its classifier head is kept.
"""

from __future__ import annotations

import json
import random
import statistics
from dataclasses import dataclass
from pathlib import Path

from gener.errors import GenerError

METRICS = ("precision", "recall", "f1")


@dataclass
class FinetuneSettings:
    """What to sample and how to train."""

    k: int = 20
    samples: int = 5
    max_steps: int = 100
    batch_size: int = 8
    learning_rate: float = 5e-5
    max_length: int = 128
    progress: bool = False


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    if not values:
        raise GenerError("no values to average")
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), sd


def sample_sentences(n: int, k: int, seed: int) -> list[int]:
    """``k`` distinct sentence indices out of ``n``, sorted, drawn with ``random.Random(seed)``."""
    if k > n:
        raise GenerError(f"k={k} is larger than the split ({n} sentences)")
    return sorted(random.Random(seed).sample(range(n), k))


def _model_labels(model: str) -> list[str] | None:
    """The label names of a token-classification model folder, or None."""
    config = Path(model) / "config.json"
    if not config.exists():
        return None
    id2label = json.loads(config.read_text(encoding="utf-8")).get("id2label") or {}
    return [id2label[str(i)] for i in range(len(id2label))] if id2label else None


def _as_model_labels(dataset, names: list[str]):
    """``dataset`` with its tags renumbered to ``names`` (which hold every tag it uses)."""
    import datasets

    from trainers.data import label_names

    own = label_names(dataset)
    index = [names.index(n) for n in own]
    features = dataset.features.copy()
    features["ner_tags"] = datasets.List(datasets.ClassLabel(names=names))
    return dataset.map(lambda row: {"ner_tags": [index[t] for t in row["ner_tags"]]},
                       features=features)


def finetune(model: str, train_split, eval_split, out_dir: str | Path,
             settings: FinetuneSettings | None = None) -> dict:
    """Fine-tune ``model`` on ``settings.samples`` k-shot samples; per-sample and mean±sd."""
    from trainers.data import label_names
    from trainers.evaluation import evaluate_model
    from trainers.self_training import TrainConfig, train

    settings = settings or FinetuneSettings()
    if settings.samples < 1 or settings.k < 1:
        raise GenerError("k and the number of samples must be positive")
    start_labels = _model_labels(model)
    names = label_names(train_split)
    reuse_head = bool(start_labels) and set(names) <= set(start_labels)
    out = Path(out_dir)
    runs = []
    for seed in range(settings.samples):
        rows = sample_sentences(len(train_split), settings.k, seed)
        shot = train_split.select(rows)
        if reuse_head:
            shot = _as_model_labels(shot, start_labels)
        config = TrainConfig(t_early=settings.max_steps, t_update=settings.max_steps,
                             max_steps=settings.max_steps, eval_every=settings.max_steps,
                             batch_size=settings.batch_size,
                             learning_rate=settings.learning_rate,
                             max_length=settings.max_length, seed=seed,
                             progress=settings.progress)
        trained = train(shot, out / f"sample-{seed}", model_name=model, config=config)
        scores = evaluate_model(trained.model_dir, eval_split)
        runs.append({"sample": seed, "sentences": rows,
                     **{m: scores[m] for m in METRICS}, "model": str(trained.model_dir),
                     "train_seconds": round(trained.seconds, 1)})
    summary = {m: dict(zip(("mean", "sd"), mean_sd([r[m] for r in runs]), strict=True))
               for m in METRICS}
    return {"model": str(model), "k": settings.k, "samples": settings.samples,
            "max_steps": settings.max_steps, "kept_head": reuse_head, **summary, "runs": runs}
