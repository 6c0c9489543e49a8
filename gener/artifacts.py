"""Plain data classes passed between pipeline stages.

Retrieval writes, per subquestion, a list of :class:`RetrievedSentence` records: an evidence
sentence with the phrases retrieved in it (character offsets). This is the same information
as the GeNER code's retrieval output (``{"sentence", "phrases": [{"name", "start", "end"}],
"abbreviations"}``), plus scores and the corpus sentence id, and is stored as JSON lines.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from gener.recipes import Subquestion


@dataclass(slots=True)
class RetrievedPhrase:
    """A phrase retrieved in a sentence: ``sentence[start:end] == name``."""

    name: str
    start: int
    end: int
    score: float = 0.0


@dataclass(slots=True)
class RetrievedSentence:
    """An evidence sentence and the phrases retrieved in it for one subquestion."""

    sentence: str
    phrases: list[RetrievedPhrase]
    sentence_id: str = ""
    score: float = 0.0
    abbreviations: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-serialisable dict in the GeNER retrieval format (plus our extra fields)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RetrievedSentence:
        """Inverse of :meth:`to_dict`; extra keys are ignored, missing optional ones defaulted."""
        phrases = [RetrievedPhrase(p["name"], int(p["start"]), int(p["end"]),
                                   float(p.get("score", 0.0))) for p in data["phrases"]]
        return cls(data["sentence"], phrases, str(data.get("sentence_id", "")),
                   float(data.get("score", 0.0)), dict(data.get("abbreviations") or {}))


@dataclass
class SubquestionRetrieval:
    """Everything retrieved for one subquestion, best sentences first."""

    subquestion: Subquestion
    sentences: list[RetrievedSentence]
    # Candidate answers with their confidence (gener.answers.Answer), when the policy
    # scores answers; empty under a quota of k sentences.
    answers: list = field(default_factory=list)
