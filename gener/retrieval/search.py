"""Question -> ranked phrase occurrences -> phrases and evidence sentences (paper §3.2).

An occurrence (a candidate phrase in a sentence) scores ``q·p + λ·q·s + ν·(q·d + κ·q·c)``
with a bi-encoder (``p`` the phrase text's vector, ``s`` its sentence's vector, ``d`` the
vector of the first sentence of the document the phrase names, when the corpus has a
document of that title: "Tuberculosis ... is a contagious disease ...", and ``c`` that of
the sentence's category phrase, "contagious disease"; all unit length) and
``q_s·h_i + q_e·h_j`` with a DensePhrases encoder. Occurrences whose phrase the
subquestion's normalization rules would drop entirely ("disease" for "Which disease?") are
skipped, so that they do not use up the k_l evidence sentences.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gener.artifacts import RetrievedPhrase, RetrievedSentence, SubquestionRetrieval
from gener.casing import CaseProfile
from gener.corpus import Corpus
from gener.errors import GenerError
from gener.normalize import names_a_class, normalize_span_untyped
from gener.recipes import Recipe, Subquestion
from gener.recipes.recipe import MAX_QUESTION_CHARS
from gener.retrieval.encoder_base import Encoder
from gener.retrieval.encoders import DEFAULT_ENCODER, load_encoder
from gener.retrieval.faiss_store import ivf_lists
from gener.retrieval.index import PhraseIndex, open_index
from gener.retrieval.index_format import IndexSettings

SENTENCE_WEIGHT = 1.0  # λ: weight of the evidence sentence's similarity
DEFINITION_WEIGHT = 1.0  # ν: weight of the named document's first sentence (chosen on dev data)
CATEGORY_WEIGHT = 1.5  # κ: weight, within ν's term, of that sentence's category phrase (dev data)
TITLE_BONUS = 0.2  # added when the phrase is its document's title (bi-encoders)
CLASS_PENALTY = 0.3  # subtracted for phrases naming a class rather than an entity
# Pseudo-relevance feedback (bi-encoders): a question is asked again, moved toward the mean
# vector of the first ranking's top unique phrases. Chosen on validation labels
# (bench/RETRIEVAL.md); 0 phrases turns it off.
FEEDBACK_PHRASES = 50
FEEDBACK_WEIGHT = 1.0
FEEDBACK_DEPTH = 20_000  # occurrences of the first ranking sorted for its best phrases
EVIDENCE_DEPTH = 8  # occurrences sorted per evidence sentence asked for (all when too few)
# Bump when the occurrences that retrieval keeps change (builds then retrieve again).
# 2: rule 3 also drops phrases the corpus usually writes lowercase (gener.casing).
# 3: a tokenized possessive ("Parkinson ' s disease") is no class phrase.
# 4: a flat index's phrase scores come from one matrix product, not FAISS's search (equal to
#    1e-6; near-ties may order differently).
# 5: titles of articles that define a class or a field of study are class phrases; the
#    definition term adds the category phrase of the named document's first sentence.
RETRIEVAL_VERSION = 5
_BLOCK = 4096  # occurrences converted from numpy at a time while choosing evidence


def scoring(definition_weight: float | None = None,
            feedback_phrases: int | None = None) -> dict[str, float]:
    """The score weights (ν and feedback phrases given or default); a build's retrieval is
    redone when they change."""
    return {"sentence_weight": SENTENCE_WEIGHT,
            "definition_weight": DEFINITION_WEIGHT if definition_weight is None
            else definition_weight,
            "category_weight": CATEGORY_WEIGHT,
            "title_bonus": TITLE_BONUS, "class_penalty": CLASS_PENALTY,
            "feedback_phrases": FEEDBACK_PHRASES if feedback_phrases is None
            else feedback_phrases,
            "feedback_weight": FEEDBACK_WEIGHT}


def check_question(question: str) -> str:
    """The question with whitespace collapsed; a clear error if empty or too long."""
    if not isinstance(question, str) or not question.strip():
        raise GenerError("empty question")
    if len(question) > MAX_QUESTION_CHARS:
        raise GenerError(f"question longer than {MAX_QUESTION_CHARS} characters "
                         f"({len(question)})")
    return " ".join(question.split())


@dataclass
class RankedPhrase:
    """A unique normalized phrase with its best occurrence."""

    phrase: str
    score: float
    sentence: str
    sentence_id: str
    start: int
    end: int
    confidence: float | None = None  # gener.answers' probability that it is an answer


class Searcher:
    """Ranks the occurrences of an index for questions."""

    def __init__(self, index: PhraseIndex, encoder: Encoder,
                 sentence_weight: float = SENTENCE_WEIGHT, title_bonus: float = TITLE_BONUS,
                 class_penalty: float = CLASS_PENALTY,
                 definition_weight: float = DEFINITION_WEIGHT,
                 feedback_phrases: int = FEEDBACK_PHRASES,
                 feedback_weight: float = FEEDBACK_WEIGHT,
                 head_similarity: float | None = None) -> None:
        if head_similarity is not None and index.contextual:
            raise GenerError(f"{encoder.name}: a head similarity needs a bi-encoder")
        self.index, self.encoder, self.sentence_weight = index, encoder, sentence_weight
        self.head_similarity = head_similarity
        self.definition_weight = definition_weight
        self.feedback_phrases, self.feedback_weight = feedback_phrases, feedback_weight
        self.title_bonus, self.class_penalty = title_bonus, class_penalty
        self._valid: dict[tuple, np.ndarray] = {}
        self._untyped: dict[tuple, dict[str, list[tuple[str, int, int]]]] = {}
        self._key_of: dict[str, int] | None = None
        self._head_vectors: dict[str, np.ndarray] = {}
        self._word_vectors: dict[str, np.ndarray] = {}
        self._head_queries: dict[str, np.ndarray] = {}
        self._category_column: np.ndarray | None = None  # per key: its category's column
        self._category_vectors: np.ndarray | None = None

    def rank_subquestions(self, subquestions: list[Subquestion], top_phrases: int | None = None,
                          limit: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`rank` for subquestions, with pseudo-relevance feedback for bi-encoders.

        Each question is ranked, then ranked again with its vector moved toward the mean
        vector of its ``feedback_phrases`` best unique phrases (those that survive the
        subquestion's rules), weighted ``feedback_weight``: the answers found first say what
        the question asks for better than its few words (MiniLM puts "Which disease?" closer
        to "diagnosis", 0.58, than to "meningitis", 0.48). ``limit``: as in :meth:`rank`.
        """
        questions = [check_question(sq.question) for sq in subquestions]
        queries = self.subquestion_queries(subquestions, top_phrases)
        return self.rank(questions, top_phrases, [sq.type for sq in subquestions],
                         queries=queries, limit=limit)

    def subquestion_queries(self, subquestions: list[Subquestion],
                            top_phrases: int | None = None) -> np.ndarray:
        """The vectors that :meth:`rank_subquestions` ranks with (after feedback)."""
        questions = [check_question(sq.question) for sq in subquestions]
        entity_types = [sq.type for sq in subquestions]
        queries = np.array(self.encoder.encode_questions(questions), dtype=np.float32)
        if not self.feedback_phrases or self.index.contextual:
            return queries
        asked = queries.copy()
        first = self.rank(questions, top_phrases, entity_types, queries=asked,
                          limit=FEEDBACK_DEPTH)
        whole = None  # the full first rankings, if a head holds too few phrases
        for row, (sq, (occurrences, _)) in enumerate(zip(subquestions, first, strict=True)):
            keys = self._top_keys(occurrences, sq, self.feedback_phrases)
            if len(keys) < self.feedback_phrases and len(occurrences) == FEEDBACK_DEPTH:
                whole = whole or self.rank(questions, top_phrases, entity_types, queries=asked)
                keys = self._top_keys(whole[row][0], sq, self.feedback_phrases)
            if keys:
                centroid = self._phrase_vectors(keys).mean(axis=0)
                moved = queries[row] + self.feedback_weight * centroid / np.linalg.norm(centroid)
                queries[row] = moved / np.linalg.norm(moved)
        return queries

    def _top_keys(self, occurrences: np.ndarray, sq: Subquestion, n: int) -> list[int]:
        """The phrase keys of the first ``n`` distinct valid occurrences' phrases."""
        keys: dict[int, None] = {}
        for occ in occurrences:
            occ = int(occ)
            if len(keys) >= n:
                break
            if self.valid(occ, sq):
                keys.setdefault(int(self.index.occ_key[occ]))
        return list(keys)

    def _phrase_vectors(self, keys: list[int]) -> np.ndarray:
        """The index's vectors of phrase keys (re-encoded where the index is compressed)."""
        if ivf_lists(self.index.faiss_index):
            return self.encoder.encode_texts([self.index.phrase_texts[k] for k in keys])
        return self.index.faiss_index.reconstruct_batch(np.array(keys, dtype=np.int64))

    def rank(self, questions: list[str], top_phrases: int | None = None,
             entity_types: list[str] | None = None, queries: np.ndarray | None = None,
             limit: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per question: occurrence indices, best first, and their scores.

        ``top_phrases`` bounds how many phrase vectors FAISS returns per question (default:
        all of them, which is exact for the flat index). With bi-encoders, phrases that name
        a class are penalised: plural common nouns ("bleeding disorders"), titles of articles
        that define a class or a field ("A syndrome is ...", "Epidemiology is the study of
        ...") and, given the question's ``entity_types``, lowercase phrases headed by the type
        word ("infectious disease"; "Lyme disease" is kept). ``queries``: the questions'
        vectors, when given (:meth:`rank_subquestions`). ``limit``: only the first ``limit``
        occurrences of each ranking (the same as the full ranking's), sorted without sorting
        the rest.
        """
        questions = [check_question(q) for q in questions]
        index = self.index
        if queries is None:
            queries = self.encoder.encode_questions(questions)
        key_scores = index.phrase_scores(queries) if top_phrases is None else None
        if key_scores is None:
            scores, keys = index.search(queries, top_phrases or index.faiss_index.ntotal)
        sentence_sims = category_sims = None
        if not index.contextual and (self.sentence_weight or self.definition_weight):
            sentence_sims = queries @ index.sentence_vectors.T
        if not index.contextual and self.definition_weight:
            category_sims = self._category_similarities(queries)
        ranked = []
        for row in range(len(questions)):
            if key_scores is not None:  # every phrase of a flat index: every occurrence
                occ = None  # all of them, in order
                occ_scores = key_scores[row][index.occ_key]
            else:
                occ, occ_scores = self._expand(keys[row], scores[row])
            if not index.contextual:
                def at(values, occ=occ):
                    return values if occ is None else values[occ]
                occ_key = at(index.occ_key)
                if sentence_sims is not None:
                    occ_scores += self.sentence_weight * sentence_sims[row][at(index.occ_sentence)]
                if sentence_sims is not None and self.definition_weight:
                    named, definition = index.named_occurrences(occ)
                    occ_scores[named] += self.definition_weight * sentence_sims[row][definition]
                    column = self._category_column[occ_key[named]]
                    has = column >= 0
                    occ_scores[named[has]] += (self.definition_weight * CATEGORY_WEIGHT
                                               * category_sims[row][column[has]])
                occ_scores += self.title_bonus * at(index.occ_title)
                generic = at(index.occ_class)
                if entity_types:
                    generic = generic | index.keys_headed_by(entity_types[row])[occ_key]
                occ_scores -= self.class_penalty * generic
            size = len(occ_scores)
            if limit is not None and limit < size:
                # Every occurrence scoring at least the limit-th best, then the full order's
                # tie-break (earlier occurrence first) among them.
                cut = -np.partition(-occ_scores, limit - 1)[limit - 1]
                head = np.flatnonzero(occ_scores >= cut)
                occ, occ_scores = (head if occ is None else occ[head]), occ_scores[head]
            elif occ is None:
                occ = np.arange(size)
            order = np.lexsort((occ, -occ_scores))[:limit]
            ranked.append((occ[order], occ_scores[order]))
        return ranked

    def _category_similarities(self, queries: np.ndarray) -> np.ndarray:
        """Cosines of the queries (rows) with the index's category phrases (columns, which
        ``_category_column`` gives per phrase key); the phrases' vectors are kept."""
        if self._category_vectors is None:
            categories = self.index.key_category
            found = np.unique(categories[categories >= 0])
            self._category_column = np.where(categories >= 0,
                                             np.searchsorted(found, categories), -1)
            self._category_vectors = (self._phrase_vectors(found.tolist()) if len(found)
                                      else np.zeros((0, queries.shape[1]), np.float32))
        return queries @ self._category_vectors.T

    def _expand(self, keys: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The occurrences of FAISS hits (CSR slices of the index, vectorised) and their
        phrase scores."""
        index = self.index
        found = keys >= 0
        key, score = keys[found], scores[found]
        starts, ends = index.key_ptr[key], index.key_ptr[key + 1]
        lengths = ends - starts
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        occ = index.key_order[np.repeat(starts, lengths) + offsets]
        return occ, np.repeat(score, lengths).astype(np.float32)

    def phrase_similarities(self, questions: list[str], texts: list[str]) -> np.ndarray:
        """``cos(question, phrase text)`` for each text (rows) and question (columns).

        Texts that are phrases of a flat index reuse its vectors; others are encoded. Only
        for bi-encoders (a contextual encoder has no vector for a phrase's text alone).
        """
        if self.index.contextual:
            raise GenerError(f"{self.encoder.name}: phrase similarities need a bi-encoder")
        queries = self.encoder.encode_questions([check_question(q) for q in questions])
        return self._text_vectors(texts) @ queries.T

    def _text_vectors(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of texts: the flat index's where a text is one of its phrases."""
        vectors = np.zeros((len(texts), self.index.faiss_index.d), dtype=np.float32)
        missing = list(range(len(texts)))
        if not ivf_lists(self.index.faiss_index):
            if self._key_of is None:
                self._key_of = {t: k for k, t in enumerate(self.index.phrase_texts)}
            found = [(i, self._key_of[t]) for i, t in enumerate(texts) if t in self._key_of]
            if found:
                vectors[[i for i, _ in found]] = self.index.faiss_index.reconstruct_batch(
                    np.array([k for _, k in found], dtype=np.int64))
                missing = [i for i, t in enumerate(texts) if t not in self._key_of]
        if missing:
            vectors[missing] = self.encoder.encode_few([texts[i] for i in missing])
        return vectors

    def word_vectors(self, words) -> dict[str, np.ndarray]:
        """Unit vectors of words (each encoded once per searcher)."""
        new = sorted(set(words) - self._word_vectors.keys())
        if new:
            self._word_vectors.update(zip(new, self._text_vectors(new), strict=True))
        return {w: self._word_vectors[w] for w in words}

    def head_similarity_of(self, head: str, question: str) -> float:
        """``cos(question, head word)``; the index's head words are encoded once, together."""
        if not self._head_vectors:
            heads = sorted({t.rsplit(" ", 1)[1] for t in self.index.phrase_texts
                            if " " in t and t.islower()})
            self._head_vectors = dict(zip(heads, self._text_vectors(heads), strict=True))
        if head not in self._head_vectors:
            self._head_vectors[head] = self._text_vectors([head])[0]
        if question not in self._head_queries:
            self._head_queries[question] = self.encoder.encode_questions([question])[0]
        return float(self._head_vectors[head] @ self._head_queries[question])

    def phrase_text(self, occ: int) -> str:
        return self.index.phrase_texts[int(self._text_ids(occ))]

    def _text_ids(self, occurrences):
        """Indices into ``index.phrase_texts`` of occurrences (one text per occurrence in a
        contextual index)."""
        return occurrences if self.index.contextual else self.index.occ_key[occurrences]

    def _survivors(self, text: str, start: int, sq: Subquestion) -> list[tuple[str, int, int]]:
        """The normalized parts of a phrase found at ``start`` (rules 1-7); with rule 3, also
        without the parts the corpus usually writes lowercase (:mod:`gener.casing`)."""
        untyped = self._untyped.setdefault((sq.rules, sq.names_only), {})
        parts = untyped.get(text)
        if parts is None:  # rules 1-6 (and rule 3's casing) depend on the rules only
            parts = normalize_span_untyped(text, 0, sq)
            if parts and sq.has_rule(3):
                parts = [p for p in parts if not self.case_profile.usually_lowercase(p[0])]
            untyped[text] = parts
        if parts and sq.has_rule(7):
            parts = [p for p in parts if not names_a_class(p[0], sq.class_types)]
        if start:
            parts = [(t, s + start, e + start) for t, s, e in parts]
        if parts and self.head_similarity is not None:
            parts = [p for p in parts if not self._weak_head(p[0], sq)]
        return parts

    def _weak_head(self, name: str, sq: Subquestion) -> bool:
        """Whether a lowercase phrase of several words ends in a word less similar to the
        subquestion's question than ``head_similarity`` ("clinical course" for "Which
        disease?"; "ovarian cancer" is kept). A single word is left to rule 9, also when
        rule 4 made it one ("first report" -> "report")."""
        if " " not in name or not name.islower():
            return False
        return self.head_similarity_of(name.rsplit(" ", 1)[1], sq.question) < self.head_similarity

    @property
    def case_profile(self) -> CaseProfile:
        """How the corpus writes each word (the index's, counted on first use)."""
        return self.index.case_profile

    def valid(self, occ: int, sq: Subquestion) -> bool:
        """Whether any part of the occurrence's phrase survives the subquestion's rules
        (rule 3 as :meth:`_survivors` applies it)."""
        return self._text_valid(int(self._text_ids(occ)), self._validity(sq), sq)

    def _validity(self, sq: Subquestion) -> np.ndarray:
        """Known validity of phrase texts (by index) under the subquestion's rules: 1 valid,
        0 not, -1 not yet known. Shared by the subquestions of a recipe with the same rules:
        rule 7 tests a phrase against the set of the recipe's types, whatever their order."""
        key = (frozenset(sq.class_types), sq.rules, sq.names_only)
        if self.head_similarity is not None:
            key += (sq.question,)
        if key not in self._valid:
            self._valid[key] = np.full(len(self.index.phrase_texts), -1, dtype=np.int8)
        return self._valid[key]

    def _text_valid(self, text_id: int, validity: np.ndarray, sq: Subquestion) -> bool:
        if validity[text_id] < 0:
            validity[text_id] = bool(self._survivors(self.index.phrase_texts[text_id], 0, sq))
        return bool(validity[text_id])

    def _valid_mask(self, text_ids: np.ndarray, validity: np.ndarray,
                    sq: Subquestion) -> np.ndarray:
        """Which of ``text_ids`` are valid (:meth:`_text_valid`, the unknown ones settled)."""
        for text_id in np.unique(text_ids[validity[text_ids] < 0]).tolist():
            self._text_valid(text_id, validity, sq)
        return validity[text_ids] == 1

    def evidence(self, ranked: tuple[np.ndarray, np.ndarray], sq: Subquestion,
                 k: int, extend_heads: bool = False) -> list[RetrievedSentence]:
        """The top ``k`` unique sentences containing retrieved phrases, with those phrases.

        With ``extend_heads``, a retrieved single lowercase word that ends a longer candidate
        of its sentence is retrieved with the longest such candidate as well, at its score:
        a bi-encoder ranks the head above its compound (MiniLM: "cancer" 0.46, "ovarian
        cancer" 0.23 for "Which disease?"), where a phrase retriever returns the compound.
        """
        return self._evidence(ranked, sq, k, extend_heads)[0]

    def _evidence(self, ranked: tuple[np.ndarray, np.ndarray], sq: Subquestion, k: int,
                  extend_heads: bool) -> tuple[list[RetrievedSentence], bool]:
        """:meth:`evidence`, and whether the ranking went on past the k-th sentence (so that
        the head of a ranking gives the same sentences as the whole)."""
        occurrences, scores, past_k = self._evidence_occurrences(ranked, sq, k)
        if not len(occurrences):
            return [], past_k
        index = self.index
        rows = index.occ_sentence[occurrences]
        # Sentences in the order of their first occurrence; their occurrences by position.
        distinct, first = np.unique(rows, return_index=True)
        by_first = np.argsort(first, kind="stable")
        group_of = np.empty(len(distinct), dtype=np.int64)
        group_of[by_first] = np.arange(len(distinct))
        groups = group_of[np.searchsorted(distinct, rows)]
        starts, ends = index.occ_start[occurrences], index.occ_end[occurrences]
        order = np.lexsort((np.arange(len(occurrences)), ends, starts, groups))
        bounds = np.searchsorted(groups[order], np.arange(len(distinct) + 1)).tolist()
        texts = index.phrase_texts
        phrases = list(map(RetrievedPhrase, [texts[t] for t in self._text_ids(
            occurrences[order]).tolist()], starts[order].tolist(), ends[order].tolist(),
            [round(score, 6) for score in scores[order].tolist()]))
        sentence_scores = scores[first[by_first]].tolist()
        chosen = []
        for g, row in enumerate(distinct[by_first].tolist()):
            sentence = index.sentences[row]
            retrieved = RetrievedSentence(sentence.text, phrases[bounds[g]:bounds[g + 1]],
                                          sentence.id, round(sentence_scores[g], 6))
            if extend_heads and self._extend_heads(row, retrieved, sq):
                retrieved.phrases.sort(key=lambda p: (p.start, p.end))
            chosen.append(retrieved)
        return chosen, past_k

    def _evidence_occurrences(self, ranked: tuple[np.ndarray, np.ndarray], sq: Subquestion,
                              k: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """The valid occurrences of a ranking, in its order, up to the first of the (k+1)-th
        sentence; their scores; and whether the ranking went on past the k-th sentence."""
        validity = self._validity(sq)
        seen = np.zeros(len(self.index.sentences), dtype=bool)
        kept: list[tuple[np.ndarray, np.ndarray]] = []
        count, past_k = 0, False
        occurrences, scores = ranked
        for begin in range(0, len(occurrences), _BLOCK):  # validity settled a block at a time
            block, block_scores = occurrences[begin:begin + _BLOCK], scores[begin:begin + _BLOCK]
            valid = self._valid_mask(self._text_ids(block), validity, sq)
            block, block_scores = block[valid], block_scores[valid]
            rows = self.index.occ_sentence[block]
            distinct, first = np.unique(rows, return_index=True)
            new = np.sort(first[~seen[distinct]])  # where sentences not seen before start
            if count + len(new) > k:
                stop = int(new[k - count])
                block, block_scores, rows = block[:stop], block_scores[:stop], rows[:stop]
                past_k = True
            seen[rows] = True
            count += len(new)
            kept.append((block, block_scores))
            if past_k:
                break
        if not kept:
            return occurrences[:0], scores[:0], past_k
        return (np.concatenate([b for b, _ in kept]), np.concatenate([s for _, s in kept]),
                past_k)

    def _extend_heads(self, row: int, sentence: RetrievedSentence, sq: Subquestion) -> bool:
        """Add, for each single lowercase word retrieved in ``sentence``, the longest other
        candidate of the sentence that ends with it (and survives the subquestion's rules);
        whether any was added."""
        index = self.index
        spans = {(p.start, p.end) for p in sentence.phrases}
        added = False
        candidates = index.sentence_occurrences(row)
        for phrase in list(sentence.phrases):
            if " " in phrase.name or not phrase.name.islower():
                continue
            longer = [int(o) for o in candidates if int(index.occ_end[o]) == phrase.end
                      and int(index.occ_start[o]) < phrase.start and self.valid(int(o), sq)]
            if not longer:
                continue
            start = min(int(index.occ_start[o]) for o in longer)
            if (start, phrase.end) not in spans:
                spans.add((start, phrase.end))
                sentence.phrases.append(RetrievedPhrase(
                    sentence.sentence[start:phrase.end], start, phrase.end, phrase.score))
                added = True
        return added

    def unique_phrases(self, ranked: tuple[np.ndarray, np.ndarray],
                       sq: Subquestion) -> Iterator[RankedPhrase]:
        """Unique normalized phrases, best first, each with its best occurrence."""
        seen = set()
        for occ, score in zip(*ranked, strict=True):
            occ = int(occ)
            if not self.valid(occ, sq):
                continue
            sentence = self.index.sentences[int(self.index.occ_sentence[occ])]
            for text, start, end in self._survivors(self.phrase_text(occ),
                                                    int(self.index.occ_start[occ]), sq):
                if text not in seen:
                    seen.add(text)
                    yield RankedPhrase(text, float(score), sentence.text, sentence.id, start, end)


def open_searcher(corpus: Corpus, encoder: str | Encoder = DEFAULT_ENCODER,
                  cache_dir: str | Path | None = None, progress: bool = True,
                  index_settings: IndexSettings | None = None,
                  sentence_weight: float = SENTENCE_WEIGHT,
                  definition_weight: float | None = None,
                  feedback_phrases: int | None = None,
                  head_similarity: float | None = None) -> Searcher:
    """Load the encoder and the corpus's index (building it if needed)."""
    if feedback_phrases is not None and feedback_phrases < 0:
        raise GenerError(f"feedback phrases must be 0 (off) or more, not {feedback_phrases}")
    if head_similarity is not None and not -1 <= head_similarity <= 1:
        raise GenerError(f"head similarity must be a cosine, from -1 to 1, not {head_similarity}")
    if not isinstance(encoder, Encoder):
        encoder = load_encoder(encoder)
    index = open_index(corpus, encoder, cache_dir, index_settings, progress)
    weights = scoring(definition_weight, feedback_phrases)
    return Searcher(index, encoder, sentence_weight,
                    definition_weight=weights["definition_weight"],
                    feedback_phrases=weights["feedback_phrases"],
                    head_similarity=head_similarity)


def retrieve(recipe: Recipe, corpus: Corpus, encoder: str | Encoder = DEFAULT_ENCODER,
             cache_dir: str | Path | None = None, top_phrases: int | None = None,
             progress: bool = True, index_settings: IndexSettings | None = None,
             sentence_weight: float = SENTENCE_WEIGHT,
             definition_weight: float | None = None) -> list[SubquestionRetrieval]:
    """For each subquestion: its top k_l unique evidence sentences with the retrieved phrases.

    Phrases keep their raw text and offsets (``sentence[start:end] == name``); normalization
    happens later (:func:`gener.normalize.normalize_retrieval`).
    """
    _check_subquestions(recipe)
    searcher = open_searcher(corpus, encoder, cache_dir, progress, index_settings,
                             sentence_weight, definition_weight)
    return retrieve_with(searcher, recipe, top_phrases)


def retrieve_with(searcher: Searcher, recipe: Recipe, top_phrases: int | None = None,
                  extend_heads: bool = False) -> list[SubquestionRetrieval]:
    """:func:`retrieve` with an open :class:`Searcher` (``extend_heads``: see
    :meth:`Searcher.evidence`)."""
    _check_subquestions(recipe)
    subquestions = list(recipe.subquestions)
    questions = [check_question(sq.question) for sq in subquestions]
    entity_types = [sq.type for sq in subquestions]
    queries = searcher.subquestion_queries(subquestions, top_phrases)
    depth = max(FEEDBACK_DEPTH, EVIDENCE_DEPTH * max(sq.k for sq in subquestions))
    heads = searcher.rank(questions, top_phrases, entity_types, queries=queries, limit=depth)
    whole = None  # the full rankings, if a head runs out before its k-th sentence
    retrievals = []
    for row, (sq, head) in enumerate(zip(subquestions, heads, strict=True)):
        sentences, past_k = searcher._evidence(head, sq, sq.k, extend_heads)
        if not past_k and len(head[0]) == depth:
            whole = whole or searcher.rank(questions, top_phrases, entity_types, queries=queries)
            sentences = searcher.evidence(whole[row], sq, sq.k, extend_heads)
        retrievals.append(SubquestionRetrieval(sq, sentences))
    return retrievals


def _check_subquestions(recipe: Recipe) -> None:
    if not recipe.subquestions:
        raise GenerError(f"recipe {recipe.name}: no subquestions")
