"""Recipe data classes, loading and validation."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from gener.errors import GenerError, first_line
from gener.policy import resolve_policy
from gener.recipes.questions import question_labels, singular_head

RECIPE_DIR = Path(__file__).parent
RULES = {
    1: "split composite mentions on 'and'",
    2: "strip punctuation at the start and end",
    3: "drop all-lowercase phrases",
    4: "drop a leading 'the'",
    5: "drop phrases shorter than 3 characters",
    6: "drop stopwords",
    7: "drop the [TYPE] word and generic phrases containing it",
    8: "annotate abbreviations found in evidence sentences",
    9: "do not match lowercase single tokens",
    10: "refine span boundaries with a phrase miner",
    11: "give a coordinated modifier the shared head ('breast and ovarian cancer')",
}
# Rules the paper applies to every subquestion (Table C.2 omits them for that reason).
COMMON_RULES = (2, 5, 6, 7, 8, 10)
MAX_QUESTION_CHARS = 512

_RECIPE_KEYS = {"name", "description", "question_template", "common_rules", "benchmark",
                "subquestions", "self_training", "policy"}
_SUBQUESTION_KEYS = {"label", "type", "k", "rules"}
_SELF_TRAINING_KEYS = {"t_early", "t_update"}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")


@dataclass(frozen=True)
class Subquestion:
    """One "Which [TYPE]?" question and how its retrieved phrases are treated."""

    label: str
    type: str
    k: int
    rules: tuple[int, ...]
    question: str
    # The types of the recipe's other subquestions: rule 7 drops their type words as well
    # ("disease" retrieved for "Which disorder?", "drug" for "Which chemical compound?").
    other_types: tuple[str, ...] = ()
    # Rule 3 also keeps only the name of a mixed phrase (gener.normalize.name_core); False
    # for the paper's rule 3 (the labelling policy's ``rule3: lowercase``, GeNER configs).
    names_only: bool = True

    def has_rule(self, rule: int) -> bool:
        """Whether normalization/matching rule ``rule`` (1-11) applies to this subquestion."""
        return rule in self.rules

    @property
    def class_types(self) -> tuple[str, ...]:
        """Its own type, then the recipe's other types: the class nouns that rule 7 drops."""
        return (self.type, *self.other_types)


def with_other_types(subquestions) -> tuple[Subquestion, ...]:
    """The subquestions, each knowing the distinct types of the others (for rule 7)."""
    types = list(dict.fromkeys(sq.type for sq in subquestions))
    return tuple(replace(sq, other_types=tuple(t for t in types if t != sq.type))
                 for sq in subquestions)


@dataclass(frozen=True)
class SelfTrainingConfig:
    """BOND self-training schedule (paper Table C.3)."""

    t_early: int = 900
    t_update: int = 300


@dataclass(frozen=True)
class Recipe:
    """Entity types to generate, as subquestions, plus self-training settings."""

    name: str
    subquestions: tuple[Subquestion, ...]
    description: str = ""
    benchmark: str | None = None
    self_training: SelfTrainingConfig = field(default_factory=SelfTrainingConfig)
    source: str = "<memory>"
    # The recipe's labelling policy: a preset name and/or field overrides
    # (gener.policy.resolve_policy).
    policy: dict = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        """Entity labels in first-seen order."""
        return list(dict.fromkeys(sq.label for sq in self.subquestions))

    def to_dict(self) -> dict:
        """A plain dict that :func:`load_recipe` can read back (rules fully expanded)."""
        data = {"name": self.name}
        if self.description:
            data["description"] = self.description
        if self.benchmark:
            data["benchmark"] = self.benchmark
        data["common_rules"] = []
        data["subquestions"] = [
            {"label": sq.label, "type": sq.type, "k": sq.k, "rules": list(sq.rules)}
            for sq in self.subquestions
        ]
        data["self_training"] = asdict(self.self_training)
        if self.policy:
            data["policy"] = dict(self.policy)
        return data

    def with_k(self, k: int) -> Recipe:
        """A copy whose subquestions all retrieve ``k`` sentences (for quick runs)."""
        subquestions = tuple(replace(sq, k=k) for sq in self.subquestions)
        return replace(self, subquestions=subquestions)


