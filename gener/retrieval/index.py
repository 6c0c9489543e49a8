"""The phrase index: candidate occurrences, phrase vectors in FAISS, sentence vectors.

An index lives in ``<cache>/index/<corpus>-<settings digest>/`` with these files::

    manifest.json     corpus fingerprint, encoder, candidate and FAISS settings, counts
    sentences.jsonl   the corpus sentences (id, text), in corpus order
    occurrences.npz   per occurrence: sentence row, char start/end, phrase key, flags
    phrases.json      the text of each phrase key (unique texts; one per occurrence when the
                      encoder is contextual)
    phrases.faiss     phrase vectors (flat inner product, or IVF-PQ)
    sentences.npy     sentence vectors (bi-encoders only)

It is built in a temporary folder and moved into place, so a finished index is complete.
A manifest whose corpus fingerprint differs marks a stale index, which is rebuilt; a
missing or unreadable file is a corrupt index and an error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gener.casing import CaseProfile
from gener.corpus import Corpus, Sentence
from gener.errors import GenerError, first_line
from gener.io import atomic_write_json, atomic_write_text, default_cache_dir, replace_folder
from gener.normalize import strip_punctuation, type_word_forms
from gener.retrieval.candidates import CANDIDATE_VERSION, extract_candidates, load_tagger
from gener.retrieval.encoders import Encoder
from gener.text import clean_title

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
INDEX_TYPES = ("flat", "ivfpq")
OCCURRENCE_FIELDS = ("sentence", "start", "end", "key", "plural", "title")
_POSSESSIVE = re.compile(r"['’] ?s\b").search  # "Lyme's", "Parkinson ' s" (tokenized)
# First sentences of articles about a class ("A syndrome is ...", "In biology, a pathogen is
# ...") or about a field of study ("Epidemiology is the study of ...", "Immunology is a branch
# of ...", "Polymer chemistry is a sub-discipline of ...").
_CLASS_OPENING = re.compile(r"(?:In [^,]{1,40}, )?an? ", re.IGNORECASE).match
_COPULA = re.compile(r"\b(?:is|was|are|were)\b").search
_FIELD_DEFINITION = re.compile(
    r"\b(?:is|are|was) (?:the|a|an) (?:[\w-]+ ){0,2}"
    r"(?:study|science(?! fiction)|branch|(?:sub-?)?discipline|subfield|specialty)\b").search
_FILES = ("sentences.jsonl", "occurrences.npz", "phrases.json", "phrases.faiss")
CASE_PROFILE_NAME = "case_profile.json"  # derived from sentences.jsonl on first use


@dataclass(frozen=True)
class IndexSettings:
    """How candidates are extracted and phrase vectors stored."""

    max_tokens: int = 6
    index_type: str = "flat"
    nprobe: int = 64
    method: str = "noun+capitalised runs"  # another name only for a custom extractor

    def to_dict(self) -> dict:
        return {"candidates": {"method": self.method, "version": CANDIDATE_VERSION,
                               "max_tokens": self.max_tokens},
                "faiss": {"type": self.index_type}}


def _slug(text: str) -> str:
    keep = "".join(c if c.isalnum() else "_" for c in Path(text).name.lower()).strip("_")
    return keep[:40] or "corpus"


def index_dir(corpus: Corpus, encoder: Encoder, settings: IndexSettings,
              cache_dir: str | Path | None = None) -> Path:
    """Where the index of ``corpus`` for ``encoder`` and ``settings`` is kept."""
    key = json.dumps({"encoder": encoder.identity(), **settings.to_dict(),
                      "format": FORMAT_VERSION}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return Path(cache_dir or default_cache_dir()) / "index" / f"{_slug(corpus.name)}-{digest}"


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
        faiss, faiss_index = _faiss(), self.faiss_index
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
                                       params=_every_list(faiss_index) if k > depth else None)
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


def _every_list(faiss_index):
    """Search parameters that make an IVF index (OPQ-rotated or not) probe all its lists."""
    faiss = _faiss()
    params = faiss.SearchParametersIVF(nprobe=ivf_lists(faiss_index))
    if isinstance(faiss_index, faiss.IndexPreTransform):
        return faiss.SearchParametersPreTransform(index_params=params)
    return params


def _corrupt(path: Path, reason: str) -> GenerError:
    return GenerError(f"{path}: corrupt phrase index ({reason}); delete the folder or run "
                      "`gener index build --rebuild`")


def _faiss():
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # CPU-feature probing noise
    try:
        import faiss
    except ImportError:
        raise GenerError("the phrase index needs faiss (pip install faiss-cpu)") from None
    return faiss


RESCORE = 10  # IVF-PQ: hits re-scored exactly per result asked for ...
RESCORE_MAX = 10_000  # ... and at most this many per query (later hits keep their PQ scores)
IVFPQ_MAX_CODE = 48  # PQ bytes per vector: with FAISS's 8-byte ids, at most ~60 bytes a phrase
IVF_MAX_LISTS = 512  # bounds k-means time and the shared centroids' bytes (1.5 KiB a list)


def new_faiss_index(dim: int, n: int, index_type: str):
    """An empty FAISS index for ``n`` unit vectors: flat inner product, or OPQ + IVF-PQ.

    IVF-PQ: an OPQ rotation, then ``4·√n`` inverted lists (at most 512) of PQ codes of at
    most 48 one-byte parts, inner product. It needs training; below 10,000 vectors a flat
    index is used instead.
    """
    faiss = _faiss()
    if index_type == "flat" or n < 10_000:
        return faiss.IndexFlatIP(dim)
    m = max(m for m in range(1, IVFPQ_MAX_CODE + 1) if dim % m == 0)
    nlist = int(min(4 * np.sqrt(n), n // 40, IVF_MAX_LISTS))
    return faiss.index_factory(dim, f"OPQ{m},IVF{nlist},PQ{m}", faiss.METRIC_INNER_PRODUCT)


def set_nprobe(index, nprobe: int) -> None:
    """Probe ``nprobe`` inverted lists per query (no-op for a flat index)."""
    if ivf_lists(index):
        _faiss().extract_index_ivf(index).nprobe = nprobe


def ivf_lists(index) -> int:
    """The number of inverted lists of an IVF index, 0 for a flat one."""
    faiss = _faiss()
    try:
        return int(faiss.extract_index_ivf(index).nlist)
    except RuntimeError:
        return 0


def train_sample_size(index, n: int) -> int:
    """How many of ``n`` vectors train ``index``: 64 per inverted list, at least 10,000."""
    return min(n, max(64 * ivf_lists(index), 10_000))


def train_faiss_index(index, sample: np.ndarray) -> None:
    """Train ``index`` on ``sample``; the k-means of its lists runs on the GPUs if any."""
    faiss = _faiss()
    if hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0:
        ivf = faiss.extract_index_ivf(index)
        ivf.clustering_index = faiss.index_cpu_to_all_gpus(faiss.IndexFlatIP(ivf.d))
    index.train(np.ascontiguousarray(sample, np.float32))


def describe_faiss(index) -> str:
    """``Flat``, ``IVF<lists>,PQ<bytes>`` or ``OPQ,IVF<lists>,PQ<bytes>``."""
    lists = ivf_lists(index)
    if not lists:
        return "Flat"
    rotated = "OPQ," if isinstance(index, _faiss().IndexPreTransform) else ""
    return f"{rotated}IVF{lists},PQ{_faiss().extract_index_ivf(index).code_size}"


def write_faiss_index(index, path: Path) -> int:
    """Write ``index`` to ``path``; return its size in bytes."""
    _faiss().write_index(index, str(path))
    return path.stat().st_size


def _make_faiss(vectors: np.ndarray, settings: IndexSettings):
    n, dim = vectors.shape
    index = new_faiss_index(dim, n, settings.index_type)
    if not index.is_trained:
        sample = np.random.default_rng(0).permutation(n)[:train_sample_size(index, n)]
        train_faiss_index(index, vectors[np.sort(sample)])
    index.add(vectors)
    return index


def candidate_occurrences(sentences: list[Sentence], spans: list[list[tuple[int, int, bool]]],
                          first_row: int = 0) -> tuple[dict[str, np.ndarray], list[str]]:
    """Occurrence arrays of the candidate ``spans`` of ``sentences``, and their texts.

    The arrays: ``sentence`` (row of the sentence, counted from ``first_row``), ``start``,
    ``end``, ``plural``, and ``title`` (the phrase is its document's title).
    """
    counts = [len(per_sentence) for per_sentence in spans]
    rows = np.repeat(np.arange(first_row, first_row + len(sentences), dtype=np.int32), counts)
    local = np.repeat(np.arange(len(sentences)), counts).tolist()
    flat = [span for per_sentence in spans for span in per_sentence]
    texts = [sentences[i].text[s:e] for i, (s, e, _) in zip(local, flat, strict=True)]
    return {"sentence": rows,
            "start": np.array([s for s, _, _ in flat], dtype=np.int32),
            "end": np.array([e for _, e, _ in flat], dtype=np.int32),
            "plural": np.array([p for _, _, p in flat], dtype=bool),
            "title": np.array([t.lower() == sentences[i].title.lower()
                               for i, t in zip(local, texts, strict=True)], dtype=bool)}, texts


def build_index(corpus: Corpus, encoder: Encoder, path: Path, settings: IndexSettings,
                fingerprint: str, progress: bool = True, nlp=None) -> None:
    """Extract candidates, encode, and write a complete index folder at ``path``."""
    from tqdm import tqdm

    started = time.perf_counter()
    sentences = list(corpus.sentences())
    texts = [s.text for s in sentences]
    spans = list(tqdm(extract_candidates(texts, nlp or load_tagger(), settings.max_tokens),
                      total=len(texts), desc="candidate phrases", unit="sentence",
                      disable=not progress, leave=False))
    occ, occ_texts = candidate_occurrences(sentences, spans)
    if not occ_texts:
        raise GenerError(f"{corpus.name}: no candidate phrases found in the corpus")
    if encoder.contextual:
        phrase_texts = occ_texts
        occ_key = np.arange(len(occ_texts), dtype=np.int32)
        phrase_vectors = encoder.encode_spans(texts, [[(s, e) for s, e, _ in x] for x in spans],
                                              progress)
        sentence_vectors = None
    else:
        key_of: dict[str, int] = {}
        occ_key = np.array([key_of.setdefault(t, len(key_of)) for t in occ_texts], np.int32)
        phrase_texts = list(key_of)
        phrase_vectors = encoder.encode_texts(phrase_texts, progress, "encoding phrases")
        sentence_vectors = encoder.encode_texts(texts, progress, "encoding sentences")

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    with open(tmp / "sentences.jsonl", "w", encoding="utf-8") as f:
        for s in sentences:
            f.write(json.dumps([s.id, s.text, s.doc_id, s.title], ensure_ascii=False) + "\n")
    np.savez(tmp / "occurrences.npz", sentence=occ["sentence"], start=occ["start"],
             end=occ["end"], key=occ_key, plural=occ["plural"], title=occ["title"])
    (tmp / "phrases.json").write_text(json.dumps(phrase_texts, ensure_ascii=False),
                                      encoding="utf-8")
    _faiss().write_index(_make_faiss(phrase_vectors, settings), str(tmp / "phrases.faiss"))
    if sentence_vectors is not None:
        np.save(tmp / "sentences.npy", sentence_vectors)
    manifest = {
        "format": FORMAT_VERSION, "corpus": corpus.name, "fingerprint": fingerprint,
        "encoder": encoder.identity(), **settings.to_dict(),
        "counts": {"sentences": len(sentences), "occurrences": len(occ_texts),
                   "phrases": len(phrase_texts)},
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    atomic_write_json(tmp / "manifest.json", manifest)
    replace_folder(tmp, path)
    logger.info("phrase index: %d sentences, %d occurrences, %d phrases in %.0fs -> %s",
                len(sentences), len(occ_texts), len(phrase_texts), manifest["build_seconds"], path)


def read_manifest(path: Path) -> dict:
    """The manifest of the index at ``path``; a corrupt-index error if unreadable."""
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _corrupt(path, "no manifest.json") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _corrupt(path, f"manifest.json: {err}") from None
    if not isinstance(manifest, dict) or not {"fingerprint", "counts", "encoder"} <= set(manifest):
        raise _corrupt(path, "manifest.json lacks fingerprint, counts or encoder")
    return manifest


def load_index(path: Path, settings: IndexSettings | None = None) -> PhraseIndex:
    """Load the index folder at ``path``; every inconsistency is a corrupt-index error."""
    manifest = read_manifest(path)
    for name in _FILES:
        if not (path / name).is_file():
            raise _corrupt(path, f"missing {name}")
    counts = manifest["counts"]
    try:
        with open(path / "sentences.jsonl", encoding="utf-8") as f:
            sentences = [Sentence(*json.loads(line)) for line in f]
        with np.load(path / "occurrences.npz") as data:
            occurrences = {k: data[k] for k in OCCURRENCE_FIELDS}
        phrase_texts = json.loads((path / "phrases.json").read_text(encoding="utf-8"))
        faiss_index = _faiss().read_index(str(path / "phrases.faiss"))
        vectors_file = path / "sentences.npy"
        sentence_vectors = np.load(vectors_file) if vectors_file.exists() else None
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError) as err:
        raise _corrupt(path, f"{type(err).__name__}: {first_line(err)[:200]}") from None
    if (len(sentences) != counts.get("sentences") or len(phrase_texts) != counts.get("phrases")
            or len(occurrences["key"]) != counts.get("occurrences")
            or faiss_index.ntotal != len(phrase_texts)
            or (sentence_vectors is not None and len(sentence_vectors) != len(sentences))
            or (len(occurrences["key"]) and int(occurrences["key"].max()) >= len(phrase_texts))):
        raise _corrupt(path, "file sizes do not match the manifest's counts")
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

    With ``shards`` (or under ``accelerate launch``, whose process ``state`` is given) the
    index is built in shards by :func:`gener.retrieval.sharding.build_sharded`; the
    manifest is returned on the main process and ``None`` on the others. ``candidates``
    replaces spaCy's extractor (``texts -> spans per text``; benchmarks and tests).
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
    if shards is None and state is None:
        build_index(corpus, encoder, path, settings, fingerprint, progress)
        return path, read_manifest(path)
    from gener.retrieval.sharding import build_sharded

    manifest = build_sharded(corpus, encoder, path, settings.index_type, settings.to_dict(),
                             fingerprint, shards or state.num_processes, progress, candidates,
                             settings.max_tokens, state)
    return path, manifest


def open_index(corpus: Corpus, encoder: Encoder, cache_dir: str | Path | None = None,
               settings: IndexSettings | None = None, progress: bool = True,
               rebuild: bool = False, shards: int | None = None) -> PhraseIndex:
    """The index for ``corpus`` and ``encoder``: reused if current, built if absent or stale."""
    path, _ = ensure_index(corpus, encoder, cache_dir, settings, progress, rebuild, shards)
    index = load_index(path, settings)
    index.encoder = encoder
    return index
