"""A ``datasets`` builder whose configs are gener recipes.

One config ships per recipe; a config can also be made at run time from a recipe dict (for
one-line recipes such as ``--question "Which microbe?"``). The builder's cache is keyed by
the recipe, corpus, encoder and seed (and, under ``gener build``, the data version of the
generated records, which digests every build setting), so a changed recipe or setting never
reuses an old build; the
data version written to the dataset card is ``<gener version>+<fingerprint of those>``.
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
    """A recipe plus the corpus, encoder and seed to generate it with.

    ``recipe`` is a recipe mapping (as in the YAML files); when it is empty the shipped
    recipe named ``name`` is used. ``records_path`` points at already generated records
    (``gener build`` passes it so that generation happens once, resumably).
    """

    recipe: dict = field(default_factory=dict)
    k: int | None = None
    corpus: str | None = None
    text_field: str = "text"
    corpus_split: str = "train"
    encoder: str = "minilm"
    seed: int = 0
    deterministic: bool = False
    work_dir: str | None = None
    records_path: str | None = None
    # The data version of the records at records_path (a digest of every generation input):
    # part of the cache key, so that records made with other settings are never reused.
    records_version: str | None = None

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
        records_path = self.config.records_path
        if records_path is None:
            from gener.build import BuildSettings, generate
            from gener.corpus import open_corpus

            recipe = self.config.load_recipe()
            corpus = open_corpus(self.config.corpus, self.config.text_field,
                                 self.config.corpus_split)
            work_dir = Path(self.config.work_dir or Path(self.cache_dir) / "gener-work")
            settings = BuildSettings(encoder=self.config.encoder, seed=self.config.seed,
                                     deterministic=self.config.deterministic)
            records_path = generate(recipe, corpus, work_dir, settings).records_path
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN,
                                        gen_kwargs={"records_path": str(records_path)})]

    def _generate_examples(self, records_path: str):
        with open(records_path, encoding="utf-8") as f:
            for index, line in enumerate(f):
                yield index, json.loads(line)

    @classmethod
    def from_generated(cls, recipe: Recipe, generated, cache_dir: str | Path) -> datasets.Dataset:
        """The ``train`` split for records that :func:`gener.build.generate` produced."""
        m = generated.manifest
        # config_name=None starts from the default config and overrides every field, which
        # also works for recipes that are not shipped (no BuilderConfig of that name).
        builder = cls(cache_dir=str(cache_dir), config_name=None, name=recipe.name,
                      recipe=recipe.to_dict(), encoder=m["encoder"], seed=m["seed"],
                      deterministic=m["deterministic"], corpus=m["corpus_fingerprint"],
                      records_path=str(generated.records_path), records_version=m["version"])
        builder.download_and_prepare()
        return builder.as_dataset("train")
