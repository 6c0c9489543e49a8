"""Rule 3 with the corpus's casing (gener.casing) and where retrieval applies it."""

from gener.casing import CaseProfile

SENTENCES = [
    "The government said on Monday that the coach of Ajax resigned .",
    "Government officials met the coach and the Ajax players in Amsterdam .",
    "SOCCER - AJAX BEAT PSV , GOVERNMENT SAYS .",  # all capitals: no case information
    "He plays soccer for Ajax .",
    "Coach Smith said the government would help .",
]


def test_words_capitalised_only_by_position_are_usually_lowercase():
    profile = CaseProfile(SENTENCES)
    assert profile.lower["government"] == 2 and profile.capitalised["government"] == 0
    assert profile.usually_lowercase("Government") and profile.usually_lowercase("COACH")
    assert profile.usually_lowercase("SOCCER")  # lowercase once, never capitalised by choice
    assert not profile.usually_lowercase("AJAX") and not profile.usually_lowercase("Amsterdam")
    assert not profile.usually_lowercase("PSV")  # unseen where case tells: kept
    assert not profile.usually_lowercase("Ajax coach")  # one name word is enough
    assert not profile.usually_lowercase("1996")


def test_retrieval_with_rule_3_skips_words_capitalised_only_by_position(tmp_path):
    from gener.corpus import TextCorpus
    from gener.recipes import Subquestion
    from gener.retrieval.encoders import load_encoder
    from gener.retrieval.search import open_searcher

    path = tmp_path / "c.txt"
    path.write_text("Nation states signed the treaty in France .\n"
                    "The nation of Japan and the nation of Peru agreed .\n"
                    "Every nation voted , said Germany .\n", encoding="utf-8")
    searcher = open_searcher(TextCorpus(path), load_encoder("minilm"), tmp_path / "cache",
                             progress=False)
    ranked = searcher.rank(["Which country?"])[0]
    phrases = {rule3: [hit.phrase for hit in searcher.unique_phrases(
        ranked, Subquestion("LOC", "country", 5, rule3, "Which country?"))]
        for rule3 in ((3,), ())}
    assert "Nation states" in phrases[()] and "Nation states" not in phrases[(3,)]
    assert {"France", "Japan", "Peru", "Germany"} <= set(phrases[(3,)])
