"""Entity-level evaluation (seqeval through the project's offline `evaluate` module).

A benchmark's label set may differ from the model's: types are matched by name (ignoring
case); gold types the model does not know, and predicted types the benchmark does not
annotate, are turned into ``O`` and listed in the result.
"""

from __future__ import annotations

import functools
from pathlib import Path

from trainers.data import entity_type, label_names

METRIC_PATH = Path(__file__).resolve().parent / "metrics" / "seqeval_local"


@functools.cache
def load_metric():
    """The offline seqeval metric (``evaluate.load`` on the module shipped in trainers/)."""
    import evaluate

    return evaluate.load(str(METRIC_PATH))


def _restrict(tags: list[str], keep: dict[str, str]) -> list[str]:
    """Rename types through ``keep`` (lower-case name -> reported name); others become O."""
    out = []
    for tag in tags:
        kind = entity_type(tag)
        name = keep.get(kind.lower()) if kind else None
        out.append(f"{tag[:2]}{name}" if name else "O")
    return out


def score_tags(predictions: list[list[str]], references: list[list[str]],
               model_types: list[str] | None = None) -> dict:
    """Overall and per-type P/R/F1 of predicted against gold BIO tag sequences.

    With ``model_types``, only types known to both the model and the gold data are scored."""
    gold_types = sorted({t for row in references for t in map(entity_type, row) if t})
    if model_types is None:
        model_types = gold_types
    known = {t.lower(): t for t in model_types}
    kept = {t.lower(): t for t in gold_types if t.lower() in known}
    predicted = _restrict_all(predictions, kept)
    gold = _restrict_all(references, kept)
    scores = load_metric().compute(predictions=predicted, references=gold) if gold else {}
    per_type = {t: {"precision": scores[t]["precision"], "recall": scores[t]["recall"],
                    "f1": scores[t]["f1"], "support": scores[t]["number"]}
                for t in sorted(kept.values()) if t in scores}
    for t in sorted(kept.values()):
        per_type.setdefault(t, {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0})
    return {
        "precision": scores.get("overall_precision", 0.0),
        "recall": scores.get("overall_recall", 0.0),
        "f1": scores.get("overall_f1", 0.0),
        "per_type": per_type,
        "sentences": len(references),
        "ignored_gold_types": [t for t in gold_types if t.lower() not in known],
        "ignored_predicted_types": [t for t in model_types if t.lower() not in kept],
    }


def _restrict_all(rows: list[list[str]], keep: dict[str, str]) -> list[list[str]]:
    return [_restrict(row, keep) for row in rows]


def gold_tags(dataset) -> list[list[str]]:
    """The BIO tag strings of a dataset's ``ner_tags`` column."""
    names = label_names(dataset)
    return [[names[i] for i in row] for row in dataset["ner_tags"]]


def rename_types(rows: list[list[str]], mapping: dict[str, str]) -> list[list[str]]:
    """BIO tag rows with the types named in ``mapping`` renamed (others kept)."""
    if not mapping:
        return rows
    return [[f"{tag[:2]}{mapping.get(tag[2:], tag[2:])}" if entity_type(tag) else tag
             for tag in row] for row in rows]


def evaluate_model(model_dir: str | Path, dataset, batch_size: int = 64,
                   max_length: int = 256, label_map: dict[str, str] | None = None) -> dict:
    """Entity-level precision, recall, F1 (overall and ``per_type``) of a saved model.

    ``label_map`` renames the model's types ({model type: data type}) before scoring."""
    from gener.errors import GenerError
    from trainers.inference import Tagger

    tagger = Tagger(model_dir, max_length=max_length, batch_size=batch_size)
    label_map = label_map or {}
    unknown = sorted(set(label_map) - set(tagger.types))
    if unknown:
        raise GenerError(f"--map: the model has no type {', '.join(unknown)} "
                         f"(its types: {', '.join(tagger.types)})")
    references = gold_tags(dataset)
    predictions = rename_types(tagger.tag_words([list(t) for t in dataset["tokens"]]),
                               label_map)
    types = list(dict.fromkeys(label_map.get(t, t) for t in tagger.types))
    return score_tags(predictions, references, types)
