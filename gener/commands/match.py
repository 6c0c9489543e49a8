"""``gener match``: annotate the GeNER code's retrieval output with our matcher."""

from __future__ import annotations

import sys
import time

from gener.commands.options import add_policy_options, policy_from_args


def add_parser(subparsers) -> None:
    """Register ``gener match``."""
    p = subparsers.add_parser(
        "match", help="dictionary-match a GeNER retrieval folder (Which_<subtype>.json files)",
        description="Normalize the phrases of a GeNER retrieval folder, build the "
                    "pseudo-dictionary and annotate every sentence (paper §3.3).")
    p.add_argument("--from-gener-retrieval", required=True, metavar="DIR",
                   help="folder of Which_<subtype>.json files")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--gener-config", metavar="FILE",
                        help="GeNER config JSON (types, subtypes, rule flags)")
    source.add_argument("--recipe", metavar="RECIPE", help="gener recipe name or YAML path")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--format", choices=("jsonl", "dataset"), default="jsonl",
                   help="train.jsonl (default) or a datasets folder (save_to_disk)")
    p.add_argument("--seed", type=int, default=0, help="seed for multi-label draws")
    p.add_argument("--deterministic", action="store_true",
                   help="give multi-label phrases their most frequent label "
                        "(--set deterministic=true)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes to match in (default: up to 4, by CPUs and input size); "
                        "the output does not depend on it")
    p.add_argument("--detect-abbreviations", action="store_true",
                   help="detect abbreviations with scispacy instead of using the files' ones")
    add_policy_options(p)
    p.set_defaults(run=run)


def matching_options(policy) -> dict:
    """The keyword arguments of :func:`gener.matching.annotate` that ``policy`` sets, less
    those at the values that change nothing (which keep the two-process path)."""
    options = {"retrieved_rule9": policy.retrieved_rule9,
               "rule9_by_position": policy.rule9_by_position}
    if policy.rule9 == "common" or policy.abbreviations == "dictionary":
        from gener.common_words import common_words

        if policy.rule9 == "common":
            options["common_words"] = common_words()
        if policy.abbreviations == "dictionary":
            options["abbreviation_entries"] = common_words()
    return {k: v for k, v in options.items() if v not in ("off", False)}


def run(args) -> int:
    """Read, normalize, match, and write ``train.jsonl`` (or a dataset) plus the dictionary."""
    import gc
    from pathlib import Path

    gc.disable()  # a short-lived process of many small acyclic objects: no collections

    from gener.interop import GENER_CONFIG_POLICY, load_gener_config
    from gener.matching import annotate_folder
    from gener.pipeline import prepare
    from gener.recipes import Recipe, load_recipe

    started = time.perf_counter()
    if args.gener_config:
        recipe = Recipe("gener-config", tuple(load_gener_config(args.gener_config)),
                        policy=GENER_CONFIG_POLICY)
    else:
        recipe = load_recipe(args.recipe)
    policy = policy_from_args(args, recipe)
    subquestions = list(prepare(recipe, policy).subquestions)
    labels = list(dict.fromkeys(sq.label for sq in subquestions))
    out = Path(args.out)
    result = annotate_folder(args.from_gener_retrieval, subquestions, labels, args.seed,
                             args.deterministic or policy.deterministic,
                             detect_abbreviations=args.detect_abbreviations,
                             workers=args.workers,
                             jsonl=out / "train.jsonl" if args.format == "jsonl" else None,
                             dictionary_json=out / "dictionary.json",
                             normalize=policy.renormalize,
                             retrieved_tokens=policy.retrieved_tokens, **matching_options(policy))
    if args.format == "dataset":
        from gener.matching import to_dataset

        to_dataset(result.records, labels).save_to_disk(str(out / "dataset"))
    stats = result.stats
    skipped = {k: v for k, v in stats["skipped_phrases"].items() if v}
    print(f"{stats['sentences']} sentences, {stats['tokens']} tokens, "
          f"{stats['dictionary_phrases']} dictionary phrases "
          f"({stats['multi_label_phrases']} with several labels); spans per type: "
          + ", ".join(f"{k} {v}" for k, v in stats["spans_per_type"].items())
          + "; per source: " + ", ".join(f"{k} {v}" for k, v in stats["spans_per_source"].items())
          + (f"; skipped phrases: {', '.join(f'{k} {v}' for k, v in skipped.items())}"
             if skipped else "")
          + f"; policy {policy.describe()}; {time.perf_counter() - started:.2f} s -> {out}",
          file=sys.stderr)
    return 0
