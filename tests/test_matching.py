"""Dictionary matching: paper semantics against a reference, rules 8-10, output formats."""

import json
import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gener.artifacts import RetrievedPhrase, RetrievedSentence, SubquestionRetrieval
from gener.dictionary import PseudoDictionary
from gener.errors import GenerError
from gener.matching import match, to_dataset, tokenize_many, write_jsonl
from gener.recipes import Subquestion
from gener.text import tokenize, tokenize_with_offsets
from tests.reference_matching import reference_match

WORDS = ["Red", "red", "Sox", "New", "York", "york", "the", "City", "of", ",", ".", "-",
         "Boston", "A", "a"]


def sq(label="LOC", rules=(), entity_type="city"):
    return Subquestion(label, entity_type, 10, tuple(rules), f"Which {entity_type}?")


def sentence(text, *names, score=0.0, abbreviations=None):
    phrases = []
    for name in names:
        start = text.index(name)
        phrases.append(RetrievedPhrase(name, start, start + len(name)))
    return RetrievedSentence(text, phrases, "", score, abbreviations or {})


def spans(record):
    return [(s["start"], s["end"], s["type"], s["source"]) for s in record["spans"]]


def test_retrieved_first_then_longest_match_without_tagged_tokens():
    loc = SubquestionRetrieval(sq("LOC"), [
        sentence("I love New York City and york .", "New York City"),
        RetrievedSentence("New York City is far .", [RetrievedPhrase("York", 4, 8)]),
    ])
    per = SubquestionRetrieval(sq("PER", (9,)), [sentence("York met New York City people",
                                                         "York")])
    result = match([loc, per], ["LOC", "PER"], deterministic=True, progress=False)
    r0, r1, r2 = result.records
    assert spans(r0) == [(2, 5, "LOC", "retrieved"), (6, 7, "LOC", "matched")]
    # "York" is tagged as retrieved first, so "New York City" cannot extend into it
    assert spans(r1) == [(1, 2, "LOC", "retrieved")]
    assert r2["ner_tags"][:5] == ["B-PER", "O", "B-LOC", "I-LOC", "I-LOC"]
    assert result.dictionary.counts["york"] == {"LOC": 1, "PER": 1}
    assert result.stats["spans_per_source"]["retrieved"] == 3


def test_rule_9_skips_single_lowercase_tokens_only_where_enabled():
    on = SubquestionRetrieval(sq("LOC", (9,)), [sentence("Aspirin and aspirin .", "Aspirin")])
    off = SubquestionRetrieval(sq("LOC"), [sentence("Aspirin and aspirin .", "Aspirin")])
    records = match([on, off], ["LOC"], progress=False).records
    assert [s[:2] for s in spans(records[0])] == [(0, 1)]
    assert [s[:2] for s in spans(records[1])] == [(0, 1), (2, 3)]


def multi_label_input():
    a = SubquestionRetrieval(sq("LOC"), [sentence("Washington is here .", "Washington")] * 3)
    b = SubquestionRetrieval(sq("PER"), [sentence("Washington spoke .", "Washington")] * 3
                             + [sentence("We saw Washington , Washington , Washington , "
                                         "Washington , Washington , Washington .")])
    return [a, b]


def test_multi_label_draws_are_seeded_and_argmax_breaks_ties_by_label_order():
    labels = ["LOC", "PER"]
    draws = [[s[2] for s in spans(match(multi_label_input(), labels, seed=seed,
                                        progress=False).records[-1])] for seed in (1, 1, 2)]
    assert draws[0] == draws[1] and len(draws[0]) == 6
    assert set(draws[0] + draws[2]) == {"LOC", "PER"}
    fixed = match(multi_label_input(), labels, deterministic=True, progress=False)
    assert {s[2] for s in spans(fixed.records[-1])} == {"LOC"}  # 3 vs 3: first label wins


def test_abbreviations_tagged_where_they_occur_but_not_in_dictionary():
    retrieval = SubquestionRetrieval(sq("Disease", (8,), "disease"), [sentence(
        "Crohn's disease ( CD ) is common ; CD hurts .", "Crohn's disease",
        abbreviations={"CD": "Crohn's disease"})])
    result = match([retrieval], ["Disease"], progress=False)
    assert spans(result.records[0]) == [(0, 4, "Disease", "retrieved"),
                                        (5, 6, "Disease", "abbreviation"),
                                        (10, 11, "Disease", "abbreviation")]
    assert "cd" not in result.dictionary.counts


