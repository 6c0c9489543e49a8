"""The DensePhrases checkpoint loader, with a tiny random checkpoint written in that format."""

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

from gener.corpus import TextCorpus
from gener.errors import GenerError
from gener.recipes import parse_recipe
from gener.retrieval.densephrases import DensePhrasesEncoder, is_densephrases_checkpoint
from gener.retrieval.encoders import load_encoder
from gener.retrieval.search import retrieve

TEXT = ["Malaria is a disease spread by mosquitoes.", "Paris is the capital of France.",
        "Tuberculosis is an infectious disease.", "Chess is a board game."]


def write_checkpoint(folder, safetensors=False):
    """A random 2-layer BERT saved as DensePhrases does: three encoders in one state dict."""
    words = sorted({w.strip(".,").lower() for t in TEXT for w in t.split()} | {"which", "?"})
    vocab = folder / "vocab.txt"
    folder.mkdir(parents=True, exist_ok=True)
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","] + words))
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(folder)
    config = BertConfig(vocab_size=len(words) + 7, hidden_size=16, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    config.save_pretrained(folder)
    torch.manual_seed(0)
    state = {}
    for prefix in ("phrase_encoder.", "query_start_encoder.", "query_end_encoder."):
        for key, value in BertModel(config).state_dict().items():
            state[prefix + key] = value
    state["filter_linear.weight"] = torch.zeros(2, 16)
    state["filter_linear.bias"] = torch.zeros(2)
    if safetensors:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    else:
        torch.save(state, folder / "pytorch_model.bin")
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("dp") / "densephrases-tiny")


def test_checkpoint_is_detected_and_loaded(checkpoint, tmp_path):
    assert is_densephrases_checkpoint(checkpoint)
    encoder = load_encoder(str(checkpoint))
    assert isinstance(encoder, DensePhrasesEncoder) and encoder.dim == 32 and encoder.contextual
    other = write_checkpoint(tmp_path / "st", safetensors=True)
    assert isinstance(load_encoder(str(other)), DensePhrasesEncoder)


def test_score_is_qs_hi_plus_qe_hj(checkpoint):
    encoder = load_encoder(str(checkpoint))
    sentence = TEXT[0]
    span = (0, len("Malaria is"))  # two tokens: start "malaria", end "is"
    vector = encoder.encode_spans([sentence], [[span]])[0]
    query = encoder.encode_questions(["Which disease?"])[0]
    tokens = encoder.tokenizer(sentence, return_tensors="pt")
    with torch.inference_mode():
        h = encoder.encoders["phrase_encoder."](**tokens).last_hidden_state[0].numpy()
        q = encoder.tokenizer(["Which disease?"], return_tensors="pt")
        q_s = encoder.encoders["query_start_encoder."](**q).last_hidden_state[0, 0].numpy()
        q_e = encoder.encoders["query_end_encoder."](**q).last_hidden_state[0, 0].numpy()
    # token 0 is [CLS]; "malaria" is token 1 and "is" token 2
    np.testing.assert_allclose(query @ vector, q_s @ h[1] + q_e @ h[2], rtol=1e-4, atol=1e-4)


def test_retrieve_with_densephrases(checkpoint, tmp_path):
    corpus_file = tmp_path / "c.txt"
    corpus_file.write_text("\n".join(TEXT) + "\n")
    recipe = parse_recipe({"name": "dp", "subquestions": [
        {"label": "Disease", "type": "disease", "k": 2, "rules": []}]})
    [result] = retrieve(recipe, TextCorpus(corpus_file), encoder=str(checkpoint),
                        cache_dir=tmp_path / "cache", progress=False)
    assert len(result.sentences) == 2
    for sentence in result.sentences:
        for phrase in sentence.phrases:
            assert sentence.sentence[phrase.start:phrase.end] == phrase.name


def test_incomplete_checkpoint_is_a_clear_error(checkpoint, tmp_path):
    folder = tmp_path / "broken"
    write_checkpoint(folder)
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    del state["query_end_encoder.encoder.layer.1.output.dense.weight"]
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(GenerError, match="lacks query_end_encoder.encoder.layer.1"):
        DensePhrasesEncoder(str(folder))
