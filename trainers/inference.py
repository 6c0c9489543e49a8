"""Tagging with a saved model: word-level predictions over sliding windows, and entity spans.

Long inputs are cut into overlapping windows at word boundaries; each word takes the
prediction of the window where it sits farthest from the edges, and spans are decoded over
the whole document, so entities crossing a window boundary come out whole. Nothing is
truncated (a single word longer than the window keeps its first sub-tokens, which are the
ones that carry its label). On a text that fits in one window, :class:`Tagger` gives what
``pipeline(model=..., aggregation_strategy="first")`` gives, with the model's rules on
predictions applied as the pipeline shipped with the model applies them
(:mod:`trainers.hub_pipeline`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from gener.errors import GenerError, first_line
from gener.models import PRECISIONS
from trainers.data import PadCollator, encode_windows, entity_type, load_tokenizer

WORD = re.compile(r"\w+|[^\w\s]")
DEFAULT_STRIDE = 32


def word_log_probs(model, tokenizer, sentences: list[list[str]], max_length: int = 256,
                   stride: int = DEFAULT_STRIDE, batch_size: int = 64, autocast=None):
    """Per sentence, a (words, labels) array of the model's log-probabilities for each word
    (its first sub-token, in the window where it sits farthest from the edges)."""
    import contextlib

    import numpy as np
    import torch

    stride = min(stride, max_length // 4)
    windows = encode_windows(tokenizer, sentences, max_length, stride)
    labels = model.config.num_labels
    out = [np.zeros((len(s), labels), dtype=np.float32) for s in sentences]
    centrality = [[-1] * len(s) for s in sentences]
    collate = PadCollator(tokenizer.pad_token_id or 0)
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
    device = next(model.parameters()).device
    with torch.no_grad():
        for begin in range(0, len(order), batch_size):
            chunk = [windows[i] for i in order[begin:begin + batch_size]]
            batch = collate([{"input_ids": w.input_ids} for w in chunk])
            with autocast() if autocast else contextlib.nullcontext():
                logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
            log_probs = logits.float().log_softmax(-1).cpu().numpy()
            for row, window in enumerate(chunk):
                last = len(window.input_ids) - 1
                for i, position in enumerate(window.positions):
                    if position < 0:
                        continue
                    word = window.start + i
                    center = min(position, last - position)
                    if center > centrality[window.sentence][word]:
                        centrality[window.sentence][word] = center
                        out[window.sentence][word] = log_probs[row, position]
    return out


def predict_words(model, tokenizer, sentences: list[list[str]], max_length: int = 256,
                  stride: int = DEFAULT_STRIDE, batch_size: int = 64, autocast=None):
    """Label ids and confidences for every word of every sentence (``model`` in eval mode):
    the most probable label of the word's first sub-token, as ``aggregation_strategy="first"``
    chooses in ``transformers``' pipeline. Returns ``(labels, scores)``, two lists of
    per-sentence lists; a score is the chosen label's probability."""
    import numpy as np

    log_probs = word_log_probs(model, tokenizer, sentences, max_length, stride, batch_size,
                               autocast)
    labels, scores = [], []
    for rows in log_probs:
        best = rows.argmax(-1) if len(rows) else np.zeros(0, dtype=int)
        labels.append(best.tolist())
        scores.append(np.exp(rows[np.arange(len(rows)), best]).tolist())
    return labels, scores


