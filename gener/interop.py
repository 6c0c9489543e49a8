"""Reading the GeNER code's retrieval output and configs (dmis-lab/GeNER).

A retrieval folder holds one JSON-lines file per subquestion, ``Which_<subtype>.json``, each
line ``{"sentence": str, "phrases": [{"name", "start", "end"}], "abbreviations": {...}}`` with
character offsets. A GeNER config (``configs/<dataset>.json``) lists the subquestions with
their ``type`` (the label), ``subtype`` (the [TYPE] word) and rule flags; missing flags take
the values of ``default.json`` beside it (or the same built-in defaults), as in GeNER.
"""

from __future__ import annotations

import json
from pathlib import Path

from gener.artifacts import RetrievedPhrase, RetrievedSentence, SubquestionRetrieval
from gener.errors import GenerError
from gener.recipes import Subquestion
from gener.recipes.recipe import with_other_types

# GeNER's configs/default.json.
GENER_DEFAULTS = {
    "query_template": "Which [TYPE]", "top_k": 5000, "split_composite_mention": True,
    "remove_punctuation": True, "remove_lowercase_phrase": True, "remove_the": True,
    "min_phrase_length": 3, "remove_stopword": True, "remove_subtype": True,
    "skip_lowercase_ngram": 1,
}
# Per-subquestion flag -> rule number (truthy value switches the rule on).
_FLAG_RULES = {
    "split_composite_mention": 1, "remove_punctuation": 2, "remove_lowercase_phrase": 3,
    "remove_the": 4, "min_phrase_length": 5, "remove_stopword": 6, "remove_subtype": 7,
    "skip_lowercase_ngram": 9,
}
_TOP_RULES = {"add_abbreviation": 8, "refine_boundary": 10}
# The labelling policy fields that a GeNER config's flags imply: they name the paper's rules 3
# (remove_lowercase_phrase), 8 (add_abbreviation: tagged where defined) and 9
# (skip_lowercase_ngram: dictionary matches only), whatever the preset's own reading.
GENER_CONFIG_POLICY = {"rule3": "lowercase", "abbreviations": "sentence",
                       "retrieved_rule9": "off", "rule9_by_position": False}


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise GenerError(f"{path}: cannot read ({err.strerror})") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise GenerError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise GenerError(f"{path}: expected a JSON object")
    return data


def load_gener_config(path: str | Path) -> list[Subquestion]:
    """Subquestions (label, type, k, rules, question) of a GeNER config file, in file order."""
    path = Path(path)
    config = _read_json(path)
    defaults = dict(GENER_DEFAULTS)
    default_file = path.parent / "default.json"
    if default_file.exists() and default_file != path:
        defaults.update(_read_json(default_file).get("default", {}))
    entries = config.get("subquestion_configs")
    if not isinstance(entries, list) or not entries:
        raise GenerError(f"{path}: no subquestion_configs list")
    top_rules = {rule for flag, rule in _TOP_RULES.items() if config.get(flag)}
    subquestions = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not {"type", "subtype"} <= set(entry):
            raise GenerError(f"{path}: subquestion_configs[{i}]: needs 'type' and 'subtype'")
        merged = {**defaults, **entry}
        rules = {rule for flag, rule in _FLAG_RULES.items() if merged.get(flag)} | top_rules
        subtype = " ".join(str(entry["subtype"]).split())
        question = str(merged["query_template"]).replace("[TYPE]", subtype)
        subquestions.append(Subquestion(str(entry["type"]), subtype, int(merged["top_k"]),
                                        tuple(sorted(rules)), question, names_only=False))
    return list(with_other_types(subquestions))


def retrieval_file(folder: Path, subtype: str) -> Path:
    """``Which_<subtype>.json`` in ``folder`` (spaces in the subtype also tried as ``_``)."""
    for name in (f"Which_{subtype}.json", f"Which_{subtype.replace(' ', '_')}.json"):
        if (folder / name).exists():
            return folder / name
    raise GenerError(f"{folder}: no retrieval file Which_{subtype}.json")


def _sentence(data: object, path: Path, n: int) -> RetrievedSentence:
    try:
        sentence, phrases = data["sentence"], data["phrases"]
        if type(sentence) is not str or type(phrases) is not list:
            raise TypeError
        phrases = [RetrievedPhrase(str(p["name"]), int(p["start"]), int(p["end"]),
                                   float(p.get("score", 0.0))) for p in phrases]
    except (KeyError, TypeError, ValueError, AttributeError):
        where = f"{path}: line {n}"
        if not isinstance(data, dict) or not isinstance(data.get("sentence"), str) \
                or not isinstance(data.get("phrases"), list):
            raise GenerError(f"{where}: expected an object with 'sentence' and 'phrases'") \
                from None
        raise GenerError(f"{where}: each phrase needs 'name', 'start' and 'end'") from None
    size = len(sentence)
    for p in phrases:
        if p.start < 0 or p.end > size or p.start > p.end:
            raise GenerError(f"{path}: line {n}: phrase {p.name!r} at {p.start}-{p.end} is "
                             f"outside the sentence ({size} characters)")
    abbreviations = data.get("abbreviations") or {}
    if type(abbreviations) is not dict:
        abbreviations = dict(abbreviations) if isinstance(abbreviations, list) else {}
    sentence_id = data.get("sentence_id", "")
    score = data.get("score", 0.0)
    return RetrievedSentence(sentence, phrases,
                             sentence_id if type(sentence_id) is str else str(sentence_id),
                             score if type(score) is float else float(score), abbreviations)


def read_retrieval_file(path: Path, subquestion: Subquestion) -> SubquestionRetrieval:
    """One ``Which_<subtype>.json`` file; bad lines are errors naming the file and line."""
    return SubquestionRetrieval(subquestion, parse_lines(path, numbered_lines(path)))


def numbered_lines(path: Path) -> list[tuple[int, str]]:
    """The non-blank lines of a retrieval file with their line numbers (from 1)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise GenerError(f"{path}: cannot read ({err})") from None
    return [(n, line) for n, line in enumerate(lines, 1) if line.strip()]


def parse_lines(path: Path, numbered: list[tuple[int, str]]) -> list[RetrievedSentence]:
    """The sentences of some :func:`numbered_lines` of ``path``."""
    try:  # one parse of the whole file is much faster than one per line
        rows = json.loads("[" + ",".join(line for _, line in numbered) + "]")
        if len(rows) != len(numbered):
            raise ValueError
    except ValueError:
        rows = []
        for n, line in numbered:
            try:
                rows.append(json.loads(line))
            except ValueError as err:
                raise GenerError(f"{path}: line {n}: not valid JSON ({err.msg})") from None
    return [_sentence(row, path, n) for (n, _), row in zip(numbered, rows, strict=True)]


def read_gener_retrieval(folder: str | Path, subquestions) -> list[SubquestionRetrieval]:
    """The retrievals of ``subquestions`` (in their order) from a GeNER retrieval folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GenerError(f"{folder}: retrieval folder not found")
    return [read_retrieval_file(retrieval_file(folder, sq.type), sq) for sq in subquestions]
