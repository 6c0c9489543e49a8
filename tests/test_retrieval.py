"""Retrieval: candidates, the cached phrase index, retrieve(), `gener ask` and `gener index`."""

import json
import os
import shutil

import numpy as np
import pytest

from gener.cli import main
from gener.corpus import JsonlCorpus, TextCorpus
from gener.errors import GenerError
from gener.recipes import parse_recipe
from gener.retrieval.candidates import extract_candidates
from gener.retrieval.encoders import load_encoder
from gener.retrieval.index import defines_class, open_index
from gener.retrieval.index_format import IndexSettings, index_dir
from gener.retrieval.search import (
    CATEGORY_WEIGHT,
    Searcher,
    check_question,
    retrieve,
    retrieve_with,
)

DOCS = [
    "Tuberculosis is an infectious disease caused by bacteria. It mostly affects the lungs.",
    "Malaria is a mosquito-borne disease that affects humans. Symptoms include fever.",
    "Asthma is a common long-term disease of the airways. Wheezing is typical.",
    "Influenza is a contagious illness caused by a virus. It spreads in winter.",
    "Alzheimer's disease is a neurodegenerative disease that gets worse over time.",
    "France is a country in Western Europe. Its capital is Paris.",
    "Germany is a country in Central Europe. Berlin is the largest city of Germany.",
    "Japan is an island country in East Asia. Tokyo is the capital city of Japan.",
    "Brazil is the largest country in South America. Its largest city is Sao Paulo.",
    "The violin is a string instrument. It has four strings.",
    "Chess is a board game for two players. The game is played on a square board.",
    "Bread is a staple food prepared from a dough of flour and water.",
    "The Pacific Ocean is the largest ocean on Earth.",
    "Photosynthesis is a process used by plants to convert light into energy.",
]
DISEASE = {"Tuberculosis", "Malaria", "Asthma", "Influenza", "Alzheimer's disease"}


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "tiny.txt"
    path.write_text("\n".join(DOCS) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def minilm():
    return load_encoder("minilm")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def recipe(k=3):
    return parse_recipe({"name": "tiny", "subquestions": [
        {"label": "Disease", "type": "disease", "k": k, "rules": [4]},
        {"label": "LOC", "type": "country", "k": k, "rules": [1, 3, 4]}]})


def test_candidates_have_offsets_and_expected_phrases():
    texts = ["Tuberculosis is an infectious disease caused by Mycobacterium tuberculosis.",
             "The Bank of England is the central bank of the United Kingdom.",
             "The German government met Christian Bale in Germany."]
    found = [[t[s:e] for s, e, _ in spans] for t, spans in zip(texts, extract_candidates(texts),
                                                             strict=True)]
    assert {"Tuberculosis", "infectious disease", "disease"} <= set(found[0])
    assert {"Bank of England", "central bank", "United Kingdom"} <= set(found[1])
    assert "The Bank of England" not in found[1]
    # a lone capitalised adjective describes rather than names
    assert {"Christian Bale", "Germany"} <= set(found[2]) and "German" not in found[2]


def test_retrieve_returns_k_unique_sentences_with_offsets(corpus_file, minilm, cache):
    corpus = TextCorpus(corpus_file)
    results = retrieve(recipe(), corpus, encoder=minilm, cache_dir=cache, progress=False)
    assert [r.subquestion.type for r in results] == ["disease", "country"]
    for result in results:
        ids = [s.sentence_id for s in result.sentences]
        assert len(ids) == 3 and len(set(ids)) == 3
        scores = [s.score for s in result.sentences]
        assert scores == sorted(scores, reverse=True)
        for sentence in result.sentences:
            assert sentence.phrases
            for phrase in sentence.phrases:
                assert sentence.sentence[phrase.start:phrase.end] == phrase.name
    disease_names = {p.name for s in results[0].sentences for p in s.phrases}
    assert disease_names & DISEASE
    country_names = {p.name for s in results[1].sentences for p in s.phrases}
    assert country_names & {"France", "Germany", "Japan", "Brazil"}
    # the bare type word never takes an evidence slot
    assert "disease" not in disease_names and "country" not in country_names


def test_phrase_similarities_are_question_phrase_cosines(corpus_file, minilm, cache):
    index = open_index(TextCorpus(corpus_file), minilm, cache, progress=False)
    searcher = Searcher(index, minilm)
    texts = ["Tuberculosis", "France", "a phrase not in the corpus"]
    assert "Tuberculosis" in index.phrase_texts and texts[2] not in index.phrase_texts
    sims = searcher.phrase_similarities(["Which disease?", "Which country?"], texts)
    expected = (minilm.encode_texts(texts)
                @ minilm.encode_questions(["Which disease?", "Which country?"]).T)
    assert sims.shape == (3, 2) and np.allclose(sims, expected, atol=0.02)
    assert sims[0, 0] > sims[0, 1] and sims[1, 1] > sims[1, 0]


def test_index_is_reused_then_rebuilt_when_corpus_changes(tmp_path, minilm):
    path = tmp_path / "c.txt"
    path.write_text("\n".join(DOCS[:6]) + "\n", encoding="utf-8")
    cache = tmp_path / "cache"
    first = open_index(TextCorpus(path), minilm, cache, progress=False)
    manifest = first.path / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    again = open_index(TextCorpus(path), minilm, cache, progress=False)
    assert manifest.stat().st_mtime_ns == stamp and again.manifest == first.manifest
    path.write_text("\n".join(DOCS[:7]) + "\n", encoding="utf-8")
    rebuilt = open_index(TextCorpus(path), minilm, cache, progress=False)
    assert rebuilt.manifest["fingerprint"] != first.manifest["fingerprint"]
    assert rebuilt.manifest["counts"]["sentences"] == len(rebuilt.sentences) > len(first.sentences)
    assert not [p for p in rebuilt.path.parent.iterdir() if p != rebuilt.path]  # no tmp left


def test_corrupt_index_is_a_clear_error(tmp_path, corpus_file, minilm):
    corpus = TextCorpus(corpus_file)
    index = open_index(corpus, minilm, tmp_path, progress=False)
    (index.path / "phrases.faiss").write_bytes(b"garbage")
    with pytest.raises(GenerError, match="corrupt phrase index"):
        open_index(corpus, minilm, tmp_path, progress=False)
    (index.path / "manifest.json").write_text("{not json")
    with pytest.raises(GenerError, match="corrupt phrase index.*manifest"):
        open_index(corpus, minilm, tmp_path, progress=False)
    shutil.rmtree(index.path)
    os.makedirs(index.path)
    with pytest.raises(GenerError, match="no manifest"):
        open_index(corpus, minilm, tmp_path, progress=False)


def test_ivfpq_option_and_unknown_index_type(tmp_path, corpus_file, minilm):
    corpus = TextCorpus(corpus_file)
    settings = IndexSettings(index_type="ivfpq")
    assert index_dir(corpus, minilm, settings, tmp_path) != index_dir(corpus, minilm,
                                                                       IndexSettings(), tmp_path)
    with pytest.raises(GenerError, match="unknown index type"):
        open_index(corpus, minilm, tmp_path, IndexSettings(index_type="hnsw"), progress=False)


def test_ivfpq_index_is_chosen_for_larger_phrase_sets(minilm):
    """The layout only: training and filling an IVF-PQ index (minutes of FAISS k-means on
    2 cores) is tested once, by test_scale's IVF-PQ build of 14,000 phrases."""
    import faiss

    from gener.retrieval.faiss_store import describe_faiss, new_faiss_index, set_nprobe

    index = new_faiss_index(minilm.dim, 12_000, "ivfpq")
    assert describe_faiss(index) == "OPQ,IVF300,PQ48" and not index.is_trained
    set_nprobe(index, 7)
    assert faiss.extract_index_ivf(index).nprobe == 7
    assert describe_faiss(new_faiss_index(minilm.dim, 9_999, "ivfpq")) == "Flat"


@pytest.mark.parametrize("question,message", [
    ("", "empty question"), ("   \t", "empty question"), ("x" * 513, "longer than 512")])
def test_bad_questions(question, message):
    with pytest.raises(GenerError, match=message):
        check_question(question)


def test_unknown_encoder_is_a_clear_error(tmp_path):
    with pytest.raises(GenerError, match="unknown encoder 'no-such-encoder-xyz'"):
        load_encoder("no-such-encoder-xyz")
    with pytest.raises(GenerError, match="no such folder"):
        load_encoder(str(tmp_path / "missing" / "model"))
    with pytest.raises(GenerError, match="no config.json"):
        load_encoder(str(tmp_path))


def test_ask_json_best_first_and_errors(corpus_file, cache, capsys):
    assert main(["ask", "Which disease?", "--corpus", str(corpus_file), "--cache-dir",
                 str(cache), "--top-k", "5", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert 1 <= len(rows) <= 5
    assert {"phrase", "score", "sentence", "type"} <= set(rows[0])
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert len({r["phrase"] for r in rows}) == len(rows)
    assert {r["phrase"] for r in rows} & DISEASE
    assert main(["ask", "  ", "--corpus", str(corpus_file)]) == 1
    assert "empty question" in capsys.readouterr().err
    assert main(["ask", "Which disease?", "--corpus", str(corpus_file), "--encoder",
                 "no-such-encoder-xyz"]) == 1
    err = capsys.readouterr().err.strip()
    assert "unknown encoder" in err and len(err.splitlines()) == 1


def test_questions_are_encoded_with_numpy_as_the_model_would(tmp_path, minilm):
    from gener.retrieval.meanpool import MeanPoolEncoder, mean_pool_encode
    from tests.tiny_models import save_tiny_bert

    questions = ["Which disease?", "Which state in the USA?",
                 "Which chemical compound is toxic to the liver of rats and mice?"]
    tiny = MeanPoolEncoder("tiny", save_tiny_bert(tmp_path / "tiny"), "cpu")
    for encoder in (minilm, tiny):
        fast = encoder.encode_questions(questions)
        assert encoder._numpy is not None  # the NumPy path ran, not the model
        exact = mean_pool_encode(encoder.model, encoder.tokenizer, questions)  # fp32 torch
        assert fast.shape == exact.shape and fast.dtype == np.float32
        assert np.abs(fast - exact).max() < 1e-5


def test_looked_up_texts_are_encoded_with_numpy_in_batches_and_an_index_with_the_model(
        tmp_path, monkeypatch):
    from gener.retrieval import meanpool
    from tests.tiny_models import save_tiny_bert

    texts = ["Apple Inc", "Martin Luther King Jr", "river"]
    monkeypatch.setattr(meanpool, "LOOKUP_BATCH", 2)  # two batches, of unequal padding
    tiny = meanpool.MeanPoolEncoder("tiny", save_tiny_bert(tmp_path / "tiny"), "cpu")
    fast = tiny.encode_few(texts)
    assert tiny._model is None  # the model was not loaded
    exact = meanpool.mean_pool_encode(tiny.model, tiny.tokenizer, texts)  # fp32 torch
    assert fast.shape == exact.shape and np.abs(fast - exact).max() < 1e-5
    assert tiny.encode_few([]).shape == (0, tiny.dim)
    indexing = meanpool.MeanPoolEncoder("tiny", str(tmp_path / "tiny"), "cpu")
    indexing.encode_texts(texts[:1])  # an index's texts, however few, go through the model
    assert indexing._model is not None


def test_asking_a_built_index_needs_neither_torch_nor_transformers(corpus_file, cache):
    import sys

    from gener.retrieval.meanpool import GPU_DRIVER_NODES
    from tests.subprocess_cli import run_cli

    assert main(["index", "build", "--corpus", str(corpus_file), "--cache-dir", str(cache)]) == 0
    done, loaded = run_cli(["ask", "Which disease?", "--corpus", str(corpus_file), "--cache-dir",
                            str(cache), "--top-k", "3", "--json"], ("torch", "transformers"))
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 3 and {r["phrase"] for r in rows} & DISEASE
    if sys.platform == "linux" and not any(map(os.path.exists, GPU_DRIVER_NODES)):
        assert loaded == []


def test_index_info_command(corpus_file, cache, capsys):
    assert main(["index", "build", "--corpus", str(corpus_file), "--cache-dir", str(cache)]) == 0
    built = json.loads(capsys.readouterr().out)
    assert main(["index", "info", "--corpus", str(corpus_file), "--cache-dir", str(cache)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["fingerprint"] == built["fingerprint"] and info["counts"]["phrases"] > 0
    assert main(["index", "info", "--corpus", str(corpus_file), "--cache-dir",
                 str(cache / "empty")]) == 1
    assert "gener index build" in capsys.readouterr().err


def test_encoder_fingerprint_follows_the_folder_contents(tmp_path):
    from gener.retrieval.encoders import encoder_fingerprint

    folder = tmp_path / "enc"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights v1")
    first = encoder_fingerprint(str(folder))
    assert encoder_fingerprint(str(folder)) == first
    (folder / "model.safetensors").write_bytes(b"weights v2")  # retrained in place
    assert encoder_fingerprint(str(folder)) != first
    assert encoder_fingerprint("org/some-model") == encoder_fingerprint("org/some-model")
    assert encoder_fingerprint("org/some-model").startswith("org/some-model@")


def test_encoder_identity_does_not_depend_on_where_the_model_is_installed(tmp_path):
    import shutil

    from gener.retrieval.meanpool import MeanPoolEncoder
    from tests.tiny_models import save_tiny_bert

    first = save_tiny_bert(tmp_path / "a")
    second = tmp_path / "b"
    shutil.copytree(first, second)
    # A copy is another install of the same model: the same index must serve both.
    identity = MeanPoolEncoder("tiny", first, "cpu").identity()
    moved = MeanPoolEncoder("tiny", str(second), "cpu").identity()
    assert identity["config"] == moved["config"]


def test_definition_sentence_of_the_named_document_adds_to_the_score(tmp_path, minilm):
    """A mention of a document's title scores ν·(q·d + κ·q·c) more, d its document's first
    sentence and c the category phrase after that sentence's verb."""
    records = [
        {"title": "Zorbitis (illness)", "text": "Zorbitis is an infectious disease of the lungs. "
                                                "It spreads quickly."},
        {"title": "Lake Vorn", "text": "Lake Vorn is a lake in the north."},
        {"title": "Travel", "text": "Travellers met Zorbitis and Lake Vorn in the spring."},
    ]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    index = open_index(JsonlCorpus(path), minilm, tmp_path / "cache", progress=False)
    key = {text: k for k, text in enumerate(index.phrase_texts)}
    rows = {s.text: row for row, s in enumerate(index.sentences)}
    assert index.key_definition[key["Zorbitis"]] == rows[records[0]["text"].split(" It")[0]]
    assert index.key_definition[key["Lake Vorn"]] == rows["Lake Vorn is a lake in the north."]
    assert index.key_definition[key["spring"]] == -1
    category = index.key_category[key["Zorbitis"]]
    assert index.phrase_texts[category] == "infectious disease"
    assert index.phrase_texts[index.key_category[key["Lake Vorn"]]] == "lake"
    assert index.key_category[key["spring"]] == -1

    plain = Searcher(index, minilm, definition_weight=0.0).rank(["Which disease?"])[0]
    with_definition = Searcher(index, minilm, definition_weight=1.5).rank(["Which disease?"])[0]
    travel = rows["Travellers met Zorbitis and Lake Vorn in the spring."]
    mention = next(o for o in range(len(index.occ_key)) if index.occ_sentence[o] == travel
                   and index.phrase_texts[index.occ_key[o]] == "Zorbitis")
    query = minilm.encode_questions(["Which disease?"])[0]
    definition = index.sentence_vectors[index.key_definition[key["Zorbitis"]]]

    def score(ranked):
        return float(ranked[1][list(ranked[0]).index(mention)])

    category_vector = minilm.encode_texts(["infectious disease"])[0]
    expected = 1.5 * (query @ definition + CATEGORY_WEIGHT * query @ category_vector)
    assert score(with_definition) - score(plain) == pytest.approx(expected, abs=1e-5)
    assert score(with_definition) - score(plain) > 0.3


def test_encoder_precision_is_a_setting_and_part_of_the_index_identity(monkeypatch):
    texts = ["Tuberculosis is an infectious disease caused by bacteria.", "Paris", "a lake"]
    monkeypatch.setenv("GENER_ENCODER_PRECISION", "fp32")
    fp32 = load_encoder("minilm")
    monkeypatch.setenv("GENER_ENCODER_PRECISION", "bf16")
    bf16 = load_encoder("minilm")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    assert fp32.identity() != bf16.identity()  # an index is never reused across precisions
    a, b = fp32.encode_texts(texts), bf16.encode_texts(texts)
    assert np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-5)
    assert (a * b).sum(1).min() > 0.999
    monkeypatch.setenv("GENER_ENCODER_PRECISION", "fp8")
    with pytest.raises(GenerError, match="GENER_ENCODER_PRECISION='fp8'"):
        load_encoder("minilm")


def test_definition_weight_option_reaches_the_searcher(tmp_path, capsys):
    from gener.cli import build_parser
    from gener.commands.build import settings_from_args
    from gener.recipes import load_recipe
    from gener.retrieval import search

    parser = build_parser()
    assert parser.parse_args(["ask", "x"]).definition_weight == search.DEFINITION_WEIGHT
    args = parser.parse_args(["build", "demo", "--set", "definition_weight=1"])
    assert settings_from_args(args, load_recipe("demo")).policy.definition_weight == 1.0
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [
        {"title": "Zorbitis", "text": "Zorbitis is an infectious disease of the lungs."},
        {"title": "Travel", "text": "Travellers met Zorbitis in the spring."}]), encoding="utf-8")
    argv = ["ask", "Which disease?", "--corpus", str(path), "--cache-dir", str(tmp_path / "c"),
            "--json", "--top-k", "1"]

    def top_score(*extra):
        assert main(argv + list(extra)) == 0
        return json.loads(capsys.readouterr().out.splitlines()[0])["score"]

    assert top_score("--definition-weight", "2") > top_score() > top_score(
        "--definition-weight", "0")
    assert search.scoring(0.0)["definition_weight"] == 0.0
    assert search.scoring()["definition_weight"] == search.DEFINITION_WEIGHT


def test_a_retrieved_lowercase_head_brings_its_longest_candidate(tmp_path, minilm):
    """extend_heads: "cancer" retrieved in "ovarian cancer" also retrieves "ovarian cancer"."""
    path = tmp_path / "abstracts.txt"
    path.write_text("Women with ovarian cancer were given Tamoxifen .\n", encoding="utf-8")
    index = open_index(TextCorpus(path), minilm, tmp_path / "cache", progress=False)
    searcher = Searcher(index, minilm)
    texts = [index.phrase_texts[k] for k in index.occ_key]
    assert {"ovarian cancer", "cancer", "Tamoxifen"} <= set(texts)
    sq = parse_recipe({"name": "tiny", "subquestions": [
        {"label": "Disease", "type": "disease", "k": 1, "rules": [4]}]}).subquestions[0]

    def retrieved(phrase, extend_heads):
        ranked = (np.array([texts.index(phrase)]), np.array([0.7], dtype=np.float32))
        [sentence] = searcher.evidence(ranked, sq, 1, extend_heads=extend_heads)
        for p in sentence.phrases:
            assert sentence.sentence[p.start:p.end] == p.name and p.score == pytest.approx(0.7)
        return [p.name for p in sentence.phrases]

    assert retrieved("cancer", False) == ["cancer"]
    assert retrieved("cancer", True) == ["ovarian cancer", "cancer"]
    assert retrieved("Tamoxifen", True) == ["Tamoxifen"]  # only lowercase single words


def test_head_similarity_drops_lowercase_phrases_ending_far_from_the_question(tmp_path, minilm):
    path = tmp_path / "abstracts.txt"
    path.write_text("The first report of ovarian cancer in Tamoxifen users described its "
                    "clinical course .\n", encoding="utf-8")
    index = open_index(TextCorpus(path), minilm, tmp_path / "cache", progress=False)
    texts = [index.phrase_texts[k] for k in index.occ_key]
    assert {"first report", "ovarian cancer", "Tamoxifen", "clinical course"} <= set(texts)
    sq = parse_recipe({"name": "tiny", "subquestions": [
        {"label": "Disease", "type": "disease", "k": 1, "rules": [4]}]}).subquestions[0]
    plain, strict = Searcher(index, minilm), Searcher(index, minilm, head_similarity=0.3)
    [cancer, report] = plain.phrase_similarities([sq.question], ["cancer", "report"])[:, 0]
    assert strict.head_similarity_of("cancer", sq.question) == pytest.approx(cancer, abs=1e-5)
    assert cancer >= 0.3 > report
    kept = {texts[o] for o in range(len(texts)) if strict.valid(o, sq)}
    assert {"ovarian cancer", "Tamoxifen"} <= kept  # strong head; not lowercase
    assert "clinical course" not in kept
    # Rule 4 leaves "report" of "first report": a single word, which the test leaves to rule 9.
    assert "first report" in kept and strict.head_similarity_of("report", sq.question) < 0.3
    assert all(plain.valid(o, sq) for o in range(len(texts)) if texts[o] in (
        "first report", "clinical course"))


def test_head_similarity_needs_a_bi_encoder_and_a_cosine(corpus_file, cache):
    from types import SimpleNamespace

    from gener.retrieval.search import open_searcher

    contextual = SimpleNamespace(contextual=True)
    with pytest.raises(GenerError, match="needs a bi-encoder"):
        Searcher(contextual, SimpleNamespace(name="densephrases"), head_similarity=0.3)
    with pytest.raises(GenerError, match="from -1 to 1, not 2"):
        open_searcher(TextCorpus(corpus_file), cache_dir=cache, progress=False,
                      head_similarity=2)


def test_head_similarity_option_reaches_the_build_settings():
    from gener.cli import build_parser
    from gener.commands.build import settings_from_args
    from gener.recipes import load_recipe

    parser = build_parser()
    demo = load_recipe("demo")
    assert settings_from_args(parser.parse_args(["build", "demo"]),
                              demo).policy.head_similarity is None
    args = parser.parse_args(["build", "demo", "--set", "head_similarity=0.3"])
    assert settings_from_args(args, demo).policy.head_similarity == 0.3


def test_feedback_asks_again_with_the_mean_vector_of_the_best_phrases(corpus_file, minilm,
                                                                      cache):
    from gener.retrieval import search

    index = open_index(TextCorpus(corpus_file), minilm, cache, progress=False)
    subquestions = list(recipe().subquestions)
    plain = Searcher(index, minilm, feedback_phrases=0)
    first = plain.rank([sq.question for sq in subquestions],
                       entity_types=[sq.type for sq in subquestions])
    assert all(np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1])
               for a, b in zip(plain.rank_subquestions(subquestions), first, strict=True))

    fed = Searcher(index, minilm, feedback_phrases=3, feedback_weight=1.0)
    ranked = fed.rank_subquestions(subquestions)
    for sq, (occurrences, scores), (first_occurrences, _) in zip(subquestions, ranked, first,
                                                                 strict=True):
        keys = []  # the first three distinct phrases that survive the subquestion's rules
        for occ in first_occurrences:
            key = int(index.occ_key[occ])
            if plain.valid(int(occ), sq) and key not in keys:
                keys.append(key)
        centroid = index.faiss_index.reconstruct_batch(np.array(keys[:3])).mean(axis=0)
        query = minilm.encode_questions([sq.question])[0]
        query = query + centroid / np.linalg.norm(centroid)
        expected = plain.rank([sq.question], entity_types=[sq.type],
                              queries=(query / np.linalg.norm(query))[None].astype(np.float32))
        assert np.array_equal(occurrences, expected[0][0])
        assert np.allclose(scores, expected[0][1], atol=1e-5)
        assert not np.allclose(scores[:5], sorted(first[0][1], reverse=True)[:5])

    assert search.scoring()["feedback_phrases"] == search.FEEDBACK_PHRASES > 0
    assert search.scoring(feedback_phrases=0)["feedback_phrases"] == 0
    with pytest.raises(GenerError, match="feedback phrases"):
        search.open_searcher(TextCorpus(corpus_file), minilm, cache, progress=False,
                             feedback_phrases=-1)


