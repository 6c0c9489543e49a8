"""Training data: loading generated datasets, word-aligned windows, length-grouped batches.

Sentences are tokenized once; a sentence longer than the model's window is cut at word
boundaries into several windows (with ``stride`` tokens of overlap for inference), so no word
is ever dropped. Only the first sub-token of each word carries a label; the rest get -100.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

from gener.errors import GenerError

IGNORE = -100
# Byte-level BPE tokenizers need this to tokenize pre-split words.
_PREFIX_SPACE_MODELS = {"roberta", "gpt2", "longformer", "bart", "deberta", "mpnet"}


def load_tokenizer(name_or_path: str):
    """A fast tokenizer for ``name_or_path`` that accepts pre-split words."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        model_type = AutoConfig.from_pretrained(name_or_path).model_type
        kwargs = {"add_prefix_space": True} if model_type in _PREFIX_SPACE_MODELS else {}
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, **kwargs)
    except OSError as err:
        raise GenerError(f"cannot load model/tokenizer {name_or_path!r}: {err}") from err
    if not tokenizer.is_fast:
        raise GenerError(f"{name_or_path}: a fast tokenizer is needed to align words and tokens")
    return tokenizer


def load_training_dataset(path: str | Path, config: str | None = None, split: str = "train"):
    """A generated dataset: a ``save_to_disk`` folder, parquet file(s) or a Hub-format folder."""
    import datasets

    path = Path(path)
    if not path.exists():
        raise GenerError(f"dataset {path} not found")
    try:
        if path.is_file():
            if path.suffix != ".parquet":
                raise GenerError(f"{path}: expected a .parquet file or a dataset folder")
            dataset = datasets.Dataset.from_parquet(str(path))
        elif (path / "dataset_info.json").exists() or (path / "state.json").exists():
            dataset = datasets.load_from_disk(str(path))
            if isinstance(dataset, datasets.DatasetDict):
                dataset = _pick_split(dataset, split, path)
        elif config is None and list(path.glob("*.parquet")):
            dataset = datasets.Dataset.from_parquet(sorted(str(p) for p in path.glob("*.parquet")))
        else:
            dataset = _pick_split(datasets.load_dataset(str(path), config), split, path)
    except (ValueError, FileNotFoundError) as err:
        raise GenerError(f"cannot load dataset {path} (config {config}): {err}") from err
    label_names(dataset)  # fail early without ClassLabel tags
    return dataset


def _pick_split(dataset_dict, split: str, path: Path):
    if split not in dataset_dict:
        raise GenerError(f"{path}: no split {split!r} (has {', '.join(dataset_dict)})")
    return dataset_dict[split]


def read_manifest(path: str | Path, config: str | None) -> dict:
    """The ``<config>/gener.json`` manifest of a Hub-format dataset folder, or ``{}``."""
    if config is None:
        return {}
    manifest = Path(path) / config / "gener.json"
    return json.loads(manifest.read_text(encoding="utf-8")) if manifest.exists() else {}


def label_names(dataset) -> list[str]:
    """The BIO tag names of a dataset's ``ner_tags`` column (a list of ClassLabel)."""
    import datasets

    for column in ("tokens", "ner_tags"):
        if column not in dataset.column_names:
            raise GenerError(f"dataset has no {column!r} column (has {dataset.column_names})")
    feature = dataset.features["ner_tags"]
    inner = getattr(feature, "feature", None)
    if not isinstance(inner, datasets.ClassLabel):
        raise GenerError("dataset column 'ner_tags' must be a list of ClassLabel (no label names)")
    names = list(inner.names)
    if "O" not in names or len(names) < 2:
        raise GenerError(f"dataset has no entity labels (tags: {names})")
    return names


def entity_type(tag: str) -> str | None:
    """``B-X``/``I-X`` -> ``X``; ``O`` -> None."""
    return tag[2:] if tag[:2] in ("B-", "I-") else None


def plan_windows(counts: list[int], budget: int, stride: int = 0) -> list[tuple[int, int]]:
    """Cut words with ``counts`` sub-tokens into [start, end) windows of at most ``budget``
    sub-tokens, consecutive windows sharing about ``stride`` sub-tokens. A single word longer
    than ``budget`` gets a window of its own."""
    windows, start, n = [], 0, len(counts)
    while start < n:
        end, total = start, 0
        while end < n and (end == start or total + counts[end] <= budget):
            total += counts[end]
            end += 1
        windows.append((start, end))
        if end == n:
            break
        nxt, overlap = end, 0
        while nxt - 1 > start and overlap + counts[nxt - 1] <= stride:
            overlap += counts[nxt - 1]
            nxt -= 1
        start = nxt
    return windows