def test_abbreviation_entries_are_matched_everywhere_and_common_words_only_in_capitals(
        tmp_path):
    retrieval = SubquestionRetrieval(sq("Disease", (8,), "disease"), [
        sentence("Crohn's disease ( CD ) and Angelman syndrome ( AS ) .", "Crohn's disease",
                 "Angelman syndrome", abbreviations={"CD": "Crohn's disease",
                                                     "AS": "Angelman syndrome"}),
        sentence("CD is as bad as AS ."),
        sentence("As for cd , it is AS .")])
    result = match([retrieval], ["Disease"], progress=False,
                   abbreviation_entries=frozenset({"as"}))
    assert result.dictionary.counts["cd"] == {"Disease": 1}
    assert result.dictionary.counts["as"] == {"Disease": 1}
    assert result.dictionary.capitals_only == {"as"}
    assert spans(result.records[1]) == [(0, 1, "Disease", "matched"),
                                        (5, 6, "Disease", "matched")]
    assert spans(result.records[2]) == [(2, 3, "Disease", "matched"),
                                        (6, 7, "Disease", "matched")]
    path = tmp_path / "dictionary.json"
    result.dictionary.save(path)
    assert PseudoDictionary.load(path).capitals_only == {"as"}
    path.write_text(json.dumps({"labels": ["Disease"], "phrases": {}, "capitals_only": "as"}))
    with pytest.raises(GenerError, match="capitals_only must be a list"):
        PseudoDictionary.load(path)


def test_abbreviation_used_in_another_sense_is_no_entry():
    def doc_sentence(sentence_id, text, *names, abbreviations=None):
        return replace(sentence(text, *names, abbreviations=abbreviations),
                       sentence_id=sentence_id)

    defined = doc_sentence("Alzheimer:0", "Alzheimer's disease ( AD ) is common .",
                           "Alzheimer's disease", abbreviations={"AD": "Alzheimer's disease"})
    disease = SubquestionRetrieval(sq("Disease", (8,), "disease"), [
        defined, doc_sentence("Alzheimer:1", "AD hurts ."),
        doc_sentence("Care:1", "Alzheimer's disease and AD care .", "Alzheimer's disease")])
    places = SubquestionRetrieval(sq("LOC", (), "city"), [
        doc_sentence("Rome:2", "Rome fell in AD 476 .", "Rome"),
        doc_sentence("Jesus:0", "Jerusalem , AD 30 .", "Jerusalem"),
        doc_sentence("Jesus:1", "He was born in Bethlehem .", "Bethlehem")])
    # "AD" is written in four documents, two of which name the disease: still an entry
    result = match([disease, places], ["Disease", "LOC"], progress=False,
                   abbreviation_entries=frozenset())
    assert result.dictionary.counts["ad"] == {"Disease": 1}
    assert spans(result.records[3]) == [(0, 1, "LOC", "retrieved"), (3, 4, "Disease", "matched")]
    # one more document dating events: most documents writing "AD" use it in another sense
    places.sentences.append(doc_sentence("Nero:4", "Nero died in Rome in AD 68 .", "Rome"))
    result = match([disease, places], ["Disease", "LOC"], progress=False,
                   abbreviation_entries=frozenset())
    assert "ad" not in result.dictionary.counts
    assert spans(result.records[0])[1] == (5, 6, "Disease", "abbreviation")
    assert spans(result.records[3]) == [(0, 1, "LOC", "retrieved")]
    assert spans(result.records[1]) == []  # where it was not defined, not tagged either
    # single-sentence documents (a benchmark's sentences) tell nothing of the sense
    alone = [replace(s, sentence_id=f"s{i}:0") for i, s in enumerate(disease.sentences +
                                                                    places.sentences)]
    result = match([replace(disease, sentences=alone[:3]), replace(places, sentences=alone[3:])],
                   ["Disease", "LOC"], progress=False, abbreviation_entries=frozenset())
    assert result.dictionary.counts["ad"] == {"Disease": 1}
    # documents defining the short form by different long forms all write it in its sense
    spellings = ["Alzheimer's disease", "Alzheimer disease", "Alzheimers disease"]
    variants = SubquestionRetrieval(sq("Disease", (8,), "disease"), [
        doc_sentence(f"D{i}:1", f"{long} ( AD ) is common .", long, abbreviations={"AD": long})
        for i, long in enumerate(spellings)])
    result = match([variants], ["Disease"], progress=False, abbreviation_entries=frozenset())
    assert result.dictionary.counts["ad"] == {"Disease": 3}


