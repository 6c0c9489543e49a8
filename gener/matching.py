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
touches no other span. Multi-label entries get a label per occurrence drawn in proportion to
their counts from ``numpy.random.default_rng(seed)`` (or the most frequent label, ties by
label order, with ``deterministic=True``).

Matching uses one Aho-Corasick automaton over ``" " + key + " "`` strings run on
``" " + " ".join(tokens).lower() + " "``, so every hit is aligned to token boundaries and the
cost is linear in the text and independent of the dictionary size.
"""

from __future__ import annotations

import bisect
import json
import sys
from dataclasses import dataclass, field

from gener.dictionary import PseudoDictionary, phrase_key
from gener.errors import GenerError
from gener.text import PUNCTUATION, tokenize

SOURCES = ("retrieved", "abbreviation", "matched", "refined")
SKIPS = ("offset_outside_sentence", "text_mismatch", "not_token_aligned",
         "overlapping_retrieved", "overlapping_abbreviation")


@dataclass
class MatchResult:
    """Annotated records (one per input sentence, in input order), the dictionary and counts."""

    records: list[dict]
    dictionary: PseudoDictionary
    stats: dict = field(default_factory=dict)


class _Labeler:
    """The label of a matched dictionary entry: its only label, argmax, or a seeded draw."""

    def __init__(self, dictionary: PseudoDictionary, seed: int, deterministic: bool):
        order = {label: i for i, label in enumerate(dictionary.labels)}
        self.fixed: dict[str, str] = {}
        self.multi: dict[str, tuple[list[str], list[int]]] = {}
        for key, types in dictionary.counts.items():
            ranked = sorted(types.items(), key=lambda kv: order[kv[0]])
            if len(ranked) == 1 or deterministic:
                self.fixed[key] = max(ranked, key=lambda kv: kv[1])[0]  # first max wins
            else:
                cum, total = [], 0
                for _, count in ranked:
                    total += count
                    cum.append(total)
                self.multi[key] = ([label for label, _ in ranked], cum)
        self.seed = seed
        self._rng = None

    def draw(self, key: str) -> str:
        labels, cum = self.multi[key]
        if self._rng is None:
            import numpy

            self._rng = numpy.random.default_rng(self.seed)
        return labels[bisect.bisect_right(cum, self._rng.random() * cum[-1])]


def _automaton(keys):
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for key in keys:
        automaton.add_word(f" {key} ", (key.count(" ") + 1, key))
    automaton.make_automaton()
    return automaton


def _hits(automaton, lowered: str):
    """``(start, end, key)`` token spans of every automaton hit in a padded lowercase sentence."""
    for e, (ntok, key) in automaton.iter(lowered):
        end = lowered.count(" ", 0, e)
        yield end - ntok, end, key


def tokenize_many(texts: list[str]) -> list[list[str]]:
    """``[tokenize(t) for t in texts]``, faster: pad punctuation once over the joined text."""
    big = "\x00".join(texts)
    if big.count("\x00") != len(texts) - 1:
        return [tokenize(t) for t in texts]
    for char in PUNCTUATION:
        if char in big:
            big = big.replace(char, f" {char} ")
    return [part.split() for part in big.split("\x00")] if texts else []


def _aligned(sentence: str, start: int, end: int) -> bool:
    before = sentence[start - 1] if start else " "
    after = sentence[end] if end < len(sentence) else " "
    return ((before.isspace() or before in PUNCTUATION or sentence[start] in PUNCTUATION)
            and (after.isspace() or after in PUNCTUATION or sentence[end - 1] in PUNCTUATION))


def _retrieved_spans(sentences, skips: dict) -> list[list[tuple[int, int, str]]]:
    """Per sentence, token spans ``(start, end, key)`` of its valid, non-overlapping phrases."""
    found, prefixes = [], []
    for sent in sentences:
        text, valid = sent.sentence, []
        for p in sent.phrases:
            if not 0 <= p.start < p.end <= len(text):
                skips["offset_outside_sentence"] += 1
            elif text[p.start:p.end] != p.name:
                skips["text_mismatch"] += 1
            elif not _aligned(text, p.start, p.end):
                skips["not_token_aligned"] += 1
            else:
                valid.append(p.name)
                prefixes.append(text[:p.start])
        found.append(valid)
    counts = iter(tokenize_many(prefixes))
    keys: dict[str, tuple[int, str]] = {}
    spans = []
    for names in found:
        sentence_spans = []
        for name in names:
            ts = len(next(counts))
            if name not in keys:
                tokens = tokenize(name)
                keys[name] = (len(tokens), " ".join(tokens).lower())
            n, key = keys[name]
            if any(s < ts + n and ts < e for s, e, _ in sentence_spans):
                skips["overlapping_retrieved"] += 1
            else:
                sentence_spans.append((ts, ts + n, key))
        spans.append(sentence_spans)
    return spans


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
            span[0], span[1], span[3] = best[0], best[1], "refined"


def match(retrievals, labels: list[str], seed: int = 0, deterministic: bool = False,
          progress: bool = True, miner=None) -> MatchResult:
    """Annotate already-normalized retrievals (see the module docstring).

    ``miner`` is a set of mined phrase keys (:func:`gener.phrase_mining.mine_phrases`) used
    for subquestions with rule 10. Sentences are not de-duplicated across subquestions.
    """
    dictionary = PseudoDictionary.from_retrievals(retrievals, labels)
    if not dictionary.counts:
        raise GenerError("empty pseudo-dictionary: no retrieved phrase survived normalization")
    automaton = _automaton(dictionary.counts)
    refiner = _automaton(sorted(miner)) if miner else None
    labeler = _Labeler(dictionary, seed, deterministic)
    fixed = labeler.fixed
    skips = dict.fromkeys(SKIPS, 0)
    records = []
    items = [(r.subquestion, sent) for r in retrievals for sent in r.sentences]
    all_tokens = tokenize_many([sent.sentence for _, sent in items])
    all_retrieved = _retrieved_spans([sent for _, sent in items], skips)
    bar = _progress_bar(len(items), progress)
    iterate = automaton.iter
    for (sq, sent), tokens, retrieved in zip(items, all_tokens, all_retrieved, strict=True):
        label, skip_lower = sq.label, sq.has_rule(9)
        taken = [(s, e) for s, e, _ in retrieved]
        spans = [[s, e, label, "retrieved"] for s, e, _ in retrieved]
        if sent.abbreviations and sq.has_rule(8):
            keys = {k for _, _, k in retrieved}
            spans += [[s, e, label, "abbreviation"] for s, e in _abbreviation_spans(
                tokens, sent.abbreviations, keys, taken, skips)]
        lowered = f" {' '.join(tokens).lower()} "
        candidates: dict[int, list] = {}
        for e, (ntok, key) in iterate(lowered):
            e = lowered.count(" ", 0, e)
            found = candidates.get(e - ntok)
            if found is None:
                candidates[e - ntok] = [(e, key)]
            else:
                found.append((e, key))
        pos = 0
        for s in sorted(candidates):
            if s < pos:
                continue
            for e, key in sorted(candidates[s], reverse=True):
                if (skip_lower and e - s == 1 and tokens[s].islower()) or any(
                        ts < e and s < te for ts, te in taken):
                    continue
                spans.append([s, e, fixed.get(key) or labeler.draw(key), "matched"])
                pos = e
                break
        if refiner is not None and sq.has_rule(10):
            _refine(spans, [(s, e) for s, e, _ in _hits(refiner, lowered)])
        spans.sort()
        tags = ["O"] * len(tokens)
        for s, e, span_label, _ in spans:
            tags[s] = "B-" + span_label
            for i in range(s + 1, e):
                tags[i] = "I-" + span_label
        records.append({
            "id": str(len(records)), "tokens": tokens, "ner_tags": tags,
            "spans": [{"start": s, "end": e, "type": t, "source": src}
                      for s, e, t, src in spans],
            "question": sq.question, "retrieval_score": sent.score,
            "sentence_id": sent.sentence_id,
        })
        if bar is not None and len(records) % 1000 == 0:
            bar.update(1000)
    if bar is not None:
        bar.update(len(records) % 1000)
        bar.close()
    return MatchResult(records, dictionary, _stats(records, dictionary, labeler, skips))


def _progress_bar(total: int, progress: bool):
    if not progress or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="matching", unit="sent")


def _stats(records, dictionary, labeler, skips) -> dict:
    per_type = dict.fromkeys(dictionary.labels, 0)
    per_source = dict.fromkeys(SOURCES, 0)
    for record in records:
        for span in record["spans"]:
            per_type[span["type"]] += 1
            per_source[span["source"]] += 1
    return {
        "sentences": len(records),
        "tokens": sum(len(r["tokens"]) for r in records),
        "sentences_with_entities": sum(1 for r in records if r["spans"]),
        "dictionary_phrases": len(dictionary),
        "multi_label_phrases": sum(len(t) > 1 for t in dictionary.counts.values()),
        "spans_per_type": per_type,
        "spans_per_source": per_source,
        "skipped_phrases": skips,
    }


def annotate(retrievals, labels: list[str], seed: int = 0, deterministic: bool = False,
             progress: bool = True, detect_abbreviations: bool = True) -> MatchResult:
    """The whole stage: rules 1-7, rule 8 (scispacy, when ``detect_abbreviations``), rule 10
    (phrase mining over all evidence sentences), then :func:`match`.

    With ``detect_abbreviations=False`` the ``abbreviations`` already in the retrievals are used.
    """
    from gener.normalize import normalize_retrieval

    retrievals = [normalize_retrieval(r) for r in retrievals]
    if detect_abbreviations and any(r.subquestion.has_rule(8) for r in retrievals):
        from gener.abbreviations import add_abbreviations

        retrievals = [add_abbreviations(r) if r.subquestion.has_rule(8) else r
                      for r in retrievals]
    miner = None
    if any(r.subquestion.has_rule(10) for r in retrievals):
        from gener.phrase_mining import mine_phrases

        miner = mine_phrases(tokenize(s.sentence) for r in retrievals for s in r.sentences)
    return match(retrievals, labels, seed, deterministic, progress, miner=miner)


_SPAN = '{{"start": {start}, "end": {end}, "type": "{type}", "source": "{source}"}}'
_RECORD = ('{{"id": {}, "tokens": {}, "ner_tags": [{}], "spans": [{}], "question": {}, '
           '"retrieval_score": {}, "sentence_id": {}}}')


def _jsonl_lines(records: list[dict]):
    """JSON text of each record, with hand-built tag and span lists where that is exact."""
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    safe: dict[str, bool] = {}
    for r in records:
        texts = {t for t in r["ner_tags"]} | {x for s in r["spans"] for x in (s["type"],
                                                                             s["source"])}
        if not all(safe.setdefault(t, dumps(t) == f'"{t}"') for t in texts) \
                or r["retrieval_score"] != r["retrieval_score"]:
            yield dumps(r)
            continue
        spans = ", ".join(_SPAN.format(**s) for s in r["spans"])
        tags = '"{}"'.format('", "'.join(r["ner_tags"])) if r["ner_tags"] else ""
        yield _RECORD.format(dumps(r["id"]), dumps(r["tokens"]), tags, spans,
                             dumps(r["question"]), json.dumps(r["retrieval_score"]),
                             dumps(r["sentence_id"]))


def write_jsonl(records: list[dict], path) -> None:
    """Write one JSON object per record to ``path`` (UTF-8, atomically)."""
    from gener.dataset import atomic_write_text

    atomic_write_text(path, "\n".join(_jsonl_lines(records)) + "\n" if records else "")


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
