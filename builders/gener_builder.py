"""A ``datasets`` builder whose configs are gener recipes.

One config ships per recipe; a config can also be made at run time from a recipe dict (for
one-line recipes such as ``--question "Which microbe?"``). The builder only reads: it runs
:func:`gener.stages.generate` (the same stages as ``gener build``, resumable under its
``work_dir``) and yields the records. Its cache is keyed by the recipe, corpus, encoder, seed
and labelling policy, so a changed recipe or setting never reuses an old build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from gener import __version__
from gener.recipes import Recipe, available_recipes, load_recipe, parse_recipe


@dataclass
class GenerConfig(datasets.BuilderConfig):
    """A recipe plus the corpus, encoder, seed and labelling policy to generate it with.

    ``recipe`` is a recipe mapping (as in the YAML files); when it is empty the shipped
    recipe named ``name`` is used. ``policy`` names a preset (``preset``) and/or overrides
    fields (gener.policy) over the recipe's own.
    """

    recipe: dict = field(default_factory=dict)
    k: int | None = None
    corpus: str | None = None
    text_field: str = "text"
    corpus_split: str = "train"
    encoder: str = "minilm"
    seed: int = 0
    policy: dict = field(default_factory=dict)
    work_dir: str | None = None

    def load_recipe(self) -> Recipe:
        """The config's recipe, with ``k`` applied."""
        recipe = parse_recipe(self.recipe, f"config {self.name}") if self.recipe \
            else load_recipe(self.name)
        return recipe.with_k(self.k) if self.k else recipe


class GenerBuilder(datasets.GeneratorBasedBuilder):
    """GeNER datasets generated from questions: one ``train`` split per config."""

    VERSION = datasets.Version(__version__)
    BUILDER_CONFIG_CLASS = GenerConfig
    BUILDER_CONFIGS = [GenerConfig(name=name, version=datasets.Version(__version__),
                                   description=load_recipe(name).description)
                       for name in available_recipes()]
    DEFAULT_CONFIG_NAME = "conll2003"

    def _info(self) -> datasets.DatasetInfo:
        from gener.dataset import PAPER_CITATION, generated_features

        recipe = self.config.load_recipe()
        return datasets.DatasetInfo(
            description=recipe.description,
            features=generated_features(recipe.labels),
            citation=PAPER_CITATION,
            license="cc-by-sa-4.0",
        )

    def _split_generators(self, dl_manager):
        from gener.corpus import open_corpus
        from gener.policy import resolve_policy
        from gener.stages import BuildSettings, generate

        recipe = self.config.load_recipe()
        overrides = dict(self.config.policy)
        policy = resolve_policy(recipe.policy, overrides.pop("preset", None), overrides)
        corpus = open_corpus(self.config.corpus, self.config.text_field,
                             self.config.corpus_split)
        work_dir = Path(self.config.work_dir or Path(self.cache_dir) / "gener-work")
        settings = BuildSettings(encoder=self.config.encoder, seed=self.config.seed,
                                 policy=policy)
        records_path = generate(recipe, corpus, work_dir, settings).records_path
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN,
                                        gen_kwargs={"records_path": str(records_path)})]

    def _generate_examples(self, records_path: str):
        with open(records_path, encoding="utf-8") as f:
            for index, line in enumerate(f):
                yield index, json.loads(line)