def test_short_forms_of_non_answers_are_dropped():
    from gener.abbreviations import drop_short_forms_of_non_answers

    retrieval = SubquestionRetrieval(sq("Disease", (8,), "disease"), [
        sentence("Lesch - Nyhan syndrome is caused by hypoxanthine phosphoribosyltransferase "
                 "( HPRT ) loss .", "Lesch - Nyhan syndrome", "HPRT",
                 abbreviations={"HPRT": "hypoxanthine phosphoribosyltransferase"}),
        sentence("X - linked adrenoleukodystrophy ( ALD ) is rare .",
                 "X - linked adrenoleukodystrophy", "ALD",
                 abbreviations={"ALD": "adrenoleukodystrophy"})])
    kept = drop_short_forms_of_non_answers([retrieval])[0]
    assert [[p.name for p in s.phrases] for s in kept.sentences] == [
        ["Lesch - Nyhan syndrome"], ["X - linked adrenoleukodystrophy", "ALD"]]
    without_rule8 = replace(retrieval, subquestion=sq("Disease", (), "disease"))
    assert drop_short_forms_of_non_answers([without_rule8])[0] == without_rule8


def test_short_forms_of_initials_in_another_order_or_hyphenated():
    from gener.abbreviations import initials_abbreviations

    assert initials_abbreviations("Myotonic dystrophy ( DM ) is common .") == {
        "DM": "Myotonic dystrophy"}  # from dystrophia myotonica: scispacy finds none
    assert initials_abbreviations("the disorder ataxia - telangiectasia ( A - T ) .") == {
        "A - T": "ataxia - telangiectasia"}
    assert initials_abbreviations("Deutsche Mark (DM) and muscle (DM) .") == {
        "DM": "Deutsche Mark"}
    assert initials_abbreviations("mild dystrophy , Myotonic ( DM )") == {}  # a comma between
    assert initials_abbreviations("a b c ( AB ) , and Smith ( England )") == {}


def test_nested_retrieved_phrases_keep_the_longest():
    retrieval = SubquestionRetrieval(sq("Disease", (), "disease"), [
        sentence("Levodopa helps in Parkinson ' s disease .", "Parkinson",
                 "Parkinson ' s disease")])
    result = match([retrieval], ["Disease"], progress=False)
    assert spans(result.records[0]) == [(3, 7, "Disease", "retrieved")]


def test_rule_9_by_position_skips_words_capitalised_only_by_position():
    retrieval = SubquestionRetrieval(sq("Disease", (9,), "disease"), [
        sentence("Treatment of gout and gout therapy .", "gout"),
        sentence("Gout : treatment and other treatment .", "Gout"),
        sentence("Treatment helps ; Gout hurts .")])
    other = SubquestionRetrieval(sq("Disease", (), "remedy"), [
        sentence("a treatment .", "treatment")])
    common = frozenset({"treatment"})
    plain = match([retrieval, other], ["Disease"], progress=False, common_words=common)
    by_position = match([retrieval, other], ["Disease"], progress=False, common_words=common,
                        rule9_by_position=True)
    assert spans(plain.records[2]) == [(0, 1, "Disease", "matched"),
                                       (3, 4, "Disease", "matched")]
    # "treatment" is usually lowercase and a common word: not at a sentence start either;
    # "gout" is no common word, so rule 9 (common words) never skips it
    assert spans(by_position.records[2]) == [(3, 4, "Disease", "matched")]
    assert spans(plain.records[0])[0] == (0, 1, "Disease", "matched")
    assert spans(by_position.records[0]) == [(2, 3, "Disease", "retrieved"),
                                             (4, 5, "Disease", "matched")]


