"""Tiny random models for fast tests."""

from pathlib import Path


def save_tiny_bert(folder: str | Path, max_position_embeddings: int = 128,
                   labels: list[str] | None = None) -> str:
    """A 2-layer, 32-wide random BERT token classifier with the MiniLM tokenizer, saved
    (``labels``: its tag names, default LABEL_0 and LABEL_1)."""
    import torch
    from transformers import BertConfig, BertForTokenClassification

    from gener.models import resolve_model_path
    from trainers.data import load_tokenizer

    tokenizer = load_tokenizer(resolve_model_path("minilm"))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=max_position_embeddings,
                        **({"id2label": dict(enumerate(labels)),
                            "label2id": {n: i for i, n in enumerate(labels)}} if labels else {}))
    torch.manual_seed(0)
    BertForTokenClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)
