"""Word and name shapes that several stages share."""

from __future__ import annotations

import re

CAP = r"[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]*"  # a capitalized word (Latin letters incl. accents)
NAME = rf"{CAP}(?:[ \t]+(?:[A-Z]\.|{CAP})){{0,3}}"  # a name after a cue: up to four words or initials
SENTENCE_START = re.compile(r"[.!?:;\n\"“(>*-]\s*$")  # searched in the few characters before a word
WORD_TOKEN = re.compile(r"(?<![\w'’@./-])([^\W\d_][\w'’-]*)(?![\w@])")  # a word, not inside an identifier or path
NAME_WORD = re.compile(WORD_TOKEN.pattern + r"(\.?)")  # a word and an initial's dot


def name_shape(word: str) -> str:
    """ "lower", "title" (one capital first) or "" for other shapes (ALL CAPS, mixed case)."""
    if word.islower():
        return "lower"
    return "title" if word[0].isupper() and not any(c.isupper() for c in word[1:]) else ""
