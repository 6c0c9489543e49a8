"""The matching engine: a chunk of sentences to JSON lines, fast.

Sentences are tokenized in bulk (the punctuation of a whole chunk is padded at once and split
once); every distinct token of a dictionary key gets one character code, and each sentence
token becomes that code (or a "no key" code), so a chunk becomes one string with one
character per token, in which tagged tokens carry the "no key" code and sentence boundaries
one of their own. One regular expression pass over that string finds the runs of key tokens,
and a dictionary look-up of each run (keys encoded the same way) most often settles it; the
cost is linear in the text and does not grow with the number of keys (1.3M tokens in well
under a second).
"""

from __future__ import annotations

import bisect
import json
import re
from itertools import accumulate, chain

try:  # hashlib's blake2b, without loading OpenSSL (hashlib's import costs ~5 ms)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover (not CPython)
    from hashlib import blake2b

from gener.casing import OPENERS
from gener.dictionary import PseudoDictionary
from gener.errors import GenerError
from gener.matching.records import (
    ABBREVIATION,
    MATCHED,
    NEEDS_ESCAPE,
    RETRIEVED,
    SOURCES,
    SPAN,
    TagRuns,
    encode,
)
from gener.matching.rules import (
    abbreviation_spans,
    composite,
    mined_phrase_automaton,
    mined_spans,
    refine,
    rule9_test,
)
from gener.matching.tokens import pad
from gener.policy import CHOICES
from gener.text import PUNCTUATION, tokenize

# What the counts of skipped retrieved phrases are kept under.
SKIPS = ("offset_outside_sentence", "text_mismatch", "not_token_aligned",
         "overlapping_retrieved", "overlapping_abbreviation", "rule9_retrieved")
_OTHER = "\x01"  # the code of a token in no dictionary key and of tagged tokens
_BOUNDARY = "\x02"  # the code of the separator word between sentences
_SEPARATORS = ("\x00", "\ue000", "\U0010fffd")  # the first absent from a chunk's text is used
_RUNS = re.compile("[^\x01\x02]+")
# Tokens after which a word may be capitalised by position (gener.casing's, and the
# separator words before each sentence).
_POSITION_OPENERS = OPENERS | frozenset(_SEPARATORS)


def _uniform(seed: int, index: int, k: int) -> float:
    """A uniform draw in [0, 1) that depends only on (seed, sentence index, draw number)."""
    digest = blake2b(b"%d %d %d" % (seed, index, k), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 11) * 2.0 ** -53


def _aligned(sentence: str, start: int, end: int) -> bool:
    """Whether ``sentence[start:end]`` begins and ends at token boundaries."""
    before = sentence[start - 1] if start else " "
    after = sentence[end] if end < len(sentence) else " "
    return ((before.isspace() or before in PUNCTUATION or sentence[start] in PUNCTUATION)
            and (after.isspace() or after in PUNCTUATION or sentence[end - 1] in PUNCTUATION))


class _Codes(dict):
    """Token -> code of its lowercase form in ``vocab`` (``_OTHER`` if none), filled lazily.

    Lowercasing tokens one by one gives the same strings as lowercasing the space-joined
    tokens, since a space ends the context of every case mapping.
    """

    def __init__(self, vocab: dict[str, str]):
        super().__init__()
        self.vocab = vocab

    def __missing__(self, token: str) -> str:
        code = self[token] = self.vocab.get(token.lower(), _OTHER)
        return code


def _leftmost_longest(phrase: tuple[str, int, int]) -> tuple[int, int]:
    """Sort key of ``(text, start, end)``: leftmost first, then longest."""
    return phrase[1], -phrase[2]


def _by_position(text: str, start: int) -> bool:
    """Whether a word at ``start`` may be capitalised by its position in ``text``."""
    before = text[:start].rstrip()
    return not before or before[-1] in _POSITION_OPENERS


def _covering(text: str, start: int, end: int) -> tuple[int, int]:
    """The tokens that ``text[start:end]`` touches, as ``(first, last + 1)``."""
    first = len(tokenize(text[:start]))
    if start and not (text[start - 1].isspace() or text[start - 1] in PUNCTUATION
                      or text[start] in PUNCTUATION):
        first -= 1  # it starts inside a token
    return first, len(tokenize(text[:end]))