def special_tokens(tokenizer) -> tuple[list[int], list[int]]:
    """The special token ids the tokenizer puts before and after a single sequence."""
    encoded = tokenizer([["x"]], is_split_into_words=True)
    ids, words = encoded["input_ids"][0], encoded.word_ids(0)
    inside = [i for i, w in enumerate(words) if w is not None]
    return ids[:inside[0]], ids[inside[-1] + 1:]


@dataclass
class Window:
    """Model input for words [start, end) of one sentence; ``positions[i]`` is the token index
    of word ``start + i``'s first sub-token, or -1 when the word has no sub-token."""

    sentence: int
    start: int
    end: int
    input_ids: list[int]
    positions: list[int]


def encode_windows(tokenizer, sentences: list[list[str]], max_length: int, stride: int = 0,
                   batch: int = 1000) -> list[Window]:
    """Tokenize pre-split sentences into windows of at most ``max_length`` tokens."""
    head, tail = special_tokens(tokenizer)
    prefix = len(head)
    budget = max_length - len(head) - len(tail)
    if budget < 1:
        raise GenerError(f"max_length {max_length} leaves no room for words")
    windows = []
    for offset in range(0, len(sentences), batch):
        chunk = [list(s) for s in sentences[offset:offset + batch]]
        encoded = tokenizer([s or [""] for s in chunk], is_split_into_words=True,
                            add_special_tokens=False)
        for i, words in enumerate(chunk):
            if not words:
                continue
            ids = encoded["input_ids"][i]
            starts, counts = [-1] * len(words), [0] * len(words)
            for position, word in enumerate(encoded.word_ids(i)):
                if word is None:
                    continue
                if starts[word] < 0:
                    starts[word] = position
                counts[word] += 1
            for start, end in plan_windows(counts, budget, stride):
                first = next((starts[w] for w in range(start, end) if starts[w] >= 0), 0)
                last = max((starts[w] + counts[w] for w in range(start, end)), default=0)
                last = min(last, first + budget)  # cuts only the tail of one overlong word
                positions = [starts[w] - first + prefix if 0 <= starts[w] - first < budget
                             else -1 for w in range(start, end)]
                input_ids = head + ids[first:last] + tail
                windows.append(Window(offset + i, start, end, input_ids, positions))
    return windows


def encode_training_examples(dataset, tokenizer, max_length: int,
                             label_map: list[int] | None = None) -> list[dict]:
    """Windows of a tagged dataset with ``labels`` on first sub-tokens (-100 elsewhere).

    ``label_map`` maps the dataset's tag ids to the model's (identity when None)."""
    tags = dataset["ner_tags"]
    examples = []
    for window in encode_windows(tokenizer, dataset["tokens"], max_length):
        labels = [IGNORE] * len(window.input_ids)
        sentence_tags = tags[window.sentence]
        for i, position in enumerate(window.positions):
            if position >= 0:
                tag = sentence_tags[window.start + i]
                labels[position] = label_map[tag] if label_map else tag
        examples.append({"input_ids": window.input_ids, "labels": labels})
    return examples


class LengthGroupedBatches:
    """Batches of similar lengths: shuffle, sort inside mega-batches, shuffle the batches.

    Deterministic for a (seed, epoch) pair; ``set_epoch`` changes the order."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int = 0, shuffle: bool = True,
                 mega_batch: int = 50):
        self.lengths = lengths
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.mega_batch = mega_batch
        self.epoch = 0
        self.drop_last = False  # read by accelerate when it shards the batches

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self):
        order = list(range(len(self.lengths)))
        rng = random.Random(self.seed * 100_003 + self.epoch)
        if self.shuffle:
            rng.shuffle(order)
        size = self.batch_size * self.mega_batch
        batches = []
        for i in range(0, len(order), size):
            group = sorted(order[i:i + size], key=lambda j: -self.lengths[j])
            batches += [group[j:j + self.batch_size] for j in range(0, len(group), self.batch_size)]
        if self.shuffle:
            rng.shuffle(batches)
        return iter(batches)


class PadCollator:
    """Pads ``input_ids``/``labels`` to the longest example of the batch (dynamic padding)."""

    def __init__(self, pad_id: int, multiple_of: int = 1):
        self.pad_id = pad_id
        self.multiple_of = multiple_of

    def __call__(self, examples: list[dict]) -> dict:
        import torch

        width = max(len(e["input_ids"]) for e in examples)
        width = -(-width // self.multiple_of) * self.multiple_of
        ids = torch.full((len(examples), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
        for row, example in enumerate(examples):
            n = len(example["input_ids"])
            ids[row, :n] = torch.tensor(example["input_ids"])
            mask[row, :n] = 1
            if "labels" in example:
                labels[row, :n] = torch.tensor(example["labels"])
        batch = {"input_ids": ids, "attention_mask": mask}
        if "labels" in examples[0]:
            batch["labels"] = labels
        return batch
