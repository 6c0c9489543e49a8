"""Sharded, resumable, multi-process index builds on a tiny corpus and model."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest

from gener.cli import main
from gener.corpus import Sentence, TextCorpus
from gener.errors import GenerError
from gener.retrieval import sharding
from gener.retrieval.encoders import load_encoder
from gener.retrieval.faiss_store import ivf_lists, set_nprobe
from gener.retrieval.index import ensure_index, load_index, rescore
from gener.retrieval.index_format import IndexSettings, index_dir
from gener.retrieval.search import Searcher

ROOT = Path(__file__).resolve().parents[1]
INDEX_FILES = ("sentences.jsonl", "occurrences.npz", "phrases.json", "phrases.faiss",
               "sentences.npy")
WORDS = ("Paris London Berlin Marie Curie Albert Einstein disease virus cancer asthma Lyme "
         "Nile river mountain city country").split()


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    rng = np.random.default_rng(0)

    def word(title=False):
        w = str(rng.choice(WORDS))
        return w.title() if title else w

    lines = [f"{word(True)} {word()} was found in {word(True)} near the {word()} river. "
             f"The chronic {word()} of {word(True)} is rare." for _ in range(40)]
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    from tests.tiny_models import save_tiny_bert

    return save_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert")


def _index_path(cache, corpus_file, encoder, index_type="flat"):
    return index_dir(TextCorpus(corpus_file), encoder, IndexSettings(index_type=index_type),
                     cache)


def _build(corpus_file, model, cache, *options):
    assert main(["index", "build", "--corpus", str(corpus_file), "--encoder", model,
                 "--cache-dir", str(cache), *options]) == 0


def test_streamed_shards_cover_every_sentence_once(tmp_path):
    sentences = [Sentence(f"d:{i}", f"s{i}", "d") for i in range(103)]
    for n in (1, 2, 7):
        parts = [[s.id for s in sharding.shard_sentences(iter(sentences), k, n)]
                 for k in range(n)]
        assert sorted(i for p in parts for i in p) == sorted(s.id for s in sentences)
        assert all(len(p) == -(-(103 - k) // n) for k, p in enumerate(parts))
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"text": f"Doc {i} is here. It has two."}) + "\n"
                            for i in range(30)))
    streamed = list(sharding.DatasetsStreamCorpus(path).sentences())
    assert [s.id for s in streamed] == [f"line{i}:{j}" for i in range(1, 31) for j in (0, 1)]


def test_two_processes_give_the_same_index_as_one(corpus_file, tiny_encoder, tmp_path):
    """`accelerate launch` with 2 CPU processes (gloo) == 1 process, byte for byte."""
    _build(corpus_file, tiny_encoder, tmp_path / "one", "--shards", "2")
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
               "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
               "--dynamo_backend", "no", "--main_process_port", "29533", "-m", "gener",
               "index", "build", "--corpus", str(corpus_file), "--encoder", tiny_encoder,
               "--cache-dir", str(tmp_path / "two"), "--shards", "2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads(done.stdout)  # printed once, by the main process
    assert manifest["sharding"] == {**manifest["sharding"], "shards": 2, "processes": 2}
    assert "(process 2/2)" in done.stderr and "(process 1/2)" in done.stderr
    encoder = load_encoder(tiny_encoder)
    one, two = (_index_path(tmp_path / d, corpus_file, encoder) for d in ("one", "two"))
    for name in INDEX_FILES:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    # A plain build is one shard: same rows and keys as two, scores up to float noise.
    _build(corpus_file, tiny_encoder, tmp_path / "plain")
    plain = load_index(_index_path(tmp_path / "plain", corpus_file, encoder))
    assert plain.manifest["sharding"] == {**plain.manifest["sharding"], "shards": 1,
                                          "processes": 1}
    assert [p.name for p in plain.path.parent.iterdir()] == [plain.path.name]  # shards merged
    sharded = load_index(one)
    for name in ("sentences.jsonl", "phrases.json"):
        assert (plain.path / name).read_bytes() == (one / name).read_bytes()
    assert np.array_equal(plain.occ_key, sharded.occ_key)
    questions = ["Which disease?", "Which city?"]
    got = [Searcher(ix, encoder).rank(questions) for ix in (plain, sharded)]
    for (occ_a, score_a), (occ_b, score_b) in zip(*got, strict=True):
        np.testing.assert_allclose(score_a, score_b, atol=1e-5)
        assert np.array_equal(occ_a[:20], occ_b[:20])


def test_interrupted_build_skips_finished_shards(corpus_file, tiny_encoder, tmp_path,
                                                 monkeypatch):
    built = []
    real = sharding.build_shard

    def interrupt(texts):
        raise KeyboardInterrupt

    def build_then_fail(*args):
        if built:  # the second shard is "killed" while it is being built
            args = (*args[:7], interrupt, *args[8:])
        built.append(args[3])
        return real(*args)

    monkeypatch.setattr(sharding, "build_shard", build_then_fail)
    assert main(["index", "build", "--corpus", str(corpus_file), "--encoder", tiny_encoder,
                 "--cache-dir", str(tmp_path), "--shards", "3"]) == 130
    encoder = load_encoder(tiny_encoder)
    path = _index_path(tmp_path, corpus_file, encoder)
    assert not path.exists() and built == [0, 1]
    shards_root = path.with_name(f"{path.name}.shards") / "3"
    names = sorted(p.name for p in shards_root.iterdir())
    assert names[0] == "shard-00000" and names[1].startswith("shard-00001.tmp-")  # unfinished
    again = []
    monkeypatch.setattr(sharding, "build_shard", lambda *a: again.append(a[3]) or real(*a))
    _build(corpus_file, tiny_encoder, tmp_path, "--shards", "3")
    assert again == [1, 2]  # shard 0 was kept, the unfinished shard 1 built afresh
    assert not shards_root.parent.exists()  # merged shards are deleted
    assert load_index(path).manifest["counts"]["sentences"] == 80


@pytest.fixture
def one_faiss_thread():
    """FAISS's OpenMP training crawls when the test machine's cores are busy: one thread."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(threads)


