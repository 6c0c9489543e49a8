"""The token-classification pipeline that a gener model ships with (``gener_pipeline.py``).

``gener train`` copies this file into the model folder and names it in the config's
``custom_pipelines``, so ``pipeline(model=PATH_OR_ID, trust_remote_code=True,
aggregation_strategy="first")`` runs it: transformers' own pipeline, then the rules on
predictions stored in the config. For the entity types in ``gener_capitalized_types`` an
entity needs a capital letter (an uncased model cannot see case); for those in
``gener_rule9_types`` a one-word entity must not be a lowercase common word (a whole word of
the model's vocabulary). It imports nothing from gener, so it runs wherever the model is
loaded; ``trainers.inference.Tagger`` applies the same rules through :func:`apply_rules`.
"""

from transformers import TokenClassificationPipeline
from transformers.pipelines.token_classification import AggregationStrategy

CAPITALIZED_KEY = "gener_capitalized_types"
RULE9_KEY = "gener_rule9_types"


def common_words(vocabulary) -> frozenset:
    """The whole lowercase words of a WordPiece vocabulary ("cancer", not "##cer")."""
    return frozenset(piece for piece in vocabulary if piece.isalpha() and piece.islower())


def entity_spans(tags: list) -> list:
    """(type, first, end) of each entity in BIO tags, grouped as the pipeline groups words:
    ``trainers.inference.bio_spans``, written again because this file ships alone (a test
    keeps the two equal)."""
    spans, current = [], None
    for i, tag in enumerate(list(tags) + ["O"]):
        kind = tag[2:] if tag[:2] in ("B-", "I-") else None
        if current and (kind != current[0] or tag.startswith("B-")):
            spans.append((current[0], current[1], i))
            current = None
        if kind and current is None:
            current = (kind, i)
    return spans


def apply_rules(words: list, tags: list, capitalized, rule9, common) -> list:
    """``tags`` of ``words`` with the entities that break a rule turned into O."""
    kept = list(tags)
    for kind, first, end in entity_spans(tags):
        lowercase = not any(c.isupper() for word in words[first:end] for c in word)
        if (kind in capitalized and lowercase) or \
                (kind in rule9 and end - first == 1 and words[first] in common):
            kept[first:end] = ["O"] * (end - first)
    return kept


class GenerTokenClassificationPipeline(TokenClassificationPipeline):
    """transformers' token-classification pipeline with the model's rules on predictions
    (applied to words, so with the "first", "max" and "average" aggregations)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        config = self.model.config
        self._capitalized = set(getattr(config, CAPITALIZED_KEY, None) or ())
        self._rule9 = set(getattr(config, RULE9_KEY, None) or ())
        self._common = common_words(self.tokenizer.get_vocab())
        self._text = ""

    def postprocess(self, all_outputs, aggregation_strategy=AggregationStrategy.NONE,
                    ignore_labels=None):
        self._text = all_outputs[0]["sentence"]
        return super().postprocess(all_outputs, aggregation_strategy, ignore_labels)

    def aggregate(self, pre_entities, aggregation_strategy):
        if aggregation_strategy in (AggregationStrategy.NONE, AggregationStrategy.SIMPLE):
            return super().aggregate(pre_entities, aggregation_strategy)
        words = self.aggregate_words(pre_entities, aggregation_strategy)
        text = [self._text[w["start"]:w["end"]] for w in words]
        tags = apply_rules(text, [w["entity"] for w in words], self._capitalized, self._rule9,
                           self._common)
        for word, tag in zip(words, tags, strict=True):
            word["entity"] = tag
        return self.group_entities(words)
