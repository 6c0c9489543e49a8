"""The labelling policy: every switch that changes what a build labels or keeps.

A :class:`LabellingPolicy` is frozen and plain: a named preset (``default``, gener's own
behaviour, or ``paper``, the GeNER paper's) with fields overridden by a recipe's
``policy:`` mapping and then by the user (``--set field=value``). The resolved policy and
its digest go into the build manifest, the stage cache keys and the dataset card, so two
datasets made under different policies never share a cache entry or a version.

Which rules apply to which subquestion stays the recipe's business (paper Table C.2); the
policy says how gener carries those rules out.
"""

from __future__ import annotations

import hashlib
import json
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace

from gener.errors import GenerError

# Allowed values of the string fields.
CHOICES = {
    "labeling": ("phrase", "counts"),
    "rule3": ("names", "lowercase"),
    "rule9": ("all", "common"),
    "retrieved_rule9": ("off", "all", "common"),
    "abbreviations": ("dictionary", "sentence"),
    "retrieved_tokens": ("aligned", "covering"),
}


@dataclass(frozen=True)
class LabellingPolicy:
    """How gener retrieves, normalizes and labels; see ``docs/policy.md`` for each field."""

    preset: str = "default"
    # --- retrieval ---
    # ν: weight of the first sentence (and its category phrase) of the document a phrase
    # names (the ranking of `gener ask`).
    definition_weight: float = 1.0
    # Pseudo-relevance feedback: each question asked again with the mean vector of its N best
    # phrases; 0 turns it off.
    feedback_phrases: int = 0
    # Answer confidence (gener.answers): a build keeps the answers whose probability of
    # being an instance of the asked type reaches this, and its evidence sentences are
    # where they occur (k at most); 0 keeps the paper's quota of k evidence sentences.
    min_confidence: float = 0.5
    # A retrieved lowercase word that ends a longer candidate also retrieves that candidate
    # ("cancer" -> "ovarian cancer"), for subquestions without rule 3.
    head_extension: bool = True
    # Drop a retrieved lowercase phrase of several words whose last word's similarity to
    # the question is under this (bi-encoders only); None: keep them.
    head_similarity: float | None = None
    # --- normalization ---
    # Rule 3 drops all-lowercase phrases, and keeps only the name of a mixed phrase
    # ("names") or nothing more ("lowercase", the paper's).
    rule3: str = "names"
    # Rule 11 (shared heads: "breast and ovarian cancer" also gives "breast cancer") where
    # the recipe asks for it; the paper has no rule 11.
    rule11: bool = True
    # `gener match`: rules 1-7 applied again to the phrases of a GeNER retrieval folder;
    # GeNER's annotate.py takes them as its retrieve.py wrote them (normalized).
    renormalize: bool = True
    # --- labelling ---
    # A retrieved phrase that starts or ends inside a token ("Dallas" in "Dallas–Fort
    # Worth") is not tagged ("aligned"), or the tokens it touches are, each phrase over the
    # ones before it ("covering", the paper's).
    retrieved_tokens: str = "aligned"
    # Label of a phrase retrieved for several labels: the label whose questions its text is
    # most similar to ("phrase"), or a draw in proportion to retrieval counts ("counts").
    labeling: str = "phrase"
    # Multi-label dictionary entries take their most frequent label instead of a draw.
    deterministic: bool = False
    # Rule 9 keeps all lowercase single tokens from being matched ("all", the paper's) or
    # only common words ("common").
    rule9: str = "all"
    # Rule 9 on the retrieved phrases too: a retrieved single lowercase token is not tagged
    # if it is a common word ("common"), always ("all"), or is tagged ("off").
    retrieved_rule9: str = "common"
    # Rule 9 reads a capitalised word at a sentence's start, or after an opener, as lowercase.
    rule9_by_position: bool = True
    # Rule 8: abbreviations of retrieved phrases become dictionary entries, common words
    # excepted ("dictionary"), or are tagged only where defined ("sentence", the paper's).
    abbreviations: str = "dictionary"

    def __post_init__(self) -> None:
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise GenerError(f"policy field {name}: must be one of {', '.join(allowed)}, "
                                 f"not {getattr(self, name)!r}")
        if self.feedback_phrases < 0:
            raise GenerError("policy field feedback_phrases: must be 0 (off) or more")
        if not 0 <= self.min_confidence <= 1:
            raise GenerError("policy field min_confidence: must be a probability, from 0 to 1")
        if self.head_similarity is not None and not -1 <= self.head_similarity <= 1:
            raise GenerError("policy field head_similarity: must be a cosine, from -1 to 1")

    @classmethod
    def named(cls, name: str) -> LabellingPolicy:
        """The preset called ``name`` (see :data:`PRESETS`)."""
        if name not in PRESETS:
            raise GenerError(f"unknown policy {name!r} (known: {', '.join(PRESETS)})")
        return cls(preset=name, **PRESETS[name])

    def with_overrides(self, overrides: Mapping[str, object] | Iterable[str]) -> LabellingPolicy:
        """A copy with fields changed: a mapping of values, or ``"field=value"`` strings."""
        if not isinstance(overrides, Mapping):
            overrides = dict(_split_assignment(item) for item in overrides)
        changes = {}
        for name, value in overrides.items():
            if name not in _FIELD_TYPES or name == "preset":
                known = ", ".join(f for f in _FIELD_TYPES if f != "preset")
                raise GenerError(f"unknown policy field {name!r} (known: {known})")
            changes[name] = _coerce(name, value)
        return replace(self, **changes) if changes else self

    def to_dict(self) -> dict:
        """Every field, as plain JSON values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> LabellingPolicy:
        """The policy that :meth:`to_dict` wrote (a manifest's ``policy``)."""
        data = dict(data)
        return cls.named(data.pop("preset", "default")).with_overrides(data)

    def digest(self) -> str:
        """Twelve hex digits naming the behaviour (the preset's name does not count)."""
        behaviour = {k: v for k, v in self.to_dict().items() if k != "preset"}
        return hashlib.sha256(json.dumps(behaviour, sort_keys=True).encode()).hexdigest()[:12]

    def describe(self) -> str:
        """One line: the preset and the fields that differ from it."""
        base = LabellingPolicy.named(self.preset).to_dict()
        changed = [f"{k}={v}" for k, v in self.to_dict().items() if base[k] != v]
        return self.preset + (f" ({', '.join(changed)})" if changed else "")


# The presets, as the fields that differ from the class defaults (which are ``default``'s).
PRESETS: dict[str, dict] = {
    "default": {},
    # The paper's behaviour (GeNER's released code), for reproduction.
    "paper": {
        "definition_weight": 0.0,
        "min_confidence": 0.0,
        "head_extension": False,
        "rule3": "lowercase",
        "rule11": False,
        "labeling": "counts",
        "rule9": "all",
        "retrieved_rule9": "off",
        "rule9_by_position": False,
        "abbreviations": "sentence",
        "renormalize": False,
        "retrieved_tokens": "covering",
    },
}

_FIELD_TYPES = {f.name: f.type for f in fields(LabellingPolicy)}
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _split_assignment(item: str) -> tuple[str, str]:
    name, sep, value = str(item).partition("=")
    if not sep or not name.strip():
        raise GenerError(f"--set {item!r}: expected field=value")
    return name.strip(), value.strip()


def _coerce(name: str, value: object) -> object:
    """``value`` (a string from the command line, or a YAML/JSON value) as field ``name``'s
    type; a one-line error when it is not one."""
    hint = typing.get_type_hints(LabellingPolicy)[name]
    optional = isinstance(hint, types.UnionType) and type(None) in hint.__args__
    kind = next(t for t in hint.__args__ if t is not type(None)) if optional else hint
    if isinstance(value, str):
        text = value.strip().lower()
        if optional and text in ("none", "null", ""):
            return None
        try:
            if kind is bool:
                if text not in _TRUE + _FALSE:
                    raise ValueError
                return text in _TRUE
            if kind in (int, float):
                return kind(text)
        except ValueError:
            raise GenerError(f"policy field {name}: expected {kind.__name__}, "
                             f"got {value!r}") from None
        return value.strip()
    if value is None and optional:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise GenerError(f"policy field {name}: expected {kind.__name__}, got {value!r}")
    return value


def resolve_policy(recipe_policy: Mapping | str | None = None, preset: str | None = None,
                   overrides: Mapping[str, object] | Iterable[str] = ()) -> LabellingPolicy:
    """The policy of a build: ``preset`` if given, else the recipe's (``policy:`` a preset
    name or a mapping with an optional ``preset`` and fields, which apply only to the
    recipe's own preset), then ``overrides``."""
    if isinstance(recipe_policy, str):
        recipe_policy = {"preset": recipe_policy}
    recipe_policy = dict(recipe_policy or {})
    recipe_preset = recipe_policy.pop("preset", "default")
    if preset is None or preset == recipe_preset:
        policy = LabellingPolicy.named(recipe_preset).with_overrides(recipe_policy)
    else:
        policy = LabellingPolicy.named(preset)
    return policy.with_overrides(overrides)
