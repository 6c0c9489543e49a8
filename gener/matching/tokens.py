"""Tokenization of many texts at once, as :func:`gener.text.tokenize` does one."""

from __future__ import annotations

from gener.text import PUNCTUATION, tokenize


def pad(text: str) -> str:
    """``text`` with a space on each side of every punctuation character."""
    for char in PUNCTUATION:
        if char in text:
            text = text.replace(char, f" {char} ")
    return text


def tokenize_many(texts: list[str]) -> list[list[str]]:
    """``[tokenize(t) for t in texts]``, faster: pad punctuation once over the joined text."""
    big = "\x00".join(texts)
    if big.count("\x00") != len(texts) - 1:
        return [tokenize(t) for t in texts]
    return [part.split() for part in pad(big).split("\x00")] if texts else []
