"""Answer confidence: which retrieved phrases are instances of the asked type.

A question's ranking is good at its head and drifts after it ("Which river?": rivers, then
"north", "water", "region"). Each distinct phrase of the ranking's first
:data:`CANDIDATES` gets a probability of being an answer from evidence that needs no
labels of the asked type:

- ``relative_score``: its best occurrence's score less the mean score of the
  :data:`HEAD` best phrases;
- ``consensus``: the cosine of its vector with the mean vector of the head's phrases
  (itself left out);
- ``question``: the cosine of its vector with the question's;
- ``name_agreement``: whether it is a name (a capital letter, and the corpus does not
  usually write it lowercase) as the head's phrases mostly are, or a common noun as they
  mostly are;
- ``common_word``: a single lowercase word of the encoder's vocabulary;
- ``titled``: a document of the corpus is named after it;
- ``definition`` and ``category``: the cosine of the question with that document's first
  sentence, and with the category phrase of that sentence ("a river in Southern Africa"
  -> "river"), 0 without such a document;
- ``category_consensus``: the cosine of that category phrase with the mean of the head's
  category phrases (0 without one);
- ``category_head``: the cosine of the category phrase's last word with the asked type
  ("a mosquito-borne infectious disease" -> "disease" for "Which disease?"; 0 without one);
- ``rank_past_answers``: how far past the ranking's likely answers it is ranked: the log of
  its rank less the log of one plus the number of candidates whose category word is about as
  close to the type as the head's closest (at least 0.9 of it). A type with ten answers in
  the corpus and one with two hundred ("Which country?") drift at different depths.

A logistic model of these (:data:`WEIGHTS`, :data:`BIAS`), calibrated so that a kept
set's mean confidence is its share of right mentions, was fitted by
bench/fit_confidence.py on the default corpus, for description types that no benchmark,
recipe or held-out measurement uses (bench/CONFIDENCE.md). A build keeps the answers whose
confidence reaches the policy's ``min_confidence``; its evidence sentences are the
corpus's sentences where kept answers occur, best first, at most k. A corpus whose
documents have no titles (plain text, a benchmark's sentences) gives no document evidence:
its candidates cannot be verified, and :func:`nothing_kept` says so.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field

import numpy as np

from gener.artifacts import RetrievedPhrase, RetrievedSentence, SubquestionRetrieval
from gener.recipes import Recipe, Subquestion
from gener.text import JoinedTexts

FEATURES = ("relative_score", "consensus", "question", "name_agreement", "common_word",
            "titled", "definition", "category", "category_consensus", "category_head",
            "rank_past_answers")
# Fitted by bench/fit_confidence.py (bench/CONFIDENCE.md); the features' order is FEATURES.
WEIGHTS = (1.1444, 0.0717, -2.1015, 0.5435, 0.46, 0.0029, 2.2285, 1.2597, -1.0821, 6.0131, -0.9006)
BIAS = -4.9007
# A kept set's estimated precision: each confidence's log-odds scaled by (a, b), then
# averaged; fitted on candidates of confidence >= 0.1 (the confidences are calibrated over
# all candidates, and fall about 0.1 below the precision of the kept ones).
ESTIMATE_SCALE = (1.3701, 0.2947)
CANDIDATES = 400  # distinct phrases of a ranking that may become answers
HEAD = 10  # best phrases whose consensus the others are compared with
DEPTH = 30_000  # occurrences of a ranking read for candidates
# A candidate's category word counts towards the ranking's likely answers when its cosine
# with the type is at least STRONG_SHARE of the head's best and at least STRONG_FLOOR.
STRONG_SHARE, STRONG_FLOOR = 0.9, 0.5
# Bump when candidates, features or evidence change: builds then retrieve again.
VERSION = 5
SCAN_CHUNK = 4096  # sentences joined for one scan of the evidence patterns
TRIE_MAX_LENGTH = 100  # longer answer texts are matched by a plain alternation
FEW_ANSWERS = 20  # a label with fewer kept answers is reported as having little data


@dataclass
class Answer:
    """A candidate answer to one subquestion, with its confidence and evidence."""

    name: str
    label: str
    score: float
    rank: int
    confidence: float = 0.0
    occurrences: int = 0  # occurrences in the corpus of the phrase keys it was read from
    features: dict[str, float] = field(default_factory=dict)
    keys: list[int] = field(default_factory=list)  # index phrase keys it was read from

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Answer:
        return cls(**data)


def candidates(searcher, sq: Subquestion, ranked) -> list[Answer]:
    """The first :data:`CANDIDATES` distinct normalized phrases of a ranking (case variants
    are one: "Smallpox", "smallpox"), each with its best score and the phrase keys (within
    :data:`DEPTH` occurrences) that give it."""
    found: dict[str, Answer] = {}
    index = searcher.index
    occurrences, scores = ranked
    for occ, score in zip(occurrences[:DEPTH].tolist(), scores[:DEPTH].tolist(), strict=True):
        if not searcher.valid(occ, sq):
            continue
        key = int(index.occ_key[occ])
        for name, _, _ in searcher._survivors(index.phrase_texts[key], 0, sq):
            answer = found.get(name.casefold())
            if answer is None:
                if len(found) >= CANDIDATES:
                    continue
                answer = found[name.casefold()] = Answer(name, sq.label, float(score),
                                                         len(found) + 1)
            if key not in answer.keys:
                answer.keys.append(key)
    answers = list(found.values())
    for answer in answers:
        keys = np.array(answer.keys, dtype=np.int64)
        answer.occurrences = int((index.key_ptr[keys + 1] - index.key_ptr[keys]).sum())
    return answers


def features(searcher, sq: Subquestion, answers: list[Answer], query: np.ndarray) -> np.ndarray:
    """The :data:`FEATURES` of each answer (rows), in the ranking's order."""
    from gener.common_words import common_words

    if not answers:
        return np.zeros((0, len(FEATURES)), dtype=np.float64)
    head = min(HEAD, len(answers))
    names = [a.name for a in answers]
    vectors = np.asarray(searcher._text_vectors(names), dtype=np.float64)
    total = vectors[:head].sum(axis=0)
    centroids = np.repeat(total[None, :], len(answers), axis=0)
    if head > 1:
        centroids[:head] -= vectors[:head]  # the head's own phrases are left out
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-9)
    profile = searcher.case_profile
    is_name = np.array([any(c.isupper() for c in n) and not profile.usually_lowercase(n)
                        for n in names], dtype=np.float64)
    share = is_name[:head].mean()
    common = common_words()
    index = searcher.index
    scores = np.array([a.score for a in answers], dtype=np.float64)
    query = np.asarray(query, dtype=np.float32)
    category_sims = searcher._category_similarities(query[None, :])[0]
    definition, category = np.zeros(len(answers)), np.zeros(len(answers))
    columns = np.full(len(answers), -1)
    for i, answer in enumerate(answers):
        for key in answer.keys:
            row = int(index.key_definition[key])
            if row >= 0:
                definition[i] = max(definition[i], float(index.sentence_vectors[row] @ query))
            column = int(searcher._category_column[key])
            if column >= 0 and category_sims[column] >= category[i]:
                category[i], columns[i] = float(category_sims[column]), column
    category_head = _category_heads(searcher, sq.type, columns)
    category_vectors = searcher._category_vectors.astype(np.float64)
    head_columns = columns[:head][columns[:head] >= 0]
    category_consensus = np.zeros(len(answers))
    if len(head_columns):
        mean = category_vectors[head_columns].mean(axis=0)
        mean /= max(np.linalg.norm(mean), 1e-9)
        has = columns >= 0
        category_consensus[has] = category_vectors[columns[has]] @ mean
    past = rank_past_answers(np.array([a.rank for a in answers]), category_head, head)
    return np.column_stack([
        scores - scores[:head].mean(),
        (vectors * centroids).sum(axis=1),
        vectors @ np.asarray(query, dtype=np.float64),
        is_name * share + (1 - is_name) * (1 - share),
        [" " not in n and n.islower() and n in common for n in names],
        [any(index.key_definition[k] >= 0 for k in a.keys) for a in answers],
        definition, category, category_consensus, category_head, past,
    ]).astype(np.float64)


