"""Bad input ends in one line on stderr, a non-zero exit and no partial output."""

import errno
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from gener.cli import main


def _one_line(capsys, verb: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"gener {verb}: error: ")
    return err


@pytest.mark.parametrize("argv, message", [
    (["--question", "?!?!"], "--question '?!?!': names no entity type; "
                             'ask e.g. "Which disease?"'),
    (["--question", "Name all"], "--question 'Name all': names no entity type"),
    (["--question", "Which ?"], "--question 'Which ?': names no entity type"),
    (["--types", "disease, ?!"], "--types: '?!' names no entity type (no letters or digits)"),
])
def test_questions_without_a_type(tmp_path, capsys, argv, message):
    assert main(["build", *argv, "--out", str(tmp_path / "out")]) == 1
    assert message in _one_line(capsys, "build")
    assert not (tmp_path / "out").exists()


def test_jsonl_corpus_without_the_text_field_names_the_option(tmp_path, capsys):
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text(json.dumps({"abstract": "Malaria is common."}) + "\n")
    status = main(["build", "--question", "Which disease?", "--corpus", str(corpus),
                   "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")])
    assert status == 1
    assert _one_line(capsys, "build").endswith(
        "docs.jsonl:1: no field 'text' (fields: abstract; name the text's with --text-field)")
    assert not (tmp_path / "out").exists()


def test_unwritable_out_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("Malaria is common.\n")
    argv = ["build", "--question", "Which disease?", "--corpus", str(tmp_path / "file")]
    assert main([*argv, "--out", str(tmp_path / "file" / "out")]) == 1
    assert "out: cannot be created (" in _one_line(capsys, "build")

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    assert main([*argv, "--out", str(tmp_path / "out")]) == 1
    assert _one_line(capsys, "build").endswith(
        f"{tmp_path / 'out'}: not writable (Read-only file system); choose another --out")
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_foreign_out_names_a_real_option(tmp_path, capsys):
    from gener.cli import build_parser
    from gener.dataset import check_output_folder

    (tmp_path / "notes.txt").write_text("Malaria is common.\n")
    argv = ["build", "--question", "Which disease?", "--corpus", str(tmp_path / "notes.txt"),
            "--out", str(tmp_path)]
    assert main(argv) == 1
    assert "holds another dataset or other files (notes.txt); use --overwrite or another --out" \
        in _one_line(capsys, "build")
    assert build_parser().parse_args([*argv, "--overwrite"]).overwrite is True
    check_output_folder(tmp_path, overwrite=True)  # what `build(..., overwrite=True)` checks


def test_one_line_recipes_get_their_own_config_names():
    from gener.commands.options import recipe_from_args

    def recipe(**kwargs):
        args = dict(recipe=None, question=None, types=None, k=None, name=None)
        return recipe_from_args(SimpleNamespace(**{**args, **kwargs}))

    assert recipe(question="Which river?").name == "which_river"
    assert recipe(question="Which city?").name == "which_city"
    assert recipe(types="disease,chemical compound").name == "disease_chemical_compound"
    assert recipe(question="Which river?", name="rivers").name == "rivers"


def test_publish_names_what_it_leaves_out(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["publish"]) == 1
    assert "nothing to publish" in _one_line(capsys, "publish")
    model = tmp_path / "artifacts" / "runs" / "disease"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"")
    assert main(["publish"]) == 0
    out = capsys.readouterr().out
    assert "left out: the dataset (artifacts/datasets not found: `gener build` or " \
           "`gener materialize` writes it)" in out
    assert "left out: the Space (spaces/gener not found)" in out
    assert "gener-disease" in out


@pytest.mark.parametrize("argv", [["recipes"], ["recipes", "show", "ncbi_disease"]])
def test_closed_stdout_pipe_ends_quietly(argv):
    process = subprocess.Popen([sys.executable, "-m", "gener", *argv], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # the reader is gone before gener writes (`gener ... | head -0`)
    err = process.stderr.read()
    assert process.wait(timeout=60) == 141
    assert err == ""


def test_an_interrupt_lost_in_a_finalizer_is_sent_again(monkeypatch):
    import signal
    import time

    from gener.cli import redeliver_lost_interrupts

    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # restored afterwards

    class Finalized:
        def __del__(self):
            raise KeyboardInterrupt  # what Ctrl-C does when it lands here: Python drops it

    # Python's own Ctrl-C handler, also where the tests started with SIGINT ignored (a
    # shell's background job)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        redeliver_lost_interrupts()
        with pytest.raises(KeyboardInterrupt):
            Finalized()  # collected at once; the interrupt is lost, then sent again
            for _ in range(100):
                time.sleep(0.1)
    finally:
        signal.signal(signal.SIGINT, previous)
