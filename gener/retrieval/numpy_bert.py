"""A NumPy forward pass of a BERT encoder, for encoding a few questions without torch.

``gener ask`` encodes one question against an index that is already built; importing torch
and transformers' BERT modules for that took ~3 s here, the forward pass itself a few
milliseconds. This module reads the same ``model.safetensors`` and ``tokenizer.json`` and
computes the same mean-pooled, unit-length vectors in float32 (checked against the torch
encoder by the tests). Only plain BERT checkpoints are supported (``model_type: bert``,
absolute positions, GELU or ReLU); :func:`supports` says whether a folder is one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

WEIGHTS, TOKENIZER = "model.safetensors", "tokenizer.json"
ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu")


def supports(folder: str | Path, config: dict) -> bool:
    """Whether ``folder`` holds a BERT checkpoint this module can run."""
    folder = Path(folder)
    return (config.get("model_type") == "bert"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and config.get("hidden_act") in ACTIVATIONS
            and (folder / WEIGHTS).is_file() and (folder / TOKENIZER).is_file())


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7, below float32's resolution here).
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                                                      + t * (-1.453152027 + t * 1.061405429))))
    return np.sign(x) * (1.0 - poly * np.exp(-x * x))


def _activation(name: str, x: np.ndarray) -> np.ndarray:
    if name == "gelu":
        return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))
    if name == "relu":
        return np.maximum(x, 0)
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class NumpyBert:
    """Mean-pooled, L2-normalised last states of a BERT checkpoint, computed with NumPy."""

    def __init__(self, folder: str | Path, config: dict, max_length: int) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = Path(folder)
        weights = load_file(folder / WEIGHTS)
        # Token-classification and pre-training checkpoints prefix the encoder's names.
        self.weights = {name.removeprefix("bert."): array for name, array in weights.items()}
        self.config = config
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.weights[f"{name}.weight"].T + self.weights[f"{name}.bias"]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        return _layer_norm(x, self.weights[f"{name}.weight"], self.weights[f"{name}.bias"],
                           float(self.config.get("layer_norm_eps", 1e-12)))

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors for ``texts``, in input order (one padded batch: meant for few texts)."""
        width = int(self.config["hidden_size"])
        if not texts:
            return np.zeros((0, width), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), length), dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.float32)
        for row, encoding in enumerate(encodings):
            ids[row, :len(encoding.ids)] = encoding.ids
            mask[row, :len(encoding.ids)] = 1
        w = self.weights
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:length]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, "embeddings.LayerNorm")
        heads = int(self.config["num_attention_heads"])
        size = width // heads
        blocked = (1.0 - mask)[:, None, None, :] * np.finfo(np.float32).min

        def split(t: np.ndarray) -> np.ndarray:  # (batch, length, width) -> per head
            return t.reshape(len(texts), length, heads, size).transpose(0, 2, 1, 3)

        for layer in range(int(self.config["num_hidden_layers"])):
            prefix = f"encoder.layer.{layer}"
            q, k, v = (split(self._linear(x, f"{prefix}.attention.self.{part}"))
                       for part in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(size) + blocked
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            context = (scores / scores.sum(-1, keepdims=True)) @ v
            context = context.transpose(0, 2, 1, 3).reshape(len(texts), length, width)
            x = self._norm(x + self._linear(context, f"{prefix}.attention.output.dense"),
                           f"{prefix}.attention.output.LayerNorm")
            hidden = _activation(self.config["hidden_act"],
                                 self._linear(x, f"{prefix}.intermediate.dense"))
            x = self._norm(x + self._linear(hidden, f"{prefix}.output.dense"),
                           f"{prefix}.output.LayerNorm")
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32)


def read_config(folder: str | Path) -> dict:
    """The ``config.json`` of a model folder, as a dict."""
    return json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
