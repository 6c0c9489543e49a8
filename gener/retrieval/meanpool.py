"""Mean-pooled bi-encoders: MiniLM (or any BERT-like model) and the tuned ``gener-retriever``.

Vectors are the L2-normalised mean of the last token states (sentence-transformers style).
Phrases are encoded from their text alone and sentences as a whole. A ``gener-retriever``
folder (written by ``gener retriever train``, see :mod:`gener.retrieval.training`) holds
either both towers tuned (:class:`TunedBiEncoder`, an index of its own) or only the question
tower (:class:`QueryTunedEncoder`, over its document encoder's index).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from gener.errors import GenerError, first_line
from gener.models import MINILM, PRECISIONS, resolve_model_path
from gener.retrieval import numpy_bert
from gener.retrieval.encoder_base import Encoder, length_batches

RETRIEVER = "gener-retriever"
RETRIEVER_META = "gener-retriever.json"  # marks a folder written by `gener retriever train`
MAX_LENGTH = 128
# Texts looked up at question time (phrases or words an index lacks) are encoded by NumPy,
# as questions are, this many per padded batch: loading torch and the model takes seconds.
LOOKUP_BATCH = 64
# Device nodes of NVIDIA (native, WSL) and ROCm drivers: without one, torch sees no GPU.
GPU_DRIVER_NODES = ("/proc/driver/nvidia", "/dev/dxg", "/dev/kfd")


def default_device() -> str:
    """``cuda`` when torch sees a GPU, else ``cpu``.

    On Linux without any GPU driver node torch cannot see one, so the answer comes without
    importing torch (which alone takes ~1 s, a third of a one-question ``gener ask``).
    """
    if sys.platform == "linux" and not any(Path(node).exists() for node in GPU_DRIVER_NODES):
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def default_precision(device: str) -> str:
    """``$GENER_ENCODER_PRECISION``, else bf16 where the hardware multiplies it natively.

    That is a CUDA GPU with bf16, or a CPU with AMX or AVX512-BF16 (there bf16 autocast
    encodes ~1.5x faster and the unit vectors keep a cosine above 0.9999 with fp32's);
    fp32 elsewhere, where bf16 would be emulated and slower.
    """
    chosen = os.environ.get("GENER_ENCODER_PRECISION", "").strip().lower()
    if chosen:
        if chosen not in PRECISIONS:
            raise GenerError(f"GENER_ENCODER_PRECISION={chosen!r}: use one of "
                             f"{', '.join(PRECISIONS)}")
        return chosen
    return "bf16" if native_bf16(device) else "fp32"


def native_bf16(device: str) -> bool:
    """Whether ``device`` multiplies bf16 natively: a CUDA GPU with bf16, or a CPU with AMX
    or AVX512-BF16."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.is_bf16_supported()
    if device != "cpu":
        return False
    if sys.platform == "linux":  # the kernel lists the CPU features it enabled
        try:
            flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").split()
        except OSError:
            flags = []
        return bool({"amx_tile", "avx512_bf16"} & set(flags))
    import torch

    native = [getattr(torch.cpu, f, lambda: False)
              for f in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return any(f() for f in native)


class MeanPoolEncoder(Encoder):
    """A bi-encoder: mean of the last token states, L2-normalised.

    Documents go through the transformers model (batched, bf16 where native), loaded on first
    use; questions of a local plain-BERT folder go through :class:`NumpyBert`, so that asking
    an existing index needs neither torch nor transformers.
    """

    def __init__(self, name: str, model_path: str, device: str | None = None) -> None:
        self.name, self.model_path = name, model_path
        self.config = _model_config(name, model_path)
        self.dim = int(self.config["hidden_size"])
        self.device = device or default_device()
        self.precision = default_precision(self.device)
        self._model = self._tokenizer = self._numpy = None

    @property
    def model(self):
        """The transformers model (loaded on first use)."""
        if self._model is None:
            from transformers import AutoModel

            try:
                model = AutoModel.from_pretrained(self.model_path)
            except (OSError, ValueError) as err:
                raise GenerError(f"encoder {self.name!r}: cannot load its weights: "
                                 f"{first_line(err)}") from None
            self._model = model.to(self.device).eval()
        return self._model

    @property
    def tokenizer(self):
        """The transformers tokenizer (loaded on first use)."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        return self._tokenizer

    def identity(self) -> dict:
        # Without _name_or_path: the same model installed elsewhere must find the same index.
        config = {k: v for k, v in self.config.items() if k != "_name_or_path"}
        config = json.dumps(config, sort_keys=True, default=str)
        identity = {"kind": "mean-pool", "name": self.name, "dim": self.dim,
                    "model": Path(self.model_path).name if self.name == MINILM
                    else self.model_path,
                    "config": hashlib.sha256(config.encode()).hexdigest()[:12],
                    "precision": self.precision}
        if self.name != MINILM and Path(self.model_path).is_dir():
            # A local folder can be retrained in place: its index must follow its weights.
            identity["weights"] = weights_digest(Path(self.model_path))
        return identity

    def encode_questions(self, questions: list[str]) -> np.ndarray:
        """Unit vectors for a few questions: NumPy for a local BERT folder, else the model."""
        numpy = self._numpy_bert()
        if numpy is not None:
            return numpy.encode(questions)
        return mean_pool_encode(self.model, self.tokenizer, questions)

    def encode_texts(self, texts: list[str], progress: bool = False,
                     desc: str = "encoding") -> np.ndarray:
        """Unit vectors for ``texts`` (batched by length, in ``inference_mode``)."""
        return mean_pool_encode(self.model, self.tokenizer, texts, progress, desc,
                                self.precision)

    def encode_few(self, texts: list[str]) -> np.ndarray:
        """Texts looked up at question time, encoded as questions are: NumPy for a local BERT
        folder (LOOKUP_BATCH at a time), without loading the model; else the model."""
        numpy = self._numpy_bert()
        if numpy is None:
            return self.encode_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate([numpy.encode(texts[i:i + LOOKUP_BATCH])
                               for i in range(0, len(texts), LOOKUP_BATCH)])

    def _numpy_bert(self):
        """The NumPy encoder of a local plain-BERT folder (None for other models)."""
        if self._numpy is None and numpy_bert.supports(self.model_path, self.config):
            self._numpy = numpy_bert.NumpyBert(self.model_path, self.config, MAX_LENGTH)
        return self._numpy


def weights_digest(folder: Path) -> str:
    """A short digest of the weight files of a local model folder."""
    digest = hashlib.sha256()
    hash_files(digest, folder, sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")))
    return digest.hexdigest()[:12]


def hash_files(digest, folder: Path, paths: list[Path]) -> None:
    """Feed each file's path (relative to ``folder``) and contents to ``digest``."""
    for path in paths:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)


def _model_config(name: str, model_path: str) -> dict:
    """``config.json`` of a local model folder, or of a Hub id (downloaded when online)."""
    folder = Path(model_path).expanduser()
    try:
        if folder.is_dir():
            return numpy_bert.read_config(folder)
        from huggingface_hub import hf_hub_download

        return numpy_bert.read_config(Path(hf_hub_download(model_path, "config.json")).parent)
    except Exception as err:  # noqa: BLE001 - offline, unknown repo, unreadable JSON
        raise GenerError(f"unknown encoder {name!r} (use {MINILM!r}, a model folder, "
                         f"or a Hub id when online): {first_line(err)}") from None


def mean_pool_encode(model, tokenizer, texts: list[str], progress: bool = False,
                     desc: str = "encoding", precision: str = "fp32") -> np.ndarray:
    """Mean-pooled, L2-normalised last states of ``model`` for ``texts``, in input order.

    ``precision="bf16"`` runs the model under bf16 autocast (pooling stays in fp32).
    """
    import torch
    from tqdm import tqdm

    out = np.zeros((len(texts), int(model.config.hidden_size)), dtype=np.float32)
    if not texts:
        return out
    encoded = tokenizer(list(texts), truncation=True, max_length=MAX_LENGTH)["input_ids"]
    batches = length_batches([len(ids) for ids in encoded], 512, 16384)
    autocast = (torch.autocast(model.device.type, dtype=torch.bfloat16)
                if precision == "bf16" else contextlib.nullcontext())
    with torch.inference_mode(), tqdm(total=len(texts), desc=desc, unit="text",
                                      disable=not progress, leave=False) as bar:
        for batch in batches:
            inputs = tokenizer.pad({"input_ids": [encoded[i] for i in batch]},
                                   return_tensors="pt").to(model.device)
            with autocast:
                states = model(**inputs).last_hidden_state
            out[batch] = pool(states.float(), inputs["attention_mask"]).cpu().numpy()
            bar.update(len(batch))
    return out


def mean_pool(model, inputs):
    """Unit-length mean of ``model``'s last token states over the attention mask (a tensor)."""
    return pool(model(**inputs).last_hidden_state, inputs["attention_mask"])


def pool(states, attention_mask):
    """Unit-length mean of token ``states`` over ``attention_mask``."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(states.dtype)
    pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
    return torch.nn.functional.normalize(pooled, dim=-1)


def read_retriever_meta(name: str, folder: str | Path) -> dict:
    """The metadata that ``gener retriever train`` wrote into ``folder``."""
    try:
        meta = json.loads((Path(folder) / RETRIEVER_META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise GenerError(f"encoder {name!r}: unreadable {RETRIEVER_META}: {err}") from None
    if not isinstance(meta, dict) or "document_encoder" not in meta:
        raise GenerError(f"encoder {name!r}: {RETRIEVER_META} has no 'document_encoder'")
    return meta


class TunedBiEncoder(MeanPoolEncoder):
    """A ``gener-retriever`` whose question and document towers were both fine-tuned.

    It is a plain mean-pool bi-encoder over its own folder, with its own index; ``meta``
    holds what its training recorded (types, answers, dev figures).
    """

    def __init__(self, name: str, folder: str, device: str | None = None,
                 meta: dict | None = None) -> None:
        self.meta = meta or read_retriever_meta(name, folder)
        super().__init__(name, folder, device)

    def identity(self) -> dict:
        # By content (weights), not by the name or folder it is reached by.
        return {**super().identity(), "name": RETRIEVER, "model": RETRIEVER}


class QueryTunedEncoder(Encoder):
    """A fine-tuned question encoder over a :class:`MeanPoolEncoder`'s phrase/sentence vectors.

    Only questions go through the tuned model; phrases and sentences are encoded by the
    document encoder, and :meth:`identity` is that encoder's, so the index is shared with it.
    """

    def __init__(self, name: str, folder: str, device: str | None = None,
                 meta: dict | None = None) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.name, self.folder = name, folder
        self.meta = meta or read_retriever_meta(name, folder)
        document = self.meta["document_encoder"]
        self.document = MeanPoolEncoder(document, resolve_model_path(document), device)
        self.dim = self.document.dim
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).to(self.document.device).eval()
        if int(self.model.config.hidden_size) != self.dim:
            raise GenerError(f"encoder {name!r}: question encoder width "
                             f"{self.model.config.hidden_size} != document encoder's {self.dim}")

    def identity(self) -> dict:
        return self.document.identity()

    def encode_questions(self, questions: list[str]) -> np.ndarray:
        return mean_pool_encode(self.model, self.tokenizer, questions)

    def encode_texts(self, texts: list[str], progress: bool = False,
                     desc: str = "encoding") -> np.ndarray:
        return self.document.encode_texts(texts, progress, desc)
