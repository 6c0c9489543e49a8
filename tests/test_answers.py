"""Answer confidence: the threshold, the per-label report, and a corpus without answers."""

import json

import datasets
import numpy as np
from huggingface_hub import DatasetCard

from gener import answers as ga
from gener.cli import main

DOCS = [
    "Tuberculosis is an infectious disease caused by bacteria. It mostly affects the lungs.",
    "Malaria is a mosquito-borne disease that affects humans. Malaria causes fever.",
    "Asthma is a common long-term disease of the airways. Asthma is not contagious.",
    "France is a country in Western Europe. Its capital is Paris.",
    "Chess is a board game for two players. Bread is a staple food.",
]


def test_confidence_is_the_logistic_model_of_the_features():
    rows = np.zeros((2, len(ga.FEATURES)))
    rows[1, ga.FEATURES.index("category")] = 1.0
    p = ga.confidence(rows)
    assert np.isclose(p[0], 1 / (1 + np.exp(-ga.BIAS)))
    assert p[1] > p[0]  # a category phrase like the question's raises it (positive weight)


def test_rank_past_answers_follows_the_breadth_of_the_type():
    ranks = np.arange(1, 401)
    broad = np.where(ranks <= 200, 1.0, 0.2)  # 200 candidates with the type as category word
    narrow = np.where(ranks <= 5, 1.0, 0.2)
    assert not ga.rank_past_answers(ranks, broad, 10)[:200].any()
    past = ga.rank_past_answers(ranks, narrow, 10)
    assert not past[:5].any()
    assert np.isclose(past[99], np.log(100 / 6))
    # Multi-word types: closeness is relative to the head's best, here 0.7.
    assert not ga.rank_past_answers(ranks, 0.7 * broad, 10)[:200].any()


def test_label_report_counts_kept_answers_and_flags_few():
    answers = [ga.Answer("Nile", "RIVER", 3.0, 1, 0.9, occurrences=3),
               ga.Answer("nile", "RIVER", 2.0, 2, 0.95, occurrences=1),  # a case variant
               ga.Answer("Danube", "RIVER", 2.5, 3, 0.6, occurrences=1),
               ga.Answer("north", "RIVER", 2.0, 4, 0.2, occurrences=50)]
    report = ga.label_report(answers, ["RIVER", "LAKE"], 0.5, {"RIVER": 7}, {"RIVER": 5})
    river = report["RIVER"]
    assert river["answers"] == 2 and river["mentions"] == 7 and river["sentences"] == 5
    expected = (float(ga.estimated(0.95)) + float(ga.estimated(0.6))) / 2
    assert river["estimated_precision"] == round(expected, 4)
    assert river["few_answers"] and report["LAKE"] == {
        "answers": 0, "estimated_precision": None, "mentions": 0, "sentences": 0,
        "few_answers": True, "ranking_only": False}
    assert river["ranking_only"]  # no candidate names a document
    lines = ga.report_lines(report)
    assert len(lines) == 2 and lines[0].startswith("RIVER: only 2 answers verified")
    assert "judged by their ranking alone" in lines[0]
    assert lines[1].startswith("LAKE: only 0 answers found in this corpus")
    answers[0].features = {"titled": 1.0}  # the Nile names a document
    lines = ga.report_lines(ga.label_report(answers, ["RIVER"], 0.5, {}, {}))
    assert lines[0].startswith("RIVER: only 2 answers found in this corpus")
    assert ga.label_report(answers, ["RIVER"], 0.1, {}, {})["RIVER"]["answers"] == 3


def test_estimates_scale_confidences_monotonically():
    confidences = np.array([0.1, 0.5, 0.6, 0.95])
    estimates = ga.estimated(confidences)
    assert np.all(np.diff(estimates) > 0) and np.all((estimates > 0) & (estimates < 1))
    assert np.allclose(ga.estimated(confidences, (1.0, 0.0)), confidences)  # identity scale
    assert estimates[1] > 0.5  # kept answers are scaled up: confidences are low there


def test_a_corpus_without_confident_answers_is_one_line_and_a_threshold_keeps_some(
        tmp_path, capsys):
    corpus = tmp_path / "docs.txt"
    corpus.write_text("\n".join(DOCS) + "\n", encoding="utf-8")
    argv = ["build", "--question", "Which disease?", "--corpus", str(corpus),
            "--cache-dir", str(tmp_path / "cache")]
    assert main([*argv, "--out", str(tmp_path / "none")]) == 1
    message = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bars
    # A text file's documents have no titles: nothing could be verified, and it says so.
    assert message.startswith("gener build: error: recipe which_disease: no answer reached "
                              "confidence 0.5: no candidate names a document of this corpus")
    assert "--policy paper" in message
    assert not list((tmp_path / "none").glob("*/train-*.parquet"))

    out = tmp_path / "some"
    assert main([*argv, "--out", str(out), "--set", "min_confidence=0.001"]) == 0
    printed = capsys.readouterr().out
    assert "DISEASE: " in printed and "answers kept, estimated precision" in printed
    candidates = [json.loads(line) for line in
                  (out / ".gener-work/which_disease/retrieval/00_disease.answers.jsonl")
                  .read_text().splitlines()]
    assert candidates and all(0 <= c["confidence"] <= 1 for c in candidates)
    assert set(candidates[0]["features"]) == set(ga.FEATURES)
    manifest = json.loads((out / "which_disease/gener.json").read_text())
    report = manifest["labels_report"]["DISEASE"]
    kept = {c["name"].casefold().replace(" ", "") for c in candidates
            if c["confidence"] >= 0.001}
    assert report["answers"] == len(kept) and report["few_answers"] == (len(kept) < 20)
    assert report["ranking_only"]  # no candidate names a document
    train = datasets.load_dataset(str(out), "which_disease", split="train")
    names = train.features["ner_tags"].feature.names
    labelled = {"".join(row["tokens"][s["start"]:s["end"]]).casefold()
                for row in train for s in row["spans"]}
    assert labelled and labelled <= kept and "B-DISEASE" in names
    assert f"| DISEASE | {len(kept)} |" in DatasetCard.load(out / "README.md").text


