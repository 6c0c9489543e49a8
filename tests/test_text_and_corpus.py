import json

import pytest

from gener.corpus import MAX_LINE_BYTES, JsonlCorpus, TextCorpus, WikiVitalCorpus, open_corpus
from gener.errors import GenerError
from gener.text import split_sentences, tokenize, tokenize_with_offsets


def test_tokenize_splits_ascii_punctuation():
    assert tokenize("Crohn's disease (CD), e.g. x-ray.") == [
        "Crohn", "'", "s", "disease", "(", "CD", ")", ",", "e", ".", "g", ".", "x", "-", "ray", "."]
    text = "U.S. Virgin  Islands"
    for token, start, end in tokenize_with_offsets(text):
        assert text[start:end] == token


def test_split_sentences_is_abbreviation_aware_and_deterministic():
    text = ("Dr. Smith visited the U.S. in 1990. He met J. R. R. Tolkien! "
            "Was it fun? \"Yes,\" he said. It was 3.5 km long.")
    assert split_sentences(text) == [
        "Dr. Smith visited the U.S. in 1990.", "He met J. R. R. Tolkien!", "Was it fun?",
        "\"Yes,\" he said.", "It was 3.5 km long."]


def test_text_corpus_ids_are_stable(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("First doc. Second sentence.\n\nThird doc here.\n")
    sentences = list(TextCorpus(path).sentences())
    assert [(s.id, s.text) for s in sentences] == [
        ("line1:0", "First doc."), ("line1:1", "Second sentence."), ("line3:0", "Third doc here.")]
    assert TextCorpus(path).fingerprint() == TextCorpus(path).fingerprint()


def test_text_corpus_counts_bad_lines(tmp_path, caplog):
    path = tmp_path / "c.txt"
    path.write_bytes(b"Good line.\n\xff\xfe bad bytes\n" + b"x" * (MAX_LINE_BYTES + 1) + b"\n")
    corpus = TextCorpus(path)
    assert [s.text for s in corpus.sentences()] == ["Good line."]
    assert corpus.skipped.counts == {"lines that are not UTF-8": 1,
                                     f"lines over {MAX_LINE_BYTES} bytes": 1}
    assert "skipped" in caplog.text


def test_missing_and_empty_corpus(tmp_path):
    with pytest.raises(GenerError, match="corpus file not found"):
        open_corpus(str(tmp_path / "nope.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(GenerError, match="has no sentences"):
        list(TextCorpus(empty).sentences())


def test_jsonl_corpus(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "a", "body": "One. Two."}) + "\n")
    corpus = JsonlCorpus(path, text_field="body", id_field="id")
    assert [s.id for s in corpus.sentences()] == ["a:0", "a:1"]
    path.write_text('{"body": "ok"}\n{not json\n')
    with pytest.raises(GenerError, match=r"c.jsonl:2: not valid JSON"):
        list(JsonlCorpus(path, text_field="body").sentences())
    with pytest.raises(GenerError, match=r"c.jsonl:1: no field 'text'"):
        list(JsonlCorpus(path).sentences())


def test_datasets_corpus(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"text": ["Alpha one. Alpha two.", "Beta."]}).save_to_disk(
        str(tmp_path / "saved"))
    assert [s.id for s in open_corpus(str(tmp_path / "saved")).sentences()] == [
        "0:0", "0:1", "1:0"]
    folder = tmp_path / "hub"
    folder.mkdir()
    datasets.Dataset.from_dict({"text": ["Alpha one. Alpha two.", "Beta."]}).to_parquet(
        str(folder / "train.parquet"))
    corpus = open_corpus(str(folder))
    assert [s.text for s in corpus.sentences()] == ["Alpha one.", "Alpha two.", "Beta."]
    streamed = open_corpus(str(folder), streaming=True)
    assert [s.id for s in streamed.sentences()] == ["0:0", "0:1", "1:0"]
    with pytest.raises(GenerError, match="no column 'body'"):
        list(open_corpus(str(folder), text_field="body").sentences())


def test_default_corpus_is_installed_and_large():
    corpus = WikiVitalCorpus()
    first = next(iter(corpus.sentences()))
    assert first.id.endswith(":0") and first.text
    assert sum(1 for _ in corpus.sentences()) > 30000
