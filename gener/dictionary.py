"""The pseudo-dictionary: normalized retrieved phrases with per-label counts (paper §3.3)."""

from __future__ import annotations

import json
from pathlib import Path

from gener.errors import GenerError
from gener.text import tokenize


def phrase_key(text: str) -> str:
    """The matching key of a phrase: the paper's tokens, lowercased, joined by single spaces."""
    return " ".join(tokenize(text)).lower()


class PseudoDictionary:
    """Maps phrase keys (see :func:`phrase_key`) to ``{label: count}``.

    ``capitals_only``: the keys matched only where written in capitals (abbreviations that
    are also common words, "WAS" for Wiskott-Aldrich syndrome).
    """

    def __init__(self, labels: list[str]):
        self.labels = list(labels)
        self.counts: dict[str, dict[str, int]] = {}
        self.capitals_only: set[str] = set()

    def add(self, phrase: str, label: str, count: int = 1) -> None:
        """Count ``phrase`` (surface form) ``count`` times as ``label``."""
        self.add_keys([(phrase_key(phrase), count)], label)

    def add_keys(self, keys, label: str) -> None:
        """Count each ``(key, count)`` (keys as :func:`phrase_key` makes them) as ``label``."""
        if not keys:
            return
        if label not in self.labels:
            raise GenerError(f"label {label!r} is not one of {', '.join(self.labels)}")
        counts = self.counts
        for key, count in keys:
            if key:
                types = counts.get(key)
                if types is None:
                    types = counts[key] = {}
                types[label] = types.get(label, 0) + count

    @classmethod
    def from_retrievals(cls, retrievals, labels: list[str]) -> PseudoDictionary:
        """Each (normalized) retrieved phrase occurrence counts once for its label."""
        dictionary = cls(labels)
        for retrieval in retrievals:
            label = retrieval.subquestion.label
            for sentence in retrieval.sentences:
                for phrase in sentence.phrases:
                    dictionary.add(phrase.name, label)
        return dictionary

    def __len__(self) -> int:
        return len(self.counts)

    def __contains__(self, phrase: str) -> bool:
        return phrase_key(phrase) in self.counts

    def types(self, phrase: str) -> dict[str, int]:
        """Label counts of a phrase (empty when absent)."""
        return dict(self.counts.get(phrase_key(phrase), {}))

    def to_json(self) -> str:
        """Deterministic JSON text: ``{"labels": [...], "phrases": {key: {label: count}}}``.

        Exactly ``json.dumps(..., sort_keys=True, ensure_ascii=False, indent=1) + "\\n"``,
        built with the C string encoder (``json`` drops to pure Python with ``indent``): all
        keys in one call when they hold no newline or backslash. ``"capitals_only"`` (sorted)
        is there only when there are such keys.
        """
        data = {"labels": self.labels, "phrases": self.counts}
        if self.capitals_only:
            data["capitals_only"] = sorted(self.capitals_only)
            return json.dumps(data, sort_keys=True, ensure_ascii=False, indent=1) + "\n"
        if not all(type(label) is str for label in self.labels):
            return json.dumps(data, sort_keys=True, ensure_ascii=False, indent=1) + "\n"
        enc = json.encoder.encode_basestring
        labels = ("[\n" + ",\n".join("  " + enc(label) for label in self.labels) + "\n ]"
                  if self.labels else "[]")
        keys = sorted(self.counts)
        joined = "\n".join(keys)
        if "\\" in joined or joined.count("\n") != len(keys) - 1:  # one encode for all keys
            encoded = [enc(key)[1:-1] for key in keys]
        else:
            encoded = enc(joined)[1:-1].split("\\n") if keys else []
        tails: dict = {}  # (label, count) -> the text after the key of a one-label phrase
        phrases = []
        for text, types in zip(encoded, map(self.counts.__getitem__, keys), strict=True):
            if len(types) == 1:
                for item in types.items():
                    tail = tails.get(item)
                    if tail is None or type(item[1]) is not int:
                        label, count = item
                        if type(label) is not str or type(count) is not int:
                            return json.dumps(data, sort_keys=True, ensure_ascii=False,
                                              indent=1) + "\n"
                        tail = tails[item] = f": {{\n   {enc(label)}: {count}\n  }}"
                    phrases.append(f"  \"{text}\"{tail}")
            else:
                if not all(type(label) is str and type(count) is int
                           for label, count in types.items()):
                    return json.dumps(data, sort_keys=True, ensure_ascii=False, indent=1) + "\n"
                phrases.append(f"  \"{text}\": " + ("{\n" + ",\n".join(
                    f"   {enc(label)}: {types[label]}" for label in sorted(types)) + "\n  }"
                    if types else "{}"))
        body = "{\n" + ",\n".join(phrases) + "\n }" if phrases else "{}"
        return f'{{\n "labels": {labels},\n "phrases": {body}\n}}\n'

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_json` atomically (temporary file, then rename)."""
        from gener.io import atomic_write_text

        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> PseudoDictionary:
        """Read a file written by :meth:`save`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            dictionary = cls(data["labels"])
            for key, types in data["phrases"].items():
                dictionary.counts[key] = {str(k): int(v) for k, v in types.items()}
            capitals = data.get("capitals_only", [])
            if not isinstance(capitals, list) or not all(isinstance(k, str) for k in capitals):
                raise ValueError("capitals_only must be a list of phrase keys")
            dictionary.capitals_only = set(capitals)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise GenerError(f"{path}: not a pseudo-dictionary file ({err})") from None
        return dictionary
