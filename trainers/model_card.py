"""The model card (``README.md``) of a trained tagger, rendered from its training info.

The YAML header carries ``model-index`` results: the validation F1 of the kept student and any
test results that ``gener evaluate --update-card`` added to ``gener_training.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from gener.errors import GenerError
from gener.io import atomic_write_text

INFO_NAME = "gener_training.json"
_HYPERPARAMETERS = ("t_early", "t_update", "max_steps", "batch_size", "grad_accum",
                    "learning_rate", "weight_decay", "warmup_ratio", "confidence_threshold",
                    "o_weight", "balance_labels", "calibrate", "max_length",
                    "mixed_precision", "seed")


def _results(info: dict) -> list:
    from huggingface_hub import EvalResult

    results = []
    for row in _rows(info):
        for metric in ("precision", "recall", "f1"):
            if metric in row:
                results.append(EvalResult(
                    task_type="token-classification", task_name="Named Entity Recognition",
                    dataset_type=row["dataset"], dataset_name=row["dataset"],
                    dataset_split=row["split"], metric_type=metric, metric_name=metric,
                    metric_value=round(float(row[metric]), 4)))
    return results


def render_model_card(info: dict, name: str) -> str:
    """Card text: YAML metadata (with ``model-index``) and a description of the run."""
    from huggingface_hub import ModelCardData

    config = info["config"]
    types = sorted({label[2:] for label in info["labels"] if label != "O"})
    base = info["model_name"] if info["model_name"] != "minilm" else \
        "sentence-transformers/all-MiniLM-L6-v2"
    results = _results(info)
    data = ModelCardData(
        language=["en"], license="mit", library_name="transformers",
        pipeline_tag="token-classification", base_model=base,
        tags=["gener", "token-classification", "ner", "self-training"],
        model_name=name, eval_results=results or None)
    if config.get("validation_name") and info.get("best_step"):
        kept = (f"the student with the best validation F1 ({info['best_f1']:.4f} on "
                f"{config['validation_name']}, step {info['best_step']} of {info['steps']})")
    else:
        kept = f"the last student (step {info['steps']}; no validation set was given)"
    lines = [
        "---", data.to_yaml(), "---", "",
        f"# {name}", "",
        "A named entity tagger trained with [gener](https://github.com/) on a dataset generated "
        "from simple questions (GeNER, Kim et al., EMNLP 2022), with BOND-style self-training "
        "(paper §3.4). The training labels are automatic and noisy; the model has not seen "
        "human annotations.", "",
        f"- entity types: {', '.join(types)}",
        f"- recipe: `{config.get('recipe') or 'unknown'}`",
        f"- data version: `{config.get('data_version') or 'unknown'}`",
        f"- labelling policy: `{info.get('policy') or 'unknown'}`",
        *([f"- labels with few answers in the data's corpus: {info['thin_labels']} (the "
           "model has seen little of them)"] if info.get("thin_labels") else []),
        f"- base model: `{base}`",
        f"- training sentences: {info['train_sentences']} ({info['train_windows']} windows)",
        f"- kept model: {kept}",
        f"- training time: {info['seconds']:.0f} s ({info['tokens']} real tokens trained on)",
        "", "## Hyperparameters", "", "| name | value |", "|---|---|",
    ]
    lines += [f"| {key} | {config[key]} |" for key in _HYPERPARAMETERS if key in config]
    if results:
        lines += ["", "## Results (entity-level, seqeval)", "",
                  "| dataset | split | precision | recall | F1 |", "|---|---|---|---|---|"]
        for row in _rows(info):
            lines.append(f"| {row['dataset']} | {row['split']} | {_fmt(row.get('precision'))} "
                         f"| {_fmt(row.get('recall'))} | {_fmt(row.get('f1'))} |")
    lines += _usage(config)
    if info.get("o_bias") is not None:
        best = max(info["calibration"], key=lambda row: row["f1"])
        lines += [f"The classifier's bias for O has {info['o_bias']} added (in the saved "
                  "weights): of the values "
                  f"{', '.join(str(r['o_bias']) for r in info['calibration'])}, the one with the "
                  f"best validation F1 ({best['f1']:.4f}, against {info['best_f1']:.4f} "
                  "without).", ""]
    return "\n".join(lines)


def _usage(config: dict) -> list[str]:
    """The Usage section: the pipeline call that gives the results above, and the rules on
    predictions that the model's own pipeline (``gener_pipeline.py``) applies."""
    capitalized, rule9 = config.get("capitalized_types"), config.get("rule9_types")
    call = ('pipeline(model="PATH_OR_ID", trust_remote_code=True, aggregation_strategy="first")'
            if capitalized or rule9 else
            'pipeline("token-classification", model="PATH_OR_ID", aggregation_strategy="first")')
    lines = ["", "## Usage", "", "```python", "from transformers import pipeline",
             f"tagger = {call}", 'tagger("Cystic fibrosis is common in Ireland.")', "```", "",
             "Each word takes the label of its first sub-token, as in training and in the "
             'results above; "simple" labels sub-tokens separately and can return word pieces '
             'such as "##cher". `pipeline` truncates a long text; '
             "`trainers.inference.Tagger(PATH).tag(text)` gives the same entities with a "
             "sliding window over texts of any length.", ""]
    if not (capitalized or rule9):
        return lines
    lines += ["`trust_remote_code=True` runs `gener_pipeline.py`, shipped with the model: "
              "transformers' token-classification pipeline, then the rules below, which "
              "gave the results above; `pipeline(\"token-classification\", ...)` gives the "
              "predictions without them.", ""]
    if capitalized:
        lines.append(f"- {', '.join(capitalized)}: an entity without a capital letter is "
                     "dropped (the recipe's rule 3 keeps no all-lowercase phrase, and an "
                     "uncased model cannot see case).")
    if rule9:
        lines.append(f"- {', '.join(rule9)}: a one-word entity that is a lowercase common "
                     "word (a whole word of the vocabulary) is dropped (the recipe's rule 9 "
                     "never labels one).")
    return lines + [""]


