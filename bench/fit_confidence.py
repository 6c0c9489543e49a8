"""Fit gener.answers' logistic model of answer confidence, on types no measurement uses.

Fitting types are description types of the default corpus (gener.retrieval.training's
grouping of articles by the head noun of their description) that no benchmark or recipe
uses and that are not bench/label_precision.py's held-out types. For "Which T?" each
candidate answer of the ranking gets gener.answers' features and is judged against the
titles of T's articles (bench/label_precision.py's Judge). A logistic regression (each
type weighing the same, L2) gives the weights, then Platt scaling on its leave-types-out
scores, with candidates weighted by their occurrences, makes a kept set's mean confidence
its mention precision over all candidates (folded into the weights). Fitted on all, the
scaling follows the bulk of plainly wrong candidates and leaves kept sets' mean confidence
about 0.1 below their precision, so a second scaling of the same scores, fitted on the
candidates of confidence at least ESTIMATE_FLOOR, gives a kept set's estimated precision
(gener.answers.ESTIMATE_SCALE). Per threshold, the mean over types of the candidates'
mention precision, of the gold recall, of the estimate and of its distance to the mention
precision is printed, on the fitting types and by leave-types-out folds (calibration by
inner folds).

    python bench/fit_confidence.py [--types 60] [--json bench/results/confidence_fit.json]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from label_precision import (  # noqa: E402
    HELD_OUT,
    Judge,
    TypeSpec,
    gold_titles,
    key,
    type_forms,
)

THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
# The estimate's scaling is fitted on candidates of at least this confidence (0.05-0.5 gave
# the same left-out calibration distance at 0.5, 0.140-0.143; bench/CONFIDENCE.md).
ESTIMATE_FLOOR = 0.1
# Features that come from the document a candidate names; 0 where none does.
DOCUMENT_FEATURES = ("titled", "definition", "category", "category_consensus", "category_head")
# A description that gives a life's dates: "French painter (1840–1926)", "(born 1961)".
_LIFE = re.compile(r"\((?:born|b\.|died|d\.|c\.)?\s*\d{1,4}(?:\s*BC)?\s*[-\u2013]|\(born ")


def is_person_type(articles: list[dict], titles: list[str]) -> bool:
    """Whether most of a type's articles have a life's dates in their description (its
    answers are people, also named by surname, as bench/label_precision.py's person types
    are)."""
    descriptions = {a["title"]: a.get("description") or "" for a in articles}
    lives = sum(bool(_LIFE.search(descriptions.get(t, ""))) for t in titles)
    return bool(titles) and lives > len(titles) / 2


def fitting_types(articles: list[dict], n: int, seed: int, min_articles: int = 8) -> dict:
    """Up to ``n`` description types (single nouns) with their gold titles (as
    bench/label_precision.py reads them: description or first-sentence category), seeded."""
    from gener.retrieval.training import benchmark_type_forms, training_types

    used = benchmark_type_forms()
    held = set()
    for name, spec in HELD_OUT.items():
        held |= type_forms(name, spec)
    grouped = training_types(articles, used)
    pool = {t: titles for t, titles in {**grouped.train, **grouped.dev}.items()
            if " " not in t and len(titles) >= min_articles
            and not (type_forms(t, TypeSpec()) & (held | used))}
    names = sorted(pool)
    random.Random(seed).shuffle(names)
    types = {}
    for t in sorted(names[:n]):
        titles = gold_titles(articles, t, TypeSpec())
        spec = TypeSpec(person=is_person_type(articles, titles))
        types[t] = (gold_titles(articles, t, spec), spec)
    return types


def collect(types: dict, sentences: list[str]):
    """Features, verdicts, occurrence counts and type ids of every candidate."""
    from gener import answers as ga
    from gener.corpus import WikiVitalCorpus
    from gener.pipeline import open_searcher, prepare
    from gener.policy import LabellingPolicy
    from gener.recipes import recipe_from_question

    policy = LabellingPolicy()
    searcher = open_searcher(WikiVitalCorpus(), policy, progress=False)
    rows, verdicts, counts, groups, gold = [], [], [], [], []
    for g, (entity_type, (titles, spec)) in enumerate(types.items()):
        judge = Judge(titles, spec)
        recipe = prepare(recipe_from_question(f"Which {entity_type}?"), policy)
        sq = recipe.subquestions[0]
        ranked = searcher.rank_subquestions([sq], limit=ga.DEPTH)[0]
        query = searcher.encoder.encode_questions([sq.question])[0]
        found = ga.candidates(searcher, sq, ranked)
        x = ga.features(searcher, sq, found, query)
        rows.append(x)
        verdicts += [judge.correct(a.name) for a in found]
        counts += [max(a.occurrences, 1) for a in found]
        groups += [g] * len(found)
        occurring = judge.occurring(sentences)
        gold.append((occurring, {a.name: judge.answers.get(key(a.name), set()) for a in found}))
        person = " (person)" if spec.person else ""
        print(f"{entity_type}{person}: {len(found)} candidates, "
              f"{sum(judge.correct(a.name) for a in found)} right, "
              f"{len(occurring)} gold in corpus", flush=True)
    return (np.vstack(rows), np.array(verdicts, dtype=np.float64),
            np.array(counts, dtype=np.float64), np.array(groups), gold)


def fit(x: np.ndarray, y: np.ndarray, groups: np.ndarray, l2: float = 1.0,
        steps: int = 50) -> tuple[np.ndarray, float]:
    """Weighted logistic regression by Newton steps; each type's candidates weigh 1 in all."""
    sizes = np.bincount(groups)
    w = 1.0 / sizes[groups]
    design = np.column_stack([x, np.ones(len(x))])
    beta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2 / len(sizes))
    penalty[-1] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-design @ beta))
        grad = design.T @ (w * (p - y)) + penalty * beta
        hess = (design * (w * p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        beta -= np.linalg.solve(hess, grad)
    return beta[:-1], float(beta[-1])


def calibrate(scores: np.ndarray, y: np.ndarray, counts: np.ndarray, groups: np.ndarray,
              steps: int = 50) -> tuple[float, float]:
    """Platt scaling ``(a, b)`` of logistic scores (``w·x + bias``) so that a kept set's
    mean confidence matches its mention precision: candidates weigh their occurrences,
    each type weighing 1 in all."""
    totals = np.bincount(groups, weights=counts)
    w = counts / totals[groups]
    design = np.column_stack([scores, np.ones(len(scores))])
    beta = np.array([1.0, 0.0])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-design @ beta))
        grad = design.T @ (w * (p - y))
        hess = (design * (w * p * (1 - p))[:, None]).T @ design + 1e-9 * np.eye(2)
        beta -= np.linalg.solve(hess, grad)
    return float(beta[0]), float(beta[1])


