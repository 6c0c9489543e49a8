"""Recipes: which entity types to ask for, how many sentences, and which normalization rules.

A recipe is a YAML file with this schema (unknown keys are errors)::

    name: ncbi_disease                # identifier, also the dataset config name
    description: NCBI-disease ...     # optional free text
    question_template: "Which [TYPE]?"  # optional; [TYPE] is replaced by each subquestion's type
    common_rules: [2, 5, 6, 7, 8, 10]   # optional; rules applied to every subquestion
    benchmark: ncbi_disease           # optional; benchmark used for validation / tables
    subquestions:                     # one or more
      - label: Disease                # the NER label written into the dataset
        type: disease                 # the [TYPE] word: the question is "Which disease?"
        k: 20000                      # k_l: unique evidence sentences to retrieve
        rules: [4, 9]                 # rules specific to this subquestion (Table C.2)
    self_training:                    # optional (Table C.3)
      t_early: 900
      t_update: 450
    rule9: all                        # optional; rule 9 skips every lowercase single token
                                      # (all, the paper's) or only common words (common)
    rule3: names                      # optional; rule 3 drops all-lowercase phrases and keeps
                                      # only the name of a mixed one (names, default), or drops
                                      # all-lowercase phrases only (lowercase, the paper's)

Rules are the ten of the paper's Appendix A; see :mod:`gener.normalize`.
"""

from gener.recipes.recipe import (
    COMMON_RULES,
    RULES,
    Recipe,
    SelfTrainingConfig,
    Subquestion,
    available_recipes,
    labels_with_rule,
    load_recipe,
    parse_recipe,
    recipe_from_question,
    recipe_from_types,
    with_other_types,
)

__all__ = [
    "COMMON_RULES",
    "RULES",
    "Recipe",
    "SelfTrainingConfig",
    "Subquestion",
    "available_recipes",
    "labels_with_rule",
    "load_recipe",
    "parse_recipe",
    "recipe_from_question",
    "recipe_from_types",
    "with_other_types",
]
