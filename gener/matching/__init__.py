"""Dictionary matching (paper §3.3): retrieved spans, abbreviations, dictionary matches.

Two entry points:

* :func:`match` takes retrievals whose phrases are already normalized (rules 1-7) and whose
  ``abbreviations`` are already filled in (rule 8); it builds the pseudo-dictionary and
  annotates every sentence, refining spans with ``miner`` phrases when given (rule 10).
* :func:`annotate` runs the whole stage: normalization, abbreviation detection (scispacy),
  phrase mining, then :func:`match`.

Per sentence, in this order: (1) its retrieved phrases are tagged with its subquestion's
label; (2) with rule 8, abbreviations whose long form is one of its retrieved phrases are
tagged where they occur; (3) dictionary matching, left to right, takes at each token the
longest dictionary entry (compared lowercased over the paper's tokens) that neither starts on
nor extends into a tagged token; with rule 9 a single lowercase token is never matched;
(4) with rule 10, a span strictly inside a mined phrase occurrence is extended to it when that
touches no other span; (5) with rule 11, a span of several words starts at the lowercase words
coordinated before it ("breast and ovarian cancer") when each of them with the span's other
words is a key written in some sentence (rule 11 also made those keys: :func:`shared_head_keys`).
Multi-label entries get a label per occurrence drawn in proportion to their counts (or the
most frequent label, ties by label order, with ``deterministic=True``).
The draw for the k-th multi-label match (k = 0, 1, ...) of the sentence with record id i is
``u = int.from_bytes(blake2b(b"%d %d %d" % (seed, i, k), digest_size=8).digest(), "big")
>> 11`` scaled to [0, 1), so it depends only on (seed, i, k): output is identical however
the sentences are split between worker processes.

Records are produced as JSON lines; with ``workers`` > 1 (by default on machines with 2+ CPUs
and inputs of 4,000+ sentences, where ``os.fork`` exists) chunks of sentences are matched in
forked processes.

The package: :mod:`~gener.matching.dictionary` builds the pseudo-dictionary,
:mod:`~gener.matching.engine` matches chunks of sentences (with the span rules of
:mod:`~gener.matching.rules`), :mod:`~gener.matching.records` holds the output and
:mod:`~gener.matching.parallel` the forked processes.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

from gener.casing import CaseProfile
from gener.errors import GenerError
from gener.matching.dictionary import fix_labels, pseudo_dictionary
from gener.matching.engine import Matcher, merged_stats
from gener.matching.parallel import annotate_halves, run_chunks, worker_count
from gener.matching.records import SOURCES, MatchResult, Records, to_dataset, write_jsonl
from gener.matching.rules import rule9_test, shared_head_keys, written_keys
from gener.matching.tokens import tokenize_many
from gener.text import tokenize

# Raised whenever the same inputs are matched differently, so that stage records of an
# earlier version are redone rather than resumed.
MATCHING_VERSION = 2

__all__ = ["SOURCES", "MatchResult", "Records", "annotate", "annotate_folder", "match",
           "rule9_test", "shared_head_keys", "to_dataset", "tokenize_many", "write_jsonl"]


def match(retrievals, labels: list[str], seed: int = 0, deterministic: bool = False,
          progress: bool = True, miner=None, workers: int | None = None,
          normalize: bool = False, phrase_labels: dict[str, str] | None = None,
          common_words: frozenset[str] | None = None,
          abbreviation_entries: frozenset[str] | None = None,
          retrieved_rule9: str = "off", capitals_only: frozenset[str] = frozenset(),
          rule9_by_position: bool = False, retrieved_tokens: str = "aligned") -> MatchResult:
    """Annotate retrievals (see the module docstring).

    The phrases must already be normalized (rules 1-7), unless ``normalize`` is true: then
    the phrases are taken as :func:`gener.normalize.normalize_retrieval` would make them.
    ``miner`` is a set of mined phrase keys (:func:`gener.phrase_mining.mine_phrases`) used
    for subquestions with rule 10. Sentences are not de-duplicated across subquestions.
    ``workers``: processes to split the sentences between (None: automatic); the output does
    not depend on it. ``phrase_labels`` maps phrase keys to the one label they get wherever
    they are tagged (retrieved or matched; :mod:`gener.phrase_labels`); their dictionary
    entry holds all their retrievals under that label. With ``common_words``, rule 9 skips
    only the single lowercase tokens in that set (:mod:`gener.common_words`). With
    ``abbreviation_entries`` (a set of excluded words), each rule-8 abbreviation of a
    retrieved phrase is also a dictionary entry (with its long form's label), so it is
    matched in every sentence, not only where it was defined, unless it has one character
    or the evidence mostly writes it in documents without its long form (another sense);
    an excluded word (common words: "AS" for Angelman syndrome) is an entry only when
    defined in capitals, and matches only where written in capitals, never "as" or "As".
    ``retrieved_rule9`` ("all" or "common"): rule 9 also skips the retrieved phrases that
    are single lowercase tokens (all of them, or the common words), where they were retrieved;
    "off": retrieved phrases are tagged whatever their case. ``capitals_only``: keys matched
    only where written in capitals, besides the abbreviation entries that are excluded words.
    ``rule9_by_position``: rule 9 also skips a single word capitalised only by its position
    (first in its sentence or after ``.:;-("'``: "Treatment of ...", "CONCLUSION : ...") when
    the sentences usually write it lowercase (:class:`gener.casing.CaseProfile`) and rule 9
    would skip it lowercase. ``retrieved_tokens``: a retrieved phrase that starts or ends
    inside a token is not tagged ("aligned"), or the tokens it touches are, in the phrases'
    order, each phrase over the ones before ("covering", as GeNER's annotate.py).
    """
    enabled = gc.isenabled()
    gc.disable()  # millions of small acyclic objects: collections would only cost time
    try:
        dictionary, groups, shared = pseudo_dictionary(retrievals, labels, normalize,
                                                       abbreviation_entries, phrase_labels)
        dictionary.capitals_only |= set(capitals_only) & dictionary.counts.keys()
        if not dictionary.counts:
            raise GenerError("empty pseudo-dictionary: no retrieved phrase survived "
                             "normalization")
        key_labels = fix_labels(dictionary, phrase_labels or {})
        lowercase_words = frozenset()
        if rule9_by_position and any(r.subquestion.has_rule(9) for r in retrievals):
            profile = CaseProfile(s.sentence for r in retrievals for s in r.sentences)
            lowercase_words = frozenset(
                key for key in dictionary.counts
                if " " not in key and profile.lower[key] > profile.capitalised[key])
        matcher = Matcher(dictionary, seed, deterministic, miner, key_labels, common_words,
                          retrieved_rule9, lowercase_words, retrieved_tokens)
        if any(r.subquestion.has_rule(11) for r in retrievals):
            matcher.composite_keys = frozenset(dictionary.counts.keys() - shared) | written_keys(
                shared, (s.sentence for r in retrievals for s in r.sentences))
        items = [(group, sent) for group, r in zip(groups, retrievals, strict=True)
                 for sent in r.sentences]
        n = worker_count(workers, len(items))
        bounds = [len(items) * k // n for k in range(n + 1)]
        parts = run_chunks(matcher, items, bounds, progress)
    finally:
        if enabled:
            gc.enable()
    stats = merged_stats(dictionary, [part for _, part in parts])
    return MatchResult(Records([text for texts, _ in parts for text in texts]), dictionary,
                       stats)


def annotate(retrievals, labels: list[str], seed: int = 0, deterministic: bool = False,
             progress: bool = True, detect_abbreviations: bool = True,
             workers: int | None = None, phrase_labels: dict[str, str] | None = None,
             common_words: frozenset[str] | None = None,
             abbreviation_entries: frozenset[str] | None = None,
             retrieved_rule9: str = "off", rule9_by_position: bool = False,
             normalize: bool = True, retrieved_tokens: str = "aligned") -> MatchResult:
    """The whole stage: rules 1-7 (unless ``normalize`` is false: phrases taken as they
    are), rule 8 (scispacy, when ``detect_abbreviations``; retrieved short forms of
    non-answers are then dropped, see
    :func:`gener.abbreviations.drop_short_forms_of_non_answers`), rule 10 (phrase mining over
    all evidence sentences), then :func:`match`.

    With ``detect_abbreviations=False`` the ``abbreviations`` already in the retrievals are used.
    ``phrase_labels``, ``common_words``, ``abbreviation_entries``, ``retrieved_rule9`` and
    ``rule9_by_position``: see :func:`match`.
    """
    if detect_abbreviations and any(r.subquestion.has_rule(8) for r in retrievals):
        from gener.abbreviations import add_abbreviations, drop_short_forms_of_non_answers
        from gener.normalize import normalize_retrieval

        if normalize:
            retrievals = [normalize_retrieval(r) for r in retrievals]
        retrievals = drop_short_forms_of_non_answers([
            add_abbreviations(r) if r.subquestion.has_rule(8) else r for r in retrievals])
        normalize = False  # done; otherwise match() normalizes without building copies
    miner = None
    if any(r.subquestion.has_rule(10) for r in retrievals):
        from gener.phrase_mining import mine_phrases

        miner = mine_phrases(tokenize(s.sentence) for r in retrievals for s in r.sentences)
    return match(retrievals, labels, seed, deterministic, progress, miner=miner,
                 workers=workers, normalize=normalize, phrase_labels=phrase_labels,
                 common_words=common_words, abbreviation_entries=abbreviation_entries,
                 retrieved_rule9=retrieved_rule9, rule9_by_position=rule9_by_position,
                 retrieved_tokens=retrieved_tokens)


def annotate_folder(folder, subquestions, labels: list[str], seed: int = 0,
                    deterministic: bool = False, progress: bool = True,
                    detect_abbreviations: bool = False, workers: int | None = None,
                    jsonl: str | Path | None = None,
                    dictionary_json: str | Path | None = None, normalize: bool = True,
                    retrieved_tokens: str = "aligned", **options) -> MatchResult:
    """:func:`annotate` of :func:`gener.interop.read_gener_retrieval` ``(folder,
    subquestions)``, the same result, with the reading split between two processes.

    The parent takes the first ``parallel.PARENT_SHARE`` of the sentences (in input order),
    a forked child the rest; each parses its lines and counts (and normalizes) their phrases;
    the sides swap their counts and each adds both to its dictionary in input order (the
    same dictionary); each matches its own sentences. With ``jsonl`` (a path) the records are also
    written there as JSON lines, each side writing its own lines into the file, and the
    result's ``records`` read that file when used; without it the child sends its lines to
    the parent. With ``dictionary_json`` (a path) the dictionary is saved there (by the
    child, while the parent matches). Whenever this cannot be done (one worker, abbreviation
    detection, phrase mining or rule 11, which look at every sentence, an error in either
    process) the plain sequential path runs instead. ``normalize``, ``retrieved_tokens``
    and ``options`` (the other keyword arguments of :func:`annotate`): as there; any option
    means the sequential path.
    """
    from gener.interop import numbered_lines, read_gener_retrieval, retrieval_file

    def sequential() -> MatchResult:
        result = annotate(read_gener_retrieval(folder, subquestions), labels, seed,
                          deterministic, progress, detect_abbreviations, workers,
                          normalize=normalize, retrieved_tokens=retrieved_tokens, **options)
        if jsonl is not None:
            write_jsonl(result.records, jsonl)
        if dictionary_json is not None:
            result.dictionary.save(dictionary_json)
        return result

    folder = Path(folder)
    if options or not hasattr(os, "fork") or any(sq.has_rule(10) or sq.has_rule(11)
                                      for sq in subquestions) or (
            detect_abbreviations and any(sq.has_rule(8) for sq in subquestions)) \
            or not folder.is_dir():
        return sequential()
    try:
        files = [retrieval_file(folder, sq.type) for sq in subquestions]
        numbered = [numbered_lines(path) for path in files]
    except GenerError:
        return sequential()
    total = sum(map(len, numbered))
    if worker_count(workers, total) < 2:
        return sequential()
    enabled = gc.isenabled()
    gc.disable()
    try:
        return annotate_halves(files, numbered, subquestions, labels, seed, deterministic,
                               progress, None if jsonl is None else Path(jsonl),
                               dictionary_json, normalize, retrieved_tokens) or sequential()
    finally:
        if enabled:
            gc.enable()
