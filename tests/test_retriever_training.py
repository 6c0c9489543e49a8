"""The gener-retriever encoder: training pairs, exclusions, tiny training runs of both kinds."""

import json

import numpy as np
import pytest

from gener.corpus import WikiVitalCorpus
from gener.errors import GenerError
from gener.retrieval.encoders import load_encoder
from gener.retrieval.meanpool import RETRIEVER_META, QueryTunedEncoder, TunedBiEncoder
from gener.retrieval.search import open_searcher
from gener.retrieval.training import (
    OccurrenceTargets,
    Scorer,
    TrainSettings,
    benchmark_type_forms,
    train_retriever,
    training_types,
    type_head,
    type_noun,
)
from tests.tiny_models import save_tiny_bert

ARTICLES = [
    ("Malaria", "Infectious disease caused by parasites",
     "Malaria is a disease spread by mosquitoes. Malaria kills many children."),
    ("Asthma", "Long-term disease of the airways", "Asthma makes breathing hard."),
    ("Danube", "River in Central Europe", "The Danube flows into the Black Sea. "
                                          "Vienna lies on the Danube."),
    ("Rhine", "River in Western Europe", "The Rhine flows through Basel. The Rhine is long."),
    ("Loire", "Longest river in France", "The Loire rises in the Massif Central."),
    ("Volga", "River in Russia", "The Volga is the longest river of Europe."),
    ("Claude Monet", "French painter", "Claude Monet painted water lilies."),
    ("Rembrandt", "Dutch painter (1606–1669)", "Rembrandt painted The Night Watch."),
    ("Frida Kahlo", "Mexican painter", "Frida Kahlo painted self-portraits. "
                                       "The Danube was never painted by Frida Kahlo."),
    ("Violin", "Bowed string instrument", "The Violin has four strings."),
    ("Lute", "Plucked string instrument", "The Lute was popular in the Renaissance."),
    ("Harp", "Stringed musical instrument", "The Harp is played with the fingers."),
    ("Ants", "Family of insects", "Ants live in colonies."),
]


def test_type_noun_from_description_head():
    assert type_noun("Infectious disease caused by bacteria") == "disease"
    assert type_noun("Country in Western Europe") == "country"
    assert type_noun("Agricultural tool used for moving soil") == "tool"
    assert type_noun("Alcoholic drink made from grapes") == "drink"
    assert type_noun("Dutch painter (1606–1669)") == "painter"
    assert type_noun("Family of insects") == ""  # too vague to ask for
    assert type_noun(None) == ""
    assert type_head("Infectious disease caused by bacteria") == ["infectious", "disease"]


def test_benchmark_types_left_out_and_dev_types_held_out():
    articles = [{"title": t, "description": d} for t, d, _ in ARTICLES]
    forms = benchmark_type_forms()
    assert {"disease", "diseases", "country", "politician", "city"} <= forms
    types = training_types(articles, forms, min_articles=3, dev_share=0.5,
                           dev_min_articles=3, seed=1)
    assert types.excluded == ["Asthma", "Malaria"]  # "disease" is a benchmark type word
    assert set(types.train) | set(types.dev) == {"river", "painter", "instrument"}
    assert len(types.dev) == 2 and not set(types.train) & set(types.dev)
    assert types.held_out_titles() >= {"Malaria", "Asthma"}
    again = training_types(articles, forms, min_articles=3, dev_share=0.5,
                           dev_min_articles=3, seed=1)
    assert again.dev == types.dev  # seeded
    # A multi-word head of a training noun is a question too ("Which French painter?").
    french = [{"title": t, "description": "French painter"} for t in ("Monet", "Manet", "Degas")]
    types = training_types(articles + french, forms, min_articles=3, dev_share=0.0)
    assert types.train["french painter"] == ["Claude Monet", "Monet", "Manet", "Degas"]
    assert len(types.train["painter"]) == 6


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("retriever")
    data = {t: {"title": t, "extract": text, "description": d, "topic": "x"}
            for t, d, text in ARTICLES}
    corpus_path = root / "summaries_en-us.json"
    corpus_path.write_text(json.dumps(data), encoding="utf-8")
    corpus = WikiVitalCorpus(corpus_path)
    model = save_tiny_bert(root / "tiny-bert")
    searcher = open_searcher(corpus, model, root / "cache", progress=False)
    return root, corpus, searcher


