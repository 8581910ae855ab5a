"""Precision, recall and F1 of a tagger per tag on a labelled sample (a jsonl of
``{"id", "tags": [...], "turns": [[role, text], ...]}``, e.g. tests/data/tagging/labelled-v1.jsonl)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel


class Sample(BaseModel):
    id: str
    tags: list[str]
    turns: list[tuple[str, str]]


class TagScore(BaseModel):
    tag: str
    support: int  # samples labelled with the tag
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    false_positives: list[str]
    false_negatives: list[str]


def load_samples(path: Path) -> list[Sample]:
    return [
        Sample.model_validate(json.loads(line))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def evaluate(
    tag: Callable[[Sequence[tuple[str, str]]], dict[str, float]], tags: Iterable[str], samples: list[Sample]
) -> list[TagScore]:
    """Score ``tag`` (turns -> kept tags) on ``samples`` for each of ``tags``."""
    predicted = {s.id: set(tag(s.turns)) for s in samples}
    out = []
    for name in tags:
        tp = [s.id for s in samples if name in s.tags and name in predicted[s.id]]
        fp = [s.id for s in samples if name not in s.tags and name in predicted[s.id]]
        fn = [s.id for s in samples if name in s.tags and name not in predicted[s.id]]
        p = len(tp) / (len(tp) + len(fp)) if tp or fp else 0.0
        r = len(tp) / (len(tp) + len(fn)) if tp or fn else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        out.append(
            TagScore(
                tag=name,
                support=len(tp) + len(fn),
                tp=len(tp),
                fp=len(fp),
                fn=len(fn),
                precision=round(p, 3),
                recall=round(r, 3),
                f1=round(f1, 3),
                false_positives=fp,
                false_negatives=fn,
            )
        )
    return out


def markdown(scores: list[TagScore]) -> str:
    lines = ["| tag | support | TP | FP | FN | precision | recall | F1 |", "|---|---|---|---|---|---|---|---|"]
    lines += [
        f"| {s.tag} | {s.support} | {s.tp} | {s.fp} | {s.fn} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} |"
        for s in scores
    ]
    return "\n".join(lines)