def _overwrite(spans: list[list], new: list) -> list[list]:
    """``spans`` with ``new`` written over them, as tags written in turn: what it covers
    goes, a span's part before it stays, and its part after it stays on its own, or joins
    ``new`` if both have the same label (I- tags go on the span before them)."""
    s, e = new[0], new[1]
    out = []
    for span in spans:
        if span[1] <= s or e <= span[0]:
            out.append(span)
            continue
        if span[0] < s:
            out.append([span[0], s, span[2], span[3]])
        if e < span[1]:
            if span[2] == new[2]:
                new[1] = span[1]
            else:
                out.append([e, span[1], span[2], span[3]])
    out.append(new)
    return out


class Matcher:
    """What every chunk shares: the encoded automaton, label choices and output pieces."""

    def __init__(self, dictionary: PseudoDictionary, seed: int, deterministic: bool, miner,
                 key_labels: dict[str, int] | None = None,
                 common_words: frozenset[str] | None = None,
                 retrieved_rule9: str = "off", lowercase_words: frozenset[str] = frozenset(),
                 retrieved_tokens: str = "aligned"):
        labels = dictionary.labels
        if retrieved_tokens not in CHOICES["retrieved_tokens"]:
            raise GenerError(f"retrieved_tokens must be one of "
                             f"{', '.join(CHOICES['retrieved_tokens'])}, "
                             f"not {retrieved_tokens!r}")
        # A retrieved phrase that starts or ends inside a token: not tagged ("aligned"), or
        # the tokens it touches are, in the phrases' order, each over the ones before
        # ("covering").
        self.covering = retrieved_tokens == "covering"
        # Rule 9 skips single lowercase tokens; given these words, only those among them.
        self.skipped_by_rule9 = rule9_test(common_words)
        # Rule 9 on retrieved phrases too ("all" or "common" words): its test, or None (off).
        if retrieved_rule9 not in CHOICES["retrieved_rule9"]:
            raise GenerError(f"retrieved_rule9 must be one of "
                             f"{', '.join(CHOICES['retrieved_rule9'])}, not {retrieved_rule9!r}")
        if retrieved_rule9 == "off":
            self.retrieved_skipped_by_rule9 = None
        else:
            from gener.common_words import common_words as vocabulary_words

            self.retrieved_skipped_by_rule9 = rule9_test(
                vocabulary_words() if retrieved_rule9 == "common" else None)
        self.key_labels = key_labels or {}  # key -> label index of its retrieved spans
        order = {label: i for i, label in enumerate(labels)}
        counts = dictionary.counts
        # Per key id: label index, or -1 for a seeded draw among ``multi[kid]``.
        self.fixed = [order[next(iter(types))] if len(types) == 1 else -1
                      for types in counts.values()]
        self.multi: dict[int, tuple[list[int], list[int]]] = {}
        for kid, types in enumerate(counts.values()):
            if len(types) > 1:
                ranked = sorted(types.items(), key=lambda kv: order[kv[0]])
                if deterministic:
                    self.fixed[kid] = order[max(ranked, key=lambda kv: kv[1])[0]]  # first max
                else:
                    self.multi[kid] = ([order[label] for label, _ in ranked],
                                       list(accumulate(count for _, count in ranked)))
        # Each distinct key word gets a character (in order of first use, no surrogates),
        # and each key the string of its words' characters.
        words = " ".join(counts).split(" ") if counts else []
        distinct = dict.fromkeys(words)
        if len(distinct) > 0x110000 - 0x900:
            raise GenerError("pseudo-dictionary too large: more than 1.1M distinct tokens")
        chars = map(chr, chain(range(0x100, 0xD800), range(0xE000, 0x110000)))
        self.vocab: dict[str, str] = dict(zip(distinct, chars, strict=False))
        coded = "".join(map(self.vocab.__getitem__, words))
        sizes = [key.count(" ") + 1 for key in counts]
        bounds = list(accumulate(sizes, initial=0))
        encoded = list(map(coded.__getitem__, map(slice, bounds, bounds[1:])))
        # encoded key -> (token count, key id)
        self.keys: dict[str, tuple[int, int]] = dict(zip(
            encoded, zip(sizes, range(len(sizes)), strict=True), strict=True))
        # key -> (token count, encoded key)
        self.key_codes = dict(zip(counts, zip(sizes, encoded, strict=True), strict=True))
        self.longest = max(sizes, default=0)
        # Key ids matched only where all their tokens are written in capitals.
        self.capitals_only = {kid for kid, key in enumerate(counts)
                              if key in dictionary.capitals_only}
        # Rule 9 on words capitalised by position: single-word keys that the sentences usually
        # write lowercase, by id, and the same keys.
        self.lowercase_words = lowercase_words
        self.lowercase_kids = {kid for kid, key in enumerate(counts)
                               if key in lowercase_words and key not in dictionary.capitals_only}
        self.refiner = mined_phrase_automaton(miner) if miner else None
        # Rule 11: the keys that a coordinated modifier and a span's other words must make.
        self.composite_keys: frozenset[str] = frozenset()
        self.seed = seed
        # Per label * 4 + source: the JSON text of a span, as a %-format of (start, end).
        self.formats = [SPAN % ("%d", "%d", encode(label).replace("%", "%%"), source)
                        for label in labels for source in SOURCES]
        # Per label, and for "O": length -> the JSON text of that many tags of one span.
        self.tag_runs = [TagRuns(encode("B-" + label), encode("I-" + label))
                         for label in labels]
        self.o_runs = TagRuns('"O"', '"O"')
        self.labels = labels
        self.order = order
        self.names: dict[str, tuple[int, str, str]] = {}  # phrase -> (tokens, key, code)
        self.codes = _Codes(self.vocab)  # token -> the code of its lowercase form

    def label(self, kid: int, index: int, k: int) -> int:
        """The label index of key ``kid`` for the k-th draw in sentence ``index``."""
        labels, cum = self.multi[kid]
        return labels[bisect.bisect_right(cum, _uniform(self.seed, index, k) * cum[-1])]

    def chunk(self, items: list, ids, segments: list[int]) -> tuple[list[str], dict]:
        """JSON lines of ``items`` (record ids ``ids``) and counts.

        The lines come as one text (lines joined by "\\n") per run of ``segments`` items.
        """
        skips = dict.fromkeys(SKIPS, 0)
        texts = [sent.sentence for _, sent in items]
        joined = "".join(texts)
        sep = next((c for c in _SEPARATORS if c not in joined), None)
        if sep is None:
            raise GenerError("sentences contain every separator character")
        plain = (joined.isprintable() and '"' not in joined and "\\" not in joined) \
            or NEEDS_ESCAPE.search(joined) is None  # tokens are their own JSON text
        del joined
        # Tokens of the whole chunk at once: words[g] is token g; sentence i has tokens
        # starts[i] to starts[i + 1] - 2, with a separator word before and after.
        spaced = f" {sep} "
        words = pad(spaced + spaced.join(texts) + spaced).split()
        del texts
        if plain:
            listed = '", "'.join(words)
        else:
            listed = encode(" ".join(words))[1:-1].replace(" ", '", "')
            sep = encode(sep)[1:-1]
        # Per sentence '", "tok", "tok", "': [3:-3] is the JSON text of its token list.
        token_texts = listed.split(sep)[1:-1]
        del listed
        token_codes = self.codes
        token_codes[words[0]] = _BOUNDARY  # the separator word, absent from the text
        try:
            codes = list(map(token_codes.__getitem__, words))
        finally:
            del token_codes[words[0]]
        encoded = "".join(codes)
        starts = list(accumulate(map((1).__add__, map(len, encoded.split(_BOUNDARY)[1:-1])),
                                 initial=1))
        retrieved = self._retrieved(items, starts, words, encoded, skips)
        del encoded
        for i, spans in enumerate(retrieved):  # tagged tokens cannot be matched
            if spans:
                g = starts[i]
                for s, e, _, _ in spans:
                    codes[g + s:g + e] = _OTHER * (e - s)
        selected = self._select("".join(codes), words, starts,
                                [group.rule9 for group, _ in items])
        del codes

        fixed, refiner, formats, tag_runs = self.fixed, self.refiner, self.formats, self.tag_runs
        composite_keys = self.composite_keys
        o_runs = self.o_runs
        counts = [0] * len(formats)  # spans per label * 4 + source
        scores: dict = {}
        lines = []
        p, nsel = 0, len(selected)
        next_start = selected[0][0] if selected else -1
        with_entities = 0
        for i, (group, sent) in enumerate(items):
            g, end = starts[i], starts[i + 1] - 1
            spans = retrieved[i]
            if 0 <= next_start < end:
                if spans is None:
                    spans = []
                k = 0
                while 0 <= next_start < end:
                    ntok, kid = selected[p][1]
                    label = fixed[kid]
                    if label < 0:
                        label = self.label(kid, ids[i], k)
                        k += 1
                    s = next_start - g
                    spans.append([s, s + ntok, label, MATCHED])
                    p += 1
                    next_start = selected[p][0] if p < nsel else -1
            n = end - g
            if spans:
                if refiner is not None and group.rule10:
                    refine(spans, mined_spans(refiner, f" {' '.join(words[g:end]).lower()} "))
                if group.rule11 and composite_keys:
                    for span in spans:
                        if span[1] - span[0] > 1:
                            composite(span, words, g, spans, composite_keys)
                with_entities += 1
                if len(spans) > 1:
                    spans.sort()
                pieces, span_texts, prev = [], [], 0  # spans never overlap
                for s, e, label, source in spans:
                    if s > prev:
                        pieces.append(o_runs[s - prev])
                    pieces.append(tag_runs[label][e - s])
                    prev = e
                    kind = label * 4 + source
                    counts[kind] += 1
                    span_texts.append(formats[kind] % (s, e))
                if n > prev:
                    pieces.append(o_runs[n - prev])
                tag_text = ", ".join(pieces)
                span_text = ", ".join(span_texts)
            else:
                tag_text = o_runs[n]
                span_text = ""
            score = scores.get(sent.score)
            if score is None:
                score = scores[sent.score] = json.dumps(sent.score)
            sentence_id = sent.sentence_id
            lines.append(group.record % (ids[i], token_texts[i][3:-3], tag_text, span_text, score,
                                         encode(sentence_id) if sentence_id else '""'))
        per_type = [sum(counts[4 * label:4 * label + 4]) for label in range(len(self.labels))]
        per_source = [sum(counts[source::4]) for source in range(len(SOURCES))]
        stats = {"sentences": len(items), "tokens": starts[-1] - 1 - len(items),
                 "sentences_with_entities": with_entities,
                 "spans_per_type": dict(zip(self.labels, per_type, strict=True)),
                 "spans_per_source": dict(zip(SOURCES, per_source, strict=True)),
                 "skipped_phrases": skips}
        texts = []
        for size in segments:
            texts.append("\n".join(lines[:size]))
            del lines[:size]
        return texts, stats

    def _retrieved(self, items, starts, words, encoded, skips) -> list:
        """Per sentence, None or the token spans of its retrieved phrases and abbreviations.

        A phrase's first token is found as the only occurrence of its encoded key in the
        sentence's codes, or else by tokenizing the text before it.
        """
        names, vocab, key_codes = self.names, self.vocab, self.key_codes
        key_labels = self.key_labels
        covering = self.covering
        skipped_by_rule9 = self.retrieved_skipped_by_rule9
        lowercase_words = self.lowercase_words
        out: list = [None] * len(items)
        for i, (group, sent) in enumerate(items):
            if not sent.phrases and not sent.abbreviations:
                continue
            skip9 = group.rule9 and skipped_by_rule9 is not None
            text, g, end_g = sent.sentence, starts[i], starts[i + 1] - 1
            spans, kept = [], []
            if group.parts is None:
                phrases = [(p.name, p.start, p.end) for p in sent.phrases]
            else:
                parts = group.parts
                phrases = [(name, p.start + s, p.start + e)
                           for p in sent.phrases for name, s, e in parts[p.name]]
            if not covering:
                phrases.sort(key=_leftmost_longest)  # nested retrieved spans: the longest wins
            for name, start, end in phrases:
                if not 0 <= start < end <= len(text):
                    skips["offset_outside_sentence"] += 1
                    continue
                if end - start != len(name) or not text.startswith(name, start):
                    skips["text_mismatch"] += 1
                    continue
                if not _aligned(text, start, end):
                    if covering:
                        key = group.keys[name]
                        ts, te = _covering(text, start, end)
                        spans = _overwrite(spans, [ts, te, key_labels.get(key, group.label),
                                                   RETRIEVED])
                        kept.append(key)
                    else:
                        skips["not_token_aligned"] += 1
                    continue
                known = names.get(name)
                if known is None:
                    key = group.keys[name]
                    known = key_codes.get(key)  # (tokens, code) of a dictionary key
                    if known is None:
                        tokens = tokenize(name)
                        code = "".join([vocab.get(w, _OTHER) for w in key.split(" ")]) \
                            if key else ""
                        known = (len(tokens), code)
                    known = names[name] = (known[0], key, known[1])
                n, key, code = known
                if skip9 and n == 1 and (skipped_by_rule9(name) or (
                        key in lowercase_words and _by_position(text, start)
                        and skipped_by_rule9(name.lower()))):
                    skips["rule9_retrieved"] += 1
                    continue
                ts = encoded.find(code, g, end_g) if code else -1
                if ts < 0 or encoded.find(code, ts + 1, end_g) >= 0:
                    ts = len(tokenize(text[:start]))
                else:
                    ts -= g
                if covering:
                    spans = _overwrite(spans, [ts, ts + n, key_labels.get(key, group.label),
                                               RETRIEVED])
                    kept.append(key)
                elif spans:
                    te = ts + n
                    for s, e, _, _ in spans:
                        if s < te and ts < e:
                            break
                    else:
                        spans.append([ts, te, key_labels.get(key, group.label), RETRIEVED])
                        kept.append(key)
                        continue
                    skips["overlapping_retrieved"] += 1
                else:
                    spans.append([ts, ts + n, key_labels.get(key, group.label), RETRIEVED])
                    kept.append(key)
            if sent.abbreviations and group.rule8:
                keys = set(kept)
                taken = [(s, e) for s, e, _, _ in spans]
                spans += [[s, e, group.label, ABBREVIATION] for s, e in abbreviation_spans(
                    words[g:end_g], sent.abbreviations, keys, taken, skips)]
            if spans:
                out[i] = spans
        return out

    def _select(self, encoded, words, starts, skip9) -> list:
        """Global ``(start, (ntok, key id))`` of the greedy longest matches, left to right.

        Candidates lie inside runs of tokens that occur in some key (other tokens and tagged
        ones are ``_OTHER``, sentence boundaries ``_BOUNDARY``); each run is scanned left to
        right for the longest key at each token, most often in one look-up (the whole run is
        a key).
        """
        keys, longest = self.keys, self.longest
        any9, all9 = any(skip9), all(skip9)
        lower = self.skipped_by_rule9
        capitals_only, lowercase_kids = self.capitals_only, self.lowercase_kids
        special = capitals_only | lowercase_kids  # keys that need the slower test below

        def allowed(g: int, value: tuple[int, int]) -> bool:
            ntok, kid = value
            if kid in capitals_only and not all(w.isupper() for w in words[g:g + ntok]):
                return False
            if ntok > 1 or not any9 or (
                    not all9 and not skip9[bisect.bisect_right(starts, g) - 1]):
                return True
            word = words[g]
            if lower(word):
                return False
            # capitalised by position ("Treatment of ...", "CONCLUSION : ..."): as lowercase
            return not (kid in lowercase_kids and words[g - 1] in _POSITION_OPENERS
                        and lower(word.lower()))

        selected = []
        for m in _RUNS.finditer(encoded):
            run, g = m.group(), m.start()
            value = keys.get(run)
            size = len(run)
            if value is not None and (size > 1 or not any9 or not lower(words[g]) or (
                    not all9 and not skip9[bisect.bisect_right(starts, g) - 1])) and (
                    value[1] not in special or allowed(g, value)):
                selected.append((g, value))
                continue
            i = 0
            while i < size:
                for k in range(min(longest, size - i), 0, -1):
                    value = keys.get(run[i:i + k])
                    if value is not None and (k > 1 or not any9 or not lower(words[g + i])
                                              or (not all9 and not skip9[bisect.bisect_right(
                                                  starts, g + i) - 1])) and (
                            value[1] not in special or allowed(g + i, value)):
                        selected.append((g + i, value))
                        i += k
                        break
                else:
                    i += 1
        return selected


def merged_stats(dictionary: PseudoDictionary, parts: list[dict]) -> dict:
    """The counts of a whole match: the dictionary's, and the sum of its chunks' ``parts``."""
    stats = {"sentences": 0, "tokens": 0, "sentences_with_entities": 0,
             "dictionary_phrases": len(dictionary),
             "multi_label_phrases": sum(len(t) > 1 for t in dictionary.counts.values()),
             "spans_per_type": dict.fromkeys(dictionary.labels, 0),
             "spans_per_source": dict.fromkeys(SOURCES, 0),
             "skipped_phrases": dict.fromkeys(SKIPS, 0)}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, dict):
                for k, v in value.items():
                    stats[key][k] += v
            else:
                stats[key] += value
    return stats
