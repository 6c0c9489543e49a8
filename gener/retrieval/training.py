"""Training the ``gener-retriever`` encoder without NER labels.

Supervision comes from the corpus itself. Each wiki-vital article has a short ``description``
("Infectious disease caused by ..."); the last word of its head ("infectious disease") is the
article's type, so "Which disease?" is a training question and every occurrence of the
article's title among the index's candidate phrases is an answer.

Two ways to train (``TrainSettings.towers``):

* ``both`` (default): question and document towers share one MiniLM and are both fine-tuned,
  in the DensePhrases spirit. A step takes a batch of types; each brings one answer
  occurrence and two hard negatives: another candidate phrase of the same sentence, and a
  class phrase of the type ("infectious disease" for "Which disease?"). Each question is
  scored against every occurrence of the batch with the searcher's bi-encoder score
  ``q·p + λ·q·s`` (in-batch negatives), under a softmax loss. The result has its own phrase
  index, which training builds to report the dev figures.
* ``question``: only the question encoder is tuned, as in DensePhrases' query-side
  fine-tuning; the MiniLM phrase and sentence vectors stay, so the index is shared. Each step
  scores every occurrence of the index exactly as the searcher does (``q·p + λ·q·s + ν·q·d +
  title bonus − class penalty``) under a softmax loss whose numerator holds all positive
  occurrences: every other occurrence of the corpus is a negative.

Left out of training entirely (neither answers nor negatives, nor their articles' sentences):
articles whose description head has a type word of any shipped recipe (the benchmarks' proxy
gold), and a seeded share of the remaining types held out as dev types, on which precision
is reported before and after training.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from gener.errors import GenerError
from gener.io import atomic_write_text, replace_folder, temporary_folder
from gener.normalize import type_word_forms
from gener.recipes import available_recipes, load_recipe
from gener.retrieval.meanpool import RETRIEVER_META, mean_pool, mean_pool_encode
from gener.retrieval.search import CATEGORY_WEIGHT
from gener.text import clean_title

# The head of a description: the text before its first preposition, relative or comma.
_CUT = re.compile(r"\s(?:in|of|for|from|by|on|at|with|that|which|who|based)\s|[,(;]")
# Words that end a head early: participles ("caused", "used") and a few -ing verbs.
_STOP = {"made", "used", "originating", "consisting", "containing", "including", "having",
         "being", "known"}
# Head nouns too vague to make a question ("Which type?").
GENERIC = frozenset("type group form kind part branch study one use set way name field area "
                    "term concept collection series list class order family member thing "
                    "piece number head change work".split())


def head_words(description: str | None) -> list[str]:
    """Lowercase words of a description before its first preposition, relative or comma."""
    head = _CUT.split(" " + (description or "").lower(), maxsplit=1)[0]
    return re.findall(r"[a-z]+", head)


def type_head(description: str | None) -> list[str]:
    """The head's words up to a participle: "Infectious disease caused by" -> infectious disease."""
    words = head_words(description)
    for i, word in enumerate(words[1:], 1):
        if word in _STOP or (word.endswith("ed") and len(word) > 4):
            return words[:i]
    return words


def type_noun(description: str | None) -> str:
    """The type an article's description names ("Infectious disease caused by" -> "disease")."""
    words = type_head(description)
    noun = words[-1] if words else ""
    return "" if len(noun) < 3 or noun in GENERIC else noun


def benchmark_type_forms(recipes: list[str] | None = None) -> frozenset[str]:
    """Type words (singular and plural) of every subquestion of the shipped recipes."""
    forms: set[str] = set()
    for name in recipes if recipes is not None else available_recipes():
        for sq in load_recipe(name).subquestions:
            forms |= type_word_forms(sq.type)
    return frozenset(forms)


@dataclass
class TrainingTypes:
    """Training questions' types with their articles' titles, held-out types, exclusions."""

    train: dict[str, list[str]]
    dev: dict[str, list[str]]
    excluded: list[str]  # titles of articles whose description has a benchmark type word
    excluded_forms: list[str] = field(default_factory=list)

    def held_out_titles(self) -> set[str]:
        """Raw titles of the articles kept out of training: benchmark types and dev types."""
        return set(self.excluded) | {t for titles in self.dev.values() for t in titles}