def fit_calibrated(x, y, counts, groups, folds: int) -> tuple[np.ndarray, float, tuple]:
    """The logistic model fitted on all the types, then scaled by :func:`calibrate` on its
    leave-types-out scores (``folds`` folds of types), folded into one weight vector; and
    the estimate's scaling ``(a, b)`` of the calibrated log-odds (ESTIMATE_FLOOR)."""
    groups = np.unique(groups, return_inverse=True)[1]
    fold_of = np.arange(groups.max() + 1) % folds
    scores = np.zeros(len(y))
    for f in range(folds):
        test = fold_of[groups] == f
        w, b = fit(x[~test], y[~test], np.unique(groups[~test], return_inverse=True)[1])
        scores[test] = x[test] @ w + b
    a, c = calibrate(scores, y, counts, groups)
    near = a * scores + c >= np.log(ESTIMATE_FLOOR / (1 - ESTIMATE_FLOOR))
    a2, c2 = calibrate(scores[near], y[near], counts[near],
                       np.unique(groups[near], return_inverse=True)[1])
    w, b = fit(x, y, groups)
    return a * w, a * b + c, (round(a2 / a, 4), round(c2 - a2 * c / a, 4))


def table(p, e, y, counts, groups, gold, names_of, thresholds=THRESHOLDS) -> list[dict]:
    """Per threshold of the confidences ``p``: means over types of mention precision
    (candidates weighted by their occurrences), of gold recall, of the estimated precision
    (from the estimates ``e``), of its distance to the mention precision and of kept
    answers."""
    out = []
    for tau in thresholds:
        precisions, recalls, estimates, kept_counts = [], [], [], []
        for g in np.unique(groups):
            m = (groups == g) & (p >= tau)
            occurring, titles_of = gold[g]
            kept_counts.append(int(m.sum()))
            if m.sum():
                precisions.append(float((y[m] * counts[m]).sum() / counts[m].sum()))
                estimates.append(float((e[m] * counts[m]).sum() / counts[m].sum()))
            if occurring:
                found = set()
                for name in np.array(names_of)[m]:
                    found |= titles_of.get(name, set())
                recalls.append(len(found & occurring) / len(occurring))
        def mean(values):
            return round(float(np.mean(values)), 4) if values else None

        out.append({"threshold": tau, "types_with_answers": len(precisions),
                    "mention_precision": mean(precisions),
                    "estimated_precision": mean(estimates),
                    "calibration_error": mean([abs(a - b) for a, b in
                                               zip(precisions, estimates, strict=True)]),
                    "recall": mean(recalls),
                    "answers": round(float(np.mean(kept_counts)), 1)})
    return out


