"""``gener recipes``: validate and list recipes; ``gener recipes show NAME``."""

from __future__ import annotations

import sys

from gener.errors import GenerError
from gener.recipes import available_recipes, load_recipe


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "recipes", help="validate and list the shipped recipes, or show one",
        description="Without arguments: validate every shipped recipe and print their names "
                    "(exit 1 if any is invalid). `gener recipes show NAME|FILE` prints one.")
    parser.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    parser.add_argument("name", nargs="?", help="recipe name or YAML file (with `show`)")
    parser.set_defaults(run=run)


def run(args) -> int:
    if args.action == "show":
        if not args.name:
            raise GenerError("`recipes show` needs a recipe name or file")
        import yaml

        recipe = load_recipe(args.name)
        sys.stdout.write(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
        return 0
    status = 0
    for name in available_recipes():
        try:
            load_recipe(name)
        except GenerError as err:
            print(f"invalid: {err}", file=sys.stderr)
            status = 1
        else:
            print(name)
    return status
