"""The phrase-index folder: its files, settings, location, occurrence arrays and manifest.

An index lives in ``<cache>/index/<corpus>-<settings digest>/`` with these files::

    manifest.json     corpus fingerprint, encoder, candidate and FAISS settings, counts
    sentences.jsonl   the corpus sentences (id, text, document id, title), in corpus order
    occurrences.npz   per occurrence: sentence row, char start/end, phrase key, flags
    phrases.json      the text of each phrase key (unique texts; one per occurrence when the
                      encoder is contextual)
    phrases.faiss     phrase vectors (flat inner product, or IVF-PQ)
    sentences.npy     sentence vectors (bi-encoders only)

:mod:`gener.retrieval.sharding` writes it (in a temporary folder moved into place, so a
finished index is complete) and :mod:`gener.retrieval.index` reads it. A manifest whose
corpus fingerprint differs marks a stale index, which is rebuilt; a missing or unreadable
file is a corrupt index and an error.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gener.corpus import Corpus, Sentence
from gener.errors import GenerError
from gener.io import default_cache_dir
from gener.retrieval.candidates import CANDIDATE_VERSION
from gener.retrieval.encoder_base import Encoder

FORMAT_VERSION = 1
INDEX_TYPES = ("flat", "ivfpq")
OCCURRENCE_FIELDS = ("sentence", "start", "end", "key", "plural", "title")
REQUIRED_FILES = ("sentences.jsonl", "occurrences.npz", "phrases.json", "phrases.faiss")


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


def sentence_line(sentence: Sentence) -> str:
    """The line of ``sentences.jsonl`` that holds ``sentence``."""
    return json.dumps([sentence.id, sentence.text, sentence.doc_id, sentence.title],
                      ensure_ascii=False) + "\n"


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


def corrupt_index(path: Path, reason: str) -> GenerError:
    """The error for an index folder that cannot be read."""
    return GenerError(f"{path}: corrupt phrase index ({reason}); delete the folder or run "
                      "`gener index build --rebuild`")


def read_manifest(path: Path) -> dict:
    """The manifest of the index at ``path``; a corrupt-index error if unreadable."""
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise corrupt_index(path, "no manifest.json") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise corrupt_index(path, f"manifest.json: {err}") from None
    if not isinstance(manifest, dict) or not {"fingerprint", "counts", "encoder"} <= set(manifest):
        raise corrupt_index(path, "manifest.json lacks fingerprint, counts or encoder")
    return manifest
