"""The public API: `import gener` is cheap, every exported name resolves, and the README's
Python section runs as written on a tiny corpus and a tiny model."""

import re
import subprocess
import sys
from pathlib import Path

import gener
from tests.tiny_models import save_tiny_bert

README = Path(__file__).resolve().parents[1] / "README.md"
DOCS = [
    "Tuberculosis is an infectious disease caused by bacteria. It mostly affects the lungs.",
    "Malaria is a mosquito-borne disease that affects humans. Malaria causes fever.",
    "Asthma is a common long-term disease of the airways. Asthma is not contagious.",
    "France is a country in Western Europe. Its capital is Paris.",
]


def test_import_gener_loads_no_heavy_library():
    code = ("import sys, gener; heavy = [m for m in ('torch', 'datasets', 'transformers', "
            "'faiss') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_every_public_name_resolves():
    for name in gener.__all__:
        assert getattr(gener, name) is not None
    assert callable(gener.build) and callable(gener.train)
    from importlib import import_module

    import_module("gener.stages")  # the build stages' module does not shadow gener.build
    assert callable(gener.build)


def _python_section() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_python_section_runs_on_tiny_data(tmp_path, monkeypatch, capsys):
    code = _python_section()
    assert len([line for line in code.splitlines() if line.strip()]) < 15
    (tmp_path / "corpus.txt").write_text("\n".join(DOCS) + "\n", encoding="utf-8")
    tiny = save_tiny_bert(tmp_path / "tiny-bert")
    code = re.sub(r"^corpus = None\b.*$", f"corpus = {str(tmp_path / 'corpus.txt')!r}", code,
                  flags=re.M)
    code = re.sub(r'^base = "minilm" .*$', f"base = {tiny!r}", code, flags=re.M)
    # A four-line corpus holds no confident answer: take the quota of k sentences.
    code = code.replace("k=300,", 'k=300, overrides={"min_confidence": 0},')
    assert str(tmp_path) in code and tiny in code
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GENER_CACHE", str(tmp_path / "cache"))
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "config which_disease" in out
    assert list((tmp_path / "artifacts/datasets/which_disease").glob("train-*.parquet"))
    assert (tmp_path / "artifacts/disease-model/config.json").exists()
    assert isinstance(namespace["tagger"].tag("Malaria is a disease."), list)
    import datasets

    train = datasets.load_dataset(str(namespace["built"].dataset_dir), "which_disease",
                                  split="train")
    assert "B-DISEASE" in train.features["ner_tags"].feature.names


def test_ask_ranks_one_type_at_a_time(tmp_path):
    import pytest

    with pytest.raises(gener.GenerError, match=r"asks for 2 types \(disease, drug\)"):
        gener.ask("Which diseases and drugs?", corpus=str(tmp_path / "unread.txt"))