def rank_past_answers(ranks: np.ndarray, category_head: np.ndarray, head: int) -> np.ndarray:
    """Per candidate, the log of its rank past the ranking's likely answers (0 within them):
    their number is estimated by the candidates whose ``category_head`` reaches
    :data:`STRONG_SHARE` of the best among the first ``head`` (and :data:`STRONG_FLOOR`)."""
    close = category_head >= max(STRONG_FLOOR, STRONG_SHARE * category_head[:head].max())
    return np.maximum(0.0, np.log(ranks) - math.log1p(close.sum()))


def _category_heads(searcher, entity_type: str, columns: np.ndarray) -> np.ndarray:
    """Per answer, the cosine of its category phrase's last word with the asked type (0
    without a category phrase)."""
    index = searcher.index
    keys = np.flatnonzero(index.key_category >= 0)
    found = np.unique(index.key_category[keys])  # the columns' phrase keys, in column order
    out = np.zeros(len(columns))
    has = np.flatnonzero(columns >= 0)
    if not len(has):
        return out
    heads = [index.phrase_texts[int(found[c])].split()[-1].lower() for c in columns[has]]
    vectors = searcher.word_vectors([entity_type.lower(), *heads])
    target = vectors[entity_type.lower()]
    out[has] = [float(vectors[h] @ target) for h in heads]
    return out


