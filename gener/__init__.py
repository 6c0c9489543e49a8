"""gener: generate NER datasets and models from simple questions (GeNER).

    import gener
    result = gener.build("Which river?", out="artifacts/datasets")
    model = gener.train(result.dataset_dir, result.config, out="artifacts/river-model")
    gener.Tagger(model.model_dir).tag("The Danube flows into the Black Sea.")

Names are imported on first use, so ``import gener`` stays cheap.
"""

from importlib import import_module

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "ask": "gener.api",
    "build": "gener.api",
    "train": "gener.api",
    "evaluate": "gener.api",
    "LabellingPolicy": "gener.policy",
    "Recipe": "gener.recipes",
    "load_recipe": "gener.recipes",
    "recipe_from_question": "gener.recipes",
    "recipe_from_types": "gener.recipes",
    "open_corpus": "gener.corpus",
    "load_benchmark": "gener.benchmarks",
    "Tagger": "trainers.inference",
    "GenerError": "gener.errors",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gener' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
