"""Rule 8: abbreviations of retrieved phrases, found in their evidence sentences.

Uses scispacy's ``AbbreviationDetector`` on a blank English pipeline with a sentencizer
(no model download). Abbreviations are annotated where they occur in the sentence by
:mod:`gener.matching`; they are never added to the pseudo-dictionary.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

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
    """For each sentence, ``{short form: long form}`` as detected by scispacy."""
    nlp = _pipeline()
    found = []
    with warnings.catch_warnings():  # scispacy's unused global matcher warns (W036)
        warnings.filterwarnings("ignore", message=r".*W036.*")
        for doc in nlp.pipe(sentences, batch_size=256):
            found.append({str(a): str(a._.long_form) for a in doc._.abbreviations})
    return found


def add_abbreviations(retrieval):
    """A copy of a ``SubquestionRetrieval`` whose sentences carry detected abbreviations."""
    from gener.artifacts import RetrievedSentence, SubquestionRetrieval

    found = find_abbreviations([s.sentence for s in retrieval.sentences])
    return SubquestionRetrieval(retrieval.subquestion, [
        RetrievedSentence(s.sentence, s.phrases, s.sentence_id, s.score, abbreviations)
        for s, abbreviations in zip(retrieval.sentences, found, strict=True)])
