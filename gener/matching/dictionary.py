"""The pseudo-dictionary of a match, built from the retrievals: phrase counts (rules 1-7 on
the fly), rule 8's abbreviation entries, rule 11's shared-head keys and fixed labels."""

from __future__ import annotations

import re
from typing import NamedTuple

from gener.dictionary import PseudoDictionary, phrase_key
from gener.errors import GenerError
from gener.matching.records import RECORD, encode
from gener.matching.rules import shared_head_keys
from gener.matching.tokens import tokenize_many
from gener.normalize import normalize_names
from gener.text import JoinedTexts


class Group:
    """A subquestion as the matcher needs it, with its phrases' normalized parts."""

    def __init__(self, subquestion, label: int, parts: dict | None, keys: dict):
        self.label = label
        self.rule8, self.rule9, self.rule10, self.rule11 = (
            subquestion.has_rule(r) for r in (8, 9, 10, 11))
        self.record = RECORD % encode(subquestion.question).replace("%", "%%")
        self.parts = parts  # phrase -> [(text, start, end)] (rules 1-7), None: as they are
        self.keys = keys  # normalized phrase -> its key


def phrase_counts(retrieval, normalize: bool,
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
    parts = normalize_names(names, retrieval.subquestion) if normalize else None
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


def _counts_with_shared_heads(retrieval, parts: dict | None, keys: dict,
                              shared: set | None = None) -> list:
    """``[(key, count)]`` of a retrieval's phrases, as :func:`phrase_counts` makes them,
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


def pseudo_dictionary(retrievals, labels: list[str], normalize: bool,
                      abbreviation_entries: frozenset[str] | None = None, phrase_labels=None):
    """The pseudo-dictionary, a :class:`Group` per retrieval, and the keys that only rule 11
    made (no retrieved phrase has them).

    With ``abbreviation_entries``, rule 8's abbreviations become entries too (see
    :func:`gener.matching.match`), each with the label of its long form, unless the evidence
    uses the short form in another sense (:func:`_in_their_sense`); those that are excluded
    words go to the dictionary's ``capitals_only`` keys.
    """
    dictionary = PseudoDictionary(labels)
    order = {label: i for i, label in enumerate(labels)}
    groups = []
    abbreviations = []
    shared: set[str] = set()
    for retrieval in retrievals:
        adds, parts, keys = phrase_counts(retrieval, normalize, shared)
        dictionary.add_keys(adds, retrieval.subquestion.label)
        groups.append(Group(retrieval.subquestion, order.get(retrieval.subquestion.label, -1),
                            parts, keys))
        if abbreviation_entries is not None and retrieval.subquestion.has_rule(8):
            abbreviations += _abbreviation_entries(retrieval, parts, keys, abbreviation_entries,
                                                   phrase_labels or {})
    abbreviations = _in_their_sense(abbreviations, retrievals)
    plain = {a.key for a in abbreviations if not a.capitals_only}
    dictionary.capitals_only |= {a.key for a in abbreviations if a.capitals_only and
                                 a.key not in plain and a.key not in dictionary.counts}
    for a in abbreviations:
        dictionary.add_keys([(a.key, 1)], a.label)
    if shared:
        shared -= {key for group in groups for key in group.keys.values()}  # retrieved ones
    return dictionary, groups, shared


class _Abbreviation(NamedTuple):
    """A rule-8 abbreviation as a dictionary entry: its key and label, whether it matches
    only in capitals, and its short and long forms as the defining sentence writes them."""

    key: str
    label: str
    capitals_only: bool
    short: str
    long: str


def _abbreviation_entries(retrieval, parts, keys, excluded, phrase_labels) -> list:
    """An :class:`_Abbreviation` for each abbreviation whose long form was retrieved in its
    sentence, unless it is a single character. An ``excluded`` word ("AS" for Angelman
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
            entries.append(_Abbreviation(short_key, phrase_labels.get(long_key, label),
                                         capitals_only, str(short), str(long)))
    return entries


def _in_their_sense(entries: list, retrievals) -> list:
    """The abbreviation entries whose short form, where the evidence writes it, is mostly
    written in documents that also write one of its long forms for that label: "AD"
    defined by "Alzheimer's disease (AD)" is no entry when the evidence also dates events
    "AD 30" in documents that never name the disease. Only the evidence's sentences are
    read, grouped into documents by their ids ("doc:3"), and only documents of several
    sentences count (a corpus of single sentences, such as a benchmark's, says nothing of
    the sense its documents use); an entry whose short form no such document writes is
    kept."""
    if not entries:
        return entries
    documents: dict[str, dict[str, str]] = {}  # document -> {sentence id: text}
    longer: set[str] = set()  # documents known to hold more than one sentence
    for retrieval in retrievals:
        for sentence in retrieval.sentences:
            document, colon, position = sentence.sentence_id.rpartition(":")
            if colon:
                documents.setdefault(document, {})[sentence.sentence_id] = sentence.sentence
                if position != "0" or len(documents[document]) > 1:
                    longer.add(document)
    texts = ["\n".join(documents[document].values()) for document in sorted(longer)]
    joined = JoinedTexts(texts)
    long_forms: dict[tuple[str, str], set[str]] = {}  # (short form, label) -> long forms
    for entry in entries:
        long_forms.setdefault((entry.short, entry.label), set()).add(entry.long)
    decided = {key: _mostly_with(joined, key[0], longs) for key, longs in long_forms.items()}
    return [entry for entry in entries if decided[entry.short, entry.label]]


def _documents_with(joined: JoinedTexts, word: str) -> set[int]:
    """The documents that write ``word`` as a word, in its case (the pattern starts with
    the word itself, which ``re`` finds fast; the character before is tested apart)."""
    found = set()
    for m in re.finditer(re.escape(word) + r"(?!\w)", joined.text):
        start = m.start()
        if not (start and _WORD_CHARACTER.match(joined.text, start - 1)):
            found.add(joined.row(start))
    return found


def _mostly_with(joined: JoinedTexts, short: str, long_forms: set[str]) -> bool:
    """Whether at least half of the documents that write ``short`` also write one of its
    ``long_forms`` (in any case: "Alzheimer's disease", "Alzheimer disease")."""
    using = _documents_with(joined, short)
    body = "|".join(re.escape(f) for f in sorted(long_forms, key=lambda f: (-len(f), f)))
    long_pattern = re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)
    return 2 * sum(1 for d in using if long_pattern.search(joined.texts[d])) >= len(using)


_WORD_CHARACTER = re.compile(r"\w")


def fix_labels(dictionary: PseudoDictionary, phrase_labels: dict[str, str]) -> dict[str, int]:
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