def training_types(articles: list[dict], excluded_forms: frozenset[str], min_articles: int = 3,
                   dev_share: float = 0.2, dev_min_articles: int = 10,
                   seed: int = 0) -> TrainingTypes:
    """Group articles by description type; leave out benchmark types; hold out dev types.

    Types with at least ``min_articles`` articles become questions; a seeded ``dev_share`` of
    those with at least ``dev_min_articles`` is held out as dev types.
    """
    by_type, by_head, excluded = defaultdict(list), defaultdict(list), []
    for article in articles:
        description = article.get("description")
        if excluded_forms & set(head_words(description)):
            excluded.append(article["title"])
            continue
        noun = type_noun(description)
        if noun:
            by_type[noun].append(article["title"])
            head = type_head(description)
            if 2 <= len(head) <= 3:
                by_head[" ".join(head)].append(article["title"])
    kept = sorted(t for t, titles in by_type.items() if len(titles) >= min_articles)
    large = [t for t in kept if len(by_type[t]) >= dev_min_articles]
    random.Random(seed).shuffle(large)
    dev = set(large[:round(len(large) * dev_share)])
    train = {t: by_type[t] for t in kept if t not in dev}
    # Multi-word heads ("French painter") of training nouns are questions too.
    train.update({h: titles for h, titles in sorted(by_head.items())
                  if len(titles) >= min_articles and h.rsplit(" ", 1)[-1] in train})
    return TrainingTypes(train, {t: by_type[t] for t in sorted(dev)}, sorted(excluded),
                         sorted(excluded_forms))


def answer_texts(types: TrainingTypes) -> list[str]:
    """Lowercased titles trained as answers (a title shared with a held-out one is masked)."""
    held = {clean_title(t).lower() for t in types.held_out_titles()}
    return sorted({clean_title(title).lower() for titles in types.train.values()
                   for title in titles} - held)


def question(entity_type: str) -> str:
    return f"Which {entity_type}?"


class OccurrenceTargets:
    """Per type, the index occurrences of its titles; per index, the occurrences to ignore."""

    def __init__(self, index, held_out_titles: set[str]) -> None:
        self.index = index
        texts = [clean_title(t).lower() for t in index.phrase_texts]
        self.keys_of: dict[str, list[int]] = defaultdict(list)
        for key, text in enumerate(texts):
            self.keys_of[text].append(key)
        self.heads: dict[str, list[int]] = defaultdict(list)
        for key, head in enumerate(index.key_lower_head.tolist()):
            if head:
                self.heads[head].append(key)
        held = {clean_title(t).lower() for t in held_out_titles}
        held_keys = np.zeros(len(texts), bool)
        held_keys[[k for t in held for k in self.keys_of.get(t, [])]] = True
        held_sentences = np.array([s.title in held_out_titles for s in index.sentences])
        self.ignored = held_keys[index.occ_key] | held_sentences[index.occ_sentence]

    def kept(self, occurrences: np.ndarray) -> np.ndarray:
        """``occurrences`` without the ignored ones."""
        return occurrences[~self.ignored[occurrences]]

    def occurrences(self, keys: list[int]) -> np.ndarray:
        """All occurrences of phrase ``keys`` (sorted)."""
        index = self.index
        parts = [index.key_order[index.key_ptr[k]:index.key_ptr[k + 1]] for k in keys]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    def positives(self, titles: list[str]) -> np.ndarray:
        return self.occurrences([k for t in {clean_title(t).lower() for t in titles}
                                 for k in self.keys_of.get(t, [])])

    def class_phrases(self, entity_type: str) -> np.ndarray:
        """Occurrences the searcher penalises as class phrases for ``entity_type``."""
        return self.occurrences([k for f in type_word_forms(entity_type)
                                 for k in self.heads.get(f, [])])


def index_vectors(index) -> tuple[np.ndarray, np.ndarray]:
    """The phrase vectors (from a flat FAISS index) and sentence vectors of a bi-encoder index."""
    if index.contextual or not hasattr(index.faiss_index, "reconstruct_n"):
        raise GenerError("retriever training needs a bi-encoder index (e.g. minilm)")
    try:
        phrases = index.faiss_index.reconstruct_n(0, index.faiss_index.ntotal)
    except RuntimeError:
        raise GenerError("retriever training needs a flat phrase index "
                         "(`gener index build --index-type flat`)") from None
    return np.asarray(phrases, np.float32), np.asarray(index.sentence_vectors, np.float32)


