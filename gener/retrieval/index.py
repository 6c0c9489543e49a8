"""A loaded phrase index (see :mod:`gener.retrieval.index_format`), and getting one.

:func:`open_index` reuses a current index, or builds it (:mod:`gener.retrieval.sharding`)
when it is absent or its corpus changed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path

import numpy as np

from gener.casing import CaseProfile
from gener.corpus import Corpus, Sentence
from gener.errors import GenerError, first_line
from gener.io import atomic_write_text
from gener.normalize import strip_punctuation, type_word_forms
from gener.retrieval.encoder_base import Encoder
from gener.retrieval.faiss_store import every_list, ivf_lists, load_faiss, set_nprobe
from gener.retrieval.index_format import (
    INDEX_TYPES,
    OCCURRENCE_FIELDS,
    REQUIRED_FILES,
    IndexSettings,
    corrupt_index,
    index_dir,
    read_manifest,
)
from gener.retrieval.sharding import build_index
from gener.text import clean_title

logger = logging.getLogger(__name__)

_POSSESSIVE = re.compile(r"['’] ?s\b").search  # "Lyme's", "Parkinson ' s" (tokenized)
# First sentences of articles about a class ("A syndrome is ...", "In biology, a pathogen is
# ...") or about a field of study ("Epidemiology is the study of ...", "Immunology is a branch
# of ...", "Polymer chemistry is a sub-discipline of ...").
_CLASS_OPENING = re.compile(r"(?:In [^,]{1,40}, )?an? ", re.IGNORECASE).match
_COPULA = re.compile(r"\b(?:is|was|are|were)\b").search
_FIELD_DEFINITION = re.compile(
    r"\b(?:is|are|was) (?:the|a|an) (?:[\w-]+ ){0,2}"
    r"(?:study|science(?! fiction)|branch|(?:sub-?)?discipline|subfield|specialty)\b").search
CASE_PROFILE_NAME = "case_profile.json"  # derived from sentences.jsonl on first use
RESCORE = 10  # IVF-PQ: hits re-scored exactly per result asked for ...
RESCORE_MAX = 10_000  # ... and at most this many per query (later hits keep their PQ scores)


def _named(definition: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the non-negative entries of ``definition`` and those entries."""
    named = np.flatnonzero(definition >= 0)
    return named, definition[named]


