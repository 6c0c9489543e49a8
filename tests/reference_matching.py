"""A small, literal re-implementation of the paper's matching loop, for property tests.

It scans a Python list of dictionary strings for every n-gram (as the GeNER code does), so it
is slow but obviously faithful: retrieved spans first (leftmost first and, where they
overlap, the longest, which is gener's choice; the paper takes them as listed), then at each
token the longest n-gram in the dictionary that is not tagged yet (rule 9: no single
lowercase token).
"""

from gener.text import tokenize


def reference_match(sentences, dictionary_keys):
    """``sentences``: (text, [(name, start, end)], label, skip_lower); returns span lists."""
    keys = list(dictionary_keys)
    out = []
    for text, phrases, label, skip_lower in sentences:
        tokens = tokenize(text)
        tags = [None] * len(tokens)
        spans = []
        for name, start, _ in sorted(phrases, key=lambda p: (p[1], -p[2])):
            ts = len(tokenize(text[:start]))
            te = ts + len(tokenize(name))
            if all(t is None for t in tags[ts:te]):
                tags[ts:te] = [label] * (te - ts)
                spans.append((ts, te, "retrieved"))
        i = 0
        while i < len(tokens):
            for j in range(len(tokens), i, -1):
                ngram = " ".join(tokens[i:j]).lower()
                if ngram not in keys:
                    continue
                if skip_lower and j - i == 1 and tokens[i].islower():
                    continue
                if any(t is not None for t in tags[i:j]):
                    continue
                tags[i:j] = ["matched"] * (j - i)
                spans.append((i, j, ngram))
                i = j - 1
                break
            i += 1
        out.append(sorted(spans))
    return out
