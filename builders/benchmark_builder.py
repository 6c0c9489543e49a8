"""A ``datasets`` builder for the evaluation benchmarks (train / validation / test).

Reads the benchmark files from the folder given as ``data_dir`` (else ``GENER_BENCHMARKS``,
else ``../shared/data``) with :mod:`gener.benchmarks`, and gives them the same ``tokens`` /
``ner_tags`` features as the generated configs.
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets

from gener import __version__
from gener.benchmarks import BENCHMARKS, SPLITS, load_benchmark, ner_features


@dataclass
class BenchmarkConfig(datasets.BuilderConfig):
    """One benchmark of the paper."""


class BenchmarkBuilder(datasets.GeneratorBasedBuilder):
    """CoNLL-2003, Wikigold, WNUT-16, NCBI-disease and BC5CDR, MISC/other dropped."""

    VERSION = datasets.Version(__version__)
    BUILDER_CONFIG_CLASS = BenchmarkConfig
    BUILDER_CONFIGS = [BenchmarkConfig(name=name, version=datasets.Version(__version__))
                       for name in BENCHMARKS]
    DEFAULT_CONFIG_NAME = "conll2003"

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(features=ner_features(BENCHMARKS[self.config.name].labels))

    def _split_generators(self, dl_manager):
        return [datasets.SplitGenerator(name=split, gen_kwargs={"split": split})
                for split in SPLITS]

    def _generate_examples(self, split: str):
        yield from enumerate(load_benchmark(self.config.name, split, self.config.data_dir))
