"""The span type every stage returns, and the resolution of overlapping spans."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    entity: str
    score: float
    recognizer: str


def resolve_overlaps(spans: Iterable[Span]) -> list[Span]:
    """Merge overlapping spans of one type (union, best score); then, across types, keep the
    higher score, then the longer span."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.entity, s.start, -s.end)):
        last = merged[-1] if merged else None
        if last is not None and last.entity == span.entity and span.start < last.end:
            best = last if last.score >= span.score else span
            merged[-1] = Span(last.start, max(last.end, span.end), span.entity, best.score, best.recognizer)
        else:
            merged.append(span)
    kept: list[Span] = []
    for span in sorted(merged, key=lambda s: (-s.score, -(s.end - s.start), s.start)):
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)
