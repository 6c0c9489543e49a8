"""Readers for the five NER benchmarks of the paper and for users' labelled data, as
``datasets`` objects.

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

from gener.errors import GenerError, first_line

ENV_VAR = "GENER_BENCHMARKS"
SPLITS = ("train", "validation", "test")
_TAG = re.compile(r"^(O|[BI]-\S+)$")
_SEPARATORS = {"conll": "space", "tsv": "tab", "auto": "tab- or space"}


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
    """Read a CoNLL-style file into (tokens, tags) sentences; malformed lines name file:line.

    ``columns``: "conll" (word POS chunk NER, space-separated), "tsv" (word<TAB>tag) or
    "auto" (the first column is the word and the last the tag, tab- or space-separated)."""
    if not path.exists():
        raise GenerError(f"{path}: file not found")
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
            if columns == "auto":  # tab-separated if any tab, else spaces; word ... tag
                fields = line.split("\t") if "\t" in line else line.split()
                if len(fields) >= 2 and fields[0]:
                    fields = [fields[0], fields[-1].strip()]
                expected = 2
            else:
                fields = line.split(" ") if columns == "conll" else line.split("\t")
                expected = 4 if columns == "conll" else 2
            if len(fields) != expected or not fields[0]:
                raise GenerError(f"{path}:{number}: malformed line: expected "
                                 f"{'at least ' if columns == 'auto' else ''}{expected} "
                                 f"{_SEPARATORS[columns]}-separated columns, got {line[:80]!r}")
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


def _labelled(name: str, sentences: list[tuple[list[str], list[str]]]):
    """``(tokens, tags)`` sentences (BIO or IOB1) as a Dataset with every type they tag."""
    import datasets

    for tokens, tags in sentences:
        bad = next((t for t in tags if not _TAG.match(t)), None)
        if bad is not None or len(tokens) != len(tags):
            raise GenerError(f"{name}: sentence {' '.join(map(str, tokens))[:60]!r}: "
                             + (f"malformed tag {bad!r}" if bad is not None else
                                f"{len(tokens)} tokens but {len(tags)} tags"))
    types = list(dict.fromkeys(t[2:] for _, tags in sentences for t in tags if t != "O"))
    index = {n: i for i, n in enumerate(bio_label_names(types))}
    return datasets.Dataset.from_dict({
        "id": [f"{name}-{i}" for i in range(len(sentences))],
        "tokens": [list(map(str, tokens)) for tokens, _ in sentences],
        "ner_tags": [[index[t] for t in to_bio(tags, set(types), iob1=True)]
                     for _, tags in sentences],
    }, features=ner_features(types))


_TAG_COLUMNS = ("ner_tags", "tags", "labels")


def _jsonl_sentences(path: Path) -> list[tuple[list[str], list[str]]]:
    import json

    sentences = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise GenerError(f"{path}:{number}: not valid JSON: {err.msg}") from None
            column = next((c for c in _TAG_COLUMNS if c in record), None) \
                if isinstance(record, dict) else None
            if column is None or "tokens" not in record:
                raise GenerError(f"{path}:{number}: needs 'tokens' and a tag list "
                                 f"({', '.join(map(repr, _TAG_COLUMNS))})")
            if not all(isinstance(t, str) for t in record[column]):
                raise GenerError(f"{path}:{number}: {column!r} must hold tag strings "
                                 "such as 'B-Disease', not ids")
            sentences.append((record["tokens"], record[column]))
    return sentences


def _choose_split(splits: list[str], split: str | None, name: str) -> str:
    if split is None:
        split = "test" if "test" in splits or len(splits) != 1 else splits[0]
    if split not in splits:
        raise GenerError(f"{name}: no split {split!r} (splits: {', '.join(splits)}; "
                         "name one with --split or hf:ID:SPLIT)")
    return split


def _hf_sentences(dataset, name: str) -> list[tuple[list[str], list[str]]]:
    import datasets

    column = next((c for c in _TAG_COLUMNS if c in dataset.column_names), None)
    if column is None or "tokens" not in dataset.column_names:
        raise GenerError(f"{name}: needs a 'tokens' column and a tag column "
                         f"({', '.join(_TAG_COLUMNS)}); columns: {', '.join(dataset.column_names)}")
    inner = getattr(dataset.features[column], "feature", None)
    if isinstance(inner, datasets.ClassLabel):
        names = inner.names
        tags = [[names[i] for i in row] for row in dataset[column]]
    else:
        tags = dataset[column]
        if any(not isinstance(t, str) for row in tags[:100] for t in row):
            raise GenerError(f"{name}: column {column!r} holds ids without label names "
                             "(it must be a list of ClassLabel or of tag strings)")
    return list(zip(dataset["tokens"], tags, strict=True))


def load_labelled_data(spec: str, split: str | None = None):
    """A user's labelled data as a Dataset (id, tokens, ner_tags as ClassLabel, BIO).

    ``spec``: a CoNLL-style file (word first, tag last, tab- or space-separated, IOB1 or BIO,
    -DOCSTART- lines skipped), a .jsonl file of ``tokens`` and tag strings, a ``datasets``
    folder (``save_to_disk`` or Hub layout) or ``hf:ID[:SPLIT]``. ``split`` picks a split of
    a folder or Hub dataset (default: test, or the only one)."""
    import datasets

    if spec.startswith("hf:"):
        name, _, hub_split = spec[3:].partition(":")
        split = hub_split or split
        try:
            splits = list(datasets.get_dataset_split_names(name))
            dataset = datasets.load_dataset(name, split=_choose_split(splits, split, spec))
        except GenerError:
            raise
        except Exception as err:  # datasets raises many types; report them in one line
            raise GenerError(f"{spec}: cannot load dataset: {first_line(err)}") from None
        return _labelled(spec, _hf_sentences(dataset, spec))
    path = Path(spec)
    if path.is_dir():
        try:
            if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
                loaded = datasets.load_from_disk(str(path))
            else:
                loaded = datasets.load_dataset(str(path))
        except Exception as err:  # as above
            raise GenerError(f"{path}: cannot load dataset: {first_line(err)}") from None
        if isinstance(loaded, datasets.DatasetDict):
            loaded = loaded[_choose_split(list(loaded), split, str(path))]
        return _labelled(str(path), _hf_sentences(loaded, str(path)))
    if not path.is_file():
        raise GenerError(f"{path}: data file or folder not found")
    if path.suffix in (".jsonl", ".ndjson"):
        return _labelled(str(path), _jsonl_sentences(path))
    try:
        return _labelled(str(path), read_sentences(path, "auto"))
    except UnicodeDecodeError:
        raise GenerError(f"{path}: not UTF-8 text") from None
