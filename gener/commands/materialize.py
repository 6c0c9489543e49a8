"""``gener materialize``: write dataset configs into one Hub-format folder."""

from __future__ import annotations

from gener.commands.build import add_build_options, settings_from_args
from gener.commands.options import add_corpus_options, open_corpus_from_args, positive_int


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "materialize", help="write recipes' dataset configs into a Hub-format folder",
        description="Builds each named config (a shipped recipe, or a recipe YAML file) and "
                    "writes OUT/<config>/train-*.parquet and a README.md dataset card, so that "
                    "datasets.load_dataset(OUT, CONFIG) loads it. The same folder is what "
                    "`gener publish` uploads.")
    parser.add_argument("configs", nargs="*", metavar="CONFIG", help="recipe names or files")
    parser.add_argument("--all", action="store_true", help="every shipped recipe")
    parser.add_argument("--out", required=True, help="dataset folder")
    parser.add_argument("--k", type=positive_int, default=None,
                        help="most evidence sentences per subquestion (overrides each "
                             "recipe's k_l)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a folder that holds another dataset")
    add_corpus_options(parser)
    add_build_options(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    from gener.dataset import check_output_folder
    from gener.errors import GenerError
    from gener.recipes import available_recipes, load_recipe
    from gener.stages import build

    if args.all == bool(args.configs):
        raise GenerError("name one or more CONFIGs, or --all")
    recipes = [load_recipe(name) for name in (available_recipes() if args.all else args.configs)]
    check_output_folder(args.out, args.overwrite)
    corpus = open_corpus_from_args(args)
    for recipe in recipes:
        result = build(recipe.with_k(args.k) if args.k else recipe, corpus, args.out,
                       settings_from_args(args, recipe), overwrite=True)
        print(result.summary())
    return 0