def test_ivfpq_merge_counts_vectors_and_records_bytes_per_phrase(tiny_encoder, tmp_path,
                                                                 one_faiss_thread):
    rng = np.random.default_rng(0)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa"]
    names = {"".join(rng.choice(syllables, 5)).title() for _ in range(14_000)}
    names = sorted(names)
    lines = [" and ".join(names[i:i + 4]) + " met." for i in range(0, len(names), 4)]
    path = tmp_path / "names.txt"
    path.write_text("\n".join(lines) + "\n")

    def capitalised(texts):  # a cheap candidate extractor: each capitalised word
        return [[(m.start(), m.end(), False) for m in re.finditer(r"[A-Z]\w+", t)]
                for t in texts]

    encoder = load_encoder(tiny_encoder)
    settings = IndexSettings(index_type="ivfpq")
    index_path, manifest = ensure_index(TextCorpus(path), encoder, tmp_path, settings,
                                        progress=False, shards=2, candidates=capitalised)
    assert manifest["counts"]["phrases"] == len(names) > 10_000
    assert manifest["candidates"]["method"] == "custom:capitalised"
    size = (index_path / "phrases.faiss").stat().st_size
    assert manifest["faiss_file"]["bytes_per_phrase"] == round(size / len(names), 2) < 64
    assert manifest["faiss_file"]["description"].startswith("OPQ,IVF")
    index = load_index(index_path, settings)
    assert index.faiss_index.ntotal == len(names)
    assert faiss.extract_index_ivf(index.faiss_index).nprobe == 64
    hits = Searcher(index, encoder).rank(["Which person?"], top_phrases=50)[0][0]
    assert len(hits) == 50
    # With the encoder set, a few results are re-scored exactly from re-encoded texts.
    index.encoder = encoder
    query = encoder.encode_questions(["Which person?"])
    scores, keys = index.search(query, 20)
    exact = encoder.encode_texts([index.phrase_texts[i] for i in keys[0]]) @ query[0]
    np.testing.assert_allclose(scores[0], exact, atol=1e-5)
    assert np.all(np.diff(scores[0]) <= 0)
    # Past the re-scored head, FAISS's own hits follow in its order with its scores, from
    # every inverted list, not only the 64 probed ones.
    scores, keys = rescore(index.faiss_index, encoder, index.phrase_texts, query, 200, depth=50)
    set_nprobe(index.faiss_index, ivf_lists(index.faiss_index))
    approx, hits = index.faiss_index.search(query, 200)
    set_nprobe(index.faiss_index, 64)
    head = encoder.encode_texts([index.phrase_texts[i] for i in keys[0, :50]]) @ query[0]
    np.testing.assert_allclose(scores[0, :50], head, atol=1e-5)
    assert set(keys[0, :50]) == set(hits[0, :50])
    np.testing.assert_array_equal(keys[0, 50:], hits[0, 50:])
    np.testing.assert_array_equal(scores[0, 50:], approx[0, 50:])
    # Asked for every phrase (as builds rank), the head is still exact.
    scores, keys = index.search(query, index.faiss_index.ntotal)
    assert len(set(keys[0])) == index.faiss_index.ntotal and keys.min() >= 0
    head = encoder.encode_texts([index.phrase_texts[i] for i in keys[0, :20]]) @ query[0]
    np.testing.assert_allclose(scores[0, :20], head, atol=1e-5)