def test_title_mentions_are_the_answers(tiny):
    _, corpus, searcher = tiny
    targets = OccurrenceTargets(searcher.index, {"Malaria", "Asthma"})
    index = searcher.index
    texts = {searcher.phrase_text(int(o)) for o in targets.positives(["Danube", "Rhine"])}
    assert texts == {"Danube", "Rhine"}
    assert len(targets.positives(["Danube"])) == 3  # in its own article and in Frida Kahlo's
    # Every occurrence in a left-out article's sentences, and every mention of its title, is
    # ignored: neither an answer nor a negative.
    ignored = set(np.flatnonzero(targets.ignored).tolist())
    for occ in range(len(index.occ_key)):
        in_malaria = index.sentences[int(index.occ_sentence[occ])].title in ("Malaria", "Asthma")
        if in_malaria or searcher.phrase_text(occ) == "Malaria":
            assert occ in ignored
    assert not ignored & set(targets.positives(["Danube"]).tolist())


def test_training_scores_are_the_searchers_scores(tiny):
    """The loss is taken over the very scores the searcher ranks by (all terms, all weights)."""
    import torch

    _, _, searcher = tiny
    index = searcher.index
    assert (index.key_definition >= 0).any()  # title mentions bring their first sentence in
    types = ["river", "painter"]
    scorer = Scorer(index, OccurrenceTargets(index, set()), searcher.sentence_weight,
                    searcher.title_bonus, searcher.class_penalty, searcher.definition_weight)
    queries = searcher.encoder.encode_questions([f"Which {t}?" for t in types])
    with torch.inference_mode():
        trained = scorer(torch.from_numpy(queries), types).numpy()
    for row, (occ, scores) in enumerate(searcher.rank([f"Which {t}?" for t in types],
                                                      entity_types=types)):
        assert np.allclose(trained[row][occ], scores, atol=1e-5)


def test_question_tower_train_save_and_load_by_path(tiny):
    root, corpus, searcher = tiny
    out = root / "trained"
    meta = train_retriever(out, searcher, corpus,
                           TrainSettings(towers="question", epochs=2, batch_size=2,
                                         dev_share=0.0, min_articles=3),
                           progress=False, log=lambda line: None)
    assert set(meta["train_types"]) == {"river", "painter", "instrument"}
    assert meta["excluded_articles"] == 2 and "malaria" not in meta["answers"]
    assert "danube" in meta["answers"]
    assert (out / RETRIEVER_META).is_file() and (out / "config.json").is_file()
    encoder = load_encoder(str(out))
    assert isinstance(encoder, QueryTunedEncoder)
    assert encoder.identity() == searcher.encoder.identity()  # shares the document index
    vectors = encoder.encode_questions(["Which river?", "Which painter?"])
    assert vectors.shape == (2, 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    again = train_retriever(root / "again", searcher, corpus,
                            TrainSettings(towers="question", epochs=2, batch_size=2,
                                          dev_share=0.0),
                            progress=False, log=lambda line: None)
    assert again["loss_first_last"] == meta["loss_first_last"]  # deterministic given a seed
    (root / "notes").mkdir()
    with pytest.raises(GenerError, match="not a gener-retriever folder"):
        train_retriever(root / "notes", searcher, corpus, progress=False)
    with pytest.raises(GenerError, match="towers must be one of"):
        train_retriever(root / "other", searcher, corpus, TrainSettings(towers="phrase"))


def test_both_towers_train_a_bi_encoder_with_its_own_index(tiny):
    root, corpus, searcher = tiny
    out = root / "both"
    settings = TrainSettings(epochs=3, batch_size=2, dev_share=0.5, dev_min_articles=3)
    meta = train_retriever(out, searcher, corpus, settings, cache_dir=root / "cache",
                           progress=False, log=lambda line: None)
    assert meta["towers"] == "both" and meta["steps"] == 3  # one type to train, 3 epochs
    assert set(meta["dev_p_at_100"]["trained"]) == set(meta["dev_types"])
    encoder = load_encoder(str(out))
    assert isinstance(encoder, TunedBiEncoder) and encoder.meta["answers"] == meta["answers"] != []
    # Its weights changed, so it has an index of its own, found under either name.
    assert encoder.identity() != searcher.encoder.identity()
    assert encoder.identity() == TunedBiEncoder("gener-retriever", str(out)).identity()
    trained = open_searcher(corpus, encoder, root / "cache", progress=False)
    assert trained.index.path != searcher.index.path
    assert trained.index.manifest["counts"] == searcher.index.manifest["counts"]
    again = train_retriever(root / "both-again", searcher, corpus, settings,
                            cache_dir=root / "cache", progress=False, log=lambda line: None)
    assert again["loss_first_last"] == meta["loss_first_last"]  # deterministic given a seed


def test_missing_retriever_says_how_to_train(tmp_path, monkeypatch):
    monkeypatch.setenv("GENER_CACHE", str(tmp_path))
    with pytest.raises(GenerError, match="make retriever"):
        load_encoder("gener-retriever")
    (tmp_path / RETRIEVER_META).write_text("[1, 2]", encoding="utf-8")
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(GenerError, match="has no 'document_encoder'"):
        load_encoder(str(tmp_path))
