"""Normalization rules 1-7 (paper Appendix A, rule 7 extended to generic phrases)."""

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from gener.artifacts import RetrievedPhrase, RetrievedSentence, SubquestionRetrieval
from gener.normalize import (
    is_all_lowercase,
    is_quantity,
    is_stopword,
    is_too_short,
    is_type_word_or_generic,
    name_core,
    normalize_names,
    normalize_phrase,
    normalize_retrieval,
    normalize_span,
    split_on_and,
    strip_leading_the,
    strip_punctuation,
    uses_type_word_as_modifier,
)
from gener.recipes import Subquestion, load_recipe


def sq(entity_type="sports team", rules=(1, 2, 3, 4, 5, 6, 7)):
    return Subquestion("ORG", entity_type, 10, tuple(rules), f"Which {entity_type}?")


def test_rule_functions():
    assert split_on_and("France and Germany") == ["France", "Germany"]
    assert split_on_and("Andorra") == ["Andorra"]
    assert strip_punctuation('"Leprosy,"') == "Leprosy"
    assert is_all_lowercase("leprosy") and not is_all_lowercase("Leprosy")
    assert not is_all_lowercase("1990")
    assert strip_leading_the("the Boston Red Sox") == "Boston Red Sox"
    assert strip_leading_the("The Hague") == "Hague"
    assert strip_leading_the("Theodore") == "Theodore"
    assert strip_leading_the("one other patient") == "patient"  # lowercase: every determiner
    assert strip_leading_the("first report") == "report"
    assert strip_leading_the("One Direction") == "One Direction"  # a name keeps its words
    assert strip_leading_the("a - t") == "a - t"  # what follows must be a word
    assert strip_leading_the("the 5 cases") == "5 cases"  # as "The 5 cases": "the" still goes
    assert strip_leading_the("one") == "one"
    assert is_too_short("UK") and not is_too_short("USA")
    assert is_stopword("WAS") and is_stopword("US") and not is_stopword("USA")
    assert is_stopword("July") and is_stopword("SUNDAY") and not is_stopword("July Revolution")
    assert is_stopword("Sept") and is_stopword("Thurs") and not is_stopword("Sun")
    assert normalize_phrase("July", sq("city")) == []


def test_rule_7_type_word_plural_and_generic_phrases():
    assert is_type_word_or_generic("sports team", "sports team")
    assert is_type_word_or_generic("Teams", "sports team")
    assert is_type_word_or_generic("the other sports teams", "sports team")
    assert is_type_word_or_generic("countries", "country")
    assert is_type_word_or_generic("particular disease", "disease")
    assert is_type_word_or_generic("States", "state in the USA")
    assert not is_type_word_or_generic("heart disease", "disease")
    assert not is_type_word_or_generic("Crohn's disease", "disease")
    assert not is_type_word_or_generic("Boston Red Sox", "sports team")
    assert not is_type_word_or_generic("USA", "state in the USA")


def test_rule_7_drops_compounds_whose_head_is_not_the_type_word():
    for name, entity_type in [("disease gene", "disease"), ("Norrie disease locus", "disease"),
                              ("Disease duration", "disease"), ("city council", "city"),
                              ("sports team owners", "sports team"),
                              ("State University", "state in the USA"),
                              ("drug - induced hepatitis", "drug")]:
        assert uses_type_word_as_modifier(name, entity_type), name
    for name, entity_type in [("heart disease", "disease"), ("diseases", "disease"),
                              ("disease of the heart", "disease"), ("Mexico City", "city"),
                              ("von Willebrand disease type B", "disease"),
                              ("Usher syndrome 2", "disease"),
                              ("New York State", "state in the USA"),
                              ("genetic disorder", "disease")]:
        assert not uses_type_word_as_modifier(name, entity_type), name
    assert normalize_phrase("the disease locus", sq("disease")) == []
    assert normalize_phrase("disease locus", sq("disease", rules=(2,))) == ["disease locus"]


def test_rule_7_drops_the_type_words_of_the_recipes_other_subquestions():
    disorder = {s.type: s for s in load_recipe("ncbi_disease").subquestions}["disorder"]
    assert disorder.other_types == ("disease", "condition")
    assert normalize_phrase("disease", disorder) == []
    assert normalize_phrase("disease gene", disorder) == []
    assert normalize_phrase("Norrie disease", disorder) == ["Norrie disease"]
    assert normalize_phrase("disease", sq("disorder", rules=(7,))) == ["disease"]  # alone
    chemical = load_recipe("bc5cdr").subquestions[1]
    assert chemical.type == "chemical compound" and normalize_phrase("drugs", chemical) == []


def test_rule_6_drops_counts_and_measures():
    for name in ["10 mg", "0 . 5 mg", "3 cases", "24 year old male"]:
        assert is_quantity(name), name
        assert normalize_phrase(name, sq("drug", rules=(6,))) == []
    for name in ["5 - fluorouracil", "17 % adrenomyeloneuropathy", "3 Cases", "1990", "mg 10"]:
        assert not is_quantity(name), name


