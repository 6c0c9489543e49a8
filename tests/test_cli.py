import importlib
import subprocess
import sys

import pytest

from gener.cli import main
from gener.commands import VERBS


def _shipped_verbs():
    verbs = []
    for verb, module in VERBS.items():
        try:
            importlib.import_module(f"gener.commands.{module}")
        except ModuleNotFoundError:
            continue
        verbs.append(verb)
    return verbs


def test_python_m_gener_help():
    out = subprocess.run([sys.executable, "-m", "gener", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for verb in _shipped_verbs():
        assert verb in out


@pytest.mark.parametrize("verb", _shipped_verbs())
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([verb, "--help"])
    assert exit_.value.code == 0
    assert "usage: gener " + verb in capsys.readouterr().out


def test_recipes_lists_and_shows(capsys):
    assert main(["recipes"]) == 0
    names = capsys.readouterr().out.split()
    assert "ncbi_disease" in names and "conll2003" in names
    assert main(["recipes", "show", "ncbi_disease"]) == 0
    assert "type: disease" in capsys.readouterr().out
    assert main(["recipes", "show", "nope"]) == 1


def test_recipes_exits_1_on_an_invalid_recipe(tmp_path, monkeypatch, capsys):
    from gener.recipes import recipe as recipe_module

    (tmp_path / "good.yaml").write_text(
        "name: good\nsubquestions: [{label: X, type: x, k: 1}]\n")
    (tmp_path / "bad.yaml").write_text(
        "name: bad\nsubquestions: [{label: X, type: x, k: 1, rule: [1]}]\n")
    monkeypatch.setattr(recipe_module, "RECIPE_DIR", tmp_path)
    assert main(["recipes"]) == 1
    captured = capsys.readouterr()
    assert captured.out.split() == ["good"]
    assert "bad.yaml: subquestions[0].rule: unknown key" in captured.err


@pytest.mark.parametrize("argv, message", [
    (["build", "--question", "  "], "--question: empty question"),
    (["build", "nope"], "unknown recipe 'nope'"),
    (["build", "demo", "--corpus", "/nonexistent/corpus.txt"], "corpus file not found"),
    (["build", "demo", "--types", "x"], "give exactly one of RECIPE, --question or --types"),
])
def test_bad_input_is_one_line_error(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv", [["build", "demo", "--k", "0"],
                                  ["materialize", "demo", "--out", "x", "--k", "-2"],
                                  ["demo", "--k", "abc"]])
def test_k_must_be_a_positive_integer(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "argument --k: must be a positive integer" in capsys.readouterr().err


def test_first_line_of_an_error_message():
    from gener.errors import first_line

    assert first_line(ValueError("  bad value\n  at line 3")) == "bad value"
    assert first_line(OSError()) == "OSError"  # an empty message names the error instead