class Scorer:
    """The searcher's occurrence scores for a batch of question vectors, in torch."""

    def __init__(self, index, targets: OccurrenceTargets, sentence_weight: float,
                 title_bonus: float, class_penalty: float, definition_weight: float) -> None:
        import torch

        phrases, sentences = index_vectors(index)
        self.phrases, self.sentences = torch.from_numpy(phrases), torch.from_numpy(sentences)
        self.occ_key = torch.from_numpy(index.occ_key.astype(np.int64))
        self.occ_sentence = torch.from_numpy(index.occ_sentence.astype(np.int64))
        definition = index.key_definition[index.occ_key]
        self.occ_definition = torch.from_numpy(np.maximum(definition, 0))
        self.definition_weight = torch.from_numpy(
            (definition >= 0).astype(np.float32) * definition_weight)
        category = index.key_category[index.occ_key]
        self.occ_category = torch.from_numpy(np.maximum(category, 0))
        self.category_weight = torch.from_numpy(
            (category >= 0).astype(np.float32) * definition_weight * CATEGORY_WEIGHT)
        self.bonus = torch.from_numpy(title_bonus * index.occ_title.astype(np.float32)
                                      - class_penalty * index.occ_class.astype(np.float32))
        self.targets, self.weight, self.class_penalty = targets, sentence_weight, class_penalty

    def __call__(self, queries, types: list[str]):
        """A ``(len(types), occurrences)`` tensor of scores."""
        import torch

        sentence_sims = queries @ self.sentences.T
        phrase_sims = queries @ self.phrases.T
        scores = (phrase_sims[:, self.occ_key] + self.weight * sentence_sims[:, self.occ_sentence]
                  + self.definition_weight * sentence_sims[:, self.occ_definition]
                  + self.category_weight * phrase_sims[:, self.occ_category] + self.bonus)
        penalty = scores.new_zeros(scores.shape)
        for row, entity_type in enumerate(types):
            generic = self.targets.class_phrases(entity_type)
            keep = ~self.targets.index.occ_class[generic]  # penalised already
            penalty[row, torch.from_numpy(generic[keep])] = self.class_penalty
        return scores - penalty


def precision_at(scores: np.ndarray, positives: np.ndarray, n: int = 100) -> float:
    """Share of positive occurrences among the ``n`` best-scored ones."""
    n = min(n, len(scores))  # a corpus smaller than n: all of it
    top = np.argpartition(-scores, n - 1)[:n]
    return float(np.isin(top, positives).mean())


def evaluate_types(encode_questions, scorer: Scorer, targets: OccurrenceTargets,
                   types: dict[str, list[str]]) -> dict[str, float]:
    """P@100 of title occurrences per type (nothing ignored), as the searcher would rank."""
    import torch

    names = sorted(types)
    queries = torch.from_numpy(encode_questions([question(t) for t in names]))
    with torch.inference_mode():
        scores = scorer(queries, names).numpy()
    return {t: precision_at(scores[i], targets.positives(types[t])) for i, t in enumerate(names)}


TOWERS = ("both", "question")
# Per ``towers``: epochs and peak learning rate, measured on the dev types (bench/RETRIEVAL.md).
TOWER_DEFAULTS = {"both": {"epochs": 15, "lr": 2e-5}, "question": {"epochs": 6, "lr": 3e-5}}


@dataclass
class TrainSettings:
    """Hyper-parameters of :func:`train_retriever` (``None``: the default of ``towers``)."""

    towers: str = "both"
    epochs: int | None = None
    batch_size: int = 32
    lr: float | None = None
    temperature: float = 0.05
    seed: int = 0
    min_articles: int = 3
    dev_share: float = 0.2
    dev_min_articles: int = 10

    def resolved(self) -> TrainSettings:
        """These settings with the defaults of their ``towers`` filled in."""
        if self.towers not in TOWERS:
            raise GenerError(f"towers must be one of {', '.join(TOWERS)}, not {self.towers!r}")
        defaults = TOWER_DEFAULTS[self.towers]
        return replace(self, epochs=self.epochs or defaults["epochs"],
                       lr=self.lr or defaults["lr"])