def test_rule_3_keeps_only_the_name_of_a_mixed_phrase():
    def core(text):
        span = name_core(text)
        return None if span is None else text[span[0]:span[1]]

    assert core("Russian peacemaker Alexander Lebed") == "Alexander Lebed"
    assert core("ex-England fast bowler Martin McCague") == "Martin McCague"
    assert core("1 - Craig Dowd") == "Craig Dowd"
    assert core("players U.S.") == "U.S."
    assert core("games at Colorado") == "Colorado" and core("1 - the Beatles") == "the Beatles"
    assert core("Chinese police") is None and core("German government") is None
    for name in ("Bank of England", "Tour de France", "the Beatles", "Boeing 747", "eBay",
                 "Palestinian President Yasser Arafat", "New York-based"):
        assert core(name) == name
    assert normalize_phrase("the Chinese police", sq()) == []
    assert normalize_phrase("veteran dissident Wang Donghai", sq()) == ["Wang Donghai"]
    assert normalize_phrase("veteran dissident Wang Donghai", sq(rules=(2,))) == [
        "veteran dissident Wang Donghai"]  # only with rule 3
    paper = replace(sq(), names_only=False)  # the paper's rule 3 (GeNER configs)
    assert normalize_phrase("Chinese police", paper) == ["Chinese police"]
    assert normalize_phrase("lowercase thing", paper) == []


def test_normalize_phrase_applies_enabled_rules_in_order():
    assert normalize_phrase("the Boston Red Sox and the New York Yankees,", sq()) == [
        "Boston Red Sox", "New York Yankees"]
    assert normalize_phrase("the sports teams", sq()) == []
    assert normalize_phrase("US", sq()) == []
    assert normalize_phrase("lowercase thing", sq()) == []
    assert normalize_phrase("lowercase thing", sq(rules=(2,))) == ["lowercase thing"]
    assert normalize_phrase("Tom and Jerry", sq(rules=(2,))) == ["Tom and Jerry"]
    assert normalize_phrase("the Beatles", sq(rules=(2, 3))) == ["the Beatles"]
    assert normalize_phrase(",", sq()) == []


@given(st.lists(st.sampled_from(["the", "The", "and", "Red", "Sox", "team", ",", '"', "x",
                                 "US", "Paris", " "]), max_size=8),
       st.text(alphabet="ab ", max_size=5))
def test_normalize_span_keeps_offsets(words, prefix):
    name = " ".join(words)
    sentence = prefix + name + " tail"
    for text, start, end in normalize_span(name, len(prefix), sq()):
        assert sentence[start:end] == text
        assert text == text.strip()


def test_normalize_retrieval_rewrites_phrases_with_offsets():
    text = "Fans of the Boston Red Sox and the Yankees, cheered."
    name = "the Boston Red Sox and the Yankees,"
    start = text.index(name)
    retrieval = SubquestionRetrieval(sq(), [RetrievedSentence(
        text, [RetrievedPhrase(name, start, start + len(name), 0.5)], "s1", 1.0)])
    out = normalize_retrieval(retrieval)
    phrases = out.sentences[0].phrases
    assert [p.name for p in phrases] == ["Boston Red Sox", "Yankees"]
    assert all(text[p.start:p.end] == p.name and p.score == 0.5 for p in phrases)
    assert retrieval.sentences[0].phrases[0].name == name  # input untouched


# Words that make each rule 1-7 act: "and", punctuation, lowercase and mixed phrases,
# openers, short words, stopwords, calendar words, quantities, type words and particles.
PHRASE_WORDS = ["the", "The", "THE", "and", "And", "a", "one", "first", "other", "Red", "Sox",
                "team", "Teams", "sports", "disease", "Diseases", "drug", "drugs", "states",
                "State", "USA", "US", "WAS", "was", "July", "may", "May", "10", "3", "mg",
                "cases", "de", "von", "Tour", "Paris", "Chinese", "police", "Boeing", "747",
                "x", "Ab", "'s", "particular", ",", ".", "-", '"', "(", ")", "\u2013",
                "\u00e9t\u00e9"]


@st.composite
def phrases(draw):
    """A phrase of vocabulary words with random spacing, or any short text."""
    if draw(st.booleans()):
        return draw(st.text(alphabet="aAtThHeEnNdDsS .,'-\u2013\u00e9\t", max_size=14))
    words = draw(st.lists(st.sampled_from(PHRASE_WORDS), max_size=6))
    return "".join(w + draw(st.sampled_from([" ", " ", "", "  "])) for w in words)


@settings(max_examples=400, deadline=None)
@given(st.lists(phrases(), max_size=8), st.sets(st.integers(1, 7)),
       st.sampled_from(["disease", "state in the USA", "sports team", "drug"]),
       st.sampled_from([(), ("drug",), ("disease", "company")]), st.booleans())
def test_normalize_names_equals_normalize_span(names, rules, entity_type, other_types,
                                               names_only):
    subquestion = Subquestion("LOC", entity_type, 10, tuple(sorted(rules)),
                              f"Which {entity_type}?", other_types=other_types,
                              names_only=names_only)
    names += ["The Sand", "Hand", "Diseases", "teams", "WAS", "and", "Sports Teams", "10 mg",
              "3 Cases", "drugs", "drug abuse", "disease gene", "team owners", "Drug",
              "players U.S.", "1 - Craig Dowd", "Chinese police", "Tour de France"]
    assert normalize_names(names, subquestion) == {
        name: normalize_span(name, 0, subquestion) for name in names}