def fingerprint() -> dict:
    """What a build's answers depend on besides the policy, for its stage records."""
    return {"version": VERSION, "weights": list(WEIGHTS), "bias": BIAS,
            "candidates": CANDIDATES, "head": HEAD, "depth": DEPTH,
            "strong": [STRONG_SHARE, STRONG_FLOOR]}


def confidence(rows: np.ndarray, weights=WEIGHTS, bias: float = BIAS) -> np.ndarray:
    """The logistic model's probability for each row of :func:`features`."""
    return 1.0 / (1.0 + np.exp(-(rows @ np.asarray(weights, dtype=np.float64) + bias)))


def estimated(confidences, scale=ESTIMATE_SCALE):
    """Confidences mapped to estimates of precision by ESTIMATE_SCALE's log-odds scaling."""
    p = np.clip(np.asarray(confidences, dtype=np.float64), 1e-6, 1 - 1e-6)
    return 1.0 / (1.0 + np.exp(-(scale[0] * np.log(p / (1 - p)) + scale[1])))


def score_answers(searcher, sq: Subquestion, ranked, query: np.ndarray) -> list[Answer]:
    """Candidates of a ranking with their features and confidence."""
    answers = candidates(searcher, sq, ranked)
    rows = features(searcher, sq, answers, query)
    for answer, row, p in zip(answers, rows, confidence(rows), strict=True):
        answer.features = {n: round(float(v), 4) for n, v in zip(FEATURES, row, strict=True)}
        answer.confidence = round(float(p), 4)
    return answers


def evidence(searcher, kept: list[Answer], k: int) -> list[RetrievedSentence]:
    """The corpus's sentences where kept answers are written (names as they are, common
    nouns in any case: "Malaria", "malaria"), best answer's score first, at most ``k``; each
    with the answers found in it."""
    if not kept:
        return []
    profile = searcher.case_profile
    score_of: dict[str, float] = {}
    names, nouns = set(), set()
    for answer in kept:
        name = answer.name
        if "\0" in name:  # the separator of _spans_by_sentence's scans
            continue
        if any(c.isupper() for c in name) and not profile.usually_lowercase(name):
            names.add(name)
        else:
            nouns.add(name)
        score_of[name.casefold()] = max(score_of.get(name.casefold(), -math.inf), answer.score)
    patterns = [_pattern(group, flags) for group, flags in ((names, 0), (nouns, re.IGNORECASE))
                if group]
    found = []
    sentences = searcher.index.sentences
    for row, spans in _spans_by_sentence(sentences, patterns):
        sentence = sentences[row]
        phrases, end = [], -1
        for start, stop in spans:  # the first of overlapping spans, the longest at a start
            if start < end:
                continue
            stop = max(e for s_, e in spans if s_ == start)
            text = sentence.text[start:stop]
            phrases.append(RetrievedPhrase(text, start, stop, round(score_of[text.casefold()], 6)))
            end = stop
        if phrases:
            found.append((-max(p.score for p in phrases), row, sentence, phrases))
    found.sort(key=lambda item: item[:2])
    return [RetrievedSentence(sentence.text, phrases, sentence.id, -best)
            for best, _, sentence, phrases in found[:k]]


def _spans_by_sentence(sentences, patterns: list[re.Pattern]):
    """``(row, spans)`` for each sentence where a pattern matches, rows in order: the
    ``(start, end)`` of every match, sorted. Sentences are scanned in chunks joined by NUL
    characters, one scan of a chunk per pattern instead of one per sentence (a NUL is a
    non-word character, as a sentence's edge is, and no answer holds one, so no match
    crosses two sentences)."""
    for first in range(0, len(sentences), SCAN_CHUNK):
        joined = JoinedTexts([s.text for s in sentences[first:first + SCAN_CHUNK]])
        spans: dict[int, set[tuple[int, int]]] = {}
        for pattern in patterns:
            for m in pattern.finditer(joined.text):
                row = joined.row(m.start())
                offset = joined.starts[row]
                spans.setdefault(row, set()).add((m.start() - offset, m.end() - offset))
        for row in sorted(spans):
            yield first + row, sorted(spans[row])


