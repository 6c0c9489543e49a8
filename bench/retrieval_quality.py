"""Proxy P@100 and diversity of phrase retrieval on the default corpus (paper Table 5 style).

For the subquestions of the ncbi_disease, bc5cdr and conll2003 recipes, the top 100 retrieved
phrase occurrences (after normalization rules 1-7) are judged against a proxy gold per label:

* gold entity strings of that label in the benchmark's train + validation splits, and
* titles of default-corpus articles whose ``description``, up to its first preposition or
  comma, contains a type word of one of the label's subquestions ("Scabies": "Human disease"),
  or its feminine form ("Ingrid Bergman": "Swedish actress" for "Which actor?").

Matching is case-insensitive on the whole phrase, with punctuation stripped from both ends of
both sides (rule 2), so that the phrase "Apple Inc" matches the title "Apple Inc.".
P@100 = correct / 100 over the top 100 occurrences (as in the paper, where duplicates
count); diversity = unique phrases among them.

With a trained ``gener-retriever`` encoder, whose training leaves out every article whose
description head has a type word of a shipped recipe, two more columns split the correct
occurrences: ``seen`` counts those whose phrase was a training answer anyway (the title of an
article of another type, e.g. a capital city's title as an answer to "Which capital?"), and
``P@100 unseen`` counts only the others. ``benchmark gold`` counts only the correct
occurrences that the benchmark's own strings judge correct (the first half of the gold): a
retriever can rank titles whose article defines them as the type without naming benchmark
entities, and this column shows how much of P@100 is that.

    python bench/retrieval_quality.py [--cache-dir DIR] [--encoder minilm] [--json OUT]
        [--feedback-phrases N] [--feedback-weight W]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict

from gener.benchmarks import load_benchmark
from gener.corpus import WikiVitalCorpus
from gener.io import atomic_write_text
from gener.normalize import normalize_span, strip_punctuation, type_word_forms
from gener.recipes import load_recipe
from gener.retrieval.search import open_searcher
from gener.retrieval.training import head_words
from gener.text import clean_title

RECIPES = ("ncbi_disease", "bc5cdr", "conll2003")


def benchmark_gold(name: str) -> dict[str, set[str]]:
    """Lowercased entity strings per label from a benchmark's train and validation splits."""
    gold = defaultdict(set)
    for split in ("train", "validation"):
        data = load_benchmark(name, split)
        names = data.features["ner_tags"].feature.names
        for tokens, tags in zip(data["tokens"], data["ner_tags"], strict=True):
            tags = [names[t] for t in tags] + ["O"]
            start = None
            for i, tag in enumerate(tags):
                if start is not None and not tag.startswith("I-"):
                    entity = strip_punctuation(" ".join(tokens[start:i]))
                    gold[tags[start][2:]].add(entity.lower())
                    start = None
                if tag.startswith("B-"):
                    start = i
    return gold


def feminine_forms(words: set[str]) -> set[str]:
    """The -tress forms of -tor words: "actress", "actresses" for "actor"."""
    stems = {w[:-2] for w in words if len(w) > 4 and w.endswith("tor")}
    return {f"{stem}ress" for stem in stems} | {f"{stem}resses" for stem in stems}


def description_gold(articles: list[dict], entity_types: list[str]) -> set[str]:
    """Titles whose description head (before a preposition/comma) has one of the type words
    or a feminine form of one."""
    forms = set()
    for t in entity_types:
        forms |= type_word_forms(t)
    forms |= feminine_forms(forms)
    titles = set()
    for article in articles:
        if forms & set(head_words(article.get("description"))):
            titles.add(strip_punctuation(clean_title(article["title"])).lower())
    return titles


