"""Argument groups shared by several verbs."""

from __future__ import annotations

import argparse

from gener.errors import GenerError


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def add_corpus_options(parser) -> None:
    """--corpus and the options that say how to read it."""
    group = parser.add_argument_group("corpus")
    group.add_argument("--corpus", default=None,
                       help="wiki-vital (default: Wikipedia lead sections), a .txt file (one "
                            "document per line), a .jsonl file, a datasets folder, hf:ID, or "
                            "benchmark:NAME[:SPLIT] (a benchmark split's sentences, no labels)")
    group.add_argument("--text-field", default="text",
                       help="JSONL field or dataset column holding the text (default: text)")
    group.add_argument("--split", default="train", help="dataset split (default: train)")
    group.add_argument("--streaming", action="store_true",
                       help="stream a datasets corpus instead of loading it")


def open_corpus_from_args(args):
    """The corpus named by :func:`add_corpus_options`' arguments."""
    from gener.corpus import open_corpus

    return open_corpus(args.corpus, text_field=args.text_field, split=args.split,
                       streaming=args.streaming)


def add_policy_options(parser) -> None:
    """--policy and --set: the labelling policy (gener.policy)."""
    group = parser.add_argument_group("labelling policy")
    group.add_argument("--policy", default=None, metavar="NAME",
                       help="labelling policy preset: default (gener's) or paper (the GeNER "
                            "paper's); default: the recipe's, else default")
    group.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                       dest="policy_overrides",
                       help="change one policy field, e.g. --set rule9=common (repeatable; "
                            "fields: docs/policy.md)")


def policy_from_args(args, recipe=None):
    """The policy of :func:`add_policy_options`' arguments, over ``recipe``'s own."""
    from gener.policy import resolve_policy

    return resolve_policy(recipe.policy if recipe is not None else None, args.policy,
                          args.policy_overrides)


def add_recipe_options(parser) -> None:
    """A RECIPE name/file, or a one-line recipe from --question / --types."""
    parser.add_argument("recipe", nargs="?", help="recipe name (see `gener recipes`) or YAML file")
    parser.add_argument("--question", help='one-line recipe from a question: "Which microbe?"')
    parser.add_argument("--types", help='one-line recipe from types: "disease,chemical compound"')
    parser.add_argument("--k", type=positive_int, default=None,
                        help="most evidence sentences per subquestion (overrides the "
                             "recipe's k_l)")
    parser.add_argument("--name", default=None,
                        help="config name for a one-line recipe (default: from the question "
                             "or types, e.g. which_river)")


def recipe_from_args(args):
    """The recipe named by :func:`add_recipe_options`' arguments."""
    from gener.recipes import load_recipe, recipe_from_question, recipe_from_types

    given = [x for x in (args.recipe, args.question, args.types) if x is not None]
    if len(given) != 1:
        raise GenerError("give exactly one of RECIPE, --question or --types")
    if args.question is not None:
        return recipe_from_question(args.question, k=args.k or 1000, name=args.name)
    if args.types is not None:
        return recipe_from_types(args.types, k=args.k or 1000, name=args.name)
    recipe = load_recipe(args.recipe)
    return recipe.with_k(args.k) if args.k else recipe
