"""The span rules of matching: rule 8 (abbreviations), 9 (lowercase words), 10 (mined phrase
boundaries) and 11 (shared heads of coordinated modifiers)."""

from __future__ import annotations

import re

from gener.dictionary import phrase_key
from gener.matching.records import REFINED
from gener.matching.tokens import tokenize_many
from gener.normalize import STOPWORDS
from gener.text import tokenize


def abbreviation_spans(tokens, abbreviations, retrieved_keys, taken, skips) -> list:
    """Rule 8: token spans of abbreviations whose long form was retrieved in this sentence."""
    spans = []
    for short, long in sorted(abbreviations.items()):
        short_tokens = tokenize(str(short))
        n = len(short_tokens)
        if not n or phrase_key(str(long)) not in retrieved_keys:
            continue
        for i in range(len(tokens) - n + 1):
            if tokens[i:i + n] == short_tokens:
                if any(s < i + n and i < e for s, e in taken):
                    skips["overlapping_abbreviation"] += 1
                    continue
                taken.append((i, i + n))
                spans.append((i, i + n))
    return spans


def rule9_test(common_words: frozenset[str] | None):
    """Whether rule 9 skips a single token: it is lowercase (and, given ``common_words``,
    one of them)."""
    if common_words is None:
        return str.islower
    return lambda word: word.islower() and word in common_words


def refine(spans: list[list], mined: list[tuple[int, int]]) -> None:
    """Rule 10: extend spans strictly inside a mined occurrence that touches no other span."""
    for span in spans:
        s, e = span[0], span[1]
        best = None
        for ms, me in mined:
            if ms <= s and e <= me and (ms, me) != (s, e) and all(
                    o is span or o[1] <= ms or me <= o[0] for o in spans):
                if best is None or me - ms > best[1] - best[0]:
                    best = (ms, me)
        if best:
            span[0], span[1], span[3] = best[0], best[1], REFINED


def mined_phrase_automaton(miner):
    """Rule 10: an automaton of the mined phrase keys, each padded with spaces."""
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for key in sorted(miner):
        automaton.add_word(f" {key} ", key.count(" ") + 1)
    automaton.make_automaton()
    return automaton


def mined_spans(automaton, lowered: str) -> list[tuple[int, int]]:
    """Token spans of the mined phrases in a padded lowercase sentence."""
    spans = []
    for e, ntok in automaton.iter(lowered):
        end = lowered.count(" ", 0, e)
        spans.append((end - ntok, end))
    return spans


# Rule 11: a lowercase word coordinated before a phrase ("breast and", "breast and / or",
# "breast /", "breast ,") ending the text before it, and the words listed before that one
# ("prostate , skin , and").
_COORDINATED = re.compile(r"(?:^|[\s(])([a-z][a-z-]*[a-z])\s*(?:(?:,\s*)?(?:and\s*/\s*or|and|or)"
                          r"\s+|/\s*)$")
_LISTED = re.compile(r"(?:^|[\s(])([a-z][a-z-]*[a-z])\s*,\s*$")


def shared_head_keys(before: str, key: str) -> list[str]:
    """Rule 11: the keys that a phrase of several words with ``key``, written after the
    sentence text ``before``, gives the lowercase words coordinated with its first word.

    In "breast and ovarian cancer" the modifier "breast" shares the head of "ovarian
    cancer", so "breast cancer" is a dictionary entry of the same label (and of the
    coordinated words of a list, "prostate , skin , and lung cancer"). Stopwords are never
    taken ("both" is not a modifier). A word coordinated with a whole entity ("dementia or
    personality disorders") gives a key such as "dementia disorders", which no text contains.
    """
    if " " not in key:
        return []
    shared = key.split(" ", 1)[1]
    out = []
    pattern = _COORDINATED
    while True:
        tail = max(0, len(before) - 200)
        found = pattern.search(before, tail)
        if found is None or found.group(1) in STOPWORDS:
            return out
        out.append(" ".join(tokenize(found.group(1))) + " " + shared)
        before, pattern = before[:found.start(1)], _LISTED


# Rule 11 on spans: the tokens between a coordinated modifier and the span it shares a head
# with.
_COORDINATIONS = (("and",), ("or",), ("/",), ("and", "/", "or"), (",", "and"), (",", "or"))


def written_keys(keys: set[str], sentences) -> frozenset[str]:
    """The ``keys`` that some sentence contains (as tokens, lowercased)."""
    if not keys:
        return frozenset()
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for key in keys:
        automaton.add_word(f" {key} ", key)
    automaton.make_automaton()
    text = " " + " \n ".join(" ".join(tokens) for tokens in tokenize_many(list(sentences)))
    return frozenset(key for _, key in automaton.iter(text.lower() + " "))


def composite(span: list, words: list[str], g: int, spans: list, keys: frozenset[str]) -> None:
    """Rule 11 on a span of several words: start it at the lowercase words coordinated before
    it ("breast and ovarian cancer", "prostate , skin , and lung cancer") when each of them
    followed by the span's other words is a key in ``keys`` and no other span lies between."""
    s, e = span[0], span[1]
    tail = " ".join(words[g + s + 1:g + e]).lower()

    def modifier(i: int) -> bool:
        word = words[g + i]
        return i >= 0 and word.isalpha() and word.islower() and word not in STOPWORDS \
            and f"{word} {tail}" in keys
    for coordination in _COORDINATIONS:
        first = s - len(coordination) - 1
        if first >= 0 and tuple(w.lower() for w in words[g + first + 1:g + s]) \
                == coordination and modifier(first):
            while first >= 2 and words[g + first - 1] == "," and modifier(first - 2):
                first -= 2
            if all(o is span or o[1] <= first or s <= o[0] for o in spans):
                span[0], span[3] = first, REFINED
            return