def test_feedback_option_defaults_off_and_ask_takes_it(tmp_path, capsys):
    from gener.cli import build_parser
    from gener.commands.build import settings_from_args
    from gener.recipes import load_recipe
    from gener.retrieval import search

    parser = build_parser()
    demo = load_recipe("demo")
    assert parser.parse_args(["ask", "x"]).feedback_phrases == 0
    policy = settings_from_args(parser.parse_args(["build", "demo"]), demo).policy
    assert policy.feedback_phrases == 0  # builds rank as ask does
    args = parser.parse_args(["build", "demo", "--set",
                              f"feedback_phrases={search.FEEDBACK_PHRASES}"])
    assert settings_from_args(args, demo).policy.feedback_phrases == search.FEEDBACK_PHRASES
    path = tmp_path / "docs.txt"
    path.write_text("\n".join(DOCS) + "\n", encoding="utf-8")
    argv = ["ask", "Which disease?", "--corpus", str(path), "--cache-dir", str(tmp_path / "c"),
            "--json", "--top-k", "3"]

    def top(*extra):
        assert main(argv + list(extra)) == 0
        return [json.loads(line)["score"] for line in capsys.readouterr().out.splitlines()]

    assert top() != top("--feedback-phrases", "2")
    assert main(argv + ["--feedback-phrases", "-2"]) == 1
    assert "feedback phrases" in capsys.readouterr().err


