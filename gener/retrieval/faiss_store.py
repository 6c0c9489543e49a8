"""FAISS indexes of phrase vectors: the layouts, training, and inverted-list helpers."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from gener.errors import GenerError

IVFPQ_MAX_CODE = 48  # PQ bytes per vector: with FAISS's 8-byte ids, at most ~60 bytes a phrase
IVF_MAX_LISTS = 512  # bounds k-means time and the shared centroids' bytes (1.5 KiB a list)


def load_faiss():
    """The ``faiss`` module, or a one-line error naming the package to install."""
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # CPU-feature probing noise
    try:
        import faiss
    except ImportError:
        raise GenerError("the phrase index needs faiss (pip install faiss-cpu)") from None
    return faiss


def new_faiss_index(dim: int, n: int, index_type: str):
    """An empty FAISS index for ``n`` unit vectors: flat inner product, or OPQ + IVF-PQ.

    IVF-PQ: an OPQ rotation, then ``4·√n`` inverted lists (at most 512) of PQ codes of at
    most 48 one-byte parts, inner product. It needs training; below 10,000 vectors a flat
    index is used instead.
    """
    faiss = load_faiss()
    if index_type == "flat" or n < 10_000:
        return faiss.IndexFlatIP(dim)
    m = max(m for m in range(1, IVFPQ_MAX_CODE + 1) if dim % m == 0)
    nlist = int(min(4 * np.sqrt(n), n // 40, IVF_MAX_LISTS))
    return faiss.index_factory(dim, f"OPQ{m},IVF{nlist},PQ{m}", faiss.METRIC_INNER_PRODUCT)


def set_nprobe(index, nprobe: int) -> None:
    """Probe ``nprobe`` inverted lists per query (no-op for a flat index)."""
    if ivf_lists(index):
        load_faiss().extract_index_ivf(index).nprobe = nprobe


def ivf_lists(index) -> int:
    """The number of inverted lists of an IVF index, 0 for a flat one."""
    faiss = load_faiss()
    try:
        return int(faiss.extract_index_ivf(index).nlist)
    except RuntimeError:
        return 0


def every_list(index):
    """Search parameters that make an IVF index (OPQ-rotated or not) probe all its lists."""
    faiss = load_faiss()
    params = faiss.SearchParametersIVF(nprobe=ivf_lists(index))
    if isinstance(index, faiss.IndexPreTransform):
        return faiss.SearchParametersPreTransform(index_params=params)
    return params


def train_sample_size(index, n: int) -> int:
    """How many of ``n`` vectors train ``index``: 64 per inverted list, at least 10,000."""
    return min(n, max(64 * ivf_lists(index), 10_000))


def train_faiss_index(index, sample: np.ndarray) -> None:
    """Train ``index`` on ``sample``; the k-means of its lists runs on the GPUs if any."""
    faiss = load_faiss()
    if hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0:
        ivf = faiss.extract_index_ivf(index)
        ivf.clustering_index = faiss.index_cpu_to_all_gpus(faiss.IndexFlatIP(ivf.d))
    index.train(np.ascontiguousarray(sample, np.float32))


def describe_faiss(index) -> str:
    """``Flat``, ``IVF<lists>,PQ<bytes>`` or ``OPQ,IVF<lists>,PQ<bytes>``."""
    lists = ivf_lists(index)
    if not lists:
        return "Flat"
    rotated = "OPQ," if isinstance(index, load_faiss().IndexPreTransform) else ""
    return f"{rotated}IVF{lists},PQ{load_faiss().extract_index_ivf(index).code_size}"


def write_faiss_index(index, path: Path) -> int:
    """Write ``index`` to ``path``; return its size in bytes."""
    load_faiss().write_index(index, str(path))
    return path.stat().st_size
