"""Rule 8: abbreviations of retrieved phrases, found in their evidence sentences.

Uses scispacy's ``AbbreviationDetector`` on a blank English pipeline with a sentencizer
(no model download), plus one pattern it misses (:func:`initials_abbreviations`).
Abbreviations are annotated where they occur in the sentence by
:mod:`gener.matching` (which may also make them dictionary entries), and retrieved short
forms whose long forms name something else are dropped (:func:`drop_short_forms_of_non_answers`).
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache
from itertools import pairwise

from gener.errors import GenerError


@lru_cache(maxsize=1)
def _pipeline():
    try:
        import spacy
        from scispacy.abbreviation import AbbreviationDetector  # noqa: F401 (registers factory)
    except ImportError as err:
        raise GenerError(f"rule 8 needs scispacy and spacy ({err.name} is missing): "
                         "pip install scispacy --no-deps") from None
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("abbreviation_detector")
    return nlp


def find_abbreviations(sentences: list[str]) -> list[dict[str, str]]:
    """For each sentence, ``{short form: long form}`` as detected by scispacy, completed by
    :func:`initials_abbreviations` for short forms scispacy leaves undefined."""
    nlp = _pipeline()
    found = []
    with warnings.catch_warnings():  # scispacy's unused global matcher warns (W036)
        warnings.filterwarnings("ignore", message=r".*W036.*")
        for sentence, doc in zip(sentences, nlp.pipe(sentences, batch_size=256), strict=True):
            pairs = {str(a): str(a._.long_form) for a in doc._.abbreviations}
            for short, long in initials_abbreviations(sentence).items():
                pairs.setdefault(short, long)
            found.append(pairs)
    return found


# A bracketed short form of 2-5 capitals, possibly hyphenated ("(DM)", "( A - T )").
_BRACKETED_SHORT = re.compile(r"\(\s*([A-Z](?:\s?-?\s?[A-Z]){1,4})\s*\)")
_LONG_WORD = re.compile(r"[^\W\d_][\w']*")
_WORD_GAP = re.compile(r"^\s*-?\s*$").match


def initials_abbreviations(sentence: str) -> dict[str, str]:
    """``{short form: long form}`` for "long form (SF)" where the letters of SF are the
    initials of the long form's words in any order.

    scispacy (Schwartz and Hearst's algorithm) wants the letters in the long form's order,
    so it misses short forms of a Latin or reordered name ("myotonic dystrophy (DM)", from
    *dystrophia myotonica*) and hyphenated ones ("ataxia - telangiectasia ( A - T )")."""
    found = {}
    for match in _BRACKETED_SHORT.finditer(sentence):
        letters = sorted(c.lower() for c in match.group(1) if c.isalpha())
        words = list(_LONG_WORD.finditer(sentence, 0, match.start()))[-len(letters):]
        if len(words) < len(letters) or sorted(w.group()[0].lower() for w in words) != letters:
            continue
        if not all(_WORD_GAP(sentence[a.end():b.start()]) for a, b in pairwise(words)):
            continue
        if sentence[words[-1].end():match.start()].strip():
            continue
        found[match.group(1)] = sentence[words[0].start():words[-1].end()]
    return found


def add_abbreviations(retrieval):
    """A copy of a ``SubquestionRetrieval`` whose sentences carry detected abbreviations."""
    from gener.artifacts import RetrievedSentence, SubquestionRetrieval

    found = find_abbreviations([s.sentence for s in retrieval.sentences])
    return SubquestionRetrieval(retrieval.subquestion, [
        RetrievedSentence(s.sentence, s.phrases, s.sentence_id, s.score, abbreviations)
        for s, abbreviations in zip(retrieval.sentences, found, strict=True)])


# What counts as a definition here: a short form without lowercase letters that has at
# least two capitals ("HPRT", "A-T"; not "England", which scispacy finds in sports results
# such as "Smith ( England ) beat ..."), and a long form without brackets.
_ABBREVIATION = re.compile(r"^[^a-z]*[A-Z][^a-z]*[A-Z][^a-z]*$").match
_BRACKETS = re.compile(r"[()\[\]{}]")


def drop_short_forms_of_non_answers(retrievals) -> list:
    """Drop retrieved phrases that stand for something that is no answer.

    A phrase that an evidence sentence defines as an abbreviation names what its long form
    names: "HPRT" retrieved for "Which disease?" stands for "hypoxanthine-guanine
    phosphoribosyl-transferase", a gene. When none of a retrieved short form's long forms ends
    in the head word (last token, in singular or plural) of any retrieved phrase, the short
    form is removed from the retrievals of subquestions with rule 8. The retrievals must be
    normalized and carry their abbreviations (:func:`add_abbreviations`).
    """
    from gener.artifacts import RetrievedSentence, SubquestionRetrieval
    from gener.dictionary import phrase_key
    from gener.normalize import number_forms

    retrieved = {phrase_key(p.name) for r in retrievals for s in r.sentences for p in s.phrases}
    heads = {key.rsplit(" ", 1)[-1] for key in retrieved if key}
    long_heads: dict[str, set[str]] = {}
    for retrieval in retrievals:
        for sentence in retrieval.sentences:
            for short, long in (sentence.abbreviations or {}).items():
                key = phrase_key(str(long))
                if key and _ABBREVIATION(str(short)) and not _BRACKETS.search(key):
                    long_heads.setdefault(phrase_key(str(short)), set()).update(
                        number_forms(key.rsplit(" ", 1)[-1]))
    dropped = {short for short, ends in long_heads.items()
               if short in retrieved and not ends & heads}
    if not dropped:
        return list(retrievals)
    kept = []
    for retrieval in retrievals:
        if not retrieval.subquestion.has_rule(8):
            kept.append(retrieval)
            continue
        kept.append(SubquestionRetrieval(retrieval.subquestion, [
            RetrievedSentence(s.sentence, [p for p in s.phrases
                                           if phrase_key(p.name) not in dropped],
                              s.sentence_id, s.score, s.abbreviations)
            for s in retrieval.sentences]))
    return kept
