"""``datasets`` builders: GeNER-generated configs and the evaluation benchmarks.

``datasets`` 5 no longer runs loading scripts, so these builders are used as classes::

    from builders import GenerBuilder
    builder = GenerBuilder(config_name="ncbi_disease", k=200)
    builder.download_and_prepare()
    train = builder.as_dataset("train")
"""

from builders.benchmark_builder import BenchmarkBuilder, BenchmarkConfig
from builders.gener_builder import GenerBuilder, GenerConfig

__all__ = ["BenchmarkBuilder", "BenchmarkConfig", "GenerBuilder", "GenerConfig"]
