"""Stage 3, known names: listed first names (``name_lists``) in any case on every English
sentence, with the initials, particles and last names after them, guarded against common words
("long day") and proper nouns used as common nouns ("Christmas Eve")."""

from __future__ import annotations

import re

from .chunks import sentences
from .common_words import COMMON_CAPS, common_word
from .english import english_text, is_english, typo
from .evidence import NameEvidence
from .shapes import NAME_WORD, name_shape
from .spans import Span

PARTICLES = frozenset("van von der den de del della di da dos du le la ten ter bin ibn".split())
DETERMINERS = frozenset("the a an my your his her our their its this that these those every any no some".split())


def last_name(word: str, shape: str, english_first: bool, ev: NameEvidence) -> bool:
    """Whether ``word``, in the shape of the first name before it, goes on that name: a listed
    name that is no English word ("jerković", "Stanković", "Lima"), or capitalized, an unknown
    word ("Vedzizhev"), or a listed last name that is an English word after a first name that is
    not ("Zoe Young"; never "long day", "young son")."""
    if name_shape(word) != shape or common_word(word):
        return False
    if not ev.english(word):
        return ev.listed(word) or (shape == "title" and not typo(word, ev.words))
    return shape == "title" and not english_first and word.lower() in ev.last


def proper_noun_goes_on(text: str, tokens: list[re.Match[str]], j: int, ev: NameEvidence) -> bool:
    """Whether a capitalized English word follows the name's first word directly: the name is part
    of another proper noun ("The Trevor Project", "Cal State")."""
    return (
        j < len(tokens)
        and not text[tokens[j - 1].end(1) : tokens[j].start()].strip(" \t")
        and (name_shape(tokens[j].group(1)) == "title" and ev.english(tokens[j].group(1)))
    )


def not_a_name_here(text: str, tokens: list[re.Match[str]], i: int) -> bool:
    """For a word the dictionary has as a proper noun ("Hunter", "Eve", "Faith"): whether its
    place says it is used as a common noun or inside another name: first in the sentence, after
    a determiner or possessive ("my Doc", "the Serenity prayer"), or right after a capitalized
    word or a possessive 's ("Christmas Eve", "Burger King", "Assassin's Creed")."""
    if i == 0:
        return True
    before = tokens[i - 1].group(1)
    return before.lower() in DETERMINERS or name_shape(before) == "title" or before.endswith(("'s", "’s"))


def known_name_spans(text: str, ev: NameEvidence) -> list[Span]:
    """Names that a list of first names knows, in any case ("follow up with patricia desrosiers",
    "Johanna shouted at Tiffany"), at a low score (0.55), with what follows them in the same
    case: initials, particles ("van de") and words that are a last name or no English word
    ("Tamara T Stanković", "borna jerković"). A first name that is an English word ("Will",
    "Grace", "hope") counts only capitalized and followed by such a last name ("Grace Kelly"); one
    that the dictionary has only as a proper noun ("Scott") counts capitalized, alone only where
    its place allows a name (``not_a_name_here``). Stop words, fillers, lower-case words of three
    letters or less and names followed by a capitalized English word ("The Trevor Project") are
    no names alone; in a sentence that is not English nothing is said (the lists hold Spanish and
    Italian first names: "una", "Pero"); without a dictionary (a model without a lookup
    lemmatizer) the stage is off."""
    if not ev.words:
        return []
    out: list[Span] = []
    for a, b in sentences(text):
        if english_text(text[a:b]):
            out += _known_names(text, list(NAME_WORD.finditer(text, a, b)), ev)
    return out


def _known_names(text: str, tokens: list[re.Match[str]], ev: NameEvidence) -> list[Span]:
    """``known_name_spans`` in one sentence, given its word tokens."""
    out: list[Span] = []
    i = 0
    while i < len(tokens):
        m = tokens[i]
        word, shape = m.group(1), name_shape(m.group(1))
        if not shape or len(word) < 3 or word.lower() not in ev.first or common_word(word) or word in COMMON_CAPS:
            i += 1
            continue
        english = ev.english(word)
        if shape == "lower" and (english or typo(word, ev.words)):
            i += 1
            continue
        end, j, surname = m.end(1), i + 1, False
        pos = end  # the end of the last word taken, with an initial's dot
        while j < len(tokens) and not text[pos : tokens[j].start()].strip(" \t"):
            nxt = tokens[j].group(1)
            if len(nxt) == 1 and (nxt.isupper() or shape == "lower") or nxt.lower() in PARTICLES:
                pos, j = tokens[j].end(), j + 1  # an initial or a particle: kept only before a last name
                continue
            if not last_name(nxt, shape, english, ev):
                break
            end = pos = tokens[j].end(1)
            surname, j = True, j + 1
        alone = (
            not english
            and len(word) >= (4 if shape == "lower" else 3)
            and not proper_noun_goes_on(text, tokens, j, ev)
            and not (is_english(word, ev.words) and not_a_name_here(text, tokens, i))
        )
        if surname or alone:
            out.append(Span(m.start(1), end, "PERSON", 0.55, "name_list"))
        i = max(j, i + 1)
    return out
