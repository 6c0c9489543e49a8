"""The one writer of phrase indexes: streamed, sharded, resumable, in one or many processes.

The corpus is read as a stream and never held in memory: sentence ``i`` (in corpus order)
belongs to shard ``i % num_shards``. A one-process build is one shard; under ``accelerate
launch`` process ``r`` of ``w`` builds shards ``r, r + w, ...``. A shard is written to
``<index folder>.shards/<num_shards>/shard-XXXXX/`` through a temporary folder and a rename,
so a finished shard is complete, and a build interrupted and run again skips it. The main
process then merges the shards, in corpus order and chunk by chunk, into an index folder
(:mod:`gener.retrieval.index_format`), and deletes them. The shards' contents depend on
``num_shards`` only, so the merged index is the same whatever the number of processes.

Shard files::

    meta.json         shard number, shard count, corpus fingerprint, encoder, counts, timing
    sentences.jsonl   the shard's sentences, as in an index folder
    occurrences.npz   per occurrence: local sentence row, char start/end, local key, flags
    phrases.json      the shard's phrase texts (unique, or one per occurrence if contextual)
    phrases.f32       their vectors, float32, row-major
    sentences.f32     sentence vectors (bi-encoders only)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np

from gener.corpus import Corpus, Sentence
from gener.errors import GenerError, first_line
from gener.io import atomic_write_json, replace_folder, temporary_folder
from gener.retrieval.candidates import extract_candidates, load_tagger
from gener.retrieval.encoder_base import Encoder
from gener.retrieval.faiss_store import (
    describe_faiss,
    new_faiss_index,
    train_faiss_index,
    train_sample_size,
    write_faiss_index,
)
from gener.retrieval.index_format import (
    FORMAT_VERSION,
    OCCURRENCE_FIELDS,
    IndexSettings,
    candidate_occurrences,
    sentence_line,
)

logger = logging.getLogger(__name__)

SHARD_FORMAT = 1
# Sentences tagged and encoded at a time within a shard. Encodings vary with the batches
# they are computed in (by float noise), so a corpus of one chunk (the default corpus has
# 36,253 sentences) gets the vectors of encoding it whole.
CHUNK_SENTENCES = 50_000
MERGE_ROWS = 50_000  # sentence rows / phrase vectors copied at a time by the merge

#: ``texts -> per text, sorted (start, end, plural) spans``; spaCy's tagger by default.
CandidateFn = Callable[[list[str]], Iterable[list[tuple[int, int, bool]]]]


class DatasetsStreamCorpus(Corpus):
    """A local JSON-lines, text, CSV or Parquet file streamed through ``datasets``.

    Records are read one at a time (``load_dataset(..., streaming=True)``), never all at once.
    A record's ``id`` and ``title`` fields are used when present; otherwise its line number
    (from 1) is its id.
    """

    BUILDERS = {".jsonl": "json", ".ndjson": "json", ".json": "json", ".txt": "text",
                ".csv": "csv", ".parquet": "parquet"}

    def __init__(self, path: str | Path, text_field: str = "text") -> None:
        super().__init__()
        self.path, self.text_field = Path(path), text_field
        self.name = str(path)
        if not self.path.is_file():
            raise GenerError(f"{self.path}: corpus file not found")
        if self.path.suffix not in self.BUILDERS:
            raise GenerError(f"{self.path}: cannot stream a {self.path.suffix or 'suffix-less'} "
                             f"file (use {', '.join(self.BUILDERS)})")

    def documents(self) -> Iterator[tuple[str, str, str]]:
        import datasets

        field = "text" if self.path.suffix == ".txt" else self.text_field
        try:
            stream = datasets.load_dataset(self.BUILDERS[self.path.suffix],
                                           data_files=str(self.path), split="train",
                                           streaming=True)
            for number, record in enumerate(stream, 1):
                if field not in record:
                    raise GenerError(f"{self.path}:{number}: no field {field!r}")
                text = str(record[field] or "")
                if text.strip():
                    yield (str(record.get("id", f"line{number}")), str(record.get("title") or ""),
                           text)
        except GenerError:
            raise
        except Exception as err:  # datasets raises many types; report them in one line
            raise GenerError(f"{self.path}: cannot stream: {first_line(err)}") from None


def shard_sentences(sentences: Iterable[Sentence], shard: int,
                    num_shards: int) -> Iterator[Sentence]:
    """The sentences of ``shard``: every ``num_shards``-th one, starting at ``shard``."""
    for i, sentence in enumerate(sentences):
        if i % num_shards == shard:
            yield sentence


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def shard_dir(index_path: Path, shard: int, num_shards: int) -> Path:
    """Where shard ``shard`` of ``num_shards`` of the index at ``index_path`` is kept."""
    return index_path.with_name(f"{index_path.name}.shards") / str(num_shards) / \
        f"shard-{shard:05d}"


def _spacy_candidates(max_tokens: int, nlp=None) -> CandidateFn:
    tagger = []

    def extract(texts: list[str]) -> Iterable[list[tuple[int, int, bool]]]:
        if not tagger:
            tagger.append(nlp or load_tagger())
        return extract_candidates(texts, tagger[0], max_tokens)
    return extract


def build_shard(corpus: Corpus, encoder: Encoder, folder: Path, shard: int, num_shards: int,
                fingerprint: str, settings: dict, candidates: CandidateFn,
                progress: bool = True) -> dict:
    """Tag, encode and write one shard to ``folder`` (atomically); return its meta."""
    from tqdm import tqdm

    started = time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    for stale in folder.parent.glob(f"{folder.name}.tmp-*"):  # left by a killed build
        shutil.rmtree(stale, ignore_errors=True)
    tmp = temporary_folder(folder)
    key_of: dict[str, int] = {}
    occ: dict[str, list[np.ndarray]] = {k: [] for k in OCCURRENCE_FIELDS}
    phrase_texts: list[str] = []
    rows = 0
    seconds = {"candidates": 0.0, "sentences": 0.0, "phrases": 0.0}
    bar = tqdm(desc=f"shard {shard + 1}/{num_shards}", unit="sentence", disable=not progress,
               leave=False)
    with open(tmp / "sentences.jsonl", "w", encoding="utf-8") as sentence_file, \
            open(tmp / "phrases.f32", "wb") as phrase_file, \
            open(tmp / "sentences.f32", "wb") as vector_file:
        for chunk in _chunks(shard_sentences(corpus.sentences(), shard, num_shards),
                             CHUNK_SENTENCES):
            texts = [s.text for s in chunk]
            tick = time.perf_counter()
            spans = list(tqdm(candidates(texts), total=len(texts), desc="candidate phrases",
                              unit="sentence", disable=not progress, leave=False))
            seconds["candidates"] += time.perf_counter() - tick
            arrays, occ_texts = candidate_occurrences(chunk, spans, rows)
            for name, values in arrays.items():
                occ[name].append(values)
            tick = time.perf_counter()
            if encoder.contextual:
                occ["key"].append(np.arange(len(phrase_texts), len(phrase_texts) + len(occ_texts),
                                            dtype=np.int32))
                phrase_texts.extend(occ_texts)
                vectors = encoder.encode_spans(texts, [[(s, e) for s, e, _ in x] for x in spans],
                                               progress)
            else:
                new_texts = []
                keys = np.empty(len(occ_texts), dtype=np.int32)
                for i, text in enumerate(occ_texts):
                    key = key_of.get(text)
                    if key is None:
                        key = key_of[text] = len(key_of)
                        new_texts.append(text)
                    keys[i] = key
                occ["key"].append(keys)
                phrase_texts.extend(new_texts)
                vectors = encoder.encode_texts(new_texts, progress, "encoding phrases")
            seconds["phrases"] += time.perf_counter() - tick
            phrase_file.write(np.ascontiguousarray(vectors, np.float32).tobytes())
            if not encoder.contextual:
                tick = time.perf_counter()
                sentence_vectors = encoder.encode_texts(texts, progress, "encoding sentences")
                seconds["sentences"] += time.perf_counter() - tick
                vector_file.write(np.ascontiguousarray(sentence_vectors, np.float32).tobytes())
            sentence_file.writelines(map(sentence_line, chunk))
            rows += len(chunk)
            bar.update(len(chunk))
    bar.close()
    if encoder.contextual:
        (tmp / "sentences.f32").unlink()
    np.savez(tmp / "occurrences.npz", **{k: np.concatenate(v) if v else np.zeros(0, np.int32)
                                         for k, v in occ.items()})
    (tmp / "phrases.json").write_text(json.dumps(phrase_texts, ensure_ascii=False),
                                      encoding="utf-8")
    meta = {"format": SHARD_FORMAT, "shard": shard, "num_shards": num_shards,
            "fingerprint": fingerprint, "encoder": encoder.identity(), "settings": settings,
            "dim": int(encoder.dim), "contextual": bool(encoder.contextual),
            "counts": {"sentences": rows, "occurrences": int(sum(len(k) for k in occ["key"])),
                       "phrases": len(phrase_texts)},
            "seconds": {k: round(v, 2) for k, v in seconds.items()}
            | {"total": round(time.perf_counter() - started, 2)}}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    replace_folder(tmp, folder)  # over a mismatched shard left from another build, if any
    return meta


def _bad_shard(folder: Path, reason: str) -> GenerError:
    return GenerError(f"{folder}: corrupt shard ({reason}); delete it and build again")


def read_shard_meta(folder: Path) -> dict | None:
    """The meta of the finished shard at ``folder``, ``None`` if there is none."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise _bad_shard(folder, f"meta.json: {err}") from None
    if not isinstance(meta, dict) or not {"shard", "num_shards", "fingerprint", "encoder",
                                          "dim", "counts", "settings"} <= set(meta):
        raise _bad_shard(folder, "meta.json lacks fields")
    return meta


