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


def test_a_profile_round_trips_and_refuses_other_settings():
    profile = CaseProfile(SENTENCES)
    again = CaseProfile.from_dict(profile.to_dict())
    assert again.lower == profile.lower and again.capitalised == profile.capitalised
    data = profile.to_dict()
    data["settings"]["capitals_share"] = 0.5
    try:
        CaseProfile.from_dict(data)
    except ValueError as err:
        assert "other settings" in str(err)
    else:
        raise AssertionError("a profile counted another way was accepted")


def test_the_index_keeps_its_case_profile_for_later_processes(tmp_path, monkeypatch):
    from gener import casing
    from gener.corpus import TextCorpus
    from gener.retrieval.encoders import load_encoder
    from gener.retrieval.index import CASE_PROFILE_NAME, open_index

    path = tmp_path / "c.txt"
    path.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    encoder = load_encoder("minilm")
    index = open_index(TextCorpus(path), encoder, tmp_path / "cache", progress=False)
    assert index.case_profile.lower["government"] == 2
    assert (index.path / CASE_PROFILE_NAME).is_file()

    def no_counting(self, sentences):
        raise AssertionError("counted again")

    reloaded = open_index(TextCorpus(path), encoder, tmp_path / "cache", progress=False)
    with monkeypatch.context() as patch:
        patch.setattr(casing.CaseProfile, "__init__", no_counting)
        assert reloaded.case_profile.lower == index.case_profile.lower
    (index.path / CASE_PROFILE_NAME).write_text("{not json", encoding="utf-8")
    damaged = open_index(TextCorpus(path), encoder, tmp_path / "cache", progress=False)
    assert damaged.case_profile.capitalised == index.case_profile.capitalised  # counted again