def bio_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, first word, last word + 1) for each entity in a BIO tag sequence (a stray I-
    starts an entity, as in seqeval's default mode)."""
    spans, current = [], None
    for i, tag in enumerate(tags + ["O"]):
        kind = entity_type(tag)
        if current and (kind != current[0] or tag.startswith("B-")):
            spans.append((current[0], current[1], i))
            current = None
        if kind and current is None:
            current = (kind, i)
    return spans


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Words and punctuation of raw text with their character offsets."""
    return [(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]


def token_words(tokenizer, text: str) -> list[tuple[str, int, int]]:
    """The words of raw text as ``transformers``' token-classification pipeline groups its
    tokens, with character offsets: a token continues the word before it when it is a
    sub-word piece ("##cher"), or, for tokenizers that mark none, when no space precedes it."""
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    marked = getattr(getattr(tokenizer, "_tokenizer", None), "model", None)
    marked = bool(getattr(marked, "continuing_subword_prefix", None))
    spans: list[list[int]] = []
    for token, token_id, (start, end) in zip(tokens, encoded["input_ids"],
                                             encoded["offset_mapping"], strict=True):
        if marked:
            piece = len(token) != end - start
        else:
            piece = start > 0 and " " not in text[start - 1:start + 1]
        if spans and piece and token_id != tokenizer.unk_token_id:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return [(text[start:end], start, end) for start, end in spans]


@dataclass
class Entity:
    """One tagged span of raw text."""

    label: str
    start: int
    end: int
    text: str
    score: float

    def to_dict(self) -> dict:
        return {"label": self.label, "start": self.start, "end": self.end, "text": self.text,
                "score": round(self.score, 4)}


def check_model_folder(model_dir: str | Path) -> None:
    """Raise a one-line error unless ``model_dir`` is a saved token-classification model."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise GenerError(f"model folder {folder} not found")
    config = folder / "config.json"
    if not config.exists():
        hint = " (a dataset folder?)" if any(folder.glob("*/gener.json")) else ""
        raise GenerError(f"{folder}: not a model folder{hint}: no config.json; give a folder "
                         "written by `gener train`")
    try:
        architectures = json.loads(config.read_text(encoding="utf-8")).get("architectures")
    except (ValueError, AttributeError):
        raise GenerError(f"{config}: not a valid model config") from None
    if architectures and not any(a.endswith("ForTokenClassification") for a in architectures):
        raise GenerError(f"{folder}: not a token-classification model "
                         f"({', '.join(architectures)})")


class Tagger:
    """A saved token-classification model applied to raw text or pre-split sentences.

    ``precision="bf16"`` runs the model under bf16 autocast: about twice as fast on a CPU
    that multiplies bf16 natively (AVX512-BF16 or AMX; slower elsewhere), at the cost of a
    word's label differing from fp32's on about 1% of sentences (BENCHMARKS.md)."""

    def __init__(self, model_dir: str | Path, max_length: int = 256,
                 stride: int = DEFAULT_STRIDE, batch_size: int = 64, precision: str = "fp32"):
        from transformers import AutoModelForTokenClassification

        model_dir = str(model_dir)
        if precision not in PRECISIONS:
            raise GenerError(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")
        check_model_folder(model_dir)
        try:
            self.tokenizer = load_tokenizer(model_dir)
            self.model = AutoModelForTokenClassification.from_pretrained(model_dir).eval()
        except (OSError, ValueError) as err:
            raise GenerError(f"{model_dir}: cannot load the model: {first_line(err)}") from None
        self.id2label = {int(k): v for k, v in self.model.config.id2label.items()}
        limit = getattr(self.model.config, "max_position_embeddings", max_length)
        self.max_length = min(max_length, limit - 2 if limit > 2 else limit)
        self.stride = stride
        self.batch_size = batch_size
        self.autocast = None
        if precision == "bf16":
            import torch

            self.autocast = lambda: torch.autocast(self.device, dtype=torch.bfloat16)
        from trainers.hub_pipeline import CAPITALIZED_KEY, RULE9_KEY, common_words

        self.capitalized = frozenset(getattr(self.model.config, CAPITALIZED_KEY, None) or ())
        self.rule9 = frozenset(getattr(self.model.config, RULE9_KEY, None) or ())
        self.common = common_words(self.tokenizer.get_vocab())

    @property
    def device(self) -> str:
        """The type of the device the model is on now ("cpu", "cuda")."""
        return next(self.model.parameters()).device.type

    @property
    def types(self) -> list[str]:
        """Entity types the model predicts, in label order."""
        return list(dict.fromkeys(t for t in map(entity_type, self.id2label.values()) if t))

    def tag_words(self, sentences: list[list[str]]) -> list[list[str]]:
        """BIO tags for every word of every pre-split sentence."""
        ids, _ = predict_words(self.model, self.tokenizer, sentences, self.max_length,
                               self.stride, self.batch_size, self.autocast)
        return [self._rules(words, [self.id2label[i] for i in row])
                for words, row in zip(sentences, ids, strict=True)]

    def _rules(self, words: list[str], tags: list[str]) -> list[str]:
        """``tags`` after the model's rules on predictions (trainers.hub_pipeline)."""
        from trainers.hub_pipeline import apply_rules

        return apply_rules(words, tags, self.capitalized, self.rule9, self.common)

    def tag(self, text: str) -> list[Entity]:
        """Entities in raw text of any length, with character offsets."""
        return self.tag_many([text])[0]

    def tag_many(self, texts: list[str]) -> list[list[Entity]]:
        """:meth:`tag` for many texts at once: their windows are batched together."""
        split = [token_words(self.tokenizer, text) for text in texts]
        ids, scores = predict_words(self.model, self.tokenizer,
                                    [[w for w, _, _ in words] for words in split],
                                    self.max_length, self.stride, self.batch_size,
                                    self.autocast)
        out = []
        for text, words, row, row_scores in zip(texts, split, ids, scores, strict=True):
            tags = self._rules([w for w, _, _ in words], [self.id2label[i] for i in row])
            entities = []
            for label, first, end in bio_spans(tags):
                start, stop = words[first][1], words[end - 1][2]
                score = sum(row_scores[first:end]) / (end - first)
                entities.append(Entity(label, start, stop, text[start:stop], score))
            out.append(entities)
        return out
