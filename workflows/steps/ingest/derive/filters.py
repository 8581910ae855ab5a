"""``source.derive.where``: which parent records a derived family keeps. Pure functions.

Turns and characters count the *non-system* messages only (a system prompt is not part of
the session): ``minTurns: 21`` keeps conversations of more than 20 user and assistant turns.
A record dropped by a filter is counted once, under the first filter it fails, in this order:
minTurns, maxTurns, minChars, maxChars, minQuality, stages, text[i], tags.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ....api.dataset_family import TextMatch, Where
from ....records import Record
from .lexicon import LexiconError, count, load_ref

Turns = Sequence[tuple[str, str]]


class FilterError(ValueError):
    """A filter that cannot run (bad regex, unknown lexicon); ``field`` is the spec field to fix."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def session_turns(record: Record) -> list[tuple[str, str]]:
    """(role, text) of the record's non-system messages, in order."""
    return [(m.role, m.content) for m in record.messages if m.role != "system"]


def char_count(turns: Turns) -> int:
    return sum(len(text) for _, text in turns)


def role_texts(turns: Turns, role: str) -> list[str]:
    return [text for r, text in turns if role == "any" or r == role]


@dataclass(frozen=True)
class TextFilter:
    name: str  # text[i]
    role: str
    hits: Callable[[str], int]
    min_hits: int

    def passes(self, turns: Turns) -> bool:
        found = 0
        for text in role_texts(turns, self.role):
            found += self.hits(text)
            if found >= self.min_hits:
                return True
        return False


def text_filter(index: int, match: TextMatch) -> TextFilter:
    field = f"source.derive.where.text[{index}]"
    if (match.regex is None) == (match.lexicon is None):
        raise FilterError(field, "set exactly one of regex or lexicon")
    if match.regex is not None:
        try:
            pattern = re.compile(match.regex, re.IGNORECASE)
        except re.error as err:
            raise FilterError(f"{field}.regex", f"{match.regex!r} is not a valid regular expression: {err}") from None
        return TextFilter(
            f"text[{index}]", match.role, lambda text: sum(1 for _ in pattern.finditer(text)), match.min_hits
        )
    try:
        lexicon = load_ref(match.lexicon or "")
    except LexiconError as err:
        raise FilterError(f"{field}.lexicon", str(err)) from None
    return TextFilter(f"text[{index}]", match.role, lambda text: count(lexicon, text), match.min_hits)


@dataclass(frozen=True)
class Filters:
    where: Where
    text: tuple[TextFilter, ...]

    def before_tagging(self, record: Record, turns: Turns) -> str | None:
        """The first filter ``record`` fails, tags aside; None when it passes them all."""
        w = self.where
        n = len(turns)
        if w.min_turns is not None and n < w.min_turns:
            return "minTurns"
        if w.max_turns is not None and n > w.max_turns:
            return "maxTurns"
        if w.min_chars is not None or w.max_chars is not None:
            chars = char_count(turns)
            if w.min_chars is not None and chars < w.min_chars:
                return "minChars"
            if w.max_chars is not None and chars > w.max_chars:
                return "maxChars"
        if w.min_quality is not None and (record.quality is None or record.quality.overall < w.min_quality):
            return "minQuality"
        if w.stages and record.provenance.stage not in w.stages:
            return "stages"
        for f in self.text:
            if not f.passes(turns):
                return f.name
        return None

    def after_tagging(self, tags: dict[str, float]) -> str | None:
        """``tags``: the record needs at least one of ``where.tags``."""
        if self.where.tags and not set(self.where.tags) & set(tags):
            return "tags"
        return None


def compile_where(where: Where) -> Filters:
    """Check the filters (regexes compile, lexicons exist) before any record is read."""
    if where.min_turns is not None and where.max_turns is not None and where.min_turns > where.max_turns:
        raise FilterError(
            "source.derive.where.maxTurns", f"maxTurns {where.max_turns} is below minTurns {where.min_turns}"
        )
    if where.min_chars is not None and where.max_chars is not None and where.min_chars > where.max_chars:
        raise FilterError(
            "source.derive.where.maxChars", f"maxChars {where.max_chars} is below minChars {where.min_chars}"
        )
    return Filters(where, tuple(text_filter(i, m) for i, m in enumerate(where.text)))