class PhraseIndex:
    """A loaded index: sentences, occurrences, phrase texts, FAISS index, sentence vectors."""

    def __init__(self, path: Path, manifest: dict, sentences: list[Sentence],
                 occurrences: dict[str, np.ndarray], phrase_texts: list[str], faiss_index,
                 sentence_vectors: np.ndarray | None) -> None:
        self.path, self.manifest = path, manifest
        self.sentences, self.phrase_texts = sentences, phrase_texts
        self.occ_sentence = occurrences["sentence"]
        self.occ_start, self.occ_end = occurrences["start"], occurrences["end"]
        self.occ_key = occurrences["key"]
        # plural: a common-noun plural head (a class, not an entity); title: the phrase is
        # its document's title (in encyclopedic text, the entity the sentence is about).
        self.occ_plural, self.occ_title = occurrences["plural"], occurrences["title"]
        self.faiss_index, self.sentence_vectors = faiss_index, sentence_vectors
        self.encoder: Encoder | None = None  # re-scores IVF-PQ candidates (see search)
        # The last word of each phrase key when it is lowercase and the phrase has no
        # possessive ("" otherwise): "American politician" -> "politician", "Lyme's..." -> "",
        # also when tokenized text spaces it out ("Parkinson ' s disease").
        heads = (t.rsplit(" ", 1)[-1] for t in phrase_texts)
        self.key_lower_head = np.array([h if h.islower() and not _POSSESSIVE(t) else ""
                                        for t, h in zip(phrase_texts, heads, strict=True)])
        self.key_definition = definition_rows(sentences, phrase_texts)
        # Per occurrence, whether its phrase names a class rather than an entity: a plural
        # head, or the title of an article that defines a class or a field of study.
        self.occ_class = self.occ_plural | class_definitions(
            sentences, self.key_definition, phrase_texts)[self.occ_key]
        # Occurrences grouped by phrase key (CSR), to expand FAISS hits into occurrences.
        self.key_order = np.argsort(self.occ_key, kind="stable").astype(np.int64)
        counts = np.bincount(self.occ_key, minlength=len(phrase_texts))
        self.key_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._sentence_order: np.ndarray | None = None  # the same by sentence, on first use
        self._sentence_ptr: np.ndarray | None = None
        self._case_profile: CaseProfile | None = None
        self._class_keys: dict[str, np.ndarray] = {}
        self._named: tuple[np.ndarray, np.ndarray] | None = None
        self._key_category: np.ndarray | None = None

    @property
    def case_profile(self) -> CaseProfile:
        """How the corpus writes each word (rule 3): counted on first use and kept in the
        index folder (where it can be written), so that later processes read it."""
        if self._case_profile is None:
            path = self.path / CASE_PROFILE_NAME
            try:
                self._case_profile = CaseProfile.from_dict(
                    json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError):
                self._case_profile = CaseProfile(s.text for s in self.sentences)
                try:
                    atomic_write_text(path, json.dumps(self._case_profile.to_dict()))
                except OSError as err:
                    logger.info("case profile not kept in %s: %s", path, err)
        return self._case_profile

    def named_occurrences(self, occurrences: np.ndarray | None = None
                          ) -> tuple[np.ndarray, np.ndarray]:
        """The positions, among ``occurrences`` (default: all, computed once), of those whose
        phrase names a document (the title of its article), and that document's definition
        sentence row."""
        if occurrences is not None:
            return _named(self.key_definition[self.occ_key[occurrences]])
        if self._named is None:
            self._named = _named(self.key_definition[self.occ_key])
        return self._named

    @property
    def key_category(self) -> np.ndarray:
        """Per phrase key that names a document, the key of the candidate phrase right after
        the verb of the document's first sentence, which says what the entity is ("Roger
        Federer is a Swiss former professional tennis player" -> "Swiss former professional
        tennis player"); -1 for other keys and sentences without a copula."""
        if self._key_category is None:
            of_row: dict[int, int] = {}
            categories = np.full(len(self.phrase_texts), -1, dtype=np.int64)
            for key in np.flatnonzero(self.key_definition >= 0).tolist():
                row = int(self.key_definition[key])
                if row not in of_row:
                    of_row[row] = self._category_of(row)
                categories[key] = of_row[row]
            self._key_category = categories
        return self._key_category

    def _category_of(self, row: int) -> int:
        """The key of the first (and then longest) candidate after sentence ``row``'s first
        "is"/"was"/"are"/"were", or -1."""
        verb = _COPULA(self.sentences[row].text)
        if verb is None:
            return -1
        after = [o for o in self.sentence_occurrences(row).tolist()
                 if self.occ_start[o] >= verb.end()]
        if not after:
            return -1
        return int(self.occ_key[min(after, key=lambda o: (self.occ_start[o], -self.occ_end[o]))])

    def keys_headed_by(self, entity_type: str) -> np.ndarray:
        """Per phrase key, whether its lowercase head is the type word ("infectious
        disease" for disease); kept per type."""
        if entity_type not in self._class_keys:
            forms = list(type_word_forms(entity_type))
            self._class_keys[entity_type] = np.isin(self.key_lower_head, forms)
        return self._class_keys[entity_type]

    def phrase_scores(self, queries: np.ndarray) -> np.ndarray | None:
        """Inner products of the queries with every phrase vector of a flat index (rows:
        queries, columns: phrase keys); None for other indexes."""
        faiss, faiss_index = load_faiss(), self.faiss_index
        if self.contextual or not hasattr(faiss_index, "get_xb") \
                or faiss_index.metric_type != faiss.METRIC_INNER_PRODUCT:
            return None
        vectors = faiss.rev_swig_ptr(faiss_index.get_xb(), faiss_index.ntotal * faiss_index.d)
        return np.ascontiguousarray(queries, np.float32) @ vectors.reshape(
            faiss_index.ntotal, faiss_index.d).T

    def sentence_occurrences(self, row: int) -> np.ndarray:
        """The occurrences (candidate phrases) of sentence ``row``."""
        if self._sentence_ptr is None:
            self._sentence_order = np.argsort(self.occ_sentence, kind="stable")
            counts = np.bincount(self.occ_sentence, minlength=len(self.sentences))
            self._sentence_ptr = np.concatenate([[0], np.cumsum(counts)])
        return self._sentence_order[self._sentence_ptr[row]:self._sentence_ptr[row + 1]]

    @property
    def contextual(self) -> bool:
        return self.sentence_vectors is None

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` phrase keys and inner-product scores for each query row.

        An IVF-PQ index with a bi-encoder ``encoder`` set (``open_index`` sets it) re-scores
        the head of every result list exactly, by re-encoding those phrases' texts: its top
        ``RESCORE·k`` hits, at most ``RESCORE_MAX`` of them (see :func:`rescore`).
        """
        k = max(1, min(k, self.faiss_index.ntotal))
        queries = np.ascontiguousarray(queries, np.float32)
        if self.encoder is not None and not self.contextual and ivf_lists(self.faiss_index):
            return rescore(self.faiss_index, self.encoder, self.phrase_texts, queries, k)
        return self.faiss_index.search(queries, k)


def definition_rows(sentences: list[Sentence], phrase_texts: list[str]) -> np.ndarray:
    """Per phrase key, the row of the first sentence of the document the phrase names, or -1.

    A phrase names a document when it equals the document's title (a trailing parenthetical
    removed, case-insensitive): "tuberculosis" -> the first sentence of "Tuberculosis", which in
    encyclopedic text says what the entity is. Corpora without titles get -1 everywhere.
    """
    first: dict[str, int] = {}
    for row, sentence in enumerate(sentences):
        if sentence.title:
            first.setdefault(strip_punctuation(clean_title(sentence.title)).lower(), row)
    return np.array([first.get(strip_punctuation(text).lower(), -1) for text in phrase_texts],
                    dtype=np.int64)


def defines_class(first_sentence: str, title: str) -> bool:
    """Whether an article's first sentence says that its title names a class ("A syndrome is
    a set of ...", "In biology, a pathogen is ...") or a field of study ("Epidemiology is the
    study of ..."), not an entity. A title that itself opens with "A"/"An" ("A Christmas
    Carol") is no class."""
    if _CLASS_OPENING(title):
        return False
    return bool(_CLASS_OPENING(first_sentence) or _FIELD_DEFINITION(first_sentence[:200]))


def class_definitions(sentences: list[Sentence], key_definition: np.ndarray,
                      phrase_texts: list[str]) -> np.ndarray:
    """Per phrase key, whether it names a document whose first sentence :func:`defines_class`."""
    flags = np.zeros(len(phrase_texts), dtype=bool)
    for key in np.flatnonzero(key_definition >= 0).tolist():
        flags[key] = defines_class(sentences[key_definition[key]].text, phrase_texts[key])
    return flags


def rescore(faiss_index, encoder: Encoder, phrase_texts: list[str], queries: np.ndarray,
            k: int, depth: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """FAISS's top-``k`` hits per query with the first ``depth`` re-scored exactly.

    ``depth`` (default ``min(RESCORE·k, RESCORE_MAX)``) hits are taken from FAISS even when
    ``k`` is smaller, their texts encoded again (once for all queries) and ordered by exact
    score. When ``k`` is larger, FAISS scans every inverted list (not only ``nprobe``), so
    that each phrase can follow, with its PQ score.
    """
    depth = min(depth or min(RESCORE * k, RESCORE_MAX), faiss_index.ntotal)
    approx, found = faiss_index.search(queries, max(k, depth),
                                       params=every_list(faiss_index) if k > depth else None)
    head = found[:, :depth]
    keys = np.unique(head[head >= 0])
    vectors = encoder.encode_texts([phrase_texts[i] for i in keys.tolist()],
                                   progress=len(keys) >= RESCORE_MAX, desc="re-scoring")
    scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best = np.full((len(queries), k), -1, dtype=np.int64)
    for row, query in enumerate(queries):
        candidates = head[row][head[row] >= 0]
        exact = vectors[np.searchsorted(keys, candidates)] @ query
        order = np.lexsort((candidates, -exact))
        tail = found[row, depth:] >= 0
        row_keys = np.concatenate([candidates[order], found[row, depth:][tail]])[:k]
        row_scores = np.concatenate([exact[order], approx[row, depth:][tail]])[:k]
        scores[row, :len(row_keys)], best[row, :len(row_keys)] = row_scores, row_keys
    return scores, best


def load_index(path: Path, settings: IndexSettings | None = None) -> PhraseIndex:
    """Load the index folder at ``path``; every inconsistency is a corrupt-index error."""
    manifest = read_manifest(path)
    for name in REQUIRED_FILES:
        if not (path / name).is_file():
            raise corrupt_index(path, f"missing {name}")
    counts = manifest["counts"]
    try:
        with open(path / "sentences.jsonl", encoding="utf-8") as f:
            sentences = [Sentence(*json.loads(line)) for line in f]
        with np.load(path / "occurrences.npz") as data:
            occurrences = {k: data[k] for k in OCCURRENCE_FIELDS}
        phrase_texts = json.loads((path / "phrases.json").read_text(encoding="utf-8"))
        faiss_index = load_faiss().read_index(str(path / "phrases.faiss"))
        vectors_file = path / "sentences.npy"
        sentence_vectors = np.load(vectors_file) if vectors_file.exists() else None
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError) as err:
        raise corrupt_index(path, f"{type(err).__name__}: {first_line(err)[:200]}") from None
    if (len(sentences) != counts.get("sentences") or len(phrase_texts) != counts.get("phrases")
            or len(occurrences["key"]) != counts.get("occurrences")
            or faiss_index.ntotal != len(phrase_texts)
            or (sentence_vectors is not None and len(sentence_vectors) != len(sentences))
            or (len(occurrences["key"]) and int(occurrences["key"].max()) >= len(phrase_texts))):
        raise corrupt_index(path, "file sizes do not match the manifest's counts")
    set_nprobe(faiss_index, (settings or IndexSettings()).nprobe)
    # Searches stay on the CPU even with faiss-gpu: FAISS's GPU indexes return at most 2,048
    # hits a query, and rankings ask for every phrase (see PhraseIndex.search).
    return PhraseIndex(path, manifest, sentences, occurrences, phrase_texts, faiss_index,
                       sentence_vectors)


def ensure_index(corpus: Corpus, encoder: Encoder, cache_dir: str | Path | None = None,
                 settings: IndexSettings | None = None, progress: bool = True,
                 rebuild: bool = False, shards: int | None = None, state=None,
                 candidates=None) -> tuple[Path, dict | None]:
    """Make sure the index for ``corpus`` and ``encoder`` is current; return its folder.

    A missing or stale index is built by :func:`gener.retrieval.sharding.build_index` in
    ``shards`` shards (default: one, or one per process under ``accelerate launch``, whose
    process ``state`` is given); the manifest is returned on the main process and ``None`` on
    the others. ``candidates`` replaces spaCy's extractor (``texts -> spans per text``;
    benchmarks and tests).
    """
    settings = settings or IndexSettings()
    if candidates is not None:  # recorded, so that its index is kept apart
        settings = dataclasses.replace(settings, method=f"custom:{candidates.__name__}")
    if settings.index_type not in INDEX_TYPES:
        raise GenerError(f"unknown index type {settings.index_type!r} "
                         f"(known: {', '.join(INDEX_TYPES)})")
    if shards is not None and (not isinstance(shards, int) or shards < 1):
        raise GenerError(f"the shard count must be at least 1 (got {shards})")
    path = index_dir(corpus, encoder, settings, cache_dir)
    fingerprint = corpus.fingerprint()
    if path.exists() and not rebuild:
        manifest = read_manifest(path)
        if manifest["fingerprint"] == fingerprint:
            return path, manifest
        logger.warning("phrase index %s is stale (corpus changed: %s -> %s); rebuilding",
                       path, manifest["fingerprint"], fingerprint)
    num_shards = shards or (state.num_processes if state else 1)
    return path, build_index(corpus, encoder, path, settings, fingerprint, num_shards, progress,
                             candidates, state)


def open_index(corpus: Corpus, encoder: Encoder, cache_dir: str | Path | None = None,
               settings: IndexSettings | None = None, progress: bool = True,
               rebuild: bool = False, shards: int | None = None) -> PhraseIndex:
    """The index for ``corpus`` and ``encoder``: reused if current, built if absent or stale."""
    path, _ = ensure_index(corpus, encoder, cache_dir, settings, progress, rebuild, shards)
    index = load_index(path, settings)
    index.encoder = encoder
    return index
