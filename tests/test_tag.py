"""`gener tag`: files, JSON lines and stdin, the same entities as Tagger, and one-line errors."""

import io
import json

import pytest

from gener.cli import main
from tests.tiny_models import save_tiny_bert

LABELS = ["O", "B-Disease", "I-Disease", "B-LOC", "I-LOC"]
TEXTS = ["Cystic fibrosis is common in Ireland .",
         "",
         "The patient had Huntington disease and lived in Paris and London . " * 12,
         "Tuberculosis"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_tiny_bert(tmp_path_factory.mktemp("tagger") / "model", labels=LABELS)


@pytest.fixture(scope="module")
def tagger(model):
    from trainers.inference import Tagger

    return Tagger(model, max_length=16)


def _tag(argv, capsys, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    status = main(["tag", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_tag_many_equals_tag_one_by_one(tagger):
    together = tagger.tag_many(TEXTS)
    assert together == [tagger.tag(text) for text in TEXTS]
    assert together[1] == []
    assert any(together)  # the random tiny model tags something, so the comparison bites


def test_text_file_gives_one_object_per_line_with_taggers_entities(model, tagger, tmp_path,
                                                                   capsys):
    path = tmp_path / "docs.txt"
    path.write_text("\n".join(TEXTS) + "\n")
    status, out, _ = _tag([model, str(path), "--max-length", "16"], capsys)
    assert status == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["text"] for row in rows] == TEXTS
    for row, text in zip(rows, TEXTS, strict=True):
        assert row["entities"] == [e.to_dict() for e in tagger.tag(text)]
        for entity in row["entities"]:
            assert text[entity["start"]:entity["end"]] == entity["text"]
            assert set(entity) == {"label", "start", "end", "text", "score"}


def test_jsonl_keeps_the_record_and_stdin_works(model, tagger, tmp_path, capsys, monkeypatch):
    lines = [json.dumps({"id": i, "abstract": t}) for i, t in enumerate(TEXTS)]
    status, out, _ = _tag([model, "--text-field", "abstract", "--max-length", "16"], capsys,
                          stdin="\n".join(lines) + "\n", monkeypatch=monkeypatch)
    assert status == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["id"] for row in rows] == list(range(len(TEXTS)))
    assert rows[2]["entities"] == [e.to_dict() for e in tagger.tag(TEXTS[2])]


def test_conll_output(model, tagger, tmp_path, capsys):
    path = tmp_path / "docs.txt"
    path.write_text(TEXTS[0] + "\n" + TEXTS[2] + "\n")
    out_file = tmp_path / "tagged.conll"
    status, out, _ = _tag([model, str(path), "--format", "conll", "--out", str(out_file),
                           "--max-length", "16"], capsys)
    assert status == 0 and out == ""
    blocks = out_file.read_text().strip("\n").split("\n\n")
    assert len(blocks) == 2
    rows = [line.split("\t") for line in blocks[1].splitlines()]
    from trainers.inference import split_words

    assert [w for w, _ in rows] == [w for w, _, _ in split_words(TEXTS[2])]
    assert sum(tag.startswith("B-") for _, tag in rows) == len(tagger.tag(TEXTS[2]))


@pytest.mark.parametrize("content, extra, message", [
    ('{"abstract": "x"}\n', [], "docs.jsonl:1: no field 'text' (fields: abstract; "
                                "name one with --text-field)"),
    ('{"text": "x"\n', [], "docs.jsonl:1: not valid JSON"),
    ('{"text": "x"}\n', ["--text-field", "body"], "no field 'body'"),
])
def test_bad_jsonl_is_one_line_and_writes_nothing(model, tmp_path, capsys, content, extra,
                                                  message):
    path = tmp_path / "docs.jsonl"
    path.write_text(content)
    out_file = tmp_path / "out.jsonl"
    status, out, err = _tag([model, str(path), "--out", str(out_file), *extra], capsys)
    assert status == 1 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out_file.exists()


def test_bad_model_and_missing_input_are_one_line(model, tmp_path, capsys):
    status, _, err = _tag([str(tmp_path), "x.txt"], capsys)
    assert status == 1 and "x.txt: input file not found" in err
    (tmp_path / "doc.txt").write_text("Ireland\n")
    status, _, err = _tag([str(tmp_path), str(tmp_path / "doc.txt")], capsys)
    assert status == 1
    assert err.strip() == (f"gener tag: error: {tmp_path}: not a model folder: no config.json; "
                           "give a folder written by `gener train`")


def test_unwritable_out_is_refused_before_the_model_loads(tmp_path, capsys):
    (tmp_path / "doc.txt").write_text("Ireland\n")
    status, _, err = _tag([str(tmp_path / "no-model"), str(tmp_path / "doc.txt"), "--out",
                           str(tmp_path / "doc.txt" / "tagged.jsonl")], capsys)
    assert status == 1
    assert f"{tmp_path / 'doc.txt'}: cannot be created (" in err


def test_bf16_precision_runs_under_autocast_and_an_unknown_one_is_refused(model, tmp_path,
                                                                           capsys, monkeypatch):
    import torch

    from gener.errors import GenerError
    from trainers.inference import Tagger

    fast = Tagger(model, max_length=16, precision="bf16")
    seen = []
    fast.model.register_forward_hook(lambda *_: seen.append(torch.get_autocast_dtype("cpu")
                                                            if torch.is_autocast_enabled("cpu")
                                                            else None))
    words = [text.split() for text in TEXTS if text]
    tags = fast.tag_words(words)
    assert seen and all(dtype == torch.bfloat16 for dtype in seen)
    assert [len(t) for t in tags] == [len(w) for w in words]
    with pytest.raises(GenerError, match="precision 'fp16': use one of fp32, bf16"):
        Tagger(model, precision="fp16")
    path = tmp_path / "docs.txt"
    path.write_text(TEXTS[0] + "\n")
    status, out, _ = _tag([model, str(path), "--precision", "bf16"], capsys)
    assert status == 0 and json.loads(out)["text"] == TEXTS[0]
    monkeypatch.setattr("gener.retrieval.meanpool.native_bf16", lambda device: False)
    status, out, err = _tag([model, str(path), "--precision", "bf16"], capsys)
    assert status == 0 and json.loads(out)["text"] == TEXTS[0]
    assert err.strip().splitlines()[-1] == ("warning: this cpu has no native bf16 "
                                            "(AVX512-BF16 or AMX): --precision bf16 will be "
                                            "slower than fp32")