def test_rule_10_extends_spans_inside_a_mined_phrase():
    retrieval = SubquestionRetrieval(sq("ORG", (10,), "sports team"), [
        sentence("The Boston Red Sox won .", "Red Sox")])
    result = match([retrieval], ["ORG"], progress=False, miner={"boston red sox"})
    assert spans(result.records[0]) == [(1, 4, "ORG", "refined")]


def test_bad_phrases_are_counted_and_empty_dictionary_is_an_error():
    bad = RetrievedSentence("Paris is nice", [
        RetrievedPhrase("Paris", 0, 5), RetrievedPhrase("Rome", 0, 4),
        RetrievedPhrase("nice", 10, 99), RetrievedPhrase("ari", 1, 4)])
    result = match([SubquestionRetrieval(sq(), [bad])], ["LOC"], progress=False)
    assert result.stats["skipped_phrases"]["text_mismatch"] == 1
    assert result.stats["skipped_phrases"]["offset_outside_sentence"] == 1
    assert result.stats["skipped_phrases"]["not_token_aligned"] == 1
    with pytest.raises(GenerError, match="empty pseudo-dictionary"):
        match([SubquestionRetrieval(sq(), [RetrievedSentence("x", [])])], ["LOC"],
              progress=False)


@given(st.lists(st.text(alphabet=" aB.,\t\u00e9\u00a0\u2028'-x", max_size=12), max_size=6))
def test_tokenize_many_equals_tokenize(texts):
    assert tokenize_many(texts) == [tokenize(t) for t in texts]


@st.composite
def matching_inputs(draw):
    sentences = []
    for _ in range(draw(st.integers(1, 5))):
        words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12))
        text = ""
        for w in words:
            text += ("" if not text or (w in ",." and draw(st.booleans())) else " ") + w
        offsets = tokenize_with_offsets(text)
        phrases = []
        for _ in range(draw(st.integers(0, 2))):
            i = draw(st.integers(0, len(offsets) - 1))
            j = draw(st.integers(i + 1, min(len(offsets), i + 4)))
            start, end = offsets[i][1], offsets[j - 1][2]
            phrases.append((text[start:end], start, end))
        sentences.append((text, phrases, draw(st.sampled_from(["LOC", "PER"])),
                          draw(st.booleans())))
    return sentences


@settings(max_examples=150, deadline=None)
@given(matching_inputs())
def test_matches_the_reference_algorithm(sentences):
    keys = {" ".join(tokenize(name)).lower() for _, ps, _, _ in sentences for name, _, _ in ps}
    retrievals = [SubquestionRetrieval(sq(label, (9,) if skip else ()), [RetrievedSentence(
        text, [RetrievedPhrase(*p) for p in phrases])]) for text, phrases, label, skip in sentences]
    if not keys:
        return
    result = match(retrievals, ["LOC", "PER"], progress=False)
    expected = reference_match(sentences, keys)
    for record, ref, (_, _, label, _) in zip(result.records, expected, sentences, strict=True):
        assert [s[:2] for s in spans(record)] == [r[:2] for r in ref]
        for got, want in zip(spans(record), ref, strict=True):
            types = result.dictionary.counts.get(want[2], {})
            if want[2] == "retrieved":
                assert got[2:] == (label, "retrieved")
            elif len(types) == 1:
                assert got[2:] == (next(iter(types)), "matched")