def _shard_matches(meta: dict, shard: int, num_shards: int, fingerprint: str,
                   encoder: Encoder, settings: dict) -> bool:
    return (meta.get("format") == SHARD_FORMAT and meta["shard"] == shard
            and meta["num_shards"] == num_shards and meta["fingerprint"] == fingerprint
            and meta["encoder"] == encoder.identity() and meta["settings"] == settings)


class _Shard:
    """A finished shard opened for merging: its arrays, texts and vector files, checked."""

    def __init__(self, folder: Path, meta: dict) -> None:
        self.folder, self.meta = folder, meta
        counts, dim = meta["counts"], meta["dim"]
        try:
            with np.load(folder / "occurrences.npz") as data:
                self.occ = {k: data[k] for k in OCCURRENCE_FIELDS}
            self.phrase_texts = json.loads((folder / "phrases.json").read_text(encoding="utf-8"))
            sizes = {name: (folder / f"{name}.f32").stat().st_size
                     for name in ("phrases", "sentences") if not meta.get("contextual")
                     or name == "phrases"}
        except (OSError, ValueError, KeyError, EOFError) as err:
            raise _bad_shard(folder, f"{type(err).__name__}: {first_line(err)[:200]}"
                             ) from None
        n_occ = counts["occurrences"]
        if (len(self.phrase_texts) != counts["phrases"] or
                any(len(v) != n_occ for v in self.occ.values()) or
                sizes["phrases"] != counts["phrases"] * dim * 4 or
                sizes.get("sentences", counts["sentences"] * dim * 4)
                != counts["sentences"] * dim * 4 or
                (n_occ and (int(self.occ["key"].max()) >= counts["phrases"]
                            or int(self.occ["sentence"].max()) >= counts["sentences"]))):
            raise _bad_shard(folder, "file sizes do not match meta.json's counts")

    def vectors(self, name: str, rows: np.ndarray | None = None,
                start: int = 0, count: int = 0) -> np.ndarray:
        """Rows of a vector file: the given ``rows``, or ``count`` rows from ``start``."""
        dim = self.meta["dim"]
        path = self.folder / f"{name}.f32"
        if rows is None:
            with open(path, "rb") as f:
                f.seek(start * dim * 4)
                return np.fromfile(f, np.float32, count * dim).reshape(-1, dim)
        table = np.memmap(path, np.float32, "r", shape=(self.meta["counts"][name], dim))
        out = np.array(table[rows])
        del table  # unmap, so that the pages read do not stay in this process
        return out