def top_occurrences(searcher, ranked, sq, n: int = 100) -> list[str]:
    """The first ``n`` normalized phrase occurrences, best first (duplicates kept)."""
    out = []
    for occ, _ in zip(*ranked, strict=True):
        occ = int(occ)
        if not searcher.valid(occ, sq):
            continue
        text = searcher.phrase_text(occ)
        out += [t for t, _, _ in normalize_span(text, int(searcher.index.occ_start[occ]), sq)]
        if len(out) >= n:
            break
    return out[:n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--sentence-weight", type=float, default=None)
    parser.add_argument("--definition-weight", type=float, default=None)
    parser.add_argument("--title-bonus", type=float, default=None)
    parser.add_argument("--class-penalty", type=float, default=None)
    parser.add_argument("--feedback-phrases", type=int, default=None,
                        help="pseudo-relevance feedback phrases (default 0, off, as `gener "
                             "ask`)")
    parser.add_argument("--feedback-weight", type=float, default=None)
    parser.add_argument("--head-similarity", type=float, default=None,
                        help="drop lowercase phrases of several words with a weak head "
                             "(`gener build --head-similarity`; default off)")
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--show", type=int, default=0, help="print the top N phrases")
    args = parser.parse_args(argv)

    corpus = WikiVitalCorpus()
    articles = corpus.articles()
    searcher = open_searcher(corpus, args.encoder, args.cache_dir, progress=sys.stderr.isatty(),
                             feedback_phrases=0,  # as `gener ask`
                             head_similarity=args.head_similarity)
    for attr in ("sentence_weight", "definition_weight", "title_bonus", "class_penalty",
                 "feedback_phrases", "feedback_weight"):
        if getattr(args, attr) is not None:
            setattr(searcher, attr, getattr(args, attr))
    seen_answers = set(getattr(searcher.encoder, "meta", {}).get("answers", ()))
    rows = []
    for name in RECIPES:
        recipe = load_recipe(name)
        gold = benchmark_gold(name)
        started = time.perf_counter()
        ranked = searcher.rank_subquestions(list(recipe.subquestions))
        seconds = time.perf_counter() - started
        for sq, r in zip(recipe.subquestions, ranked, strict=True):
            types = [s.type for s in recipe.subquestions if s.label == sq.label]
            label_gold = gold[sq.label] | description_gold(articles, types)
            top = top_occurrences(searcher, r, sq)
            correct = [p.lower() for p in top if p.lower() in label_gold]
            seen = sum(p in seen_answers for p in correct)
            in_benchmark = sum(p in gold[sq.label] for p in correct)
            rows.append({"recipe": name, "label": sq.label, "question": sq.question,
                         "p_at_100": len(correct) / 100, "diversity": len(set(top)),
                         "p_at_100_benchmark_gold": in_benchmark / 100,
                         "seen": seen, "p_at_100_unseen": (len(correct) - seen) / 100,
                         "gold_size": len(label_gold)})
            if args.show:
                marks = [("+" if p.lower() in label_gold else "-") + p for p in top[:args.show]]
                print(f"# {sq.question}: {', '.join(marks)}")
        print(f"# {name}: ranking {len(recipe.subquestions)} questions took {seconds:.2f}s",
              file=sys.stderr)
    print(f"{'recipe':13} {'label':9} {'question':26} {'P@100':>6} {'div':>4} {'seen':>4} "
          f"{'P@100 unseen':>12} {'benchmark gold':>14}")
    for row in rows:
        print(f"{row['recipe']:13} {row['label']:9} {row['question']:26} "
              f"{row['p_at_100']:6.2f} {row['diversity']:4d} {row['seen']:4d} "
              f"{row['p_at_100_unseen']:12.2f} {row['p_at_100_benchmark_gold']:14.2f}")
    mean = {k: sum(r[k] for r in rows) / len(rows)
            for k in ("p_at_100", "diversity", "p_at_100_unseen", "p_at_100_benchmark_gold")}
    print(f"{'mean':49} {mean['p_at_100']:6.3f} {mean['diversity']:4.1f} {'':4} "
          f"{mean['p_at_100_unseen']:12.3f} {mean['p_at_100_benchmark_gold']:14.3f}")
    if args.json:
        atomic_write_text(args.json, json.dumps(
            {"encoder": args.encoder, "rows": rows, "mean_p_at_100": mean["p_at_100"],
             "mean_p_at_100_unseen": mean["p_at_100_unseen"],
             "mean_p_at_100_benchmark_gold": mean["p_at_100_benchmark_gold"],
             "mean_diversity": mean["diversity"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
