"""The one assembly of gener's stages under a :class:`~gener.policy.LabellingPolicy`.

``gener build``, the dataset builder, the Space, ``gener tables`` and the bench scripts all
call these functions, so that a policy means the same thing everywhere:

1. :func:`prepare` - the recipe as the policy reads it (rule 3's scope, rule 11);
2. :func:`open_searcher` - the corpus's phrase index with the policy's retrieval weights;
3. :func:`retrieve` - evidence sentences and retrieved phrases per subquestion, and the label
   of each phrase retrieved for several labels;
4. :func:`label` - normalization, pseudo-dictionary and matching (rules 1-11).
"""

from __future__ import annotations

from dataclasses import replace

from gener.policy import LabellingPolicy
from gener.recipes import Recipe


def prepare(recipe: Recipe, policy: LabellingPolicy) -> Recipe:
    """``recipe`` with the policy's rule 3 scope, and without rule 11 where it is off."""
    names_only = policy.rule3 == "names"
    subquestions = tuple(
        replace(sq, names_only=names_only,
                rules=sq.rules if policy.rule11 else tuple(r for r in sq.rules if r != 11))
        for sq in recipe.subquestions)
    return replace(recipe, subquestions=subquestions)


def open_searcher(corpus, policy: LabellingPolicy, encoder: str = "minilm",
                  cache_dir=None, progress: bool = True):
    """The corpus's :class:`~gener.retrieval.search.Searcher` (the index is built and cached
    on first use) scoring with the policy's weights."""
    from gener.retrieval.search import open_searcher as open_index_searcher

    return open_index_searcher(corpus, encoder, cache_dir, progress,
                               definition_weight=policy.definition_weight,
                               feedback_phrases=policy.feedback_phrases,
                               head_similarity=policy.head_similarity)


def retrieve(recipe: Recipe, searcher, policy: LabellingPolicy):
    """Per subquestion of the prepared ``recipe``, its evidence sentences with their
    retrieved phrases; and ``{phrase key: label}`` for phrases retrieved for several labels
    (empty unless the policy labels by phrase with a bi-encoder).

    With a bi-encoder and a ``min_confidence`` above 0, the evidence is where the answers
    that reach it occur (:mod:`gener.answers`), and each retrieval lists its scored
    answers, and each phrase takes the label that verified it; otherwise it is the paper's top
    k sentences."""
    from gener.answers import retrieve_answers
    from gener.phrase_labels import answer_labels, label_phrases
    from gener.retrieval.search import retrieve_with

    labels = {}
    if policy.min_confidence > 0 and not searcher.index.contextual:
        retrievals = retrieve_answers(searcher, recipe, policy.min_confidence)
        if policy.labeling == "phrase":
            labels = answer_labels(retrievals)
    else:
        retrievals = retrieve_with(searcher, recipe, extend_heads=policy.head_extension)
        if policy.labeling == "phrase" and not searcher.index.contextual:
            labels = label_phrases(retrievals, searcher.phrase_similarities)
    return retrievals, labels


def label(retrievals, recipe: Recipe, policy: LabellingPolicy,
          phrase_labels: dict[str, str] | None = None, seed: int = 0, progress: bool = True,
          detect_abbreviations: bool = True):
    """Normalize the retrieved phrases, build the pseudo-dictionary and match it over the
    evidence sentences: a :class:`~gener.matching.MatchResult`."""
    from gener.common_words import common_words
    from gener.matching import annotate

    return annotate(retrievals, recipe.labels, seed=seed, deterministic=policy.deterministic,
                    progress=progress, detect_abbreviations=detect_abbreviations,
                    phrase_labels=phrase_labels or None,
                    common_words=common_words() if policy.rule9 == "common" else None,
                    abbreviation_entries=common_words()
                    if policy.abbreviations == "dictionary" else None,
                    retrieved_rule9=policy.retrieved_rule9,
                    rule9_by_position=policy.rule9_by_position,
                    retrieved_tokens=policy.retrieved_tokens)