@pytest.mark.parametrize("sentence, title, expected", [
    ("A syndrome is a set of medical signs and symptoms.", "syndrome", True),
    ("In biology, a pathogen is any organism that causes disease.", "pathogen", True),
    ("An epidemic is the rapid spread of disease.", "Epidemic", True),
    ("Epidemiology is the study and analysis of the distribution of health.", "Epidemiology",
     True),
    ("Immunology is a branch of biology and medicine.", "Immunology", True),
    ("Polymer chemistry is a sub-discipline of chemistry.", "Polymer chemistry", True),
    ("Smallpox was an infectious disease caused by Variola virus.", "Smallpox", False),
    ("The University of Oxford is a collegiate research university.", "University of Oxford",
     False),
    ("A Christmas Carol is a novella by Charles Dickens.", "A Christmas Carol", False),
    ("Star Wars is a science fiction media franchise.", "Star Wars", False),
])
def test_first_sentences_that_define_a_class_or_a_field(sentence, title, expected):
    assert defines_class(sentence, title) is expected


def test_titles_of_class_and_field_articles_are_class_phrases(tmp_path, minilm):
    """Mentions of "syndrome" and "Epidemiology" (their articles define a class and a field)
    get the class penalty; a mention of "Zorbitis" (an entity's article) does not."""
    records = [
        {"title": "Syndrome", "text": "A syndrome is a set of medical signs."},
        {"title": "Epidemiology", "text": "Epidemiology is the study of health in populations."},
        {"title": "Zorbitis", "text": "Zorbitis is an infectious disease of the lungs."},
        {"title": "Travel", "text": "Zorbitis is a syndrome studied in Epidemiology."},
    ]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    index = open_index(JsonlCorpus(path), minilm, tmp_path / "cache", progress=False)
    travel = next(row for row, s in enumerate(index.sentences) if s.title == "Travel")
    mentions = {index.phrase_texts[index.occ_key[o]]: o for o in range(len(index.occ_key))
                if index.occ_sentence[o] == travel}
    assert {text: bool(index.occ_class[o]) for text, o in mentions.items()} == {
        "Zorbitis": False, "syndrome": True, "Epidemiology": True}
    penalised = Searcher(index, minilm).rank(["Which disease?"])[0]
    plain = Searcher(index, minilm, class_penalty=0.0).rank(["Which disease?"])[0]

    def score(ranked, text):
        return float(ranked[1][list(ranked[0]).index(mentions[text])])

    assert score(plain, "syndrome") - score(penalised, "syndrome") == pytest.approx(0.3)
    assert score(plain, "Zorbitis") == pytest.approx(score(penalised, "Zorbitis"))


