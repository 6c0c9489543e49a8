"""Shared test settings: offline Hub, and the benchmarks folder when present."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BENCHMARKS = Path(os.environ.get("GENER_BENCHMARKS",
                                 Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture
def benchmarks_dir() -> Path:
    """The shared benchmarks folder; tests using it skip when it is absent."""
    if not (BENCHMARKS / "ncbi_disease").is_dir():
        pytest.skip(f"benchmarks folder {BENCHMARKS} not present")
    return BENCHMARKS
