"""The entity types a question asks for, however a user puts it.

"Which river?", "Which rivers?", "What rivers are there?" and "Name a river." all ask for
"river": the frame around the type is left out and its head noun made singular, as the
shipped recipes write types. A question that lists plural types ("Which diseases and
drugs?") asks for each under its own label; singular words offered as alternatives
("Which river or lake?") are asked under one label; words that only join into one type
("rock and roll bands", "HIV/AIDS drugs", "diseases of the heart and lungs") are one type.
"""

from __future__ import annotations

import re

# An imperative or interrogative frame before the type ("Name all the", "What kinds of").
_COMMAND = re.compile(r"^(?:please\s+)?(?:name|list|find|show|give|tell|get|extract)"
                      r"(?:\s+me)?\s+", re.IGNORECASE)
_ASKING = re.compile(r"^(?:which|what)(?:\s+(?:(?:are|is|were|was)\s+)?|$)", re.IGNORECASE)
_DETERMINERS = re.compile(r"^(?:(?:all|some|any|every|each|a|an|the|of)\s+)+", re.IGNORECASE)
_KIND_OF = re.compile(r"^(?:list|kinds?|types?|sorts?|names?|examples?)\s+of\s+"
                      r"(?:(?:all|some|the)\s+)*", re.IGNORECASE)
# A frame after the type, at the question's end ("... are there", "... mentioned in the
# text"); a verb inside the type ("people named John") is left alone.
_TRAILING = re.compile(
    r"\s+(?:(?:are|is|were|was)\s+(?:there|it|they|mentioned|named|listed|found|present)|"
    r"(?:does|do)\s+(?:the|this|it)(?:\s+\w+)?\s+(?:mention|name|contain)|"
    r"there|mentioned|listed|exists?)(?:\s+(?:in|on)\s+(?:the|this|these|that)\s+\w+)?$",
    re.IGNORECASE)
_END = "?.!;:,？！。 "
# Words before which a type's head noun ends ("state in the USA", "satellites made by").
_MODIFIER = re.compile(r"\s(?:in|of|from|by|with|for|on|at|that|which|who|where|made|born|"
                       r"located|built|founded|named|called|known)\s", re.IGNORECASE)
# What joins the types of a question that lists several.
_LISTING = re.compile(r"\s*,\s*(?:(?:and|or)\s+)?|\s+(?:and|or|&)\s+|\s*/\s*", re.IGNORECASE)
# Words that name no type on their own: a "type" made only of them is a frame.
_FRAME_WORDS = frozenset(
    "which what is are was were there it they me please do does all some any every each "
    "the a an of and or type types kind kinds sort sorts list lists name names example "
    "examples".split())
_IRREGULAR = {"people": "person", "men": "man", "women": "woman", "children": "child",
              "mice": "mouse", "geese": "goose", "teeth": "tooth", "feet": "foot"}
# Words ending in "s" that are no plural of a shorter word the vocabulary holds.
_UNCOUNTED = ("ss", "us", "is", "ics", "species", "series", "news", "means", "lens",
              "mumps", "measles", "rabies", "diabetes", "herpes", "scabies", "rickets",
              "shingles")


def question_labels(question: str) -> list[tuple[str, ...]]:
    """The entity types ``question`` asks for, grouped by label: a type per label ("Which
    diseases and drugs?": disease; drug), or one label of several types where singular
    words are offered as alternatives ("Which river or lake?": river, lake). Each type is a
    one-line recipe's ``type``; no group when the question names none ("Which?",
    "Name all")."""
    text = " ".join(str(question).split()).rstrip(_END)
    if text.isupper():  # "WHICH RIVERS?": capitals for emphasis, not acronyms
        text = text.lower()
    text = _ASKING.sub("", _COMMAND.sub("", text))
    text = _TRAILING.sub("", _KIND_OF.sub("", _DETERMINERS.sub("", text))).strip()
    modifier = _MODIFIER.search(text)
    cut = modifier.start() if modifier else len(text)
    parts = [_DETERMINERS.sub("", p).strip() for p in _LISTING.split(text[:cut])]
    parts = [p for p in parts if p]
    joins = _LISTING.findall(text[:cut])
    listed = [*parts[:-1], parts[-1] + text[cut:]] if parts else []
    if len(parts) > 1 and all(_plural(p.rsplit(" ", 1)[-1]) for p in parts[:-1]):
        groups = [(t,) for t in listed]
    elif len(parts) > 1 and not any(re.search(r"and|&", j, re.IGNORECASE) for j in joins) \
            and all(p.isalpha() and p.islower() for p in parts[:-1]):
        groups = [tuple(listed)]
    else:
        groups = [(text,)]
    named = []
    for group in groups:
        types = tuple(dict.fromkeys(singular_head(t) for t in group if t and not all(
            w.lower() in _FRAME_WORDS for w in t.split())))
        if types and types not in named:
            named.append(types)
    return named


def singular_head(text: str) -> str:
    """A type with its head noun in the singular ("states in the USA" -> "state in the
    USA"); the head is the last word before a modifier."""
    modifier = _MODIFIER.search(text)
    cut = modifier.start() if modifier else len(text)
    head_start = text.rfind(" ", 0, cut) + 1
    return text[:head_start] + _singular(text[head_start:cut]) + text[cut:]


def _plural(word: str) -> bool:
    return _singular(word) != word


def _singular(word: str) -> str:
    """``word`` in the singular when it is a plural noun whose singular the default
    encoder's vocabulary holds ("rivers", "Cities", "churches", "theses", "people"), in
    the word's case; acronyms ("AIDS"), names ("Texas") and other words as they are."""
    from gener.common_words import common_words

    lower = word.lower()
    single = _IRREGULAR.get(lower)
    if single is None and not word.isupper() and lower.isalpha() and len(lower) >= 4 and \
            lower.endswith("s") and not lower.endswith(_UNCOUNTED):
        if lower.endswith("ies"):
            singulars = (lower[:-3] + "y", lower[:-1])
        elif lower.endswith("ses"):
            singulars = (lower[:-2] + "is", lower[:-1], lower[:-2])
        elif lower.endswith(("xes", "zes", "ches", "shes")):
            singulars = (lower[:-1], lower[:-2])
        else:
            singulars = (lower[:-1],)
        words = common_words()
        single = next((s for s in singulars if len(s) >= 3 and s in words), None)
    if single is None:
        return word
    return single.capitalize() if word[:1].isupper() else single
