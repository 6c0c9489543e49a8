"""The output of matching: records as JSON lines, their text templates, and writers."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gener.dictionary import PseudoDictionary
from gener.io import atomic_file, atomic_write_text

# Where a span came from, in the order of their codes.
SOURCES = ("retrieved", "abbreviation", "matched", "refined")
RETRIEVED, ABBREVIATION, MATCHED, REFINED = range(4)
# Characters that JSON escapes and tokenization keeps (other control characters are spaces).
NEEDS_ESCAPE = re.compile('["\\\\\x00-\x08\x0e-\x1b]')
SPAN = '{"start": %s, "end": %s, "type": %s, "source": "%s"}'
RECORD = ('{"id": "%%d", "tokens": [%%s], "ner_tags": [%%s], "spans": [%%s], "question": %s, '
          '"retrieval_score": %%s, "sentence_id": %%s}')


class Records(Sequence):
    """The annotated records of a :class:`MatchResult`, held as JSON lines.

    Behaves as a read-only sequence of dicts (each item is parsed from its line on access,
    so mutating one does not change the records); :func:`write_jsonl` writes the lines as
    they are. ``parts`` are blocks of lines (``str``, or UTF-8 ``bytes`` as forked workers
    send them) without a trailing newline; with ``path`` instead, they are read from that
    JSON-lines file when first needed.
    """

    def __init__(self, parts: list[str | bytes] | None = None, path: Path | None = None):
        self._parts = None if parts is None else [part for part in parts if part]
        self._path = path
        self._text: str | None = None
        self._lines: list[str] | None = None

    @property
    def parts(self) -> list[str | bytes]:
        if self._parts is None:
            text = Path(self._path).read_text(encoding="utf-8")
            self._parts = [text[:-1]] if text else []
        return self._parts

    @property
    def text(self) -> str:
        """All JSON lines joined by "\\n" (no trailing newline)."""
        if self._text is None:
            self._text = "\n".join(p.decode("utf-8") if isinstance(p, bytes) else p
                                   for p in self.parts)
        return self._text

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.text.split("\n") if self.parts else []
        return self._lines

    def __len__(self) -> int:
        return len(self.lines)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [json.loads(line) for line in self.lines[index]]
        return json.loads(self.lines[index])

    def __iter__(self):
        return map(json.loads, self.lines)

    def __eq__(self, other) -> bool:
        if isinstance(other, Records):
            return self.text == other.text
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(
                a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return f"Records({len(self)} records)"


@dataclass
class MatchResult:
    """Annotated records (one per input sentence, in input order), the dictionary and counts."""

    records: Records
    dictionary: PseudoDictionary
    stats: dict = field(default_factory=dict)


def encode(text: str) -> str:
    """The JSON text of a string."""
    return json.encoder.encode_basestring(text)


class TagRuns(dict):
    """Length n -> the JSON texts of n tags, ``first`` then ``rest``, joined by ", "."""

    def __init__(self, first: str, rest: str):
        super().__init__()
        self.first, self.rest = first, rest

    def __missing__(self, n: int) -> str:
        text = self[n] = ", ".join([self.first] + [self.rest] * (n - 1)) if n else ""
        return text


def _jsonl_lines(records):
    """JSON text of each record (dicts written as ``json.dumps`` would)."""
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    return map(dumps, records)


def write_jsonl(records, path) -> None:
    """Write one JSON object per record to ``path`` (UTF-8, atomically)."""
    if not isinstance(records, Records):
        atomic_write_text(path, "\n".join(_jsonl_lines(records)) + "\n" if records else "")
        return
    with atomic_file(path, binary=True) as f:  # the parts' bytes as they are
        for part in records.parts:
            f.write(part if isinstance(part, bytes) else part.encode("utf-8"))
            f.write(b"\n")


def to_dataset(records: list[dict], labels: list[str]):
    """A ``datasets.Dataset`` with ``ner_tags`` as ``List(ClassLabel)`` of ``O, B-L, I-L, ...``."""
    import datasets

    from gener.dataset import generated_features

    features = generated_features(labels)
    names = features["ner_tags"].feature.names
    index = {name: i for i, name in enumerate(names)}
    columns = {key: [r[key] for r in records] for key in features if key != "ner_tags"}
    columns["ner_tags"] = [[index[t] for t in r["ner_tags"]] for r in records]
    return datasets.Dataset.from_dict(columns, features=features)
