"""Label precision of one-line builds on held-out types, judged by the corpus's descriptions.

For each held-out type T, ``gener build --question "Which T?"`` runs on the default corpus
(default policy, k 1000), and every labelled mention of the dataset is judged against the
titles of the corpus's articles of type T: an article is of type T when its description or
the category phrase of its first sentence has T as a head noun (rules in
bench/LABEL_PRECISION.md). Reports per type and on average: labelled mentions, distinct
labelled strings, mention precision, distinct-string precision, recall of the gold answers
that occur in the corpus's sentences, the top labelled strings, and, where the dataset's
manifest gives an estimated precision per label, its distance to the judged one.

    python bench/label_precision.py [--types river,painter | --broad] [--out DIR] [--json OUT]
        [--sample 40 --sample-types river,painter,composer --sample-out FILE]
        [--phrasing "What {types} are there?"]

``--phrasing`` asks each type in other words: ``{type}`` is the type, ``{types}`` its
plural ("Which {types}?", "Name a {type}.").
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@dataclass(frozen=True)
class TypeSpec:
    """How a held-out type's gold is read: listed synonyms of its head noun, title words
    that may be left out of a name ("Amazon River" -> "Amazon"), surnames for people, and
    titles excluded by hand after reading the type's gold list."""

    nouns: tuple[str, ...] = ()
    name_words: tuple[str, ...] = ()
    person: bool = False
    not_answers: tuple[str, ...] = ()  # titles the rules take in that read as no instance


# Types that no recipe, benchmark or retrieval fitting uses (checked by check_held_out).
HELD_OUT = {
    "river": TypeSpec(name_words=("river",)),
    "lake": TypeSpec(name_words=("lake",)),
    "mountain": TypeSpec(nouns=("volcano",), name_words=("mount", "mountain")),
    "planet": TypeSpec(),
    "war": TypeSpec(),
    "empire": TypeSpec(),
    "language": TypeSpec(name_words=("language",), not_answers=("Prose", "Speech")),
    "religion": TypeSpec(),
    "instrument": TypeSpec(not_answers=("Instrumentation",)),
    "bird": TypeSpec(),
    "fish": TypeSpec(),
    "fruit": TypeSpec(),
    "painter": TypeSpec(person=True),
    "composer": TypeSpec(person=True),
    "poet": TypeSpec(person=True),
    "novelist": TypeSpec(person=True),
    "playwright": TypeSpec(person=True),
    "philosopher": TypeSpec(person=True),
    "physicist": TypeSpec(person=True),
    "mathematician": TypeSpec(person=True),
    "chemist": TypeSpec(person=True),
    "astronomer": TypeSpec(person=True),
    "explorer": TypeSpec(person=True),
    "emperor": TypeSpec(person=True),
}

# Types with hundreds of answers in the corpus (204 countries, 423 cities by the judge
# below). Recipes use them, so they are not held out from the recipes, but the confidence's
# fitting (bench/fit_confidence.py) leaves them out: they show how a build scales with the
# breadth of a type (`--broad`).
BROAD = {
    "country": TypeSpec(),
    "city": TypeSpec(),
    "politician": TypeSpec(person=True),
}

# Head nouns whose "of" phrase names the type: "Species of bird", "One of the Great Lakes".
CONTAINERS = frozenset("species genus family subfamily order class type kind one".split())
# Lowercase name particles kept with a surname: "van Gogh".
PARTICLES = frozenset("van von de da di du del der la le ibn bin al".split())
_COPULA = re.compile(r"\b(?:is|was|are|were)\s+(.+)", re.S)
_CLASS_OPENING = re.compile(r"(?:In [^,]{1,40}, )?an? ", re.IGNORECASE).match
_OF = re.compile(r"\bof\s+(.+)", re.S)
# Where a head ends: punctuation, a preposition or a relative word.
_HEAD_CUT = re.compile(r"[,(;:]|\s(?:in|of|for|from|by|on|at|with|that|which|who|whose|where|when|"
                       r"during|between|against|near|within|to|as|than|since|until|after|"
                       r"before|under|over|among|across|along|around|through|via|into|about|"
                       r"like|based)\s")