def test_a_tokenized_possessive_is_no_class_phrase(tmp_path, minilm):
    """"Parkinson ' s disease" (tokenized text) names a disease, as "Parkinson's disease"
    does: its lowercase head does not make it a class phrase like "infectious disease"."""
    path = tmp_path / "abstracts.txt"
    path.write_text("Parkinson ' s disease and Lyme's disease are not an infectious disease .\n",
                    encoding="utf-8")
    index = open_index(TextCorpus(path), minilm, tmp_path / "cache", progress=False)
    heads = dict(zip(index.phrase_texts, index.key_lower_head, strict=True))
    assert heads["Parkinson ' s disease"] == "" and heads["Lyme's disease"] == ""
    assert heads["infectious disease"] == "disease"


def test_a_flat_index_scores_every_phrase_as_faiss_would(corpus_file, minilm, cache):
    index = open_index(TextCorpus(corpus_file), minilm, cache, progress=False)
    queries = minilm.encode_questions(["Which disease?", "Which country?"])
    scores = index.phrase_scores(queries)
    top, keys = index.search(queries, index.faiss_index.ntotal)
    for row in range(2):
        assert scores[row][keys[row]] == pytest.approx(top[row], abs=1e-5)
    searcher = Searcher(index, minilm)
    every = searcher.rank(["Which disease?"], entity_types=["disease"])[0]
    through_faiss = searcher.rank(["Which disease?"], top_phrases=index.faiss_index.ntotal,
                                  entity_types=["disease"])[0]
    assert sorted(every[0]) == sorted(through_faiss[0]) == list(range(len(index.occ_key)))
    assert every[1] == pytest.approx(through_faiss[1], abs=1e-5)