def auc(values: np.ndarray, y: np.ndarray) -> float:
    """The probability that a right candidate's value exceeds a wrong one's (ties: half)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):  # mean ranks for ties
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    positives = y.sum()
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2)
                 / (positives * (len(y) - positives)))


def main(argv: list[str] | None = None) -> int:
    from gener import answers as ga
    from gener.corpus import WikiVitalCorpus
    from gener.io import atomic_write_text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    corpus = WikiVitalCorpus()
    types = fitting_types(corpus.articles(), args.types, args.seed)
    sentences = [s.text for s in corpus.sentences()]
    x, y, counts, groups, gold = collect(types, sentences)
    names_of = []  # candidate names in collect's order
    for _, titles_of in gold:
        names_of += list(titles_of)
    for name, column in zip(ga.FEATURES, x.T, strict=True):
        print(f"AUC {name}: {auc(column, y):.3f}")
    weights, bias, scale = fit_calibrated(x, y, counts, groups, args.folds)
    print("weights:", dict(zip(ga.FEATURES, np.round(weights, 4).tolist(), strict=True)),
          "bias:", round(bias, 4), "estimate scale:", scale)
    p = ga.confidence(x, weights, bias)
    fitted = table(p, ga.estimated(p, scale), y, counts, groups, gold, names_of)
    # What a model can do without document evidence, as on a corpus whose documents have no
    # titles (the document features are 0 there): measured, not shipped (bench/CONFIDENCE.md).
    untitled = x.copy()
    untitled[:, [ga.FEATURES.index(f) for f in DOCUMENT_FEATURES]] = 0.0
    untitled_weights, untitled_bias, _ = fit_calibrated(untitled, y, counts, groups,
                                                        args.folds)
    print("untitled weights:", np.round(untitled_weights, 4).tolist(),
          "bias:", round(untitled_bias, 4))
    # Leave-types-out: each fold's types scored by a model fitted (and calibrated, by inner
    # folds) without them.
    folds = np.arange(len(types)) % args.folds
    p_out, e_out = np.zeros(len(y)), np.zeros(len(y))
    p_untitled, e_untitled = np.zeros(len(y)), np.zeros(len(y))
    for f in range(args.folds):
        test = folds[groups] == f
        w, b, s = fit_calibrated(x[~test], y[~test], counts[~test], groups[~test],
                                 args.folds - 1)
        p_out[test] = ga.confidence(x[test], w, b)
        e_out[test] = ga.estimated(p_out[test], s)
        w, b, s = fit_calibrated(untitled[~test], y[~test], counts[~test], groups[~test],
                                 args.folds - 1)
        p_untitled[test] = ga.confidence(untitled[test], w, b)
        e_untitled[test] = ga.estimated(p_untitled[test], s)
    held = table(p_out, e_out, y, counts, groups, gold, names_of)
    held_untitled = table(p_untitled, e_untitled, y, counts, groups, gold, names_of)
    for name, rows in (("fitted", fitted), ("types left out", held),
                       ("untitled documents, types left out", held_untitled)):
        print(name)
        for row in rows:
            print("  " + json.dumps(row))
    if args.json:
        atomic_write_text(args.json, json.dumps({
            "types": list(types), "candidates": len(y), "right": int(y.sum()),
            "weights": dict(zip(ga.FEATURES, np.round(weights, 4).tolist(), strict=True)),
            "bias": round(bias, 4), "estimate_scale": list(scale), "fitted": fitted,
            "types_left_out": held,
            "untitled_weights": dict(zip(ga.FEATURES, np.round(untitled_weights, 4).tolist(),
                                         strict=True)),
            "untitled_bias": round(untitled_bias, 4),
            "untitled_types_left_out": held_untitled}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
