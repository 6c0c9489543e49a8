"""One label per dictionary phrase, chosen by what the phrase itself is most similar to.

The paper labels a phrase retrieved for several types in proportion to how often it was
retrieved for each (§3.3). Retrieval counts also reflect the evidence sentences: a dateline
"LONDON 1996-08-30" or a stock report "London shares closed lower" is retrieved for "Which
company?" hundreds of times, so "London" became mostly an organization. Here each phrase
instead gets the label of the subquestion whose question is most similar to the phrase text
alone (``cos(question, phrase)``, the phrase term of the retrieval score), among all of the
recipe's labels. On the validation splits this raised the dictionary's F1 on every
multi-label benchmark (bench/MATCHING.md).

Under answer confidence (:mod:`gener.answers`) a phrase was verified as an answer of
particular subquestions, so :func:`answer_labels` gives it the label of the subquestion that
kept it with the highest confidence instead: "Miami", kept for "Which city?", is not most
similar to that question among a recipe's but stays a location.

The result is a plain artifact, ``{phrase key: label}``, written by the retrieval stage
(which has the encoder) and read by matching (which does not).
"""

from __future__ import annotations

from collections.abc import Callable

from gener.dictionary import phrase_key
from gener.normalize import normalize_span

# How a build labels phrases retrieved for several types.
LABELINGS = ("phrase", "counts")


def _phrase_texts(retrieval):
    """``(phrase name, normalized text)`` for each text a retrieval's phrases give the
    pseudo-dictionary (each phrase name normalized once)."""
    cache: dict[str, list[str]] = {}
    for sentence in retrieval.sentences:
        for phrase in sentence.phrases:
            texts = cache.get(phrase.name)
            if texts is None:
                texts = cache[phrase.name] = [
                    text for text, _, _ in normalize_span(phrase.name, 0, retrieval.subquestion)]
            for text in texts:
                yield phrase.name, text


def dictionary_keys(retrievals) -> dict[str, str]:
    """Each key of the pseudo-dictionary the retrievals will make, with one of its texts."""
    keys: dict[str, str] = {}
    for retrieval in retrievals:
        for _, text in _phrase_texts(retrieval):
            keys.setdefault(phrase_key(text), text)
    return keys


def answer_labels(retrievals) -> dict[str, str]:
    """``{key: label}`` for every dictionary key of verified answers (each retrieval's
    sentences hold its own kept answers): the label of the subquestion whose confidence in
    the answer is highest, ties to the label listed first. One label: an empty mapping."""
    labels = list(dict.fromkeys(r.subquestion.label for r in retrievals))
    if len(labels) < 2:
        return {}
    best: dict[str, tuple[float, int]] = {}  # key: (confidence, -(label's position))
    for retrieval in retrievals:
        order = -labels.index(retrieval.subquestion.label)
        confidence = {a.name.casefold(): a.confidence for a in retrieval.answers}
        for name, text in _phrase_texts(retrieval):
            score = (confidence.get(name.casefold(), 0.0), order)
            key = phrase_key(text)
            if key not in best or score > best[key]:
                best[key] = score
    return {key: labels[-order] for key, (_, order) in best.items()}


def label_phrases(retrievals, similarity: Callable) -> dict[str, str]:
    """``{key: label}`` for every dictionary key, when the recipe has several labels.

    ``similarity(questions, texts)`` gives the ``len(texts) x len(questions)`` matrix of
    cosines between questions and phrase texts. A label's score is the best of its
    subquestions'; ties go to the label listed first. One label: an empty mapping.
    """
    subquestions = [r.subquestion for r in retrievals]
    labels = list(dict.fromkeys(sq.label for sq in subquestions))
    if len(labels) < 2:
        return {}
    keys = dictionary_keys(retrievals)
    if not keys:
        return {}
    import numpy as np

    sims = np.asarray(similarity([sq.question for sq in subquestions], list(keys.values())))
    per_label = np.stack([sims[:, [i for i, sq in enumerate(subquestions) if sq.label == label]]
                          .max(axis=1) for label in labels], axis=1)
    best = per_label.argmax(axis=1)  # the first maximum: ties to the earlier label
    return {key: labels[b] for key, b in zip(keys, best.tolist(), strict=True)}
