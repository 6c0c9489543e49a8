"""How a corpus writes each word, for rule 3 on words capitalised only by position.

Rule 3 drops all-lowercase phrases, because names are capitalised. A common noun is
capitalised too at the start of a sentence ("Government officials said"), in an all-caps
headline ("SOCCER - JAPAN GET LUCKY WIN") and in titles, and there it passed rule 3: in the
CoNLL-2003 dictionary "soccer", "government" and "coach" had become entities. A
:class:`CaseProfile` counts, for each word, how often the corpus writes it lowercase and
capitalised where case tells something (not the first word of a sentence or after a colon
or dash, not in a sentence whose letters are mostly capitals); a phrase whose words are
all more often lowercase than capitalised there is lowercase text, whatever its case here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from gener.text import tokenize

CAPITALS_SHARE = 0.8  # a sentence with more capital letters than this has no case information
OPENERS = frozenset(".!?:;-\"'(")  # a word after these may be capitalised by position


class CaseProfile:
    """Lowercase and capitalised counts of each (lowercased) word of some sentences."""

    def __init__(self, sentences: Iterable[str]) -> None:
        lower: list[str] = []
        capitalised: list[str] = []
        for sentence in sentences:
            letters = sum(map(str.isalpha, sentence))
            if not letters or sum(map(str.isupper, sentence)) > CAPITALS_SHARE * letters:
                continue
            words = tokenize(sentence)
            informative = [word for previous, word in zip(["."] + words, words, strict=False)
                           if previous not in OPENERS and word.isalpha()]
            lower += [word for word in informative if word.islower()]
            capitalised += [word.lower() for word in informative if word[0].isupper()]
        self.lower: Counter[str] = Counter(lower)
        self.capitalised: Counter[str] = Counter(capitalised)

    def to_dict(self) -> dict:
        return {"settings": _settings(), "lower": dict(self.lower),
                "capitalised": dict(self.capitalised)}

    @classmethod
    def from_dict(cls, data: dict) -> CaseProfile:
        """A profile from :meth:`to_dict`'s output; ValueError if counted another way."""
        if data.get("settings") != _settings():
            raise ValueError("case profile counted with other settings")
        profile = cls.__new__(cls)
        profile.lower, profile.capitalised = Counter(data["lower"]), Counter(data["capitalised"])
        return profile

    def usually_lowercase(self, phrase: str) -> bool:
        """True when every word of ``phrase`` is written lowercase more often than
        capitalised (a phrase with no such word, or with an unseen word, is not)."""
        words = [w.lower() for w in tokenize(phrase) if w.isalpha()]
        return bool(words) and all(self.lower[w] > self.capitalised[w] for w in words)


def _settings() -> dict:
    """What the counts depend on besides the sentences (a kept profile must match it)."""
    return {"capitals_share": CAPITALS_SHARE, "openers": "".join(sorted(OPENERS))}