def test_jsonl_and_dataset_outputs(tmp_path):
    result = match(multi_label_input(), ["LOC", "PER"], seed=3, progress=False)
    write_jsonl(result.records, tmp_path / "train.jsonl")
    lines = (tmp_path / "train.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == result.records
    ds = to_dataset(result.records, ["LOC", "PER"])
    names = ds.features["ner_tags"].feature.names
    assert names == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert [names[i] for i in ds[0]["ner_tags"]] == result.records[0]["ner_tags"]
    assert ds[0]["spans"][0] == {"start": 0, "end": 1, "type": "LOC", "source": "retrieved"}
    assert len(ds) == len(result.records) and ds.features["retrieval_score"].dtype == "float32"


def test_output_does_not_depend_on_workers():
    retrievals = multi_label_input() * 3
    results = [match(retrievals, ["LOC", "PER"], seed=5, progress=False, workers=w)
               for w in (1, 2, 3)]
    assert results[0].records.text == results[1].records.text == results[2].records.text
    assert results[0].stats == results[1].stats == results[2].stats
    assert [r["id"] for r in results[0].records] == [str(i) for i in range(21)]


def test_records_behave_as_a_list_of_dicts(tmp_path):
    result = match(multi_label_input(), ["LOC", "PER"], deterministic=True, progress=False)
    records = result.records
    as_list = [json.loads(line) for line in records.lines]
    assert len(records) == 7 and records == as_list and as_list == records
    assert records[1:3] == as_list[1:3] and records[-1] == as_list[-1]
    write_jsonl(as_list, tmp_path / "a.jsonl")
    write_jsonl(records, tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet='aB"\\\x01\x1f\t -.,\u00e9\u2028\u0130\u03a3', max_size=10),
                min_size=1, max_size=4))
def test_records_hold_the_tokens_of_any_text(texts):
    sentences = [RetrievedSentence(t, []) for t in texts]
    sentences.append(sentence("Paris is Paris .", "Paris"))
    result = match([SubquestionRetrieval(sq(), sentences)], ["LOC"], progress=False)
    for text, record, line in zip(texts + ["Paris is Paris ."], result.records,
                                  result.records.lines, strict=True):
        assert record["tokens"] == tokenize(text)
        assert len(record["ner_tags"]) == len(record["tokens"])
        assert json.dumps(record, ensure_ascii=False) == line
    assert spans(result.records[-1]) == [(0, 1, "LOC", "retrieved"), (2, 3, "LOC", "matched")]


@given(st.lists(st.sampled_from(["LOC", "PER", 'a"b', "\u00e9\\"]), unique=True),
       st.dictionaries(st.text(max_size=5), st.dictionaries(st.sampled_from(["LOC", "x\ty"]),
                                                            st.integers(0, 99)), max_size=5))
def test_dictionary_json_is_json_dumps(labels, counts):
    from gener.dictionary import PseudoDictionary

    dictionary = PseudoDictionary(labels)
    dictionary.counts = counts
    assert dictionary.to_json() == json.dumps({"labels": labels, "phrases": counts},
                                              sort_keys=True, ensure_ascii=False, indent=1) + "\n"


def test_phrase_miner_keeps_significant_ngrams_without_stopword_or_number_ends():
    from gener.phrase_mining import mine_phrases

    rng = random.Random(0)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    sentences = [["The", "Boston", "Red", "Sox", "won", "in", "1996", "."]] * 12 + [
        rng.sample(words, 6) for _ in range(40)]
    assert mine_phrases(sentences) == {"boston red", "boston red sox", "red sox"}
    assert mine_phrases(sentences, threshold=4.0) == frozenset()  # 12 occurrences: ~3.3


def test_rule_9_with_common_words_skips_only_those():
    text = "Haloperidol and haloperidol , gene and gene ."
    retrieval = SubquestionRetrieval(sq("Chemical", (9,), "drug"),
                                     [sentence(text, "Haloperidol", "gene")])
    paper = match([retrieval], ["Chemical"], progress=False).records[0]
    common = match([retrieval], ["Chemical"], progress=False,
                   common_words=frozenset({"gene", "and"})).records[0]
    assert [s[:2] for s in spans(paper)] == [(0, 1), (4, 5)]  # the retrieved ones
    # the rare word is matched again lowercase; the common one is still skipped
    assert [s[:2] for s in spans(common)] == [(0, 1), (2, 3), (4, 5)]


