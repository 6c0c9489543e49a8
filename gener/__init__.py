"""gener: generate NER datasets and models from simple questions (GeNER)."""

__version__ = "0.1.0"