def _rows(info: dict) -> list[dict]:
    """Validation F1 of the kept student, then recorded test results."""
    rows = []
    if info.get("best_f1") is not None and info["config"].get("validation_name"):
        rows.append({"dataset": info["config"]["validation_name"], "split": "validation",
                     "f1": info["best_f1"]})
    return rows + info.get("results", [])


def _fmt(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def write_model_card(model_dir: str | Path, info: dict) -> None:
    """Write ``README.md`` into ``model_dir`` atomically."""
    model_dir = Path(model_dir)
    atomic_write_text(model_dir / "README.md", render_model_card(info, model_dir.name))


def policy_text(manifest: dict) -> str | None:
    """The labelling policy of a dataset manifest, as the card shows it (preset, changed
    fields, digest), or None when the manifest records none."""
    if not manifest.get("policy"):
        return None
    from gener.policy import LabellingPolicy

    policy = LabellingPolicy.from_dict(manifest["policy"])
    return f"{policy.describe()}, digest {manifest.get('policy_digest') or policy.digest()}"


def thin_labels(manifest: dict) -> str:
    """The labels that a build reported as having few answers, with their counts ("" if
    none): "Disease (17 answers)"."""
    report = manifest.get("labels_report") or {}
    return ", ".join(f"{label} ({row['answers']} answers)" for label, row in report.items()
                     if row.get("few_answers"))


def record_policy(model_dir: str | Path, manifest: dict) -> None:
    """Record the labelling policy of the training data (its manifest) in the model's training
    info and re-render its card."""
    model_dir = Path(model_dir)
    text = policy_text(manifest)
    if text is None or not (model_dir / INFO_NAME).exists():
        return
    info = json.loads((model_dir / INFO_NAME).read_text(encoding="utf-8"))
    info["policy"] = text
    thin = thin_labels(manifest)
    if thin:
        info["thin_labels"] = thin
    atomic_write_text(model_dir / INFO_NAME, json.dumps(info, indent=2) + "\n")
    write_model_card(model_dir, info)


def add_result(model_dir: str | Path, dataset: str, split: str, scores: dict) -> None:
    """Record a test result in the model's training info and re-render its card."""
    model_dir = Path(model_dir)
    if not (model_dir / INFO_NAME).exists():
        raise GenerError(f"{model_dir} has no {INFO_NAME} (not written by gener train): "
                         "cannot update its card")
    info = json.loads((model_dir / INFO_NAME).read_text(encoding="utf-8"))
    row = {"dataset": dataset, "split": split,
           **{k: scores[k] for k in ("precision", "recall", "f1")}}
    info["results"] = [r for r in info.get("results", [])
                       if (r["dataset"], r["split"]) != (dataset, split)] + [row]
    atomic_write_text(model_dir / INFO_NAME, json.dumps(info, indent=2) + "\n")
    write_model_card(model_dir, info)
