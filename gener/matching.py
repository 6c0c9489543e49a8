"""Dictionary matching (paper §3.3): retrieved spans, abbreviations, dictionary matches.

Two entry points:

* :func:`match` takes retrievals whose phrases are already normalized (rules 1-7) and whose
  ``abbreviations`` are already filled in (rule 8); it builds the pseudo-dictionary and
  annotates every sentence, refining spans with ``miner`` phrases when given (rule 10).
* :func:`annotate` runs the whole stage: normalization, abbreviation detection (scispacy),
  phrase mining, then :func:`match`.

Per sentence, in this order: (1) its retrieved phrases are tagged with its subquestion's
label; (2) with rule 8, abbreviations whose long form is one of its retrieved phrases are
tagged where they occur; (3) dictionary matching, left to right, takes at each token the
longest dictionary entry (compared lowercased over the paper's tokens) that neither starts on
nor extends into a tagged token; with rule 9 a single lowercase token is never matched;
(4) with rule 10, a span strictly inside a mined phrase occurrence is extended to it when that
touches no other span; (5) with rule 11, a span of several words starts at the lowercase words
coordinated before it ("breast and ovarian cancer") when each of them with the span's other
words is a key written in some sentence (rule 11 also made those keys: :func:`shared_head_keys`).
Multi-label entries get a label per occurrence drawn in proportion to their counts (or the
most frequent label, ties by label order, with ``deterministic=True``).
The draw for the k-th multi-label match (k = 0, 1, ...) of the sentence with record id i is
``u = int.from_bytes(blake2b(b"%d %d %d" % (seed, i, k), digest_size=8).digest(), "big")
>> 11`` scaled to [0, 1), so it depends only on (seed, i, k): output is identical however
the sentences are split between worker processes.

How it is fast (1.3M tokens in well under a second): sentences are tokenized in bulk (the
punctuation of a whole chunk is padded at once and split once); every distinct token of a
dictionary key gets one character code, and each sentence token becomes that code (or a
"no key" code), so a chunk becomes one string with one character per token, in which tagged
tokens carry the "no key" code and sentence boundaries one of their own. One regular
expression pass over that string finds the runs of key tokens, and a dictionary look-up of
each run (keys encoded the same way) most often settles it; the cost is linear in the text
and does not grow with the number of keys. Records are produced as
JSON lines; with ``workers`` > 1 (by default on machines with 2+ CPUs and inputs of 4,000+
sentences, where ``os.fork`` exists) chunks of sentences are matched in forked processes.
"""

from __future__ import annotations

import bisect
import gc
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain
from pathlib import Path

try:  # hashlib's blake2b, without loading OpenSSL (hashlib's import costs ~5 ms)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover (not CPython)
    from hashlib import blake2b

from gener.casing import OPENERS, CaseProfile
from gener.dictionary import PseudoDictionary, phrase_key
from gener.errors import GenerError
from gener.recipes.recipe import RETRIEVED_RULE9
from gener.text import PUNCTUATION, tokenize

SOURCES = ("retrieved", "abbreviation", "matched", "refined")
RETRIEVED, ABBREVIATION, MATCHED, REFINED = range(4)
SKIPS = ("offset_outside_sentence", "text_mismatch", "not_token_aligned",
         "overlapping_retrieved", "overlapping_abbreviation", "rule9_retrieved")
# Sentences per forked worker below which forking does not pay off.
MIN_SENTENCES_PER_WORKER = 2000
_OTHER = "\x01"  # the code of a token in no dictionary key and of tagged tokens
_BOUNDARY = "\x02"  # the code of the separator word between sentences
_SEPARATORS = ("\x00", "\ue000", "\U0010fffd")  # the first absent from a chunk's text is used
_RUNS = re.compile("[^\x01\x02]+")
# Tokens after which a word may be capitalised by position (gener.casing's, and the
# separator words before each sentence).
_POSITION_OPENERS = OPENERS | frozenset(_SEPARATORS)
_AND = re.compile(r"\sand\s").search  # where rule 1 may split a phrase
# Characters that JSON escapes and tokenization keeps (other control characters are spaces).
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x08\x0e-\x1b]')