def test_bad_sharding_input_is_one_line_error(corpus_file, tiny_encoder, tmp_path, capsys):
    base = ["index", "build", "--corpus", str(corpus_file), "--encoder", tiny_encoder,
            "--cache-dir", str(tmp_path)]
    assert main([*base, "--shards", "0"]) == 1
    assert main([*base, "--index", "hnsw"]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert errors == ["gener index: error: --shards must be at least 1 (got 0)",
                      "gener index: error: unknown index type 'hnsw' (known: flat, ivfpq)"]
    encoder = load_encoder(tiny_encoder)
    path = _index_path(tmp_path, corpus_file, encoder)
    corpus, settings = TextCorpus(corpus_file), IndexSettings().to_dict()
    fingerprint = corpus.fingerprint()
    for shard in range(2):
        sharding.build_shard(corpus, encoder, sharding.shard_dir(path, shard, 2), shard, 2,
                             fingerprint, settings, sharding._spacy_candidates(6), False)
    shard0 = sharding.shard_dir(path, 0, 2)
    # A shard of another shard count put in place of shard 1: mismatched.
    other = sharding.shard_dir(path, 1, 2)
    meta = json.loads((other / "meta.json").read_text())
    (other / "meta.json").write_text(json.dumps({**meta, "fingerprint": "0" * 16}))
    with pytest.raises(GenerError, match="shard 1 of 2 does not match"):
        sharding._open_shards(path, 2, fingerprint, encoder, settings)
    (other / "meta.json").write_text(json.dumps(meta))
    (shard0 / "phrases.f32").write_bytes(b"\0" * 12)
    with pytest.raises(GenerError, match="corrupt shard .*file sizes"):
        sharding._open_shards(path, 2, fingerprint, encoder, settings)
    (shard0 / "meta.json").write_text("{oops")
    assert main([*base, "--shards", "2"]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("gener index: error: ") and "corrupt shard (meta.json" in last


def test_a_corpus_without_candidates_is_one_line_error(corpus_file, tiny_encoder, tmp_path):
    def nothing(texts):
        return [[] for _ in texts]

    encoder = load_encoder(tiny_encoder)
    with pytest.raises(GenerError, match="no candidate phrases found in the corpus"):
        ensure_index(TextCorpus(corpus_file), encoder, tmp_path, progress=False,
                     candidates=nothing)
    assert not any((tmp_path / "index").iterdir())  # neither an index nor shards are left