def _pattern(texts: set[str], flags: int) -> re.Pattern:
    """One regular expression for whole-word occurrences of any of ``texts``, the longest
    at a position. The texts are compiled as a trie (a group per branch, a shorter text as
    the optional end of a longer one), so a scan tries the one branch the text's next
    character allows instead of every alternative in turn; as a plain alternation, longest
    first, when a text is longer than TRIE_MAX_LENGTH (a trie nests a group per shorter
    text on its path) or, ignoring case, not ASCII (``re`` folds some characters that
    ``str.lower`` keeps apart, and the other way round)."""
    fold = bool(flags & re.IGNORECASE)
    if any(len(t) > TRIE_MAX_LENGTH or (fold and not t.isascii()) for t in texts):
        body = "|".join(re.escape(t) for t in sorted(texts, key=lambda t: (-len(t), t)))
        return re.compile(rf"(?<!\w)(?:{body})(?!\w)", flags)
    trie: dict = {}
    for text in texts:
        node = trie
        for char in text.lower() if fold else text:
            node = node.setdefault(char, {})
        node[""] = {}  # a text ends here
    return re.compile(rf"(?<!\w)(?:{_trie_pattern(trie)})(?!\w)", flags)


def _trie_pattern(node: dict) -> str:
    """The expression of a trie node's continuations (see :func:`_pattern`)."""
    branches = [re.escape(char) + _trie_pattern(child)
                for char, child in sorted(node.items()) if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    if "" in node:  # a text ends here: try the longer ones first
        return f"(?:{body})?"
    return body


def retrieve_answers(searcher, recipe: Recipe,
                     min_confidence: float) -> list[SubquestionRetrieval]:
    """Per subquestion: the evidence of its kept answers, with every candidate answer and
    its confidence (kept or not)."""
    subquestions = list(recipe.subquestions)
    queries = searcher.subquestion_queries(subquestions)
    questions = [sq.question for sq in subquestions]
    rankings = searcher.rank(questions, None, [sq.type for sq in subquestions],
                             queries=queries, limit=DEPTH)
    raw = np.asarray(searcher.encoder.encode_questions(questions))
    retrievals = []
    for sq, ranked, query in zip(subquestions, rankings, raw, strict=True):
        answers = score_answers(searcher, sq, ranked, query)
        kept = [a for a in answers if a.confidence >= min_confidence]
        retrievals.append(SubquestionRetrieval(sq, evidence(searcher, kept, sq.k), answers))
    return retrievals


def label_report(answers: list[Answer], labels: list[str], min_confidence: float,
                 spans_per_type: dict[str, int], sentences_per_type: dict[str, int]) -> dict:
    """Per label: answers kept, their estimated precision (the mean of their confidences
    through :func:`estimated`, weighted by their occurrences, as mentions are), mentions,
    sentences, and whether the corpus holds few answers."""
    report = {}
    for label in labels:
        kept: dict[str, Answer] = {}
        candidates = [a for a in answers if a.label == label]
        for answer in candidates:
            best = kept.get(answer.name.casefold())
            if answer.confidence >= min_confidence and (
                    best is None or answer.confidence > best.confidence):
                kept[answer.name.casefold()] = answer
        estimate = (float(np.average(estimated([a.confidence for a in kept.values()]),
                                     weights=[max(a.occurrences, 1) for a in kept.values()]))
                    if kept else None)
        report[label] = {
            "answers": len(kept),
            "estimated_precision": None if estimate is None else round(estimate, 4),
            "mentions": spans_per_type.get(label, 0),
            "sentences": sentences_per_type.get(label, 0),
            "few_answers": len(kept) < FEW_ANSWERS,
            "ranking_only": ranking_only(candidates),
        }
    return report


def ranking_only(answers: list[Answer]) -> bool:
    """Whether no candidate names a document of the corpus, so that their confidence rests
    on the ranking alone (a corpus whose documents have no titles)."""
    return bool(answers) and not any(a.features.get("titled") for a in answers)


def nothing_kept(answers: list[Answer], min_confidence: float) -> str:
    """Why no answer was kept, in a few words for a one-line error."""
    if ranking_only(answers):
        return (f"no answer reached confidence {min_confidence}: no candidate names a "
                "document of this corpus (its documents have no titles), so none could be "
                "verified; --policy paper takes the paper's quota of k sentences per question")
    return f"no answer reached confidence {min_confidence} in this corpus"


def report_lines(report: dict) -> list[str]:
    """One plain line per label with few answers."""
    lines = []
    for label, row in report.items():
        if not row["few_answers"]:
            continue
        if row.get("ranking_only"):
            lines.append(f"{label}: only {row['answers']} answers verified (fewer than "
                         f"{FEW_ANSWERS}); no candidate names a document of this corpus, so "
                         "they were judged by their ranking alone and the corpus may hold "
                         "more (--set min_confidence=P with a lower P keeps less certain ones)")
        else:
            lines.append(f"{label}: only {row['answers']} answers found in this corpus (fewer "
                         f"than {FEW_ANSWERS}); its data is thin and the label may not be learnt")
    return lines