_DASHES = str.maketrans({c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2212"}
                        | {c: "'" for c in "\u2018\u2019\u02bc"})


def tokens(text: str) -> list[str]:
    """Casefolded words and single punctuation marks, accents and dash variants removed."""
    text = unicodedata.normalize("NFKD", text.translate(_DASHES).casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.findall(r"\w+|[^\w\s]", text)


def key(text: str) -> str:
    """The form under which a mention and a name are compared: tokens without a leading
    "the", joined by spaces ("The  Rhône" -> "rhone")."""
    words = tokens(text)
    return " ".join(words[1:] if words[:1] == ["the"] and len(words) > 1 else words)


def head_nouns(phrase: str | None) -> set[str]:
    """The head nouns a description or category phrase names ("Italian painter and sculptor"
    -> painter, sculptor; "Egyptian war and sky deity" -> deity), and through "of" after a
    container ("Species of bird" -> bird; "One of the Great Lakes" -> lakes)."""
    text = (phrase or "").lower()
    words = re.findall(r"[a-z]+", _HEAD_CUT.split(" " + text, maxsplit=1)[0])
    for i, word in enumerate(words[1:], 1):
        if word.endswith("ing") and len(word) > 4 and len(words) - i > 2:
            words = words[:i]  # a participle with an object: "activity involving ..."
            break
    while len(words) > 1 and words[-1].endswith("ed") and len(words[-1]) > 4:
        words = words[:-1]  # "disease caused [by]"
    conjuncts = [c.split() for c in re.split(r"\b(?:and|or)\b", " ".join(words))]
    conjuncts = [c for c in conjuncts if c]
    nouns = {conjuncts[-1][-1]} if conjuncts else set()
    if len(conjuncts) > 1 and len(conjuncts[-1]) == 1:  # nouns coordinated: "poet and playwright"
        nouns |= {c[-1] for c in conjuncts}
    if words and words[-1] in CONTAINERS:
        rest = _OF.search(text)
        if rest:
            nouns |= head_nouns(re.sub(r"^the\s+", "", rest.group(1)))
    return nouns


def category_phrase(extract: str | None) -> str:
    """What follows the first copula of an article's first sentence ("The Nile is a major
    river in Africa." -> "a major river in Africa."), or ""."""
    from gener.text import split_sentences

    sentences = split_sentences(extract or "")
    match = _COPULA.search(sentences[0]) if sentences else None
    return re.sub(r"^(?:an?|the)\s+", "", match.group(1).lower()) if match else ""


def type_forms(entity_type: str, spec: TypeSpec) -> frozenset[str]:
    from gener.normalize import type_word_forms

    forms: set[str] = set()
    for noun in (entity_type, *spec.nouns):
        forms |= type_word_forms(noun)
    return frozenset(forms)


def gold_titles(articles: list[dict], entity_type: str, spec: TypeSpec,
                category: bool = True) -> list[str]:
    """Titles of the articles whose description or first-sentence category (unless not
    ``category``) names the type, less its subclasses (a title with the type word whose
    article opens "A ..." or with the title's plural: "A terrestrial planet is ...", "String
    instruments are ...") and the type's ``not_answers``."""
    forms = type_forms(entity_type, spec)
    gold = []
    for article in articles:
        extract = article.get("extract") or ""
        heads = head_nouns(article.get("description"))
        if category:
            heads |= head_nouns(category_phrase(extract))
        if not forms & heads:
            continue
        title = article["title"]
        if forms & set(tokens(title)) and (_CLASS_OPENING(extract)
                                           or extract.lower().startswith(title.lower() + "s")):
            continue
        if title in spec.not_answers:
            continue
        gold.append(title)
    return gold


def names(title: str, spec: TypeSpec) -> set[str]:
    """The keys a gold title is recognised under: the title without a parenthetical; without
    the type's name words ("Mount Everest" -> "everest"); a person's surname."""
    from gener.text import clean_title

    base = tokens(clean_title(title))
    found = {key(clean_title(title))}
    if spec.name_words:
        rest = [w for w in base if w not in spec.name_words]
        while rest and rest[0] in ("of", "the"):
            rest = rest[1:]
        if rest and len(rest) < len(base):
            found.add(" ".join(rest))
    if spec.person and len(base) >= 2 and base[-1].isalpha() and len(base[-1]) > 2:
        found.add(base[-1])
        if base[-2] in PARTICLES:
            found.add(" ".join(base[-2:]))
    return found


class Judge:
    """Mentions judged against a type's gold titles and their names."""

    def __init__(self, titles: list[str], spec: TypeSpec) -> None:
        self.answers: dict[str, set[str]] = defaultdict(set)  # name -> gold titles
        for title in titles:
            for name in names(title, spec):
                self.answers[name].add(title)
        self.titles = sorted(set(titles))

    def correct(self, mention: str) -> bool:
        return key(mention) in self.answers

    def occurring(self, sentences: list[str]) -> set[str]:
        """The gold titles one of whose names occurs in ``sentences`` (as whole tokens)."""
        by_first: dict[str, list[list[str]]] = defaultdict(list)
        for name in self.answers:
            words = name.split()
            by_first[words[0]].append(words)
        found: set[str] = set()
        for sentence in sentences:
            words = tokens(sentence)
            for i, word in enumerate(words):
                for name in by_first.get(word, ()):
                    if words[i:i + len(name)] == name:
                        found |= self.answers[" ".join(name)]
        return found

    def score(self, mentions: list[str], occurring: set[str]) -> dict:
        """Mention and distinct-string precision, and recall of the ``occurring`` titles."""
        counts = Counter(key(m) for m in mentions)
        right = {k for k in counts if k in self.answers}
        labelled = {t for k in right for t in self.answers[k]}
        total = sum(counts.values())
        return {
            "mentions": total,
            "distinct": len(counts),
            "mention_precision": _ratio(sum(counts[k] for k in right), total),
            "distinct_precision": _ratio(len(right), len(counts)),
            "gold": len(self.titles),
            "gold_in_corpus": len(occurring),
            "gold_labelled": len(labelled & occurring),
            "recall": _ratio(len(labelled & occurring), len(occurring)),
        }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def check_held_out(types: list[str], articles: list[dict]) -> None:
    """Fail when a type (or a listed synonym) is a recipe's type word or a dev type of the
    retrieval fitting (``gener retriever train`` and bench/score_weights_dev.py)."""
    from gener.errors import GenerError
    from gener.retrieval.training import benchmark_type_forms, training_types

    used = benchmark_type_forms()
    dev = set(training_types(articles, used).dev)
    for entity_type in types:
        if entity_type not in HELD_OUT:
            raise GenerError(f"{entity_type!r} is not a held-out type (see HELD_OUT)")
        forms = type_forms(entity_type, HELD_OUT[entity_type])
        if forms & used or forms & dev:
            raise GenerError(f"{entity_type!r} is used by a recipe or a fitting: "
                             f"{sorted(forms & (used | dev))}")


def labelled_mentions(dataset_dir: Path, config: str) -> list[dict]:
    """Every labelled span of a built config: its label, text and sentence."""
    from trainers.data import load_training_dataset

    dataset = load_training_dataset(str(dataset_dir), config=config)
    mentions = []
    for row in dataset:
        words = row["tokens"]
        for span in row["spans"]:
            mentions.append({"label": span["type"], "sentence_id": row["sentence_id"],
                             "text": " ".join(words[span["start"]:span["end"]]),
                             "sentence": " ".join(words[:span["start"]] + ["[["]
                                                  + words[span["start"]:span["end"]] + ["]]"]
                                                  + words[span["end"]:])})
    return mentions


def estimated_precision(manifest: dict, label: str) -> float | None:
    """The manifest's estimated precision of ``label``, when the build reports one."""
    report = (manifest.get("labels_report") or {}).get(label) or {}
    value = report.get("estimated_precision")
    return None if value is None else float(value)


def plural(noun: str) -> str:
    """The English plural of a held-out type word ("city" -> "cities", "fish" -> "fish")."""
    if noun in ("fish",):
        return noun
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    if noun.endswith(("s", "sh", "ch", "x")):
        return noun + "es"
    return noun + "s"


def measure(entity_type: str, judge: Judge, occurring: set[str], out: Path,
            phrasing: str = "Which {type}?") -> tuple[dict, list]:
    """Build the type's question (``phrasing``) into ``out`` and judge its labelled
    mentions."""
    import gener
    from gener.errors import GenerError
    from gener.recipes import recipe_from_question
    from trainers.data import read_manifest

    started = time.perf_counter()
    question = phrasing.format(type=entity_type, types=plural(entity_type))
    try:
        built = gener.build(recipe_from_question(question), out=out, progress=False)
    except GenerError as err:  # nothing kept: no mention, no answer found
        print(f"{question}: {err}", file=sys.stderr)
        return {"type": entity_type, **judge.score([], occurring), "sentences": 0,
                "dictionary": 0, "build_seconds": None, "estimated_precision": None,
                "calibration_error": None, "top": []}, []
    seconds = time.perf_counter() - started
    mentions = labelled_mentions(built.dataset_dir, built.config)
    row = {"type": entity_type, **judge.score([m["text"] for m in mentions], occurring),
           "sentences": built.num_sentences, "dictionary": built.dictionary_size,
           "build_seconds": round(seconds, 1)}
    manifest = read_manifest(built.dataset_dir, built.config)
    estimate = estimated_precision(manifest, manifest["labels"][0])
    row["estimated_precision"] = estimate
    row["calibration_error"] = (None if estimate is None or row["mention_precision"] is None
                                else round(abs(estimate - row["mention_precision"]), 4))
    top = Counter(m["text"] for m in mentions).most_common(15)
    row["top"] = [[text, n, judge.correct(text)] for text, n in top]
    return row, mentions


def mean_row(rows: list[dict]) -> dict:
    """Means over types of the rates (types without a value left out), sums of counts."""
    def mean(name):
        values = [r[name] for r in rows if r[name] is not None]
        return round(sum(values) / len(values), 4) if values else None

    return {"types": len(rows), "mentions": sum(r["mentions"] for r in rows),
            **{name: mean(name) for name in ("mention_precision", "distinct_precision",
                                             "recall", "calibration_error")}}


def write_sample(path: Path, samples: dict[str, list[dict]], judges: dict[str, Judge]) -> None:
    """The sampled mentions, one per line: type, automatic verdict, mention, sentence."""
    from gener.io import atomic_write_text

    lines = ["type\tauto\tmention\tsentence"]
    for entity_type, mentions in samples.items():
        for m in mentions:
            verdict = "yes" if judges[entity_type].correct(m["text"]) else "no"
            lines.append(f"{entity_type}\t{verdict}\t{m['text']}\t{m['sentence']}")
    atomic_write_text(path, "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    import datasets

    from gener.corpus import WikiVitalCorpus
    from gener.io import atomic_write_text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", default=None,
                        help="default: every held-out type (with --broad, every broad one)")
    parser.add_argument("--broad", action="store_true",
                        help="measure the broad types (BROAD) instead of the held-out ones")
    parser.add_argument("--out", default=None,
                        help="keep the built datasets here (default: a temporary folder)")
    parser.add_argument("--json", default=None, help="write the rows and the means here")
    parser.add_argument("--sample", type=int, default=0,
                        help="draw this many labelled mentions per --sample-types for judging")
    parser.add_argument("--sample-types", default="")
    parser.add_argument("--sample-out", default="label_precision_sample.tsv")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--phrasing", default="Which {type}?",
                        help="the question asked for each type: {type}, {types} (plural)")
    parser.add_argument("--gold", choices=("both", "description"), default="both",
                        help="read the gold from descriptions and first-sentence categories, "
                             "or from descriptions only (metadata that no build reads)")
    args = parser.parse_args(argv)
    datasets.disable_progress_bars()
    specs = BROAD if args.broad else HELD_OUT
    types = [t.strip() for t in (args.types or ",".join(specs)).split(",") if t.strip()]
    corpus = WikiVitalCorpus()
    articles = corpus.articles()
    if args.broad:
        from gener.errors import GenerError

        unknown = [t for t in types if t not in BROAD]
        if unknown:
            raise GenerError(f"{unknown[0]!r} is not a broad type (see BROAD)")
    else:
        check_held_out(types, articles)
    sentences = [s.text for s in corpus.sentences()]
    rows, samples, judges = [], {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.out) if args.out else Path(scratch)
        for entity_type in types:
            spec = specs[entity_type]
            titles = gold_titles(articles, entity_type, spec, args.gold == "both")
            judge = judges[entity_type] = Judge(titles, spec)
            row, mentions = measure(entity_type, judge, judge.occurring(sentences),
                                    root / entity_type, args.phrasing)
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "top"}), flush=True)
            if entity_type in args.sample_types.split(","):
                samples[entity_type] = random.Random(args.seed).sample(
                    mentions, min(args.sample, len(mentions)))
    summary = mean_row(rows)
    print(json.dumps({"mean": summary}))
    if args.json:
        atomic_write_text(args.json, json.dumps({"rows": rows, "mean": summary}, indent=1,
                                                ensure_ascii=False) + "\n")
    if samples:
        write_sample(Path(args.sample_out), samples, judges)
    return 0


if __name__ == "__main__":
    sys.exit(main())
