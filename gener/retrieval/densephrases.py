"""Our loader for the DensePhrases checkpoint format (Lee et al., 2021; GeNER's Eq. 1).

A checkpoint folder (e.g. ``densephrases-multi-query-multi``) holds a BERT-like
``config.json``, tokenizer files, and one weights file (``pytorch_model.bin`` or
``model.safetensors``) whose keys are three copies of the encoder under the prefixes
``phrase_encoder.``, ``query_start_encoder.`` and ``query_end_encoder.`` (plus an unused
``filter_linear``). A phrase from token i to token j of a sentence is represented by the
phrase encoder's last states ``[h_i; h_j]``; a question by the [CLS] states of the two query
encoders ``[q_s; q_e]``; the score ``q_s·h_i + q_e·h_j`` is their inner product.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from gener.errors import GenerError
from gener.retrieval.encoder_base import Encoder, length_batches

PREFIXES = ("phrase_encoder.", "query_start_encoder.", "query_end_encoder.")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
MAX_LENGTH = 256


def _weights_file(path: Path) -> Path | None:
    return next((path / f for f in WEIGHT_FILES if (path / f).exists()), None)


def _load_state(file: Path) -> dict:
    import torch

    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(file))
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # torch/safetensors raise many types for damaged files
        raise GenerError(f"{file}: cannot read DensePhrases weights: {err}") from None


def _state_keys(file: Path) -> list[str]:
    if file.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(file), "pt") as f:
                return list(f.keys())
        except Exception:  # a damaged file is not a DensePhrases checkpoint we can use
            return []
    return list(_load_state(file))


def is_densephrases_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` is a folder with weights in the DensePhrases three-encoder layout."""
    file = _weights_file(Path(path))
    if file is None:
        return False
    keys = _state_keys(file)
    return all(any(k.startswith(p) for k in keys) for p in PREFIXES)


class DensePhrasesEncoder(Encoder):
    """Phrase encoder + query start/end encoders loaded from a DensePhrases checkpoint."""

    contextual = True

    def __init__(self, path: str, device: str | None = None) -> None:
        import torch
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        self.name = self.path = path
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        folder = Path(path)
        self.config = AutoConfig.from_pretrained(path)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        state = _load_state(_weights_file(folder))
        self.encoders = {}
        for prefix in PREFIXES:
            model = AutoModel.from_config(self.config, add_pooling_layer=False)
            sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            missing, _ = model.load_state_dict(sub, strict=False)
            missing = [k for k in missing if not k.endswith("position_ids")]
            if missing:
                raise GenerError(f"{path}: DensePhrases checkpoint lacks {prefix}{missing[0]}")
            self.encoders[prefix] = model.to(self.device).eval()
        self.hidden = int(self.config.hidden_size)
        self.dim = 2 * self.hidden

    def identity(self) -> dict:
        config = json.dumps(self.config.to_dict(), sort_keys=True, default=str)
        file = _weights_file(Path(self.path))
        return {"kind": "densephrases", "name": self.name, "dim": self.dim,
                "model": str(Path(self.path).resolve()),
                "config": hashlib.sha256(config.encode()).hexdigest()[:12],
                "weights_bytes": file.stat().st_size}

    def encode_questions(self, questions: list[str]) -> np.ndarray:
        """``[q_s; q_e]``: the [CLS] states of the query start and end encoders."""
        import torch

        inputs = self.tokenizer(list(questions), padding=True, truncation=True,
                                max_length=MAX_LENGTH, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            parts = [self.encoders[p](**inputs).last_hidden_state[:, 0] for p in PREFIXES[1:]]
        return torch.cat(parts, dim=-1).float().cpu().numpy()

    def encode_spans(self, sentences: list[str], spans: list[list[tuple[int, int]]],
                     progress: bool = False) -> np.ndarray:
        """``[h_i; h_j]`` for every span of every sentence, in order (zeros if truncated)."""
        import torch
        from tqdm import tqdm

        starts = np.cumsum([0] + [len(s) for s in spans])
        out = np.zeros((int(starts[-1]), self.dim), dtype=np.float32)
        encoded = self.tokenizer(list(sentences), truncation=True, max_length=MAX_LENGTH,
                                 return_offsets_mapping=True)
        batches = length_batches([len(ids) for ids in encoded["input_ids"]], 64, 8192)
        phrase_encoder = self.encoders[PREFIXES[0]]
        with torch.inference_mode(), tqdm(total=len(sentences), desc="encoding phrases",
                                          unit="sentence", disable=not progress,
                                          leave=False) as bar:
            for batch in batches:
                inputs = self.tokenizer.pad({"input_ids": [encoded["input_ids"][i] for i in batch]},
                                            return_tensors="pt").to(self.device)
                states = phrase_encoder(**inputs).last_hidden_state.float().cpu().numpy()
                for row, i in enumerate(batch):
                    offsets = encoded["offset_mapping"][i]
                    for n, (s, e) in enumerate(spans[i]):
                        tokens = [t for t, (a, b) in enumerate(offsets)
                                  if b > a and a < e and b > s]
                        if tokens:
                            out[starts[i] + n] = np.concatenate([states[row, tokens[0]],
                                                                 states[row, tokens[-1]]])
                bar.update(len(batch))
        return out
