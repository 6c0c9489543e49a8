"""Entity-level precision, recall and F1 for sequence labelling, as an offline `evaluate` module.

Load it with ``evaluate.load(path_to_this_file_or_its_folder)``; it needs only the ``seqeval``
package, never the Hub.
"""

import warnings

import datasets
import evaluate
from seqeval.metrics import accuracy_score, classification_report
from seqeval.scheme import BILOU, IOB1, IOB2, IOBES, IOE1, IOE2

_DESCRIPTION = """Chunk-level (entity-level) P/R/F1 over IOB-style tag sequences, computed with
the seqeval package, overall and per entity type."""

_CITATION = """@misc{seqeval,
  title={{seqeval}: A Python framework for sequence labeling evaluation},
  author={Hiroki Nakayama}, year={2018}, url={https://github.com/chakki-works/seqeval}
}"""

_INPUTS = """
Args:
    predictions: list of predicted tag sequences, e.g. [["O", "B-PER", "I-PER"]].
    references: list of gold tag sequences of the same lengths.
    scheme: None (default, seqeval's lenient conlleval-style chunking) or one of
        "IOB1", "IOB2", "IOE1", "IOE2", "IOBES", "BILOU" for strict mode.
    zero_division: value for undefined ratios (0 by default).
Returns:
    {"overall_precision", "overall_recall", "overall_f1", "overall_accuracy",
     TYPE: {"precision", "recall", "f1", "number"}, ...}
"""

_SCHEMES = {s.__name__: s for s in (IOB1, IOB2, IOE1, IOE2, IOBES, BILOU)}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class SeqevalLocal(evaluate.Metric):
    """seqeval wrapped as an `evaluate.Metric`."""

    def _info(self):
        tags = datasets.Sequence(datasets.Value("string", id="label"), id="sequence")
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_INPUTS,
            homepage="https://github.com/chakki-works/seqeval",
            features=datasets.Features({"predictions": tags, "references": tags}),
        )

    def _compute(self, predictions, references, scheme=None, zero_division=0):
        for i, (pred, ref) in enumerate(zip(predictions, references, strict=True)):
            if len(pred) != len(ref):
                raise ValueError(f"sequence {i}: {len(pred)} predicted tags, {len(ref)} gold tags")
        strict = scheme is not None
        if strict and scheme not in _SCHEMES:
            raise ValueError(f"unknown scheme {scheme!r} (known: {', '.join(_SCHEMES)})")
        with warnings.catch_warnings():  # numpy warns on the averages of an empty report
            warnings.simplefilter("ignore", RuntimeWarning)
            report = classification_report(
                y_true=references, y_pred=predictions, output_dict=True,
                zero_division=zero_division, mode="strict" if strict else None,
                scheme=_SCHEMES.get(scheme))
        micro = report.pop("micro avg")
        for key in ("macro avg", "weighted avg"):
            report.pop(key, None)
        scores = {name: {"precision": float(r["precision"]), "recall": float(r["recall"]),
                         "f1": float(r["f1-score"]), "number": int(r["support"])}
                  for name, r in report.items()}
        scores["overall_precision"] = float(micro["precision"])
        scores["overall_recall"] = float(micro["recall"])
        scores["overall_f1"] = float(micro["f1-score"])
        scores["overall_accuracy"] = float(accuracy_score(y_true=references, y_pred=predictions))
        return scores
