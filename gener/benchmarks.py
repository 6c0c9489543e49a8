"""Readers for the five NER benchmarks of the paper, as ``datasets`` objects.

The files are read from a benchmarks folder (``--benchmarks DIR``, else the environment
variable ``GENER_BENCHMARKS``, else ``../shared/data`` next to the repository). Types the
paper does not generate (CoNLL/Wikigold MISC, WNUT "other") become ``O``. CoNLL-2003's IOB1
tags are converted to BIO.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from gener.errors import GenerError

ENV_VAR = "GENER_BENCHMARKS"
SPLITS = ("train", "validation", "test")
_TAG = re.compile(r"^(O|[BI]-\S+)$")


@dataclass(frozen=True)
class BenchmarkSpec:
    """Where a benchmark's files are and how to read them."""

    name: str
    files: dict[str, str]  # split -> path relative to the benchmarks folder
    labels: tuple[str, ...]  # types kept, in ClassLabel order
    columns: str  # "conll" (word POS chunk NER, space-separated) or "tsv" (word<TAB>tag)
    iob1: bool = False


BENCHMARKS = {
    spec.name: spec
    for spec in (
        BenchmarkSpec("conll2003", {"train": "conll2003/eng.train",
                                    "validation": "conll2003/eng.testa",
                                    "test": "conll2003/eng.testb"},
                      ("PER", "LOC", "ORG"), "conll", iob1=True),
        BenchmarkSpec("wikigold", {s: f"wikigold/derived_gold_bio/{f}.txt" for s, f in
                                   (("train", "train"), ("validation", "dev"), ("test", "test"))},
                      ("PER", "LOC", "ORG"), "tsv"),
        BenchmarkSpec("wnut16", {"train": "wnut16/train", "validation": "wnut16/dev",
                                 "test": "wnut16/test"},
                      ("person", "geo-loc", "product", "facility", "company", "sportsteam",
                       "tvshow", "movie", "musicartist"), "tsv"),
        BenchmarkSpec("ncbi_disease", {s: f"ncbi_disease/{f}.tsv" for s, f in
                                       (("train", "train"), ("validation", "devel"),
                                        ("test", "test"))},
                      ("Disease",), "tsv"),
        BenchmarkSpec("bc5cdr", {s: f"bc5cdr/{f}.tsv" for s, f in
                                 (("train", "train"), ("validation", "devel"), ("test", "test"))},
                      ("Disease", "Chemical"), "tsv"),
    )
}


def bio_label_names(labels: list[str] | tuple[str, ...]) -> list[str]:
    """ClassLabel names for entity types: ``O`` then ``B-X``, ``I-X`` for each type in order."""
    names = ["O"]
    for label in labels:
        names += [f"B-{label}", f"I-{label}"]
    return names


def ner_features(labels: list[str] | tuple[str, ...]):
    """The ``id`` / ``tokens`` / ``ner_tags`` features shared by benchmarks and generated data."""
    import datasets

    return datasets.Features({
        "id": datasets.Value("string"),
        "tokens": datasets.List(datasets.Value("string")),
        "ner_tags": datasets.List(datasets.ClassLabel(names=bio_label_names(labels))),
    })


def benchmarks_dir(path: str | Path | None = None) -> Path:
    """Resolve the benchmarks folder; raise a clear error when it does not exist."""
    if path is None:
        path = os.environ.get(ENV_VAR) or Path(__file__).resolve().parents[2] / "shared" / "data"
    path = Path(path)
    if not path.is_dir():
        raise GenerError(f"benchmarks folder {path} not found "
                         f"(pass --benchmarks DIR or set {ENV_VAR})")
    return path


def _get_spec(name: str) -> BenchmarkSpec:
    if name not in BENCHMARKS:
        raise GenerError(f"unknown benchmark {name!r} (known: {', '.join(BENCHMARKS)})")
    return BENCHMARKS[name]


def read_sentences(path: Path, columns: str) -> list[tuple[list[str], list[str]]]:
    """Read a CoNLL-style file into (tokens, tags) sentences; malformed lines name file:line."""
    if not path.exists():
        raise GenerError(f"{path}: benchmark file not found")
    sentences, tokens, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                if tokens:
                    sentences.append((tokens, tags))
                    tokens, tags = [], []
                continue
            if line.startswith("-DOCSTART-"):
                continue
            fields = line.split(" ") if columns == "conll" else line.split("\t")
            expected = 4 if columns == "conll" else 2
            if len(fields) != expected or not fields[0]:
                raise GenerError(f"{path}:{number}: malformed line: expected {expected} "
                                 f"{'space' if columns == 'conll' else 'tab'}-separated "
                                 f"columns, got {line[:80]!r}")
            if not _TAG.match(fields[-1]):
                raise GenerError(f"{path}:{number}: malformed tag {fields[-1]!r}")
            tokens.append(fields[0])
            tags.append(fields[-1])
    if tokens:
        sentences.append((tokens, tags))
    return sentences


def to_bio(tags: list[str], keep: set[str], iob1: bool = False) -> list[str]:
    """Normalise tags to BIO: IOB1 -> BIO if asked, types outside ``keep`` -> O."""
    out, previous = [], "O"
    for tag in tags:
        if tag == "O":
            out.append("O")
            previous = "O"
            continue
        prefix, label = tag[0], tag[2:]
        if iob1 and prefix == "I" and previous[2:] != label:
            prefix = "B"
        if prefix == "I" and (previous == "O" or previous[2:] != label):
            prefix = "B"  # a stray I- starts an entity, as seqeval does
        previous = f"{prefix}-{label}"
        out.append(previous if label in keep else "O")
    return out


def load_benchmark(name: str, split: str, benchmarks_dir_: str | Path | None = None):
    """One split of a benchmark as a ``datasets.Dataset`` (id, tokens, ner_tags as ClassLabel)."""
    spec = _get_spec(name)
    if split not in SPLITS:
        raise GenerError(f"unknown split {split!r} (known: {', '.join(SPLITS)})")
    root = benchmarks_dir(benchmarks_dir_)
    sentences = read_sentences(root / spec.files[split], spec.columns)
    index = {n: i for i, n in enumerate(bio_label_names(spec.labels))}
    keep = set(spec.labels)
    import datasets

    return datasets.Dataset.from_dict({
        "id": [f"{name}-{split}-{i}" for i in range(len(sentences))],
        "tokens": [tokens for tokens, _ in sentences],
        "ner_tags": [[index[t] for t in to_bio(tags, keep, spec.iob1)] for _, tags in sentences],
    }, features=ner_features(spec.labels))


def load_benchmark_dict(name: str, benchmarks_dir_: str | Path | None = None):
    """All three splits of a benchmark as a ``datasets.DatasetDict``."""
    import datasets

    return datasets.DatasetDict({split: load_benchmark(name, split, benchmarks_dir_)
                                 for split in SPLITS})
