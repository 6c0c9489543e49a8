"""Common English words, for rule 9: lowercase single tokens that are too general to match.

The paper's rule 9 never matches a lowercase single token, because such tokens are noisy
("gene", "patients", "treatment"). In biomedical text that also throws away most chemicals
and many diseases, which are single lowercase words ("haloperidol", "galactosemia"), so
BC5CDR's dictionary recalled 6% of the validation mentions. gener's variant skips only the
lowercase single tokens that are *common words*: whole words of the uncased BERT WordPiece
vocabulary (the 30,522 pieces of ``bert-base-uncased``, which the default encoder MiniLM
uses). A word gets its own piece there when it is frequent in Wikipedia and books, so
"gene", "cancer" and "cocaine" are common and "haloperidol" (``halo ##per ##ido ##l``) is not.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from gener.errors import GenerError
from gener.models import MINILM, resolve_model_path


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """The whole lowercase words of the default encoder's WordPiece vocabulary."""
    path = Path(resolve_model_path(MINILM)) / "vocab.txt"
    try:
        pieces = path.read_text(encoding="utf-8").split("\n")
    except OSError as err:
        raise GenerError(f"rule 9 needs the word list {path}: {err.strerror}") from None
    return frozenset(p for p in pieces if p.isalpha() and p.islower())
