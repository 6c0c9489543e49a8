"""Sentence splitting and the paper's tokenization.

Tokenization follows the GeNER code: split on whitespace, and make every ASCII
punctuation character a token of its own. Both functions are deterministic and
return character offsets so that spans can be mapped between text and tokens.
"""

from __future__ import annotations

import bisect
import itertools
import re
import string

PUNCTUATION = frozenset(string.punctuation)
_PUNCT_CLASS = re.escape(string.punctuation)
_TOKEN = re.compile(rf"[{_PUNCT_CLASS}]|[^\s{_PUNCT_CLASS}]+")

# A sentence ends at ., ! or ? (optionally followed by closing quotes/brackets) when the
# next non-space character is an uppercase letter, a digit or an opening quote, and the
# word before the period is not a known abbreviation or a single capital letter.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt vs etc inc ltd co corp no fig figs al approx ca cf e.g i.e "
    "jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k gen col lt sgt rev est".split()
)
_BOUNDARY = re.compile(r"([.!?][\"')\]]*)\s+(?=[\"'(\[]?[A-Z0-9])")


def clean_title(title: str) -> str:
    """A document title without a trailing parenthetical: "Mercury (planet)" -> "Mercury"."""
    return re.sub(r"\s*\(.*\)$", "", title).strip()


def tokenize(text: str) -> list[str]:
    """Split text into tokens: whitespace-separated words, each ASCII punctuation mark alone."""
    return _TOKEN.findall(text)


def tokenize_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """Like :func:`tokenize`, with each token's character start and end in ``text``."""
    return [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences with a deterministic, abbreviation-aware rule."""
    text = " ".join(text.split())
    if not text:
        return []
    sentences, start = [], 0
    for match in _BOUNDARY.finditer(text):
        end = match.end(1)
        words = text[start:match.start()].rsplit(" ", 1)
        last = words[-1].lower().rstrip(".!?\"')]")
        if match.group(1).startswith(".") and (
            last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())
        ):
            continue
        sentences.append(text[start:end].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


class JoinedTexts:
    """Texts joined into one string, a NUL between two, so that a pattern scans them all at
    once (a NUL is a non-word character, as a text's edge is); :meth:`row` maps a position
    of the joined string back to its text, ``starts[row]`` to the text's first character."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.text = "\0".join(texts)
        self.starts = list(itertools.accumulate((len(t) + 1 for t in texts), initial=0))

    def row(self, position: int) -> int:
        """The index of the text holding ``position`` of the joined string."""
        return bisect.bisect_right(self.starts, position) - 1
