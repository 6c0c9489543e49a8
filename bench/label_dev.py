"""Quality of the generated labels themselves, measured on validation sentences.

``bench/dictionary_dev.py`` matches a pseudo-dictionary over the validation split; it does
not see the spans that a build tags because they were *retrieved* there. This script runs
whole builds (retrieval, normalization, matching) with the benchmark's **validation**
sentences, without their labels, as the corpus, and scores the labelled evidence sentences
against the validation gold: entity-level P/R/F1 over every evidence sentence of every
subquestion, so what a tagger would be trained on. k is the X_train k of the tables plan
scaled by the validation/train size ratio (at least 1).

    python bench/label_dev.py [--benchmarks ncbi_disease,...] [--retrieved-rule9 off,common,all]
        [--feedback-phrases N] [--no-head-extension] [--head-similarity MIN] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BENCHMARKS = ("conll2003", "wikigold", "wnut16", "ncbi_disease", "bc5cdr")
XTRAIN_K = {"wikigold": 100, "wnut16": 10}  # the tables plan's; 1000 for the others


def label_scores(dataset, gold_tokens: list[list[str]], gold_tags: list[list[str]]) -> dict:
    """Entity-level P/R/F1 of a built dataset's labels against the gold of its sentences.

    Sentences are compared in characters (the corpus sentence is the gold tokens joined by
    spaces; gener re-tokenizes it), so differing tokenizations do not count as errors."""
    from trainers.inference import bio_spans

    names = dataset.features["ner_tags"].feature.names
    true = found = correct = 0
    for tokens, tags, sentence_id in zip(dataset["tokens"], dataset["ner_tags"],
                                         dataset["sentence_id"], strict=True):
        index = int(sentence_id.split("-", 1)[1].split(":", 1)[0])
        gold = _char_spans(gold_tokens[index], bio_spans(gold_tags[index]))
        offsets = _offsets(" ".join(gold_tokens[index]), tokens)
        predicted = {(kind, offsets[first][0], offsets[end - 1][1])
                     for kind, first, end in bio_spans([names[t] for t in tags])}
        true, found = true + len(gold), found + len(predicted)
        correct += len(gold & predicted)
    precision = correct / found if found else 0.0
    recall = correct / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "entities": found, "sentences": len(dataset)}


def _offsets(text: str, tokens) -> list[tuple[int, int]]:
    spans, position = [], 0
    for token in tokens:
        start = text.find(token, position)
        if start < 0:
            raise SystemExit(f"label_dev: token {token!r} not found in {text!r}")
        spans.append((start, start + len(token)))
        position = start + len(token)
    return spans


def _char_spans(tokens: list[str], spans) -> set[tuple[str, int, int]]:
    offsets = _offsets(" ".join(tokens), tokens)
    return {(kind, offsets[first][0], offsets[end - 1][1]) for kind, first, end in spans}


def main(argv: list[str] | None = None) -> int:
    from gener.benchmarks import load_benchmark
    from gener.corpus import open_corpus
    from gener.io import atomic_write_text
    from gener.policy import CHOICES, resolve_policy
    from gener.recipes import load_recipe
    from gener.stages import BuildSettings, build
    from trainers.data import load_training_dataset
    from trainers.evaluation import gold_tags

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", default=",".join(BENCHMARKS))
    parser.add_argument("--retrieved-rule9", default="common",
                        help="comma-separated choices among "
                             f"{', '.join(CHOICES['retrieved_rule9'])}")
    parser.add_argument("--feedback-phrases", type=int, default=None,
                        help="the search's pseudo-relevance feedback (0: off; default: gener's)")
    parser.add_argument("--no-head-extension", dest="head_extension", action="store_false")
    parser.add_argument("--head-similarity", type=float, default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    choices = args.retrieved_rule9.split(",")
    bad = [c for c in choices if c not in CHOICES["retrieved_rule9"]]
    if bad:
        parser.error(f"--retrieved-rule9: unknown {bad} "
                     f"(choose from {CHOICES['retrieved_rule9']})")
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.benchmarks.split(","):
            validation = load_benchmark(name, "validation")
            train_size = len(load_benchmark(name, "train"))
            k = max(1, round(XTRAIN_K.get(name, 1000) * len(validation) / train_size))
            recipe = load_recipe(name).with_k(k)
            corpus = open_corpus(f"benchmark:{name}:validation")
            gold_tokens = [list(t) for t in validation["tokens"]]
            gold = gold_tags(validation)
            for choice in choices:
                out = Path(work) / f"{name}-{choice}"
                fields = {"retrieved_rule9": choice, "head_extension": args.head_extension,
                          "head_similarity": args.head_similarity}
                if args.feedback_phrases is not None:
                    fields["feedback_phrases"] = args.feedback_phrases
                settings = BuildSettings(seed=0, progress=False,
                                         policy=resolve_policy(recipe.policy, None, fields))
                build(recipe, corpus, out, settings, work_dir=Path(work) / name)  # shared retrieval
                dataset = load_training_dataset(str(out), config=name)
                rows.append({"benchmark": name, "k": k, "retrieved_rule9": choice,
                             **label_scores(dataset, gold_tokens, gold)})
                print(json.dumps(rows[-1]), flush=True)
    if args.json:
        atomic_write_text(args.json, json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