def train_retriever(out: str | Path, searcher, corpus, settings: TrainSettings | None = None,
                    excluded_forms: frozenset[str] | None = None, cache_dir=None,
                    progress: bool = True, log=print) -> dict:
    """Fine-tune ``searcher``'s encoder on ``corpus`` and write a ``gener-retriever`` folder.

    ``searcher`` holds a bi-encoder index (MiniLM) of ``corpus``, whose articles (title,
    description) supply the supervision. With both towers trained, the new encoder's index of
    ``corpus`` is built under ``cache_dir`` to measure the dev types. Returns the metadata
    written to the folder.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    settings = (settings or TrainSettings()).resolved()
    out = Path(out)
    if out.exists() and not (out / RETRIEVER_META).is_file():
        raise GenerError(f"{out}: exists and is not a gener-retriever folder; "
                         "choose another --out")
    started = time.perf_counter()
    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    encoder = searcher.encoder
    forms = benchmark_type_forms() if excluded_forms is None else excluded_forms
    types = training_types(corpus.articles(), forms, settings.min_articles, settings.dev_share,
                           settings.dev_min_articles, settings.seed)
    targets = OccurrenceTargets(searcher.index, types.held_out_titles())
    positives = {t: targets.kept(targets.positives(titles)) for t, titles in types.train.items()}
    train = sorted(t for t, p in positives.items() if len(p))
    if not train:
        raise GenerError("no training questions: no article title of a usable type occurs "
                         "among the index's candidate phrases")
    scorer = _scorer(searcher, targets)
    tokenizer = AutoTokenizer.from_pretrained(encoder.model_path)
    model = AutoModel.from_pretrained(encoder.model_path)
    dev_before = evaluate_types(encoder.encode_questions, scorer, targets, types.dev)
    log(f"{len(train)} training types ({sum(len(types.train[t]) for t in train)} articles, "
        f"{sum(len(positives[t]) for t in train)} answer occurrences); {len(types.dev)} dev "
        f"types; {len(types.excluded)} articles of benchmark types left out")
    step = (_both_towers_step(model, tokenizer, searcher, targets, positives, settings)
            if settings.towers == "both" else
            _question_tower_step(model, tokenizer, scorer, targets, positives, settings))
    losses = _fit(model, step, train, settings, progress)
    meta = {
        "towers": settings.towers,
        "document_encoder": "." if settings.towers == "both" else encoder.name,
        "question": question("[TYPE]"),
        "settings": settings.__dict__, "steps": len(losses),
        "loss_first_last": [round(losses[0], 4), round(losses[-1], 4)],
        "corpus_fingerprint": searcher.index.manifest.get("fingerprint"),
        "train_types": {t: len(types.train[t]) for t in train},
        "dev_types": {t: len(v) for t, v in types.dev.items()},
        "excluded_type_words": types.excluded_forms,
        "excluded_articles": len(types.excluded),
        "answers": answer_texts(types),
    }
    meta["train_seconds"] = round(time.perf_counter() - started, 1)
    _save(out, model, tokenizer, meta)
    if settings.towers == "both":
        from gener.retrieval.meanpool import TunedBiEncoder
        from gener.retrieval.search import open_searcher

        tuned = open_searcher(corpus, TunedBiEncoder(str(out), str(out), encoder.device),
                              cache_dir, progress, definition_weight=searcher.definition_weight)
        tuned_targets = OccurrenceTargets(tuned.index, types.held_out_titles())
        dev_after = evaluate_types(tuned.encoder.encode_questions,
                                   _scorer(tuned, tuned_targets), tuned_targets, types.dev)
    else:
        dev_after = evaluate_types(lambda texts: mean_pool_encode(model, tokenizer, texts),
                                   scorer, targets, types.dev)
    meta["dev_p_at_100"] = {"untrained": dev_before, "trained": dev_after}
    meta["seconds"] = round(time.perf_counter() - started, 1)
    atomic_write_text(out / RETRIEVER_META, json.dumps(meta, indent=1, ensure_ascii=False))
    log(f"dev P@100 (mean over {len(types.dev)} held-out types): "
        f"untrained {_mean(dev_before):.3f} -> trained {_mean(dev_after):.3f}; "
        f"{len(losses)} steps, {meta['seconds']:.0f}s -> {out}")
    return meta


def _scorer(searcher, targets: OccurrenceTargets) -> Scorer:
    return Scorer(searcher.index, targets, searcher.sentence_weight, searcher.title_bonus,
                  searcher.class_penalty, searcher.definition_weight)


def _fit(model, step, train: list[str], settings: TrainSettings, progress: bool) -> list[float]:
    """Run ``step(batch_of_types)`` (which returns a loss) over shuffled epochs of ``train``."""
    import torch
    from tqdm import tqdm

    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    steps = settings.epochs * -(-len(train) // settings.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) * max(0.0, 1 - s / steps))
    rng = random.Random(settings.seed)
    losses = []
    model.train()
    with tqdm(total=steps, desc="training retriever", unit="step", disable=not progress,
              leave=False) as bar:
        for _ in range(settings.epochs):
            order = train[:]
            rng.shuffle(order)
            for i in range(0, len(order), settings.batch_size):
                loss = step(order[i:i + settings.batch_size])
                loss.backward()
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                losses.append(float(loss.detach()))
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()
    return losses


def _question_tower_step(model, tokenizer, scorer: Scorer, targets: OccurrenceTargets,
                         positives: dict[str, np.ndarray], settings: TrainSettings):
    """The loss of a batch of types over every occurrence of the index (questions tuned)."""
    import torch

    ignored = torch.from_numpy(targets.ignored)

    def step(batch: list[str]):
        inputs = tokenizer([question(t) for t in batch], padding=True, return_tensors="pt")
        scores = scorer(mean_pool(model, inputs), batch) / settings.temperature
        scores = scores.masked_fill(ignored, float("-inf"))
        is_positive = torch.zeros_like(scores, dtype=torch.bool)
        for row, entity_type in enumerate(batch):
            is_positive[row, torch.from_numpy(positives[entity_type])] = True
        numerator = scores.masked_fill(~is_positive, float("-inf")).logsumexp(-1)
        return (scores.logsumexp(-1) - numerator).mean()

    return step


class HardNegatives:
    """Per type, occurrences that are not its answers but look like them to an encoder."""

    def __init__(self, index, targets: OccurrenceTargets, positives: dict[str, np.ndarray]):
        self.index, self.targets = index, targets
        self.answer_keys = {t: set(index.occ_key[p].tolist()) for t, p in positives.items()}
        self.order = np.argsort(index.occ_sentence, kind="stable")
        self.bounds = np.searchsorted(index.occ_sentence[self.order],
                                      np.arange(len(index.sentences) + 1))

    def same_sentence(self, entity_type: str, occurrence: int) -> list[int]:
        """Other candidate phrases of the answer's sentence."""
        sentence = self.index.occ_sentence[occurrence]
        found = self.targets.kept(self.order[self.bounds[sentence]:self.bounds[sentence + 1]])
        return [int(o) for o in found
                if self.index.occ_key[o] not in self.answer_keys[entity_type]]

    def class_phrases(self, entity_type: str) -> np.ndarray:
        """Phrases whose head is the type word ("infectious disease")."""
        return self.targets.kept(self.targets.class_phrases(entity_type))