def labels_with_rule(subquestions, rule: int) -> list[str]:
    """Labels whose every subquestion applies ``rule``: with rule 3 (all-lowercase phrases
    dropped) each of their entities has a capital letter; with rule 9 none is a lowercase
    single common word. ``subquestions``: :class:`Subquestion` objects or their manifest
    dicts (``label``, ``rules``)."""
    rules_of: dict[str, list[bool]] = {}
    for sq in subquestions:
        label, rules = (sq["label"], sq["rules"]) if isinstance(sq, dict) else (sq.label, sq.rules)
        rules_of.setdefault(label, []).append(rule in rules)
    return [label for label, has_rule in rules_of.items() if all(has_rule)]


def _fail(source: str, key: str, problem: str) -> GenerError:
    return GenerError(f"{source}: {key}: {problem}")


def _check_keys(source: str, where: str, data: object, allowed: set[str], required: set[str]):
    if not isinstance(data, dict):
        raise _fail(source, where, f"expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _fail(source, f"{where}.{unknown[0]}" if where else unknown[0],
                    f"unknown key (allowed: {', '.join(sorted(allowed))})")
    missing = sorted(required - set(data))
    if missing:
        raise _fail(source, f"{where}.{missing[0]}" if where else missing[0], "missing field")


def _check_rules(source: str, key: str, rules: object) -> tuple[int, ...]:
    if not isinstance(rules, list) or not all(isinstance(r, int) and not isinstance(r, bool)
                                               for r in rules):
        raise _fail(source, key, "expected a list of rule numbers")
    for rule in rules:
        if rule not in RULES:
            raise _fail(source, key, f"rule {rule} is outside 1-{max(RULES)}")
    return tuple(rules)


def make_question(template: str, entity_type: str, source: str = "<question>") -> str:
    """Fill the [TYPE] slot of ``template``; reject empty or over-long questions."""
    entity_type = " ".join(str(entity_type).split())
    if not entity_type:
        raise _fail(source, "type", "empty question type")
    question = template.replace("[TYPE]", entity_type)
    if len(question) > MAX_QUESTION_CHARS:
        raise _fail(source, "type", f"question longer than {MAX_QUESTION_CHARS} characters")
    return question


def parse_recipe(data: object, source: str = "<memory>") -> Recipe:
    """Validate a recipe mapping (as read from YAML) and build a :class:`Recipe`."""
    _check_keys(source, "", data, _RECIPE_KEYS, {"name", "subquestions"})
    name = data["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(source, "name", "must be lowercase letters, digits and underscores")
    template = data.get("question_template", "Which [TYPE]?")
    if not isinstance(template, str) or "[TYPE]" not in template:
        raise _fail(source, "question_template", "must be a string containing [TYPE]")
    common = _check_rules(source, "common_rules", data.get("common_rules", list(COMMON_RULES)))
    raw_subquestions = data["subquestions"]
    if not isinstance(raw_subquestions, list) or not raw_subquestions:
        raise _fail(source, "subquestions", "expected a non-empty list")
    subquestions = []
    for i, raw in enumerate(raw_subquestions):
        where = f"subquestions[{i}]"
        _check_keys(source, where, raw, _SUBQUESTION_KEYS, {"label", "type", "k"})
        label = raw["label"]
        if not isinstance(label, str) or not label.strip() or any(c.isspace() for c in label):
            raise _fail(source, f"{where}.label", "must be a non-empty label without spaces")
        k = raw["k"]
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise _fail(source, f"{where}.k", "must be a positive integer")
        rules = _check_rules(source, f"{where}.rules", raw.get("rules", []))
        question = make_question(template, raw["type"] if isinstance(raw["type"], str) else "",
                                 f"{source}: {where}")
        merged = tuple(sorted(set(rules) | set(common)))
        subquestions.append(Subquestion(label, " ".join(raw["type"].split()), k, merged, question))
    st = data.get("self_training", {})
    _check_keys(source, "self_training", st, _SELF_TRAINING_KEYS, set())
    for key, value in st.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise _fail(source, f"self_training.{key}", "must be a positive integer")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _fail(source, "description", "must be a string")
    benchmark = data.get("benchmark")
    if benchmark is not None and not isinstance(benchmark, str):
        raise _fail(source, "benchmark", "must be a string")
    policy = data.get("policy") or {}
    if isinstance(policy, str):
        policy = {"preset": policy}
    if not isinstance(policy, dict):
        raise _fail(source, "policy", "must be a preset name or a mapping of policy fields")
    try:
        resolve_policy(policy)
    except GenerError as err:
        raise _fail(source, "policy", str(err)) from None
    return Recipe(name, with_other_types(subquestions), description, benchmark,
                  SelfTrainingConfig(**st), source, policy)


def available_recipes() -> list[str]:
    """Names of the recipes shipped with gener."""
    return sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))


