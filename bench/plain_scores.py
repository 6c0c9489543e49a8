"""Entity-level scores of a saved tagger read with `transformers` alone, as a user without
gener would: AutoTokenizer and AutoModelForTokenClassification, the first sub-word of each
word gives its tag, no rules on the predictions (gener's Tagger applies the model's capital
rule and rule 9; `gener evaluate` scores through it).

    python bench/plain_scores.py MODEL [--split validation] [--benchmarks DIR]
        [--pairs conll2003:LOC ncbi_disease:Disease]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def plain_tags(model_dir: str, sentences: list[list[str]], batch_size: int = 64) -> list[list[str]]:
    """BIO tags of pre-split sentences from the model's first sub-word of each word."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForTokenClassification.from_pretrained(model_dir).eval()
    id2label = model.config.id2label
    out = []
    for i in range(0, len(sentences), batch_size):
        batch = sentences[i:i + batch_size]
        encoded = tokenizer(batch, is_split_into_words=True, truncation=True, max_length=256,
                            padding=True, return_tensors="pt")
        with torch.inference_mode():
            best = model(**encoded).logits.argmax(-1)
        for row, words in enumerate(batch):
            tags, seen = ["O"] * len(words), set()
            for position, word in enumerate(encoded.word_ids(row)):
                if word is not None and word not in seen:
                    seen.add(word)
                    tags[word] = id2label[int(best[row, position])]
            out.append(tags)
    return out


def main(argv: list[str] | None = None) -> int:
    from gener.benchmarks import load_benchmark
    from trainers.evaluation import gold_tags, score_tags

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--benchmarks", default=None)
    parser.add_argument("--pairs", nargs="+", default=["conll2003:LOC", "ncbi_disease:Disease"],
                        help="benchmark:type to score")
    args = parser.parse_args(argv)
    results = {}
    for pair in args.pairs:
        benchmark, label = pair.split(":")
        data = load_benchmark(benchmark, args.split, args.benchmarks)
        predicted = plain_tags(args.model, [list(t) for t in data["tokens"]])
        figures = score_tags(predicted, gold_tags(data), [label])["per_type"].get(label, {})
        results[pair] = {k: round(figures.get(k, 0.0), 4) for k in ("precision", "recall", "f1")}
        print(f"{benchmark} {args.split} {label}: P {results[pair]['precision']:.3f} "
              f"R {results[pair]['recall']:.3f} F1 {results[pair]['f1']:.3f}", flush=True)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
