"""gener's Python API: question -> dataset -> model -> tags, in a few calls.

These functions take the same inputs as the CLI verbs of the same names, and the CLI, the
Space and the benchmarks reach the same stages (:mod:`gener.pipeline`). Heavy libraries
are imported inside each function, so ``import gener`` stays cheap.
"""

from __future__ import annotations

from pathlib import Path

from gener.errors import GenerError
from gener.policy import LabellingPolicy, resolve_policy
from gener.recipes import Recipe


def _recipe(recipe: str | Path | Recipe, k: int | None):
    from gener.recipes import load_recipe, recipe_from_question

    if isinstance(recipe, Recipe):
        chosen = recipe
    elif isinstance(recipe, str) and _is_question(recipe):
        chosen = recipe_from_question(recipe, k=k or 1000)
    else:
        chosen = load_recipe(recipe)
    return chosen.with_k(k) if k else chosen


def _is_question(text: str) -> bool:
    """A question rather than a recipe name or a path: it ends in "?", or it has words
    and names no file ("Name a river.")."""
    text = text.strip()
    return text.endswith("?") or (len(text.split()) > 1 and not Path(text).exists())


def _policy(policy: LabellingPolicy | str | None, recipe: Recipe,
            overrides: dict | None) -> LabellingPolicy:
    if isinstance(policy, LabellingPolicy):
        return policy.with_overrides(overrides or {})
    return resolve_policy(recipe.policy, policy, overrides or {})


def ask(question: str, corpus=None, top_k: int = 100, encoder: str = "minilm",
        cache_dir: str | None = None, definition_weight: float = 1.0,
        feedback_phrases: int = 0, progress: bool = False) -> list:
    """The ``top_k`` best distinct answers to ``question`` in ``corpus`` (a corpus spec or
    :class:`~gener.corpus.Corpus`; default: the Wikipedia corpus), best first, each a
    :class:`~gener.retrieval.search.RankedPhrase` with its evidence sentence and, with a
    bi-encoder, the confidence that a build gives it (None beyond the candidates scored).

    The ranking's weights are ``gener ask``'s (ν = 1, no feedback: the best ranking on its
    proxy benchmark, bench/RETRIEVAL.md); builds use their labelling policy's."""
    from gener.corpus import Corpus, open_corpus
    from gener.recipes import recipe_from_question
    from gener.retrieval.search import check_question, open_searcher

    question = check_question(question)
    if top_k < 1:
        raise GenerError("top_k must be at least 1")
    asked = recipe_from_question(question, k=top_k).subquestions
    if len(asked) > 1:
        raise GenerError(f"{question!r} asks for {len(asked)} types "
                         f"({', '.join(sq.type for sq in asked)}); ask ranks one: ask for "
                         "each apart")
    subquestion = asked[0]
    corpus = corpus if isinstance(corpus, Corpus) else open_corpus(corpus)
    searcher = open_searcher(corpus, encoder, cache_dir, progress,
                             definition_weight=definition_weight,
                             feedback_phrases=feedback_phrases)
    ranked = searcher.rank_subquestions([subquestion])[0]
    answers = []
    for hit in searcher.unique_phrases(ranked, subquestion):
        answers.append(hit)
        if len(answers) >= top_k:
            break
    if not searcher.index.contextual:  # the confidence a build would give each answer
        from gener.answers import score_answers

        query = searcher.encoder.encode_questions([subquestion.question])[0]
        scored = {a.name.casefold(): a.confidence
                  for a in score_answers(searcher, subquestion, ranked, query)}
        for hit in answers:
            hit.confidence = scored.get(hit.phrase.casefold())
    return answers


def build(recipe: str | Path | Recipe, corpus=None, out: str | Path = "artifacts/datasets",
          k: int | None = None, policy: LabellingPolicy | str | None = None,
          overrides: dict | None = None, encoder: str = "minilm", seed: int = 0,
          cache_dir: str | None = None, progress: bool = True, overwrite: bool = False):
    """Build a dataset config into the Hub-format folder ``out`` and return its
    :class:`~gener.stages.BuildResult`.

    ``recipe``: a shipped recipe name, a YAML path, a :class:`Recipe`, or a question (ending
    in "?" or of several words: "Name a river."; its config is named after it: "Which
    river?" -> ``which_river``). ``policy``: a
    preset name or a :class:`LabellingPolicy` (default: the recipe's), with ``overrides``
    ({field: value}) on top."""
    from gener.corpus import Corpus, open_corpus
    from gener.stages import BuildSettings
    from gener.stages import build as build_dataset

    recipe = _recipe(recipe, k)
    settings = BuildSettings(encoder=encoder, seed=seed, cache_dir=cache_dir,
                             progress=progress, policy=_policy(policy, recipe, overrides))
    corpus = corpus if isinstance(corpus, Corpus) else open_corpus(corpus)
    return build_dataset(recipe, corpus, out, settings, overwrite=overwrite)


def train(dataset: str | Path, config: str | None = None, out: str | Path = "artifacts/model",
          model: str = "minilm", max_steps: int | None = None, validation=None,
          seed: int = 0, **options):
    """Self-train a tagger on a built dataset config (BOND, paper §3.4); return the
    :class:`~trainers.self_training.TrainResult`. The schedule (T_early, T_update) comes
    from the dataset's recipe; ``validation`` is a labelled ``datasets.Dataset`` that picks
    the best student (e.g. ``gener.benchmarks.load_benchmark(name, "validation")``);
    ``options`` are further :class:`~trainers.self_training.TrainConfig` fields."""
    from trainers.data import load_training_dataset, read_manifest
    from trainers.self_training import TrainConfig
    from trainers.self_training import train as self_train

    manifest = read_manifest(dataset, config)
    schedule = manifest.get("self_training") or {}
    t_early = options.pop("t_early", schedule.get("t_early", TrainConfig.t_early))
    t_update = options.pop("t_update", schedule.get("t_update", TrainConfig.t_update))
    train_config = TrainConfig(
        t_early=t_early, t_update=t_update, seed=seed,
        max_steps=max_steps if max_steps is not None else t_early + 2 * t_update,
        recipe=manifest.get("recipe") or config, data_version=manifest.get("version"),
        **options)
    return self_train(load_training_dataset(dataset, config=config), out, model_name=model,
                      validation_dataset=validation, config=train_config)


def evaluate(model: str | Path, data, split: str = "test", benchmarks: str | None = None,
             label_map: dict[str, str] | None = None) -> dict:
    """Entity-level precision, recall and F1 (overall and ``per_type``) of a saved model on
    labelled data: a benchmark name (``ncbi_disease``), a CoNLL/BIO or JSONL file, a
    ``datasets`` folder, ``hf:ID[:SPLIT]``, or a ``datasets.Dataset`` with ``tokens`` and
    ``ner_tags``."""
    from gener.benchmarks import BENCHMARKS, load_benchmark, load_labelled_data
    from trainers.evaluation import evaluate_model

    if isinstance(data, str) and data in BENCHMARKS:
        data = load_benchmark(data, split, benchmarks)
    elif isinstance(data, str | Path):
        data = load_labelled_data(str(data), split)
    return evaluate_model(model, data, label_map=label_map)