def test_a_limited_ranking_is_the_head_of_the_full_one(corpus_file, minilm, cache):
    index = open_index(TextCorpus(corpus_file), minilm, cache, progress=False)
    searcher = Searcher(index, minilm)
    questions = ["Which disease?", "Which country?"]
    full = searcher.rank(questions, entity_types=["disease", "country"])
    for limit in (1, 3, len(index.occ_key) + 5):
        head = searcher.rank(questions, entity_types=["disease", "country"], limit=limit)
        for (occ, scores), (top, top_scores) in zip(full, head, strict=True):
            assert list(top) == list(occ[:limit]) and list(top_scores) == list(scores[:limit])


def test_retrieval_from_ranking_heads_equals_retrieval_from_full_rankings(corpus_file, minilm,
                                                                         cache, monkeypatch):
    from gener.retrieval import search

    index = open_index(TextCorpus(corpus_file), minilm, cache, progress=False)
    searcher = Searcher(index, minilm, feedback_phrases=2)

    def from_full_rankings(rec):
        subquestions = list(rec.subquestions)
        return [searcher.evidence(r, sq, sq.k) for sq, r in
                zip(subquestions, searcher.rank_subquestions(subquestions), strict=True)]

    for depth in (1, 2, 1000):  # heads that run out (then ranked in full) and that suffice
        monkeypatch.setattr(search, "EVIDENCE_DEPTH", depth)
        monkeypatch.setattr(search, "FEEDBACK_DEPTH", depth)
        for rec in (recipe(k=2), recipe(k=50)):
            got = [r.sentences for r in search.retrieve_with(searcher, rec)]
            assert got == from_full_rankings(rec)


def test_subquestions_with_the_same_rules_share_phrase_validity(corpus_file, minilm, cache):
    index = open_index(TextCorpus(corpus_file), minilm, cache, progress=False)
    searcher = Searcher(index, minilm)
    rec = parse_recipe({"name": "places", "subquestions": [
        {"label": "LOC", "type": "country", "k": 5, "rules": [1, 3, 4]},
        {"label": "LOC", "type": "ocean", "k": 5, "rules": [1, 3, 4]}]})
    retrieve_with(searcher, rec)
    assert len(searcher._valid) == 1  # rule 7 tests the set {country, ocean} for both
    validity = next(iter(searcher._valid.values()))
    known = [int(t) for t in (validity >= 0).nonzero()[0]]
    assert known
    for sq in rec.subquestions:  # what each subquestion's own rules say
        assert [bool(searcher._survivors(index.phrase_texts[t], 0, sq)) for t in known] \
            == [bool(validity[t]) for t in known]