def _both_towers_step(model, tokenizer, searcher, targets: OccurrenceTargets,
                      positives: dict[str, np.ndarray], settings: TrainSettings):
    """The loss of a batch of types over the batch's occurrences (both towers tuned)."""
    import contextlib

    import torch

    index = searcher.index
    hard = HardNegatives(index, targets, positives)
    rng = random.Random(settings.seed + 1)
    autocast = (torch.autocast("cpu", dtype=torch.bfloat16)
                if searcher.encoder.precision == "bf16" and searcher.encoder.device == "cpu"
                else contextlib.nullcontext())

    def encode(texts: list[str], max_length: int):
        inputs = tokenizer(texts, padding=True, truncation=True, max_length=max_length,
                           return_tensors="pt").to(model.device)
        with autocast:
            return mean_pool(model, inputs).float()

    def step(batch: list[str]):
        candidates, answers = [], []
        for entity_type in batch:
            answer = int(rng.choice(positives[entity_type]))
            answers.append(len(candidates))
            candidates.append(answer)
            if others := hard.same_sentence(entity_type, answer):
                candidates.append(rng.choice(others))
            if len(classes := hard.class_phrases(entity_type)):
                candidates.append(int(rng.choice(classes)))
        sentences = sorted({int(index.occ_sentence[o]) for o in candidates})
        row_of = {s: i for i, s in enumerate(sentences)}
        queries = encode([question(t) for t in batch], 32)
        phrases = encode([index.phrase_texts[index.occ_key[o]] for o in candidates], 32)
        contexts = encode([index.sentences[s].text for s in sentences], 64)
        columns = torch.tensor([row_of[int(index.occ_sentence[o])] for o in candidates])
        scores = queries @ phrases.T + searcher.sentence_weight * (queries @ contexts.T)[:, columns]
        # Another answer of the row's own type is no negative.
        other_answers = torch.tensor([[j != answers[i] and int(index.occ_key[o])
                                       in hard.answer_keys[t] for j, o in enumerate(candidates)]
                                      for i, t in enumerate(batch)])
        scores = (scores / settings.temperature).masked_fill(other_answers, float("-inf"))
        return torch.nn.functional.cross_entropy(scores, torch.tensor(answers))

    return step


def _mean(values: dict[str, float]) -> float:
    return sum(values.values()) / len(values) if values else float("nan")


def _save(out: Path, model, tokenizer, meta: dict) -> None:
    """Write the folder next to ``out`` and move it into place."""
    tmp = temporary_folder(out)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    atomic_write_text(tmp / RETRIEVER_META, json.dumps(meta, indent=1, ensure_ascii=False))
    replace_folder(tmp, out)