def _open_shards(index_path: Path, num_shards: int, fingerprint: str, encoder: Encoder,
                 settings: dict) -> list[_Shard]:
    shards = []
    for shard in range(num_shards):
        folder = shard_dir(index_path, shard, num_shards)
        meta = read_shard_meta(folder)
        if meta is None:
            raise GenerError(f"{folder}: shard {shard} of {num_shards} is missing")
        if not _shard_matches(meta, shard, num_shards, fingerprint, encoder, settings):
            raise GenerError(f"{folder}: shard {shard} of {num_shards} does not match this "
                             "build (corpus, encoder, settings or shard count differ); delete "
                             "it and build again")
        shards.append(_Shard(folder, meta))
    total = sum(s.meta["counts"]["sentences"] for s in shards)
    for shard in shards:  # round-robin sizes: shard s holds ceil((total - s) / n) sentences
        expected = -(-(total - shard.meta["shard"]) // num_shards)
        if shard.meta["counts"]["sentences"] != expected:
            raise GenerError(f"{shard.folder}: {shard.meta['counts']['sentences']} sentences, "
                             f"expected {expected} of {total}; the shards are mismatched")
    return shards


def _global_keys(shards: list[_Shard], order: np.ndarray, shard_of: np.ndarray,
                 local_key: np.ndarray, contextual: bool) -> tuple[np.ndarray, np.ndarray,
                                                                   list[str]]:
    """Global phrase keys in first-occurrence order, as a one-process build numbers them.

    Returns each occurrence's key (in merged order), each key's source row in the
    concatenation of the shards' phrase tables, and the phrase texts.
    """
    offsets = np.cumsum([0] + [len(s.phrase_texts) for s in shards])
    source = (offsets[shard_of] + local_key)[order]  # row in the concatenated phrase tables
    all_texts = [t for s in shards for t in s.phrase_texts]
    if contextual:
        text_id = np.arange(len(all_texts), dtype=np.int64)
    else:
        ids: dict[str, int] = {}
        text_id = np.array([ids.setdefault(t, len(ids)) for t in all_texts], dtype=np.int64)
    seq = text_id[source]
    unique, first = np.unique(seq, return_index=True)
    by_first = np.argsort(first, kind="stable")
    rank = np.empty(len(unique), dtype=np.int64)
    rank[by_first] = np.arange(len(unique))
    keys = rank[np.searchsorted(unique, seq)].astype(np.int32)
    key_source = source[first[by_first]]
    return keys, key_source, [all_texts[i] for i in key_source.tolist()]


def _gather(shards: list[_Shard], offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Phrase vectors at ``rows`` of the concatenated shard tables, in that order."""
    out = np.empty((len(rows), shards[0].meta["dim"]), dtype=np.float32)
    shard_of = np.searchsorted(offsets, rows, side="right") - 1
    for s in np.unique(shard_of).tolist():
        where = np.flatnonzero(shard_of == s)
        out[where] = shards[s].vectors("phrases", rows[where] - offsets[s])
    return out


def merge_shards(shards: list[_Shard], tmp: Path, index_type: str, progress: bool = True,
                 seed: int = 0) -> dict:
    """Write the index files of the merged shards into ``tmp``; return manifest fields."""
    from tqdm import tqdm

    num_shards, dim = len(shards), shards[0].meta["dim"]
    contextual = bool(shards[0].meta.get("contextual"))
    n_sentences = sum(s.meta["counts"]["sentences"] for s in shards)
    # Occurrences: a one-process build lists them by sentence, then by span.
    shard_of = np.concatenate([np.full(len(s.occ["key"]), i, np.int64)
                               for i, s in enumerate(shards)])
    row = np.concatenate([s.occ["sentence"].astype(np.int64) * num_shards + i
                          for i, s in enumerate(shards)])
    order = np.argsort(row, kind="stable")
    local_key = np.concatenate([s.occ["key"].astype(np.int64) for s in shards])
    keys, key_source, phrase_texts = _global_keys(shards, order, shard_of, local_key,
                                                  contextual)
    merged = {k: np.concatenate([s.occ[k] for s in shards])[order]
              for k in ("start", "end", "plural", "title")}
    np.savez(tmp / "occurrences.npz", sentence=row[order].astype(np.int32),
             start=merged["start"], end=merged["end"], key=keys, plural=merged["plural"],
             title=merged["title"])
    del shard_of, row, order, local_key, merged
    (tmp / "phrases.json").write_text(json.dumps(phrase_texts, ensure_ascii=False),
                                      encoding="utf-8")
    n_phrases = len(phrase_texts)
    del phrase_texts
    # Sentences and their vectors, interleaved back into corpus order.
    readers = [open(s.folder / "sentences.jsonl", encoding="utf-8") for s in shards]
    try:
        with open(tmp / "sentences.jsonl", "w", encoding="utf-8") as out_text, \
                open(tmp / "sentences.npy", "wb") as out_vectors, \
                tqdm(total=n_sentences, desc="merging sentences", unit="sentence",
                     disable=not progress, leave=False) as bar:
            if not contextual:
                np.lib.format.write_array_header_1_0(
                    out_vectors, {"descr": "<f4", "fortran_order": False,
                                  "shape": (n_sentences, dim)})
            step = max(1, MERGE_ROWS // num_shards)
            for local in range(0, -(-n_sentences // num_shards), step):
                parts = [[next(r) for _ in range(min(step, s.meta["counts"]["sentences"]
                                                     - local))]
                         for r, s in zip(readers, shards, strict=True)]
                lines = [None] * sum(len(p) for p in parts)
                for i, part in enumerate(parts):
                    lines[i::num_shards] = part
                out_text.writelines(lines)
                if not contextual:
                    block = np.empty((len(lines), dim), dtype=np.float32)
                    for i, (part, s) in enumerate(zip(parts, shards, strict=True)):
                        block[i::num_shards] = s.vectors("sentences", start=local,
                                                         count=len(part))
                    out_vectors.write(block.tobytes())
                bar.update(len(lines))
    finally:
        for r in readers:
            r.close()
    if contextual:
        (tmp / "sentences.npy").unlink()
    # Phrase vectors: train the quantizer on a seeded sample, then add in key order.
    offsets = np.cumsum([0] + [s.meta["counts"]["phrases"] for s in shards])
    index = new_faiss_index(dim, n_phrases, index_type)
    if not index.is_trained:
        sample = np.sort(np.random.default_rng(seed).permutation(n_phrases)[
            :train_sample_size(index, n_phrases)])
        train_faiss_index(index, _gather(shards, offsets, key_source[sample]))
    for start in tqdm(range(0, n_phrases, MERGE_ROWS), desc="adding phrase vectors",
                      unit="chunk", disable=not progress, leave=False):
        index.add(_gather(shards, offsets, key_source[start:start + MERGE_ROWS]))
    size = write_faiss_index(index, tmp / "phrases.faiss")
    return {"counts": {"sentences": n_sentences, "occurrences": int(len(keys)),
                       "phrases": n_phrases},
            "faiss_file": {"bytes": size, "bytes_per_phrase": round(size / max(1, n_phrases), 2),
                           "description": describe_faiss(index)}}


def distributed_state():
    """Accelerate's process state when launched with several processes, else ``None``."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    import torch
    from accelerate import PartialState

    # Waiting for the slowest shard may take long: a day before the barrier gives up.
    return PartialState(cpu=not torch.cuda.is_available(), timeout=timedelta(hours=24))


def build_index(corpus: Corpus, encoder: Encoder, path: Path, settings: IndexSettings,
                fingerprint: str, num_shards: int = 1, progress: bool = True,
                candidates: CandidateFn | None = None, state=None) -> dict | None:
    """Build this process's missing shards, then (main process) merge them into ``path``.

    Returns the manifest on the main process, ``None`` on the others. Every process
    returns only once the merged index is in place.
    """
    if not isinstance(num_shards, int) or num_shards < 1:
        raise GenerError(f"the shard count must be at least 1 (got {num_shards})")
    rank, world = (state.process_index, state.num_processes) if state else (0, 1)
    candidates = candidates or _spacy_candidates(settings.max_tokens)
    recorded = settings.to_dict()  # in shard metas and the manifest
    started = time.perf_counter()
    for shard in range(rank, num_shards, world):
        folder = shard_dir(path, shard, num_shards)
        meta = read_shard_meta(folder)
        if meta is not None and _shard_matches(meta, shard, num_shards, fingerprint, encoder,
                                               recorded):
            logger.info("shard %d/%d already built: %s", shard + 1, num_shards, folder)
            continue
        meta = build_shard(corpus, encoder, folder, shard, num_shards, fingerprint, recorded,
                           candidates, progress)
        logger.info("shard %d/%d: %d sentences, %d phrases in %.0fs (process %d/%d)",
                    shard + 1, num_shards, meta["counts"]["sentences"],
                    meta["counts"]["phrases"], meta["seconds"]["total"], rank + 1, world)
    shard_seconds = round(time.perf_counter() - started, 1)
    if state:
        state.wait_for_everyone()
    manifest = None
    if rank == 0:
        shards = _open_shards(path, num_shards, fingerprint, encoder, recorded)
        if not sum(s.meta["counts"]["occurrences"] for s in shards):
            shutil.rmtree(path.with_name(f"{path.name}.shards"), ignore_errors=True)
            raise GenerError(f"{corpus.name}: no candidate phrases found in the corpus")
        tmp = temporary_folder(path)
        tick = time.perf_counter()
        merged = merge_shards(shards, tmp, settings.index_type, progress)
        manifest = {
            "format": FORMAT_VERSION, "corpus": corpus.name, "fingerprint": fingerprint,
            "encoder": encoder.identity(), **recorded, "counts": merged["counts"],
            "faiss_file": merged["faiss_file"],
            "sharding": {"shards": num_shards, "processes": world,
                         "shard_seconds": [s.meta["seconds"] for s in shards],
                         "shard_counts": [s.meta["counts"] for s in shards]},
            "build_seconds": round(shard_seconds + time.perf_counter() - tick, 1),
        }
        atomic_write_json(tmp / "manifest.json", manifest)
        replace_folder(tmp, path)
        shutil.rmtree(path.with_name(f"{path.name}.shards"), ignore_errors=True)  # merged
        logger.info("phrase index merged from %d shards: %d sentences, %d phrases, "
                    "%.1f bytes/phrase -> %s", num_shards, manifest["counts"]["sentences"],
                    manifest["counts"]["phrases"], merged["faiss_file"]["bytes_per_phrase"], path)
    if state:
        state.wait_for_everyone()
    return manifest
