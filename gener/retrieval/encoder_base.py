"""The interface every encoder implements, and length-bucketed batching."""

from __future__ import annotations

import numpy as np


def length_batches(lengths: list[int], max_batch: int, max_tokens: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first), bounded in tokens."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches, current = [], []
    for i in order:
        if current and (len(current) >= max_batch
                        or (len(current) + 1) * lengths[current[0]] > max_tokens):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


class Encoder:
    """Turns questions, phrases and sentences into vectors for inner-product search."""

    name: str
    dim: int
    #: True when phrase vectors depend on their sentence (one vector per occurrence) and
    #: the sentence term is not used; False for text-only phrase vectors plus sentence vectors.
    contextual: bool = False

    def identity(self) -> dict:
        """What the manifest records so that an index is rebuilt when the encoder changes."""
        raise NotImplementedError

    def encode_questions(self, questions: list[str]) -> np.ndarray:
        raise NotImplementedError

    def encode_texts(self, texts: list[str], progress: bool = False,
                     desc: str = "encoding") -> np.ndarray:
        raise NotImplementedError

    def encode_few(self, texts: list[str]) -> np.ndarray:
        """Vectors for a few texts looked up at question time (phrases or words an index
        lacks); by default as :meth:`encode_texts` gives them."""
        return self.encode_texts(texts)

    def encode_spans(self, sentences: list[str], spans: list[list[tuple[int, int]]],
                     progress: bool = False) -> np.ndarray:
        raise NotImplementedError