def load_recipe(name_or_path: str | Path) -> Recipe:
    """Load a shipped recipe by name, or a recipe YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = RECIPE_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise GenerError(f"unknown recipe {str(name_or_path)!r} "
                             f"(known: {', '.join(available_recipes())})")
    elif not path.exists():
        raise GenerError(f"{path}: recipe file not found")
    import yaml  # here, not at the top: `gener match` imports this module and needs no YAML

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise GenerError(f"{path}: not valid YAML: {first_line(err)}") from None
    return parse_recipe(data, str(path))


def _label_for(entity_type: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", entity_type.strip()).strip("_").upper()


def config_name(text: str) -> str:
    """A config name from a one-line recipe's text ("Which river?" -> "which_river"), so that
    builds of different questions into one folder keep their own configs."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60].rstrip("_") or "custom"


def recipe_from_types(types: str | list[str], k: int = 1000,
                      rules: tuple[int, ...] = (), name: str | None = None) -> Recipe:
    """A recipe with one subquestion per comma-separated type ("disease,chemical compound";
    a plural head is made singular), named after its types unless ``name`` is given."""
    if isinstance(types, str):
        types = types.split(",")
    types = [t for t in (" ".join(t.split()) for t in types) if t]
    name = name or config_name(",".join(types))
    if not types:
        raise GenerError("--types: empty question type")
    nameless = [t for t in types if not _label_for(t)]
    if nameless:
        raise GenerError(f"--types: {nameless[0]!r} names no entity type (no letters or "
                         "digits)")
    return _one_line_recipe([(singular_head(t),) for t in types], k, rules, name, "--types")


def _one_line_recipe(groups: list[tuple[str, ...]], k: int, rules: tuple[int, ...],
                     name: str, source: str) -> Recipe:
    """A subquestion "Which T?" per type, each group of types under one label (named after
    its types: "RIVER_OR_LAKE"); a type is asked once ("gene" and "Gene")."""
    subquestions, asked = [], set()
    for group in groups:
        label = _label_for(" or ".join(group))
        for entity_type in group:
            if _label_for(entity_type) not in asked:
                asked.add(_label_for(entity_type))
                subquestions.append({"label": label, "type": entity_type, "k": k,
                                     "rules": list(rules)})
    return parse_recipe({"name": name, "subquestions": subquestions}, source)


def recipe_from_question(question: str, k: int = 1000, rules: tuple[int, ...] = (),
                         name: str | None = None) -> Recipe:
    """A recipe from a question such as "Which microbe?", named after the question
    ("which_microbe") unless ``name`` is given: a subquestion per type it asks for, under
    the labels :func:`~gener.recipes.questions.question_labels` groups them in."""
    question = " ".join(str(question).split())
    name = name or config_name(question)
    if not question:
        raise GenerError("--question: empty question")
    if len(question) > MAX_QUESTION_CHARS:
        raise GenerError(f"--question: question longer than {MAX_QUESTION_CHARS} characters")
    groups = [g for g in (tuple(t for t in group if _label_for(t))
                          for group in question_labels(question)) if g]
    if not groups:
        raise GenerError(f"--question {question!r}: names no entity type; ask e.g. "
                         "\"Which disease?\"")
    return _one_line_recipe(groups, k, rules, name, "--question")
