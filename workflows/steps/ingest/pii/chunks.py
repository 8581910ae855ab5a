"""Sentence-like chunks, and the gate that sends a chunk to NER only where the model can add a
name or place (``needs_ner``)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .common_words import COMMON_CAPS, OPENER_SHAPE, common_word
from .shapes import SENTENCE_START

CAPWORD = re.compile(r"\b[A-ZÀ-ÖØ-Þ][\w'’-]*")
# a sentence end: [.!?] and whitespace, not after a title or an initial; or a line break
CHUNK_END = re.compile(
    r"(?<=[.!?])(?<!\bMr\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bSt\.)(?<!Mrs\.)(?<!Apt\.)(?<!Prof\.)(?<!\b[A-Z]\.)\s+|\n+"
)


def needs_ner(text: str) -> bool:
    """Whether NER can add anything: a capitalized word that is neither sentence-initial nor common."""
    for m in CAPWORD.finditer(text):
        if m.group() in COMMON_CAPS:
            continue
        initial = m.start() == 0 or SENTENCE_START.search(text[max(0, m.start() - 4) : m.start()])
        if initial and (common_word(m.group()) or OPENER_SHAPE.fullmatch(m.group())):
            continue
        return True
    return False


def sentences(text: str) -> Iterator[tuple[int, int]]:
    """The sentence-like pieces of ``text`` (cut at sentence ends and line breaks), as (start, end)."""
    start = 0
    for m in [*CHUNK_END.finditer(text), None]:
        end = m.start() if m else len(text)
        if end > start:
            yield start, end
        start = m.end() if m else end


def ner_chunks(text: str) -> list[tuple[int, int]]:
    """The sentences of ``text`` that need NER (``needs_ner``), as (start, end)."""
    return [(a, b) for a, b in sentences(text) if needs_ner(text[a:b])]
