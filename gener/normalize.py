"""Normalization of retrieved phrases: rules 1-7 of the paper's Appendix A.

Rules apply in order, each only when ``subquestion.has_rule(n)``:

1. :func:`split_on_and` - split composite mentions on the word "and";
2. :func:`strip_punctuation` - strip punctuation (and spaces) at the start and end;
3. :func:`is_all_lowercase` - drop phrases whose letters are all lowercase, and
   :func:`name_core` - keep only the name in a mixed phrase ("Russian peacemaker Alexander
   Lebed" -> "Alexander Lebed", "1 - Craig Dowd" -> "Craig Dowd"; "Chinese police" goes);
4. :func:`strip_leading_the` - drop a leading "the";
5. :func:`is_too_short` - drop phrases shorter than 3 characters;
6. :func:`is_stopword` - drop phrases whose lowercase form is a stopword or a month or
   weekday name, and
   :func:`is_quantity` counts and measures ("10 mg", "3 cases");
7. :func:`is_type_word_or_generic` - drop the [TYPE] word itself, its plural/singular, and
   generic phrases built from it ("particular disease", "countries", "these sports teams");
   :func:`uses_type_word_as_modifier` - drop compounds in which the type's head word
   modifies another noun ("disease gene", "city council"): they name something else.
   Both tests use the types of all the recipe's subquestions (``Subquestion.class_types``).

:func:`normalize_span` applies them to a span of a sentence and keeps character offsets, so
that :func:`normalize_retrieval` can rewrite retrieved phrases in place.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache

MIN_LENGTH = 3
_AND = re.compile(r"\s+and\s+")
_STRIP = string.punctuation + string.whitespace + "\u201c\u201d\u2018\u2019\u00ab\u00bb\u2013\u2014"
_THE = re.compile(r"^the\s+", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+(?:'s)?")
_QUANTITY = re.compile(r"^\d[\d.,\s]*(?:\s[a-z]+)+$")

# The NLTK English stopword list, plus "us" (the paper's own example of a stopword).
STOPWORDS = frozenset("""
i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself
yourselves he him his himself she she's her hers herself it it's its itself they them their
theirs themselves what which who whom this that that'll these those am is are was were be
been being have has had having do does did doing a an the and but if or because as until
while of at by for with about against between into through during before after above below
to from up down in out on off over under again further then once here there when where why
how all any both each few more most other some such no nor not only own same so than too
very s t can will just don don't should should've now d ll m o re ve y ain aren aren't
couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma
mightn mightn't mustn mustn't needn needn't shan shan't shouldn shouldn't wasn wasn't weren
weren't won won't wouldn wouldn't us
""".split())
# Calendar names are capitalised but name no entity of the types asked for (rule 6).
CALENDAR_WORDS = frozenset("""
january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday
jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri
""".split())  # not "sun" and "sat": The Sun, the SAT

# Words that make a type word generic rather than a name ("a particular disease").
GENERIC_WORDS = frozenset("""
a an the this that these those some any each every all other another such certain
particular specific various several many multiple different same similar given main major
minor new old known unknown common rare typical individual separate distinct numerous
one two three few more most its their his her our your my which what whose
""".split())
# Words that open a lowercase phrase without being part of what it names ("one patient",
# "other abnormalities", "second allele"): determiners, quantifiers and ordinals (rule 4).
LEADING_DETERMINERS = frozenset("""
a an the this that these those some any each every all other another such one two three
four five six seven eight nine ten few several many various both same only first second
third fourth fifth last certain particular specific
""".split())
_PREPOSITIONS = frozenset("in of for on at from with by to".split())
# Words that may follow a type word inside a name of that type ("von Willebrand disease
# type B", "Usher syndrome 2"): subtype designators.
_DESIGNATOR = re.compile(r"^(?:types?|subtypes?|\d+[a-z]?|[a-z]|[ivx]+)$")
_IRREGULAR = {"person": "people", "man": "men", "woman": "women", "child": "children"}
# Lowercase words that may sit inside a name ("Tour de France", "Ludwig van Beethoven").
NAME_PARTICLES = frozenset("de da del della di du des van von der den la le y al el bin ibn"
                           .split())
_NAME_OPENERS = NAME_PARTICLES | {"the"}
_TOKEN = re.compile(r"\S+")


def split_on_and(name: str) -> list[str]:
    """Rule 1: ``"France and Germany"`` -> ``["France", "Germany"]`` (empty parts dropped)."""
    return [name[s:e] for s, e in _and_parts(name) if s < e]


def strip_punctuation(name: str) -> str:
    """Rule 2: remove punctuation and spaces at both ends (``"Leprosy,"`` -> ``"Leprosy"``)."""
    return name.strip(_STRIP)


def is_all_lowercase(name: str) -> bool:
    """Rule 3: true when the phrase has letters and none is uppercase (``str.islower``)."""
    return name.islower()


def name_core(name: str) -> tuple[int, int] | None:
    """Rule 3 for mixed phrases: the ``(start, end)`` of the name in ``name``, or None.

    Names are capitalised, so a lowercase word other than a function word or name particle
    is not part of one: the name starts after the last such word, at its first capitalised
    word or a "the" or name particle just before it (a leading "the" is rule 4's), and ends
    at the last word with a capital letter or a digit ("Boeing 747"). Phrases with no
    capitalised word after that ("Chinese police") have none."""
    words = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(name)]
    last = -1
    for i, (_, _, word) in enumerate(words):
        if word.islower() and word not in STOPWORDS and word not in NAME_PARTICLES \
                and any(map(str.isalpha, word)):
            last = i
    rest = words[last + 1:]
    capitalised = [any(map(str.isupper, word)) for _, _, word in rest]
    if True not in capitalised:
        return None
    first = end = capitalised.index(True)
    for i in range(len(rest) - 1, first, -1):  # the last word with a capital or a digit
        if capitalised[i] or any(map(str.isdigit, rest[i][2])):
            end = i
            break
    while first > 0 and rest[first - 1][2] in _NAME_OPENERS:  # "the Beatles", "de Gaulle"
        first -= 1
    return rest[first][0], rest[end][1]


def strip_leading_the(name: str) -> str:
    """Rule 4: ``"the Boston Red Sox"`` -> ``"Boston Red Sox"`` (case-insensitive); from an
    all-lowercase phrase, every leading determiner ("one other patient" -> "patient")."""
    return name[_opener_length(name):]


def is_too_short(name: str) -> bool:
    """Rule 5: true for phrases shorter than 3 characters."""
    return len(name) < MIN_LENGTH


def is_stopword(name: str) -> bool:
    """Rule 6: true when the lowercase phrase is a stopword ("WAS", "US") or the name of a
    month or weekday ("July")."""
    low = name.lower()
    return low in STOPWORDS or low in CALENDAR_WORDS


def is_quantity(name: str) -> bool:
    """Rule 6 (extended): a count or measure, a number followed by lowercase words only
    ("10 mg", "3 cases", "24 year old male"), which is never a name. Rule 3 drops these
    where it applies; this drops them where lowercase names are kept ("5-fluorouracil" is
    not a quantity: it has a hyphen)."""
    return _QUANTITY.match(name) is not None


@lru_cache(maxsize=1024)
def type_word_forms(entity_type: str) -> frozenset[str]:
    """Lowercase content words of the type and their simple singular/plural forms.

    For a type with a prepositional phrase ("state in the USA") only the words before the
    preposition count, so "USA" is not a type word but "state" and "states" are.
    """
    forms = set()
    for word in _type_words(entity_type):
        forms.update(number_forms(word))
    return frozenset(forms)


@lru_cache(maxsize=1024)
def type_head_forms(entity_type: str) -> frozenset[str]:
    """Singular/plural forms of the type's head word: its last word before any preposition."""
    words = _type_words(entity_type)
    return frozenset(number_forms(words[-1])) if words else frozenset()


def _type_words(entity_type: str) -> list[str]:
    words = []
    for word in entity_type.lower().split():
        if word in _PREPOSITIONS:
            break
        words.append(word)
    return words


def is_type_word_or_generic(name: str, entity_type: str) -> bool:
    """Rule 7 (extended): the [TYPE] word, a plural/singular of it, or a generic phrase of it.

    A phrase is dropped when, after removing generic words ("particular", "these", ...), it
    is non-empty and consists only of the type's words in singular or plural form: for
    "Which sports team?" this drops "sports team", "teams", "the other sports teams", but keeps
    "Boston Red Sox"; for "Which disease?" it drops "particular disease" but keeps "heart
    disease" and "Crohn's disease".
    """
    return _only_type_words(_WORD.findall(name.lower()), entity_type)


def _only_type_words(words: list[str], entity_type: str) -> bool:
    forms = type_word_forms(entity_type)
    words = [w for w in words if w not in GENERIC_WORDS]
    return bool(words) and all(w in forms for w in words)


def uses_type_word_as_modifier(name: str, entity_type: str) -> bool:
    """Rule 7 (extended): the type's head word modifies a following word, so the phrase's head
    is something else: "disease gene", "disease locus", "city council", "drug resistance".

    The head word is the type's last word before any preposition ("team" in "sports team",
    "state" in "state in the USA"). Kept: the head word last ("heart disease"), followed by a
    preposition ("disease of the heart") or by subtype designators only ("disease type 2").
    """
    return _type_word_modifies(_WORD.findall(name.lower()), entity_type)


def _type_word_modifies(words: list[str], entity_type: str) -> bool:
    head = type_head_forms(entity_type)
    for i, word in enumerate(words[:-1]):
        if word in head and words[i + 1] not in _PREPOSITIONS \
                and not all(_DESIGNATOR.match(w) for w in words[i + 1:]):
            return True
    return False


def names_a_class(text: str, class_types) -> bool:
    """Rule 7 for any of ``class_types`` (the words of ``text`` split once)."""
    words = _WORD.findall(text.lower())
    kept = {w for w in words if w not in GENERIC_WORDS}
    modifiers = set(words[:-1])
    forms, heads = _class_words(tuple(class_types))
    if not (kept and kept <= forms) and not modifiers & heads:
        return False  # no type's words at all: the common case, decided without the loop
    return any((kept and kept <= type_word_forms(t))
               or (modifiers & type_head_forms(t) and _type_word_modifies(words, t))
               for t in class_types)


@lru_cache(maxsize=256)
def _class_words(class_types: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """The union of the types' word forms and of their head forms."""
    return (frozenset().union(*map(type_word_forms, class_types)),
            frozenset().union(*map(type_head_forms, class_types)))


def normalize_span(name: str, start: int, subquestion) -> list[tuple[str, int, int]]:
    """Rules 1-7 on a phrase found at character ``start``: ``(text, start, end)`` survivors."""
    parts = normalize_span_untyped(name, start, subquestion)
    if 7 in subquestion.rules:
        parts = [p for p in parts if not names_a_class(p[0], subquestion.class_types)]
    return parts


def normalize_span_untyped(name: str, start: int, subquestion) -> list[tuple[str, int, int]]:
    """:func:`normalize_span` without rule 7, the only rule that depends on the entity type
    (so its result may be shared by subquestions with the same rules)."""
    rules = subquestion.rules
    parts = _and_parts(name) if 1 in rules else [(0, len(name))]
    out = []
    for s, e in parts:
        text = name[s:e]
        if 2 in rules:
            lead = len(text) - len(text.lstrip(_STRIP))
            text = strip_punctuation(text)
            s += lead
        if not text or (3 in rules and is_all_lowercase(text)):
            continue
        if 4 in rules:
            lead = _opener_length(text)
            text, s = text[lead:], s + lead
        if 3 in rules and subquestion.names_only:
            core = name_core(text)
            if core is None:
                continue
            text, s = text[core[0]:core[1]], s + core[0]
        if not text or (5 in rules and is_too_short(text)):
            continue
        if 6 in rules and (is_stopword(text) or is_quantity(text)):
            continue
        out.append((text, start + s, start + s + len(text)))
    return out


def normalize_names(names, subquestion) -> dict[str, list[tuple[str, int, int]]]:
    """``{name: normalize_span(name, 0, subquestion)}`` for many distinct ``names``, faster.

    A name that rule 1 does not split is stripped (rule 2) and loses its opener (rule 4), and
    is kept as it is then when cheap tests show that rules 3, 5, 6 and 7 keep it (they test
    the stripped name, and stripping does not change ``islower``): its letters are not all
    lowercase, it is its own name core, it has 3+ characters, its lowercase form is no
    stopword, calendar word or number, and it contains no type word of ``class_types``. Only
    the others go through :func:`normalize_span`.
    """
    rules = subquestion.rules
    split, strip, lower3, the, stop = (r in rules for r in (1, 2, 3, 4, 6))
    names3 = lower3 and subquestion.names_only
    forms = sorted({f for t in subquestion.class_types for f in type_word_forms(t)}) \
        if 7 in rules else []
    generic = re.compile("|".join(map(re.escape, forms))).search if forms else None
    parts = {}
    for name in names:
        text, start = name, 0
        if strip:
            text = strip_punctuation(name)
            if text != name and text:
                start = name.index(text)
        if the and text:
            rest = strip_leading_the(text)
            start += len(text) - len(rest)
            text = rest
        low = text.lower()
        if len(text) >= MIN_LENGTH and not (split and _AND.search(name)) \
                and not (lower3 and name.islower()) \
                and not (names3 and name_core(text) != (0, len(text))) \
                and not (stop and (low in STOPWORDS or low in CALENDAR_WORDS
                                   or low[0].isdigit())) \
                and not (generic and generic(low)):
            parts[name] = [(text, start, start + len(text))]
        else:
            parts[name] = normalize_span(name, 0, subquestion)
    return parts


def normalize_phrase(name: str, subquestion) -> list[str]:
    """Rules 1-7, as enabled for ``subquestion``: zero or more normalized phrases."""
    return [text for text, _, _ in normalize_span(name, 0, subquestion)]


def normalize_retrieval(retrieval):
    """A copy of a :class:`~gener.artifacts.SubquestionRetrieval` with normalized phrases.

    Each phrase becomes zero or more phrases whose offsets still satisfy
    ``sentence[start:end] == name``; scores are kept; sentences are kept even if no phrase
    survives (they remain training sentences, as in the paper).
    """
    from gener.artifacts import RetrievedPhrase, RetrievedSentence, SubquestionRetrieval

    sq = retrieval.subquestion
    parts = normalize_names(dict.fromkeys(p.name for sent in retrieval.sentences
                                          for p in sent.phrases), sq)
    sentences = []
    for sent in retrieval.sentences:
        phrases = []
        for p in sent.phrases:
            phrases += [RetrievedPhrase(text, p.start + s, p.start + e, p.score)
                        for text, s, e in parts[p.name]]
        sentences.append(RetrievedSentence(sent.sentence, phrases, sent.sentence_id,
                                           sent.score, sent.abbreviations))
    return SubquestionRetrieval(sq, sentences)


def _and_parts(name: str) -> list[tuple[int, int]]:
    parts, s = [], 0
    for m in _AND.finditer(name):
        parts.append((s, m.start()))
        s = m.end()
    parts.append((s, len(name)))
    return parts


def _opener_length(text: str) -> int:
    """How many leading characters rule 4 drops: "the " when something follows, and from a
    lowercase phrase every leading determiner when a word follows them."""
    if is_all_lowercase(text):
        first = next((m for m in _TOKEN.finditer(text) if m.group() not in LEADING_DETERMINERS),
                     None)
        if first and first.start() and first.group()[0].isalpha():
            return first.start()
    m = _THE.match(text)
    return m.end() if m and m.end() < len(text) else 0


def number_forms(word: str) -> set[str]:
    """A lowercase word with its simple singular and plural forms ("company", "companies")."""
    forms = {word, word + "s", word + "es"}
    if word.endswith("y"):
        forms.add(word[:-1] + "ies")
    if word.endswith("ies"):
        forms.add(word[:-3] + "y")
    if word.endswith("es"):
        forms.add(word[:-2])
    if word.endswith("s"):
        forms.add(word[:-1])
    for singular, plural in _IRREGULAR.items():
        if word in (singular, plural):
            forms.update((singular, plural))
    return forms