def test_the_reason_nothing_was_kept():
    titled = ga.Answer("Nile", "RIVER", 3.0, 1, 0.2, features={"titled": 1.0})
    untitled = ga.Answer("north", "RIVER", 2.0, 2, 0.1, features={"titled": 0.0})
    assert ga.nothing_kept([titled, untitled], 0.5) == (
        "no answer reached confidence 0.5 in this corpus")
    assert "no candidate names a document" in ga.nothing_kept([untitled], 0.5)


def test_ask_shows_the_confidence_a_build_gives(tmp_path, capsys):
    corpus = tmp_path / "docs.txt"
    corpus.write_text("\n".join(DOCS) + "\n", encoding="utf-8")
    assert main(["ask", "Which disease?", "--corpus", str(corpus), "--cache-dir",
                 str(tmp_path / "cache"), "--json", "--top-k", "3"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and all(0 <= row["confidence"] <= 1 for row in rows)


def test_thin_labels_are_named_for_training_and_the_model_card():
    from trainers.model_card import thin_labels

    manifest = {"labels_report": {
        "LOC": {"answers": 85, "few_answers": False},
        "Disease": {"answers": 17, "few_answers": True}}}
    assert thin_labels(manifest) == "Disease (17 answers)"
    assert thin_labels({}) == ""


def test_evidence_pattern_finds_what_an_alternation_of_the_texts_finds():
    import random
    import re

    def alternation(texts, flags):  # the plain form: every text, longest first
        body = "|".join(re.escape(t) for t in sorted(texts, key=lambda t: (-len(t), t)))
        return re.compile(rf"(?<!\w)(?:{body})(?!\w)", flags)

    rng = random.Random(0)
    alphabet = "abAB -.&'İiſsµμ"
    for _ in range(300):
        texts = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))).strip() or "a"
                 for _ in range(rng.randint(1, 8))}
        text = "".join(rng.choice(alphabet + "c\0") for _ in range(60))
        for flags in (0, re.IGNORECASE):
            ours = [m.span() for m in ga._pattern(texts, flags).finditer(text)]
            assert ours == [m.span() for m in alternation(texts, flags).finditer(text)]
    long = {"a" * 1000, " ".join("a" * 300), "a"}  # past the trie's length: an alternation
    text = f"{'a' * 1000} {' '.join('a' * 300)} a"
    assert [m.span() for m in ga._pattern(long, 0).finditer(text)] == [(0, 1000), (1001, 1600),
                                                                        (1601, 1602)]


def test_evidence_finds_each_sentence_of_kept_answers_best_first_and_skips_a_nul():
    from types import SimpleNamespace

    sentences = [SimpleNamespace(text=t, id=str(i)) for i, t in enumerate(
        ["Malaria is common.", "The Nile and malaria.", "Nothing.", "x\0y"])]
    profile = SimpleNamespace(usually_lowercase=lambda name: name == "Malaria")
    searcher = SimpleNamespace(case_profile=profile, index=SimpleNamespace(sentences=sentences))
    kept = [ga.Answer("Nile", "X", 2.0, 1), ga.Answer("Malaria", "X", 1.0, 2),
            ga.Answer("x\0y", "X", 3.0, 3)]
    found = ga.evidence(searcher, kept, 10)
    assert [s.sentence for s in found] == ["The Nile and malaria.", "Malaria is common."]
    assert [(p.name, p.start, p.end) for p in found[0].phrases] == [("Nile", 4, 8),
                                                                     ("malaria", 13, 20)]


def test_evidence_spans_are_found_per_sentence_across_scan_chunks(monkeypatch):
    import re
    from types import SimpleNamespace

    sentences = [SimpleNamespace(text=t) for t in
                 ["Malaria and malaria.", "", "No answer here.", "Nile", "the Nile, malaria"]]
    patterns = [ga._pattern({"Nile"}, 0), ga._pattern({"malaria"}, re.IGNORECASE)]
    expected = [(0, [(0, 7), (12, 19)]), (3, [(0, 4)]), (4, [(4, 8), (10, 17)])]
    for chunk in (1, 2, 4096):
        monkeypatch.setattr(ga, "SCAN_CHUNK", chunk)
        assert list(ga._spans_by_sentence(sentences, patterns)) == expected