def test_phrase_labels_fix_the_label_of_retrieved_and_matched_occurrences():
    company = SubquestionRetrieval(sq("ORG", (), "company"), [
        sentence("London shares fell .", "London"),
        sentence("London and Shell .", "London", "Shell")])
    city = SubquestionRetrieval(sq("LOC"), [sentence("He left London .", "London")])
    result = match([company, city], ["LOC", "ORG"], progress=False,
                   phrase_labels={"london": "LOC"})
    assert result.dictionary.counts["london"] == {"LOC": 3}
    assert result.dictionary.counts["shell"] == {"ORG": 1}
    tagged = [(s[2], s[3]) for r in result.records for s in spans(r)]
    assert tagged == [("LOC", "retrieved"), ("LOC", "retrieved"), ("ORG", "retrieved"),
                      ("LOC", "retrieved")]
    with pytest.raises(GenerError, match="MISC"):
        match([company], ["LOC", "ORG"], progress=False, phrase_labels={"london": "MISC"})


def test_rule_9_on_retrieved_phrases_skips_them_where_they_were_retrieved():
    from gener.common_words import common_words

    assert "patient" in common_words() and "haloperidol" not in common_words()
    text = "the patient took haloperidol and Aspirin ."
    retrieval = SubquestionRetrieval(sq("Chemical", (9,), "drug"),
                                     [sentence(text, "patient", "haloperidol", "Aspirin")])
    no_rule9 = SubquestionRetrieval(sq("Chemical", (), "drug"),
                                    [sentence(text, "patient", "haloperidol", "Aspirin")])

    def tagged(scope, retrievals=(retrieval,)):
        result = match(list(retrievals), ["Chemical"], progress=False, retrieved_rule9=scope)
        return [s[:2] for s in spans(result.records[0])], result.stats["skipped_phrases"]

    assert tagged("off")[0] == [(1, 2), (3, 4), (5, 6)]
    common, skipped = tagged("common")
    assert common == [(3, 4), (5, 6)] and skipped["rule9_retrieved"] == 1
    assert tagged("all")[0] == [(5, 6)]
    assert tagged("all", (no_rule9,))[0] == [(1, 2), (3, 4), (5, 6)]  # only with rule 9
    with pytest.raises(GenerError, match="retrieved_rule9"):
        tagged("some")


def test_rule_11_gives_coordinated_modifiers_the_shared_head():
    sentences = [sentence("Risk of breast and / or ovarian cancer .", "ovarian cancer"),
                 sentence("Prostate , skin , and lung cancer were seen .", "lung cancer"),
                 sentence("She had breast cancer and skin cancer ."),
                 sentence("Some had dementia or personality disorders .",
                          "personality disorders")]
    on = match([SubquestionRetrieval(sq("Disease", (11,), "disease"), sentences)],
               ["Disease"], progress=False)
    off = match([SubquestionRetrieval(sq("Disease", (), "disease"), sentences)],
                ["Disease"], progress=False)
    assert list(on.dictionary.counts) == ["ovarian cancer", "breast cancer", "lung cancer",
                                          "skin cancer", "personality disorders",
                                          "dementia disorders"]
    assert list(off.dictionary.counts) == ["ovarian cancer", "lung cancer",
                                           "personality disorders"]
    assert [s[:2] for s in spans(on.records[2])] == [(2, 4), (5, 7)]
    assert spans(off.records[2]) == []
    # A span starts at its coordinated modifiers when their keys are written somewhere
    # ("breast cancer", "skin cancer" in the third sentence); "Prostate" is capitalised, and
    # "dementia disorders" is written nowhere.
    assert spans(on.records[0]) == [(2, 8, "Disease", "refined")]
    assert spans(on.records[1]) == [(2, 7, "Disease", "refined")]
    assert spans(on.records[3]) == [(4, 6, "Disease", "retrieved")]
    assert spans(off.records[0]) == [(6, 8, "Disease", "retrieved")]


@pytest.mark.parametrize("before, key, expected", [
    ("history of breast and ", "ovarian cancer", ["breast cancer"]),
    ("history of breast/", "ovarian cancer", ["breast cancer"]),
    ("(breast , ovarian , and ", "lung cancer", ["ovarian cancer", "breast cancer"]),
    ("in both and ", "severe cases", []),  # a stopword is no modifier
    ("in x-ray and ", "gamma radiation", ["x - ray radiation"]),
    ("with ", "ovarian cancer", []),
    ("breast and ", "cancer", []),  # one word: nothing to share
])
def test_shared_head_keys(before, key, expected):
    from gener.matching import shared_head_keys

    assert shared_head_keys(before, key) == expected
