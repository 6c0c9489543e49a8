"""Generate a synthetic GeNER retrieval folder at paper scale for the matching benchmark.

Writes ``Which_<subtype>.json`` files for the 9 CoNLL-2003 subquestions of the GeNER config
(``--sentences`` lines each) and ``config.json`` (that config with abbreviation and
AutoPhrase steps off). Sentences average ~29.5 tokens (1.33M tokens for 45,000 sentences,
like the paper's CoNLL retrieval); each carries retrieved phrases drawn from a pool of
``--phrases`` capitalised names per run (about 5% shared by two subquestions), written in the
raw forms DensePhrases returns ("the X", "X,", "X and Y"), plus other pool names that only
dictionary matching finds. Usage::

    python bench/make_matching_input.py OUT_DIR [--sentences 5000] [--phrases 6900] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

SUBTYPES = [("PER", "athlete"), ("PER", "actor"), ("PER", "politician"), ("LOC", "city"),
            ("LOC", "country"), ("LOC", "state in the USA"), ("ORG", "company"),
            ("ORG", "institution"), ("ORG", "sports team")]
SYLLABLES = "ka lo mi ra ten vor sel an dur bel cor fin gal hum is jor kel lan mor nor".split()


def _name(rng: random.Random) -> str:
    words = [("".join(rng.choices(SYLLABLES, k=rng.randint(1, 3)))).capitalize()
             for _ in range(rng.choice((1, 1, 2, 2, 2, 3)))]
    return " ".join(words)


def _pools(rng: random.Random, n_phrases: int) -> list[list[str]]:
    names: set[str] = set()
    while len(names) < n_phrases:
        names.add(_name(rng))
    names = sorted(names)
    rng.shuffle(names)
    pools = [names[i::len(SUBTYPES)] for i in range(len(SUBTYPES))]
    for i, pool in enumerate(pools):  # ~5% of names are also answers of another subquestion
        pools[(i + 1) % len(pools)].extend(pool[: len(pool) // 20])
    return pools


def _vocabulary(rng: random.Random) -> list[str]:
    words = {"".join(rng.choices("abcdefghijklmnoprstuvwy", k=rng.randint(2, 9)))
             for _ in range(6000)}
    return sorted(words)


def _raw_form(rng: random.Random, name: str, pool: list[str]) -> str:
    r = rng.random()
    if r < 0.15:
        return "the " + name
    if r < 0.25:
        return name + ","
    if r < 0.30:
        return f"{name} and {rng.choice(pool)}"
    return name


def generate(out: Path, sentences: int, n_phrases: int, seed: int) -> None:
    """Write the retrieval folder and its config."""
    rng = random.Random(seed)
    pools, vocab = _pools(rng, n_phrases), _vocabulary(rng)
    weights = [1 / (i + 1) ** 0.8 for i in range(len(vocab))]
    everything = [n for pool in pools for n in pool]
    per_sentence = max(1, -(-max(map(len, pools)) // sentences))
    out.mkdir(parents=True, exist_ok=True)
    for (_, subtype), pool in zip(SUBTYPES, pools, strict=True):
        lines = []
        for i in range(sentences):
            picks = [pool[(i * per_sentence + j) % len(pool)] if i * per_sentence + j < len(pool)
                     else rng.choice(pool) for j in range(per_sentence)]
            filler = rng.choices(vocab, weights, k=22 - 2 * per_sentence)
            pieces = [(w.capitalize() if k == 0 else w, False) for k, w in enumerate(filler)]
            for extra in rng.sample(everything, 2):
                pieces.insert(rng.randrange(1, len(pieces)), (extra, False))
            for pick in picks:
                pieces.insert(rng.randrange(1, len(pieces)), (_raw_form(rng, pick, pool), True))
            text, phrases = "", []
            for piece, retrieved in pieces:
                if text:
                    text += " " if rng.random() > 0.1 else ", "
                if retrieved:
                    phrases.append({"name": piece, "start": len(text),
                                    "end": len(text) + len(piece)})
                text += piece
            text += " ."
            lines.append(json.dumps({"sentence": text, "phrases": phrases, "abbreviations": {}}))
        (out / f"Which_{subtype}.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = {"add_abbreviation": False, "refine_boundary": False, "subquestion_configs": [
        {"type": label, "subtype": subtype, "top_k": sentences, "split_composite_mention": True,
         "remove_lowercase_phrase": True, "remove_the": True, "skip_lowercase_ngram": 1}
        for label, subtype in SUBTYPES]}
    (out / "config.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--sentences", type=int, default=5000, help="sentences per subquestion")
    parser.add_argument("--phrases", type=int, default=6900, help="unique names in the pools")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    generate(args.out, args.sentences, args.phrases, args.seed)


if __name__ == "__main__":
    main()
