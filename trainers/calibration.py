"""The O bias of a trained tagger, chosen on validation data and folded into its weights.

Generated labels miss entities, and a tagger trained on them learns part of those misses as
O; another tagger over-predicts. Adding a bias ``b`` to the log-probability of O before each
word's label is chosen trades one for the other (``b < 0``: more entities). ``gener train
--calibrate`` tries the values of :data:`O_BIAS_GRID` on the validation split with the kept
model, scored after the model's rules on predictions, and keeps the best (the smallest
``|b|`` among ties). Log-probabilities differ from logits by one constant per token, so
adding ``b`` to O's log-probability chooses as adding it to O's logit does:
:func:`fold_o_bias` adds it to the classifier's bias for O, and the saved model predicts with
it wherever it is loaded (``transformers.pipeline`` included).
"""

from __future__ import annotations

from gener.errors import GenerError

O_BIAS_GRID = (-3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0)


def label_bias(id2label: dict, o_bias: float):
    """A vector over label ids that adds ``o_bias`` to O's entry."""
    import numpy as np

    bias = np.zeros(len(id2label), dtype=np.float32)
    for i, name in id2label.items():
        if name == "O":
            bias[int(i)] = o_bias
    return bias


def choose_o_bias(model, tokenizer, sentences: list[list[str]], gold: list[list[str]],
                  max_length: int = 256, batch_size: int = 64, grid=O_BIAS_GRID,
                  rules=None) -> tuple[float, list[dict]]:
    """The grid value with the best validation F1 (after ``rules(words, tags) -> tags``,
    the model's rules on predictions), and every value's P/R/F1."""
    from trainers.data import entity_type
    from trainers.evaluation import score_tags
    from trainers.inference import word_log_probs

    id2label = {int(i): name for i, name in model.config.id2label.items()}
    types = list(dict.fromkeys(t for t in map(entity_type, id2label.values()) if t))
    log_probs = word_log_probs(model, tokenizer, sentences, max_length, batch_size=batch_size)
    table = []
    for o_bias in grid:
        bias = label_bias(id2label, o_bias)
        predicted = [[id2label[i] for i in (rows + bias).argmax(-1)] if len(rows) else []
                     for rows in log_probs]
        if rules is not None:
            predicted = [rules(words, tags) for words, tags in zip(sentences, predicted,
                                                                   strict=True)]
        scores = score_tags(predicted, gold, types)
        table.append({"o_bias": o_bias, "precision": round(scores["precision"], 4),
                      "recall": round(scores["recall"], 4), "f1": round(scores["f1"], 4)})
    best = max(table, key=lambda row: (row["f1"], -abs(row["o_bias"])))
    return best["o_bias"], table


def classifier_layer(model):
    """The linear layer that gives a token-classification model its label logits."""
    import torch

    num_labels = model.config.num_labels
    for name in ("classifier", "score"):
        layer = getattr(model, name, None)
        if isinstance(layer, torch.nn.Linear) and layer.out_features == num_labels:
            if layer.bias is None:
                raise GenerError(f"the {name} layer of {type(model).__name__} has no bias "
                                 "to fold the O bias into")
            return layer
    raise GenerError(f"{type(model).__name__} has no linear classifier with {num_labels} "
                     "outputs to fold the O bias into")


def fold_o_bias(model, o_bias: float) -> None:
    """Add ``o_bias`` to O's logit in ``model``'s weights (in place)."""
    import torch

    label2id = {name: int(i) for i, name in model.config.id2label.items()}
    if "O" not in label2id:
        raise GenerError("the model has no label O")
    with torch.no_grad():
        classifier_layer(model).bias[label2id["O"]] += o_bias
