"""Tune rule 10 (span refinement by mined phrases) on development splits only.

Dictionary matching of a fixed external dictionary over a dev split, without and with rule
10, scored against the gold spans (exact start, end and type): NCBI-disease devel with the
Disease entries of AutoNER's BC5CDR core dictionary, CoNLL-2003 testa (MISC dropped) with
TALLOR's CoNLL dictionary. Rule 9 is on, as in the paper's configs. Phrases are mined
(gener/phrase_mining.py) over the text of the train and dev splits (no labels). Test splits
are never read. Usage::

    python bench/rule10_dev.py [--data ../shared/data] [--thresholds 1,2,2.5,3,4,5,6]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gener.artifacts import RetrievedPhrase, RetrievedSentence, SubquestionRetrieval
from gener.benchmarks import read_sentences, to_bio
from gener.matching import match
from gener.phrase_mining import mine_phrases
from gener.recipes import Subquestion
from gener.text import tokenize

CASES = {  # name: (train file, dev file, columns, IOB1, labels, dictionary file)
    "ncbi_disease devel": ("ncbi_disease/train.tsv", "ncbi_disease/devel.tsv", "tsv", False,
                           ("Disease",), "dictionaries/bc5cdr_autoner/dict_core.txt"),
    "conll2003 testa": ("conll2003/eng.train", "conll2003/eng.testa", "conll", True,
                        ("PER", "LOC", "ORG"),
                        "dictionaries/tallor/conll2003_selected_dict_filted.txt"),
}


def _paper_tokens(tokens: list[str], tags: list[str]) -> tuple[list[str], set]:
    """The paper's tokens of a sentence and its gold spans ``(start, end, label)`` on them."""
    pieces = [tokenize(t) for t in tokens]
    starts = [0]
    for p in pieces:
        starts.append(starts[-1] + len(p))
    spans, open_span = set(), None
    for i, tag in enumerate(tags + ["O"]):
        if open_span and not tag.startswith("I-"):
            spans.add((starts[open_span[0]], starts[i], open_span[1]))
            open_span = None
        if tag.startswith("B-"):
            open_span = (i, tag[2:])
    return [t for p in pieces for t in p], spans


def _score(records, gold: list[set]) -> tuple[float, float, float]:
    tp = predicted = 0
    for record, spans in zip(records, gold, strict=True):
        got = {(s["start"], s["end"], s["type"]) for s in record["spans"]}
        tp += len(got & spans)
        predicted += len(got)
    total = sum(map(len, gold))
    p, r = tp / max(predicted, 1), tp / max(total, 1)
    return p, r, 2 * p * r / max(p + r, 1e-9)


def evaluate(data: Path, name: str, thresholds: list[float]) -> list[tuple]:
    train_file, dev_file, columns, iob1, labels, dict_file = CASES[name]
    dev = [_paper_tokens(tokens, to_bio(tags, set(labels), iob1))
           for tokens, tags in read_sentences(data / dev_file, columns)]
    train = [[t for w in tokens for t in tokenize(w)]
             for tokens, _ in read_sentences(data / train_file, columns)]
    entries: dict[str, list[str]] = {label: [] for label in labels}
    for line in (data / dict_file).read_text(encoding="utf-8").splitlines():
        label, _, name_ = line.partition("\t")
        if label in entries and tokenize(name_):
            entries[label].append(" ".join(tokenize(name_)))
    retrievals = [SubquestionRetrieval(Subquestion(label, "entity", 1, (), "dictionary"), [
        RetrievedSentence(n, [RetrievedPhrase(n, 0, len(n))]) for n in names])
        for label, names in entries.items()]
    dev_sentences = [RetrievedSentence(" ".join(tokens), []) for tokens, _ in dev]
    gold = [spans for _, spans in dev]
    rows = []
    for threshold in [None, *thresholds]:
        miner = None if threshold is None else mine_phrases(
            train + [tokens for tokens, _ in dev], threshold=threshold)
        rules = (9,) if threshold is None else (9, 10)
        sq = Subquestion(labels[0], "entity", 1, rules, "dev")
        result = match(retrievals + [SubquestionRetrieval(sq, dev_sentences)], list(labels),
                       deterministic=True, progress=False, miner=miner, workers=1)
        records = result.records[-len(dev_sentences):]
        refined = result.stats["spans_per_source"]["refined"]
        rows.append((name, threshold, len(miner or ()), refined, *_score(records, gold)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared/data")
    parser.add_argument("--thresholds", default="1,2,2.5,3,4,5,6")
    args = parser.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    print("| dev split | threshold | mined phrases | spans refined | P | R | F1 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in CASES:
        for case, t, mined, refined, p, r, f in evaluate(args.data, name, thresholds):
            print(f"| {case} | {'off' if t is None else t} | {mined:,} | {refined:,} "
                  f"| {p:.3f} | {r:.3f} | {f:.3f} |", flush=True)


if __name__ == "__main__":
    main()
