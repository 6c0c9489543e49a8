"""The O bias of a trained tagger, chosen on validation data.

Generated labels miss entities, and a tagger trained on them learns part of those misses as
O; another tagger over-predicts. Adding a bias ``b`` to the log-probability of O before each
word's label is chosen trades one for the other (``b < 0``: more entities). ``gener train
--calibrate`` tries the values of :data:`O_BIAS_GRID` on the validation split with the kept
model, scores each after the recipe's label rules (as validation during training does), and
stores the best (the smallest ``|b|`` among ties) in the model config, where
:class:`trainers.inference.Tagger` applies it.
"""

from __future__ import annotations

O_BIAS_GRID = (-3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0)


def choose_o_bias(model, tokenizer, sentences: list[list[str]], gold: list[list[str]],
                  capitalized=(), rule9=(), max_length: int = 256, batch_size: int = 64,
                  grid=O_BIAS_GRID) -> tuple[float, list[dict]]:
    """The grid value with the best validation F1, and every value's P/R/F1."""
    from trainers.data import entity_type
    from trainers.evaluation import score_tags
    from trainers.inference import apply_label_rules, label_bias, word_log_probs

    id2label = {int(i): name for i, name in model.config.id2label.items()}
    types = list(dict.fromkeys(t for t in map(entity_type, id2label.values()) if t))
    log_probs = word_log_probs(model, tokenizer, sentences, max_length, batch_size=batch_size)
    table = []
    for o_bias in grid:
        bias = label_bias(id2label, o_bias)
        predicted = [apply_label_rules(words, [id2label[i] for i in (rows + bias).argmax(-1)],
                                       capitalized, rule9) if len(rows) else []
                     for words, rows in zip(sentences, log_probs, strict=True)]
        scores = score_tags(predicted, gold, types)
        table.append({"o_bias": o_bias, "precision": round(scores["precision"], 4),
                      "recall": round(scores["recall"], 4), "f1": round(scores["f1"], 4)})
    best = max(table, key=lambda row: (row["f1"], -abs(row["o_bias"])))
    return best["o_bias"], table
