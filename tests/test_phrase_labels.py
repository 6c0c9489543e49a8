"""One label per phrase: from phrase-question similarity, or from the answers that verified
it (gener.phrase_labels)."""

import numpy as np

from gener.answers import Answer
from gener.artifacts import RetrievedPhrase, RetrievedSentence, SubquestionRetrieval
from gener.phrase_labels import answer_labels, dictionary_keys, label_phrases
from gener.recipes import Subquestion


def retrieval(label, entity_type, *names, rules=(2, 4)):
    sq = Subquestion(label, entity_type, 10, tuple(rules), f"Which {entity_type}?")
    sentences = [RetrievedSentence(f"{name} .", [RetrievedPhrase(name, 0, len(name))])
                 for name in names]
    return SubquestionRetrieval(sq, sentences)


def fake_similarity(table):
    """similarity(questions, texts) from {(question, text): cosine}, 0 elsewhere."""
    def similarity(questions, texts):
        return np.array([[table.get((q, t), 0.0) for q in questions] for t in texts])
    return similarity


def test_keys_are_normalized_like_the_dictionary_keys():
    keys = dictionary_keys([retrieval("LOC", "city", "the London", "London", "New York,")])
    assert keys == {"london": "London", "new york": "New York"}


def test_each_phrase_gets_the_label_of_its_most_similar_question():
    retrievals = [retrieval("ORG", "company", "London", "Shell"),
                  retrieval("LOC", "city", "London"), retrieval("LOC", "country", "Oman")]
    table = {("Which company?", "London"): 0.4, ("Which city?", "London"): 0.7,
             ("Which company?", "Shell"): 0.6, ("Which country?", "Shell"): 0.1,
             ("Which country?", "Oman"): 0.5, ("Which company?", "Oman"): 0.5}
    labels = label_phrases(retrievals, fake_similarity(table))
    # the best subquestion of a label counts; a tie goes to the label listed first (ORG)
    assert labels == {"london": "LOC", "shell": "ORG", "oman": "ORG"}


def test_a_recipe_with_one_label_needs_no_labels():
    def never(questions, texts):
        raise AssertionError("not needed")
    assert label_phrases([retrieval("Disease", "disease", "asthma"),
                          retrieval("Disease", "disorder", "gout")], never) == {}


def test_a_verified_answer_keeps_the_label_that_verified_it():
    sports = retrieval("sportsteam", "sports team", "Miami Heat")
    city = retrieval("geo-loc", "city", "Miami", "Paris")
    company = retrieval("company", "company", "Paris")
    sports.answers = [Answer("Miami Heat", "sportsteam", 1.0, 1, 0.7)]
    city.answers = [Answer("Miami", "geo-loc", 1.0, 1, 0.8),
                    Answer("Paris", "geo-loc", 1.0, 2, 0.6)]
    company.answers = [Answer("Paris", "company", 1.0, 1, 0.9)]
    # however similar "Miami" is to "Which sports team?"; Paris goes to the surer answer
    assert answer_labels([sports, city, company]) == {
        "miami heat": "sportsteam", "miami": "geo-loc", "paris": "company"}
    assert answer_labels([city]) == {}