class Records(Sequence):
    """The annotated records of a :class:`MatchResult`, held as JSON lines.

    Behaves as a read-only sequence of dicts (each item is parsed from its line on access,
    so mutating one does not change the records); :func:`write_jsonl` writes the lines as
    they are. ``parts`` are blocks of lines (``str``, or UTF-8 ``bytes`` as forked workers
    send them) without a trailing newline; with ``path`` instead, they are read from that
    JSON-lines file when first needed.
    """

    def __init__(self, parts: list[str | bytes] | None = None, path: Path | None = None):
        self._parts = None if parts is None else [part for part in parts if part]
        self._path = path
        self._text: str | None = None
        self._lines: list[str] | None = None

    @property
    def parts(self) -> list[str | bytes]:
        if self._parts is None:
            text = Path(self._path).read_text(encoding="utf-8")
            self._parts = [text[:-1]] if text else []
        return self._parts

    @property
    def text(self) -> str:
        """All JSON lines joined by "\\n" (no trailing newline)."""
        if self._text is None:
            self._text = "\n".join(p.decode("utf-8") if isinstance(p, bytes) else p
                                   for p in self.parts)
        return self._text

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.text.split("\n") if self.parts else []
        return self._lines

    def __len__(self) -> int:
        return len(self.lines)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [json.loads(line) for line in self.lines[index]]
        return json.loads(self.lines[index])

    def __iter__(self):
        return map(json.loads, self.lines)

    def __eq__(self, other) -> bool:
        if isinstance(other, Records):
            return self.text == other.text
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(
                a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return f"Records({len(self)} records)"


@dataclass
class MatchResult:
    """Annotated records (one per input sentence, in input order), the dictionary and counts."""

    records: Records
    dictionary: PseudoDictionary
    stats: dict = field(default_factory=dict)


def _uniform(seed: int, index: int, k: int) -> float:
    """A uniform draw in [0, 1) that depends only on (seed, sentence index, draw number)."""
    digest = blake2b(b"%d %d %d" % (seed, index, k), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 11) * 2.0 ** -53


def _pad(text: str) -> str:
    for char in PUNCTUATION:
        if char in text:
            text = text.replace(char, f" {char} ")
    return text


def tokenize_many(texts: list[str]) -> list[list[str]]:
    """``[tokenize(t) for t in texts]``, faster: pad punctuation once over the joined text."""
    big = "\x00".join(texts)
    if big.count("\x00") != len(texts) - 1:
        return [tokenize(t) for t in texts]
    return [part.split() for part in _pad(big).split("\x00")] if texts else []


def _aligned(sentence: str, start: int, end: int) -> bool:
    before = sentence[start - 1] if start else " "
    after = sentence[end] if end < len(sentence) else " "
    return ((before.isspace() or before in PUNCTUATION or sentence[start] in PUNCTUATION)
            and (after.isspace() or after in PUNCTUATION or sentence[end - 1] in PUNCTUATION))


def _abbreviation_spans(tokens, abbreviations, retrieved_keys, taken, skips) -> list:
    """Token spans of abbreviations whose long form was retrieved in this sentence."""
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


def _refine(spans: list[list], mined: list[tuple[int, int]]) -> None:
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


def _refiner(miner):
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for key in sorted(miner):
        automaton.add_word(f" {key} ", key.count(" ") + 1)
    automaton.make_automaton()
    return automaton


def _mined_spans(refiner, lowered: str) -> list[tuple[int, int]]:
    """Token spans of the mined phrases in a padded lowercase sentence."""
    spans = []
    for e, ntok in refiner.iter(lowered):
        end = lowered.count(" ", 0, e)
        spans.append((end - ntok, end))
    return spans


def _encode(text: str) -> str:
    return json.encoder.encode_basestring(text)


_SPAN = '{"start": %s, "end": %s, "type": %s, "source": "%s"}'
_RECORD = ('{"id": "%%d", "tokens": [%%s], "ner_tags": [%%s], "spans": [%%s], "question": %s, '
           '"retrieval_score": %%s, "sentence_id": %%s}')


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


class _TagRuns(dict):
    """Length n -> the JSON texts of n tags, ``first`` then ``rest``, joined by ", "."""

    def __init__(self, first: str, rest: str):
        super().__init__()
        self.first, self.rest = first, rest

    def __missing__(self, n: int) -> str:
        text = self[n] = ", ".join([self.first] + [self.rest] * (n - 1)) if n else ""
        return text


def _leftmost_longest(phrase: tuple[str, int, int]) -> tuple[int, int]:
    return phrase[1], -phrase[2]


def _by_position(text: str, start: int) -> bool:
    """Whether a word at ``start`` may be capitalised by its position in ``text``."""
    before = text[:start].rstrip()
    return not before or before[-1] in _POSITION_OPENERS


def rule9_test(common_words: frozenset[str] | None):
    """Whether rule 9 skips a single token: it is lowercase (and, given ``common_words``,
    one of them)."""
    if common_words is None:
        return str.islower
    return lambda word: word.islower() and word in common_words


class _Matcher:
    """What every chunk shares: the encoded automaton, label choices and output pieces."""

    def __init__(self, dictionary: PseudoDictionary, seed: int, deterministic: bool, miner,
                 key_labels: dict[str, int] | None = None,
                 common_words: frozenset[str] | None = None,
                 retrieved_rule9: str = "off", lowercase_words: frozenset[str] = frozenset()):
        labels = dictionary.labels
        # Rule 9 skips single lowercase tokens; given these words, only those among them.
        self.skipped_by_rule9 = rule9_test(common_words)
        # Rule 9 on retrieved phrases too ("all" or "common" words): its test, or None (off).
        if retrieved_rule9 not in RETRIEVED_RULE9:
            raise GenerError(f"retrieved_rule9 must be one of {', '.join(RETRIEVED_RULE9)}, "
                             f"not {retrieved_rule9!r}")
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
        self.refiner = _refiner(miner) if miner else None
        # Rule 11: the keys that a coordinated modifier and a span's other words must make.
        self.composite_keys: frozenset[str] = frozenset()
        self.seed = seed
        # Per label * 4 + source: the JSON text of a span, as a %-format of (start, end).
        self.formats = [_SPAN % ("%d", "%d", _encode(label).replace("%", "%%"), source)
                        for label in labels for source in SOURCES]
        # Per label, and for "O": length -> the JSON text of that many tags of one span.
        self.tag_runs = [_TagRuns(_encode("B-" + label), _encode("I-" + label))
                         for label in labels]
        self.o_runs = _TagRuns('"O"', '"O"')
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
            or _NEEDS_ESCAPE.search(joined) is None  # tokens are their own JSON text
        del joined
        # Tokens of the whole chunk at once: words[g] is token g; sentence i has tokens
        # starts[i] to starts[i + 1] - 2, with a separator word before and after.
        spaced = f" {sep} "
        words = _pad(spaced + spaced.join(texts) + spaced).split()
        del texts
        if plain:
            listed = '", "'.join(words)
        else:
            listed = _encode(" ".join(words))[1:-1].replace(" ", '", "')
            sep = _encode(sep)[1:-1]
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
                    _refine(spans, _mined_spans(refiner, f" {' '.join(words[g:end]).lower()} "))
                if group.rule11 and composite_keys:
                    for span in spans:
                        if span[1] - span[0] > 1:
                            _composite(span, words, g, spans, composite_keys)
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
                                         _encode(sentence_id) if sentence_id else '""'))
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
            phrases.sort(key=_leftmost_longest)  # nested retrieved spans: the longest wins
            for name, start, end in phrases:
                if not 0 <= start < end <= len(text):
                    skips["offset_outside_sentence"] += 1
                    continue
                if end - start != len(name) or not text.startswith(name, start):
                    skips["text_mismatch"] += 1
                    continue
                if not _aligned(text, start, end):
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
                if spans:
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
                spans += [[s, e, group.label, ABBREVIATION] for s, e in _abbreviation_spans(
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


class _Group:
    """A subquestion as the matcher needs it, with its phrases' normalized parts."""

    def __init__(self, subquestion, label: int, parts: dict | None, keys: dict):
        self.label = label
        self.rule8, self.rule9, self.rule10, self.rule11 = (
            subquestion.has_rule(r) for r in (8, 9, 10, 11))
        self.record = _RECORD % _encode(subquestion.question).replace("%", "%%")
        self.parts = parts  # phrase -> [(text, start, end)] (rules 1-7), None: as they are
        self.keys = keys  # normalized phrase -> its key


def _phrase_counts(retrieval, normalize: bool,
                   shared: set | None = None) -> tuple[list, dict | None, dict]:
    """``[(key, count)]`` to add to the dictionary for a retrieval's phrases, the parts
    (rules 1-7) of each distinct phrase when ``normalize``, and the key of each normalized
    phrase.

    Each distinct phrase counts once with its number of occurrences, which adds up to the
    same dictionary as adding every (normalized) occurrence, in the same order.
    """
    names: dict[str, int] = {}
    for sentence in retrieval.sentences:
        for phrase in sentence.phrases:
            names[phrase.name] = names.get(phrase.name, 0) + 1
    parts = _normalized_parts(names, retrieval.subquestion) if normalize else None
    texts = {t: None for name in names for t, _, _ in parts[name]} if normalize else names
    keys = dict(zip(texts, (" ".join(tokens).lower() for tokens in tokenize_many(list(texts))),
                    strict=True))  # phrase_key of each text
    if retrieval.subquestion.has_rule(11):
        return _counts_with_shared_heads(retrieval, parts, keys, shared), parts, keys
    if normalize:
        adds = [(keys[t], count) for name, count in names.items() for t, _, _ in parts[name]]
    else:
        adds = [(keys[name], count) for name, count in names.items()]
    return adds, parts, keys


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
    from gener.normalize import STOPWORDS

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


def _written(keys: set[str], sentences) -> frozenset[str]:
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


def _composite(span: list, words: list[str], g: int, spans: list, keys: frozenset[str]) -> None:
    """Rule 11 on a span of several words: start it at the lowercase words coordinated before
    it ("breast and ovarian cancer", "prostate , skin , and lung cancer") when each of them
    followed by the span's other words is a key in ``keys`` and no other span lies between."""
    from gener.normalize import STOPWORDS

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


def _counts_with_shared_heads(retrieval, parts: dict | None, keys: dict,
                              shared: set | None = None) -> list:
    """``[(key, count)]`` of a retrieval's phrases, as :func:`_phrase_counts` makes them,
    with rule 11's keys (:func:`shared_head_keys`, also added to ``shared``) counted once
    per occurrence that gives them; every key in the order of its first occurrence."""
    counts: dict[str, int] = {}
    shared = set() if shared is None else shared
    for sentence in retrieval.sentences:
        text = sentence.sentence
        for phrase in sentence.phrases:
            for part, s, _ in (parts[phrase.name] if parts is not None
                               else [(phrase.name, 0, 0)]):
                key = keys[part]
                counts[key] = counts.get(key, 0) + 1
                if " " in key and part[:1].islower():
                    for head_key in shared_head_keys(text[:phrase.start + s], key):
                        counts[head_key] = counts.get(head_key, 0) + 1
                        shared.add(head_key)
    return list(counts.items())


def _normalized_parts(names, subquestion) -> dict[str, list[tuple[str, int, int]]]:
    """``{name: normalize_span(name, 0, subquestion)}``, faster: a name that rule 1 does not
    split is stripped (rule 2) and loses a leading "the" (rule 4) by the same functions, and
    is kept when cheap tests show that rules 3, 5, 6 and 7 keep it (stripping does not
    change ``islower``); only the others go through :func:`gener.normalize.normalize_span`."""
    from gener.normalize import (
        CALENDAR_WORDS,
        STOPWORDS,
        name_core,
        normalize_span,
        strip_leading_the,
        strip_punctuation,
        type_word_forms,
    )

    rules = subquestion.rules
    split, strip, lower3, the, stop = (r in rules for r in (1, 2, 3, 4, 6))
    names3 = lower3 and subquestion.names_only
    forms = sorted({f for t in subquestion.class_types for f in type_word_forms(t)}) \
        if 7 in rules else []
    generic = re.compile("|".join(map(re.escape, forms))).search if forms else None
    parts = {}
    for name in names:
        text, start = name, 0
        if strip:
            text = strip_punctuation(name)
            if text != name and text:
                start = name.index(text)
        if the and text:
            rest = strip_leading_the(text)
            start += len(text) - len(rest)
            text = rest
        low = text.lower()
        if len(text) >= 3 and not (split and _AND(name)) \
                and not (lower3 and name.islower()) \
                and not (names3 and name_core(text) != (0, len(text))) \
                and not (stop and (low in STOPWORDS or low in CALENDAR_WORDS
                                   or low[0].isdigit())) \
                and not (generic and generic(low)):
            parts[name] = [(text, start, start + len(text))]
        else:
            parts[name] = normalize_span(name, 0, subquestion)
    return parts


def _dictionary(retrievals, labels: list[str], normalize: bool,
                abbreviation_entries: frozenset[str] | None = None, phrase_labels=None):
    """The pseudo-dictionary, a :class:`_Group` per retrieval, and the keys that only rule 11
    made (no retrieved phrase has them).

    With ``abbreviation_entries``, rule 8's abbreviations become entries too (see
    :func:`match`), each with the label of its long form; those that are excluded words go to
    the dictionary's ``capitals_only`` keys.
    """
    dictionary = PseudoDictionary(labels)
    order = {label: i for i, label in enumerate(labels)}
    groups = []
    abbreviations = []
    shared: set[str] = set()
    for retrieval in retrievals:
        adds, parts, keys = _phrase_counts(retrieval, normalize, shared)
        dictionary.add_keys(adds, retrieval.subquestion.label)
        groups.append(_Group(retrieval.subquestion, order.get(retrieval.subquestion.label, -1),
                             parts, keys))
        if abbreviation_entries is not None and retrieval.subquestion.has_rule(8):
            abbreviations += _abbreviation_entries(retrieval, parts, keys, abbreviation_entries,
                                                   phrase_labels or {})
    plain = {key for key, _, only in abbreviations if not only}
    dictionary.capitals_only |= {key for key, _, only in abbreviations
                                 if only and key not in plain and key not in dictionary.counts}
    for key, label, _ in abbreviations:
        dictionary.add_keys([(key, 1)], label)
    if shared:
        shared -= {key for group in groups for key in group.keys.values()}  # retrieved ones
    return dictionary, groups, shared


def _abbreviation_entries(retrieval, parts, keys, excluded, phrase_labels) -> list:
    """``(key, label, capitals_only)`` of each abbreviation whose long form was retrieved in
    its sentence, unless it is a single character. An ``excluded`` word ("AS" for Angelman
    syndrome, "WAS" for Wiskott-Aldrich syndrome) is kept only when defined in capitals, and
    then matches only where written in capitals (``capitals_only``), never "as" or "As"."""
    label = retrieval.subquestion.label
    entries = []
    for sentence in retrieval.sentences:
        if not sentence.abbreviations:
            continue
        retrieved = {keys[text] for p in sentence.phrases
                     for text in ([t for t, _, _ in parts[p.name]] if parts else [p.name])}
        for short, long in sorted(sentence.abbreviations.items()):
            long_key, short_key = phrase_key(str(long)), phrase_key(str(short))
            if long_key not in retrieved or len(short_key) < 2:
                continue
            capitals_only = short_key in excluded
            if capitals_only and not str(short).isupper():
                continue
            entries.append((short_key, phrase_labels.get(long_key, label), capitals_only))
    return entries


def match(retrievals, labels: list[str], seed: int = 0, deterministic: bool = False,
          progress: bool = True, miner=None, workers: int | None = None,
          normalize: bool = False, phrase_labels: dict[str, str] | None = None,
          common_words: frozenset[str] | None = None,
          abbreviation_entries: frozenset[str] | None = None,
          retrieved_rule9: str = "off", capitals_only: frozenset[str] = frozenset(),
          rule9_by_position: bool = False) -> MatchResult:
    """Annotate retrievals (see the module docstring).

    The phrases must already be normalized (rules 1-7), unless ``normalize`` is true: then
    the phrases are taken as :func:`gener.normalize.normalize_retrieval` would make them.
    ``miner`` is a set of mined phrase keys (:func:`gener.phrase_mining.mine_phrases`) used
    for subquestions with rule 10. Sentences are not de-duplicated across subquestions.
    ``workers``: processes to split the sentences between (None: automatic); the output does
    not depend on it. ``phrase_labels`` maps phrase keys to the one label they get wherever
    they are tagged (retrieved or matched; :mod:`gener.phrase_labels`); their dictionary
    entry holds all their retrievals under that label. With ``common_words``, rule 9 skips
    only the single lowercase tokens in that set (:mod:`gener.common_words`). With
    ``abbreviation_entries`` (a set of excluded words), each rule-8 abbreviation of a
    retrieved phrase is also a dictionary entry (with its long form's label), so it is
    matched in every sentence, not only where it was defined, unless it has one character;
    an excluded word (common words: "AS" for Angelman syndrome) is an entry only when
    defined in capitals, and matches only where written in capitals, never "as" or "As".
    ``retrieved_rule9`` ("all" or "common"): rule 9 also skips the retrieved phrases that
    are single lowercase tokens (all of them, or the common words), where they were retrieved;
    "off": retrieved phrases are tagged whatever their case. ``capitals_only``: keys matched
    only where written in capitals, besides the abbreviation entries that are excluded words.
    ``rule9_by_position``: rule 9 also skips a single word capitalised only by its position
    (first in its sentence or after ``.:;-("'``: "Treatment of ...", "CONCLUSION : ...") when
    the sentences usually write it lowercase (:class:`gener.casing.CaseProfile`) and rule 9
    would skip it lowercase.
    """
    enabled = gc.isenabled()
    gc.disable()  # millions of small acyclic objects: collections would only cost time
    try:
        dictionary, groups, shared = _dictionary(retrievals, labels, normalize,
                                                 abbreviation_entries, phrase_labels)
        dictionary.capitals_only |= set(capitals_only) & dictionary.counts.keys()
        if not dictionary.counts:
            raise GenerError("empty pseudo-dictionary: no retrieved phrase survived "
                             "normalization")
        key_labels = _fix_labels(dictionary, phrase_labels or {})
        lowercase_words = frozenset()
        if rule9_by_position and any(r.subquestion.has_rule(9) for r in retrievals):
            profile = CaseProfile(s.sentence for r in retrievals for s in r.sentences)
            lowercase_words = frozenset(
                key for key in dictionary.counts
                if " " not in key and profile.lower[key] > profile.capitalised[key])
        matcher = _Matcher(dictionary, seed, deterministic, miner, key_labels, common_words,
                           retrieved_rule9, lowercase_words)
        if any(r.subquestion.has_rule(11) for r in retrievals):
            matcher.composite_keys = frozenset(dictionary.counts.keys() - shared) | _written(
                shared, (s.sentence for r in retrievals for s in r.sentences))
        items = [(group, sent) for group, r in zip(groups, retrievals, strict=True)
                 for sent in r.sentences]
        n = _workers(workers, len(items))
        bounds = [len(items) * k // n for k in range(n + 1)]
        parts = _run_chunks(matcher, items, bounds, progress)
    finally:
        if enabled:
            gc.enable()
    stats = _merged_stats(dictionary, [part for _, part in parts])
    return MatchResult(Records([text for texts, _ in parts for text in texts]), dictionary,
                       stats)


def _fix_labels(dictionary: PseudoDictionary, phrase_labels: dict[str, str]) -> dict[str, int]:
    """Give each dictionary key of ``phrase_labels`` its one label; their label indices."""
    order = {label: i for i, label in enumerate(dictionary.labels)}
    unknown = sorted(set(phrase_labels.values()) - set(order))
    if unknown:
        raise GenerError(f"phrase labels {', '.join(unknown)} are not among the recipe's "
                         f"labels ({', '.join(dictionary.labels)})")
    fixed = {}
    for key, types in dictionary.counts.items():
        label = phrase_labels.get(key)
        if label is not None:
            dictionary.counts[key] = {label: sum(types.values())}
            fixed[key] = order[label]
    return fixed


def _merged_stats(dictionary: PseudoDictionary, parts: list[dict]) -> dict:
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


def _workers(workers: int | None, sentences: int) -> int:
    if not hasattr(os, "fork"):
        return 1
    if workers is None:
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:
            cpus = os.cpu_count() or 1
        workers = min(cpus, 4, sentences // MIN_SENTENCES_PER_WORKER)
    return max(1, min(workers, sentences))


def _run_chunks(matcher: _Matcher, items: list, bounds: list[int], progress: bool) -> list:
    """``matcher.chunk`` of each ``bounds`` range: the first here, the others in forked
    processes (a failed child's chunk is redone here)."""
    bar = _progress_bar(len(items), progress)
    children = []
    try:
        for a, b in zip(bounds[1:-1], bounds[2:], strict=True):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # child: match, send the result, leave without any cleanup
                code = 1
                try:
                    os.close(r)
                    with os.fdopen(w, "wb") as pipe:
                        _send_chunk(pipe, *matcher.chunk(items[a:b], range(a, b), [b - a]))
                    code = 0
                finally:
                    os._exit(code)
            os.close(w)
            children.append((pid, os.fdopen(r, "rb"), a, b))
        results = [matcher.chunk(items[:bounds[1]], range(bounds[1]), [bounds[1]])]
        if bar is not None:
            bar.update(bounds[1])
        for pid, pipe, a, b in children:
            data = pipe.read()
            pipe.close()
            _, status = os.waitpid(pid, 0)
            received = _received_chunk(data) if status == 0 else None
            results.append(received or matcher.chunk(items[a:b], range(a, b), [b - a]))
            if bar is not None:
                bar.update(b - a)
    finally:
        for pid, pipe, _, _ in children:
            if not pipe.closed:
                pipe.close()
                os.waitpid(pid, 0)
        if bar is not None:
            bar.close()
    return results


def annotate_folder(folder, subquestions, labels: list[str], seed: int = 0,
                    deterministic: bool = False, progress: bool = True,
                    detect_abbreviations: bool = False, workers: int | None = None,
                    jsonl: str | Path | None = None,
                    dictionary_json: str | Path | None = None) -> MatchResult:
    """:func:`annotate` of :func:`gener.interop.read_gener_retrieval` ``(folder,
    subquestions)``, the same result, with the reading split between two processes.

    The parent takes the first ``PARENT_SHARE`` of the sentences (in input order), a forked
    child the rest; each parses its lines and counts (and normalizes) their phrases; the
    sides swap their counts and each adds both to its dictionary in input order (the same
    dictionary); each matches its own sentences. With ``jsonl`` (a path) the records are also
    written there as JSON lines, each side writing its own lines into the file, and the
    result's ``records`` read that file when used; without it the child sends its lines to
    the parent. With ``dictionary_json`` (a path) the dictionary is saved there (by the
    child, while the parent matches). Whenever this cannot be done (one worker, abbreviation
    detection, phrase mining or rule 11, which look at every sentence, an error in either
    process) the plain sequential path runs instead.
    """
    from gener.interop import numbered_lines, read_gener_retrieval, retrieval_file

    def sequential() -> MatchResult:
        result = annotate(read_gener_retrieval(folder, subquestions), labels, seed,
                          deterministic, progress, detect_abbreviations, workers)
        if jsonl is not None:
            write_jsonl(result.records, jsonl)
        if dictionary_json is not None:
            result.dictionary.save(dictionary_json)
        return result

    folder = Path(folder)
    if not hasattr(os, "fork") or any(sq.has_rule(10) or sq.has_rule(11)
                                      for sq in subquestions) or (
            detect_abbreviations and any(sq.has_rule(8) for sq in subquestions)) \
            or not folder.is_dir():
        return sequential()
    try:
        files = [retrieval_file(folder, sq.type) for sq in subquestions]
        numbered = [numbered_lines(path) for path in files]
    except GenerError:
        return sequential()
    total = sum(map(len, numbered))
    if _workers(workers, total) < 2:
        return sequential()
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _annotate_halves(files, numbered, subquestions, labels, seed, deterministic,
                                progress, None if jsonl is None else Path(jsonl),
                                dictionary_json) or sequential()
    finally:
        if enabled:
            gc.enable()


# The parent's share of the sentences in annotate_folder: the parent merges the dictionary,
# the child waits for it and writes it, which about evens out (measured at 1k-70k phrases).
PARENT_SHARE = 0.5


def _annotate_halves(files, numbered, subquestions, labels, seed, deterministic, progress,
                     jsonl: Path | None, dictionary_json) -> MatchResult | None:
    """The two-process part of :func:`annotate_folder` (None: do it sequentially)."""
    import marshal

    from gener.artifacts import SubquestionRetrieval
    from gener.interop import parse_lines

    order = {label: i for i, label in enumerate(labels)}
    total = sum(map(len, numbered))
    cut = min(max(1, round(total * PARENT_SHARE)), total - 1)
    firsts = list(accumulate(map(len, numbered), initial=0))[:-1]

    def side(child: bool):
        """This side's dictionary additions (one list per subquestion), items, record ids."""
        adds, items, ids = [], [], []
        for sq, path, lines, first in zip(subquestions, files, numbered, firsts, strict=True):
            h = min(max(cut - first, 0), len(lines))
            a, b = (h, len(lines)) if child else (0, h)
            if a == b:
                adds.append([])
                continue
            retrieval = SubquestionRetrieval(sq, parse_lines(path, lines[a:b]))
            counts, parts, keys = _phrase_counts(retrieval, True)
            group = _Group(sq, order.get(sq.label, -1), parts, keys)
            adds.append(counts)
            items += [(group, sent) for sent in retrieval.sentences]
            ids += range(first + a, first + b)
        return adds, items, ids

    fd = tmp = None
    if jsonl is not None:  # both sides write into one temporary file, renamed when complete
        import tempfile

        jsonl.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=jsonl.parent, prefix=f".{jsonl.name}.")
    down_r, down_w = os.pipe()  # parent -> child: its additions, then where to write
    up_r, up_w = os.pipe()  # child -> parent: its additions, then its lines or their size
    pid = os.fork()
    if pid == 0:  # child: leaves without any cleanup
        code = 1
        try:
            os.close(down_w)
            os.close(up_r)
            with os.fdopen(up_w, "wb") as up, os.fdopen(down_r, "rb") as down:
                adds, items, ids = side(True)
                _send(up, marshal.dumps(adds))
                theirs = _receive(down)
                dictionary = None if theirs is None else _merged(
                    labels, subquestions, marshal.loads(theirs), adds)
                if dictionary is not None and dictionary.counts:
                    if dictionary_json is not None:
                        dictionary.save(dictionary_json)
                    matcher = _Matcher(dictionary, seed, deterministic, None)
                    texts, stats = matcher.chunk(items, ids, [len(items)])
                    if fd is None:
                        _send_chunk(up, texts, stats)
                        code = 0
                    else:
                        data = texts[0].encode("utf-8")
                        at = _receive(down)
                        if at is not None:
                            at = int.from_bytes(at, "little")
                            _pwrite(fd, data, at)
                            _pwrite(fd, b"\n", at + len(data))
                            _send(up, marshal.dumps(stats))
                            code = 0
        finally:
            os._exit(code)
    os.close(down_r)
    os.close(up_w)
    up, down = os.fdopen(up_r, "rb"), os.fdopen(down_w, "wb")
    done, bar = False, None
    try:
        try:
            adds, items, ids = side(False)
        except GenerError:
            return None
        theirs = _receive(up)
        if theirs is None:
            return None
        _send(down, marshal.dumps(adds))  # each side merges both sides' counts
        dictionary = _merged(labels, subquestions, adds, marshal.loads(theirs))
        if not dictionary.counts:
            return None
        matcher = _Matcher(dictionary, seed, deterministic, None)
        bar = _progress_bar(total, progress)
        texts, stats = matcher.chunk(items, ids, [len(items)])
        del items
        if bar is not None:
            bar.update(len(ids))
        if fd is None:
            down.close()
            received = _received_chunk(up.read())
            if received is None:
                return None
            other_texts, other_stats = received
            records = Records(texts + other_texts)
        else:
            data = texts[0].encode("utf-8")
            _send(down, (len(data) + 1).to_bytes(8, "little"))
            down.close()
            _pwrite(fd, data, 0)
            _pwrite(fd, b"\n", len(data))
            del data, texts
            received = _receive(up)
            if received is None:
                return None
            other_stats = marshal.loads(received)
            os.close(fd)
            fd = None
            os.chmod(tmp, 0o644)
            os.replace(tmp, jsonl)
            records = Records(path=jsonl)
        if bar is not None:
            bar.update(total - len(ids))
        done = True
    except GenerError:
        return None
    finally:
        if bar is not None:
            bar.close()
        up.close()
        if not down.closed:
            down.close()
        os.waitpid(pid, 0)
        if fd is not None:
            os.close(fd)
        if tmp is not None and not done:
            Path(tmp).unlink(missing_ok=True)
    return MatchResult(records, dictionary, _merged_stats(dictionary, [stats, other_stats]))


def _merged(labels, subquestions, first, second) -> PseudoDictionary:
    """The dictionary of two sides' additions (one list per subquestion), ``first`` first."""
    dictionary = PseudoDictionary(labels)
    for side in (first, second):
        for sq, add in zip(subquestions, side, strict=True):
            dictionary.add_keys(add, sq.label)
    return dictionary


def _pwrite(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        offset += n
        view = view[n:]


def _send(pipe, data: bytes) -> None:
    pipe.write(len(data).to_bytes(8, "little"))
    pipe.write(data)
    pipe.flush()


def _receive(pipe) -> bytes | None:
    head = pipe.read(8)
    if len(head) < 8:
        return None
    data = pipe.read(int.from_bytes(head, "little"))
    return data if len(data) == int.from_bytes(head, "little") else None


def _send_chunk(pipe, texts: list[str], stats: dict) -> None:
    """Write a chunk's result: marshalled (stats, text sizes), then the UTF-8 texts."""
    import marshal

    blobs = [text.encode("utf-8") for text in texts]
    head = marshal.dumps((stats, [len(b) for b in blobs]))
    pipe.write(len(head).to_bytes(8, "little") + head)
    for blob in blobs:
        pipe.write(blob)


def _received_chunk(data: bytes) -> tuple[list[bytes], dict] | None:
    """The ``(texts, stats)`` written by :func:`_send_chunk` (None if incomplete)."""
    import marshal

    if len(data) < 8:
        return None
    size = int.from_bytes(data[:8], "little")
    stats, sizes = marshal.loads(data[8:8 + size])
    pos, texts = 8 + size, []
    for n in sizes:
        texts.append(data[pos:pos + n])
        pos += n
    return (texts, stats) if pos == len(data) else None


def _progress_bar(total: int, progress: bool):
    if not progress or not total or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="matching", unit="sent")


def annotate(retrievals, labels: list[str], seed: int = 0, deterministic: bool = False,
             progress: bool = True, detect_abbreviations: bool = True,
             workers: int | None = None, phrase_labels: dict[str, str] | None = None,
             common_words: frozenset[str] | None = None,
             abbreviation_entries: frozenset[str] | None = None,
             retrieved_rule9: str = "off", rule9_by_position: bool = False) -> MatchResult:
    """The whole stage: rules 1-7, rule 8 (scispacy, when ``detect_abbreviations``; retrieved
    short forms of non-answers are then dropped, see
    :func:`gener.abbreviations.drop_short_forms_of_non_answers`), rule 10 (phrase mining over
    all evidence sentences), then :func:`match`.

    With ``detect_abbreviations=False`` the ``abbreviations`` already in the retrievals are used.
    ``phrase_labels``, ``common_words``, ``abbreviation_entries``, ``retrieved_rule9`` and
    ``rule9_by_position``: see :func:`match`.
    """
    normalize = True  # by match(), without building normalized copies
    if detect_abbreviations and any(r.subquestion.has_rule(8) for r in retrievals):
        from gener.abbreviations import add_abbreviations, drop_short_forms_of_non_answers
        from gener.normalize import normalize_retrieval

        retrievals = drop_short_forms_of_non_answers([
            add_abbreviations(normalize_retrieval(r)) if r.subquestion.has_rule(8)
            else normalize_retrieval(r) for r in retrievals])
        normalize = False
    miner = None
    if any(r.subquestion.has_rule(10) for r in retrievals):
        from gener.phrase_mining import mine_phrases

        miner = mine_phrases(tokenize(s.sentence) for r in retrievals for s in r.sentences)
    return match(retrievals, labels, seed, deterministic, progress, miner=miner,
                 workers=workers, normalize=normalize, phrase_labels=phrase_labels,
                 common_words=common_words, abbreviation_entries=abbreviation_entries,
                 retrieved_rule9=retrieved_rule9, rule9_by_position=rule9_by_position)


def _jsonl_lines(records):
    """JSON text of each record (dicts written as ``json.dumps`` would)."""
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    return map(dumps, records)


def write_jsonl(records, path) -> None:
    """Write one JSON object per record to ``path`` (UTF-8, atomically)."""
    from gener.dataset import atomic_write_text

    if not isinstance(records, Records):
        atomic_write_text(path, "\n".join(_jsonl_lines(records)) + "\n" if records else "")
        return
    import tempfile
    from pathlib import Path

    path = Path(path)  # as atomic_write_text, but writing the parts' bytes as they are
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            for part in records.parts:
                f.write(part if isinstance(part, bytes) else part.encode("utf-8"))
                f.write(b"\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_dataset(records: list[dict], labels: list[str]):
    """A ``datasets.Dataset`` with ``ner_tags`` as ``List(ClassLabel)`` of ``O, B-L, I-L, ...``."""
    import datasets

    from gener.dataset import generated_features

    features = generated_features(labels)
    names = features["ner_tags"].feature.names
    index = {name: i for i, name in enumerate(names)}
    columns = {key: [r[key] for r in records] for key in features if key != "ner_tags"}
    columns["ner_tags"] = [[index[t] for t in r["ner_tags"]] for r in records]
    return datasets.Dataset.from_dict(columns, features=features)
