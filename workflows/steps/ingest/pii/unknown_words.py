"""Stage 2, on the model's chunks: capitalized words that are no English word, as low-score
PERSON or LOCATION spans (the names and places the small model misses)."""

from __future__ import annotations

import re

from .common_words import COMMON_CAPS, OPENER_SHAPE
from .english import english_goes_on, english_text, is_english, typo
from .shapes import SENTENCE_START, WORD_TOKEN
from .spans import Span

PLACE_PREPOSITION = re.compile(r"\b(?:in|at|near)[ \t]+$")
ORG_WORD = re.compile(
    r"[ \t]+(?:[A-Z][a-z]+[ \t]+)?"
    r"(?:Inc|Incorporated|Corp|Corporation|Company|Co|Ltd|LLC|GmbH|Group|Systems|Software|Agency|Bank|Labs?)\b"
)


def unknown_word_spans(text: str, words: frozenset[str]) -> list[Span]:
    """Capitalized words that are no English word (not in ``words``, not a stop word, no
    inflection or typo of one), in runs, at a low score (0.55): the names and places the small
    model misses. A run after "in", "at" or "near" is a LOCATION, where all-capital words of five
    letters or more count too ("in HARSTAD"); a run of two or more words is a PERSON ("the verses
    from Edi Živković"), and so is one word at sentence start that an English sentence goes on
    after ("Shovda is very reliable", "Aloisia, can I"). Before a company word ("Streetcred
    Software"), in a text that is not English, or of other all-capital or mixed-case words
    ("ADHD", "RPGs"), or of words inside identifiers, emails or paths, nothing is said."""
    if not words or not english_text(text):
        return []
    runs: list[tuple[int, int, str, int]] = []  # (start, end, "LOCATION" | "INITIAL" | "", words)
    for m in WORD_TOKEN.finditer(text):
        word = m.group(1)
        shape = word.isupper() or (word[0].isupper() and not any(c.isupper() for c in word[1:]))
        unknown = (
            shape
            and 3 <= len(word) <= 14
            and word not in COMMON_CAPS
            and not OPENER_SHAPE.fullmatch(word)
            and not is_english(word, words)
            and not typo(word, words)
        )
        if not unknown:
            continue
        last = runs[-1] if runs else None
        if last and not text[last[1] : m.start()].strip(" \t") and (last[2] == "LOCATION" or not word.isupper()):
            runs[-1] = (last[0], m.end(), last[2], last[3] + 1)  # the next word of a run
            continue
        before = text[max(0, m.start() - 6) : m.start()]
        if PLACE_PREPOSITION.search(before) and (not word.isupper() or len(word) >= 5):
            runs.append((m.start(), m.end(), "LOCATION", 1))
        elif not word.isupper():
            initial = m.start() == 0 or SENTENCE_START.search(before[-4:])
            runs.append((m.start(), m.end(), "INITIAL" if initial else "", 1))
    out = []
    for a, b, kind, n in runs:
        if ORG_WORD.match(text, b):
            continue
        if kind == "LOCATION":
            out.append(Span(a, b, "LOCATION", 0.55, "unknown_word"))
        elif n >= 2 or (kind == "INITIAL" and english_goes_on(text, b, words)):
            out.append(Span(a, b, "PERSON", 0.55, "unknown_word"))
    return out
