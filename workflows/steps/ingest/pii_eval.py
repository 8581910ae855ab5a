"""Span-level evaluation of PII detection (presidio-research synth_dataset_v2, WNUT-17).

Gold types map onto the entity types pixelgate redacts (``GOLD_TO_EVAL``); gold types it
does not redact (ORGANIZATION, TITLE, NRP, DATE_TIME, US_DRIVER_LICENSE) are left out of the
score for every system, and predictions of types outside ``EVAL_TYPES`` are ignored.

Matching (documented in docs/pii.md): a gold span counts as found when predicted spans of the
same type cover at least half of its characters; a predicted span is correct when at least
half of its characters lie in gold spans of its type. This is span-level but tolerant of
segmentation (an address labelled as one span or as street/city/postcode parts). The strict
variant (identical boundaries and type) is reported alongside.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

GOLD_TO_EVAL = {
    "PERSON": "PERSON",
    "STREET_ADDRESS": "LOCATION",
    "GPE": "LOCATION",
    "ZIP_CODE": "LOCATION",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "DOMAIN_NAME": "URL",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN_CODE",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "AGE": "AGE",
}
EVAL_TYPES = frozenset(GOLD_TO_EVAL.values())


@dataclass(frozen=True)
class Example:
    text: str
    gold: tuple[tuple[int, int, str], ...]  # (start, end, eval type)


def load_synth(path: str | Path) -> list[Example]:
    out = []
    for row in json.loads(Path(path).read_text()):
        gold = tuple(
            (s["start_position"], s["end_position"], GOLD_TO_EVAL[s["entity_type"]]) for s in row["spans"] if s["entity_type"] in GOLD_TO_EVAL
        )
        out.append(Example(row["full_text"], gold))
    return out


def load_wnut(path: str | Path) -> Iterator[Example]:
    """CoNLL sentences joined with single spaces; person -> PERSON, location -> LOCATION (others dropped)."""
    tokens: list[tuple[str, str]] = []
    for line in list(Path(path).read_text().splitlines()) + [""]:
        if line.strip():
            token, _, tag = line.rpartition("\t") if "\t" in line else line.rpartition(" ")
            tokens.append((token, tag.strip()))
            continue
        if not tokens:
            continue
        text, gold, cur = "", [], None
        for token, tag in tokens:
            start = len(text) + (1 if text else 0)
            text = f"{text} {token}" if text else token
            kind = {"person": "PERSON", "location": "LOCATION"}.get(tag[2:])
            if tag.startswith("B-") and kind:
                cur = [start, len(text), kind]
                gold.append(cur)
            elif tag.startswith("I-") and cur is not None and kind == cur[2]:
                cur[1] = len(text)
            else:
                cur = None if not (tag.startswith("I-") and cur) else cur
        yield Example(text, tuple((s, e, k) for s, e, k in gold))
        tokens = []


def _covered(start: int, end: int, others: Iterable[tuple[int, int]]) -> int:
    return sum(max(0, min(end, e) - max(start, s)) for s, e in others)


@dataclass
class Scores:
    tp_gold: Counter[str]  # gold spans found
    n_gold: Counter[str]
    tp_pred: Counter[str]  # predicted spans correct
    n_pred: Counter[str]

    def row(self, entity: str | None = None) -> dict[str, float]:
        pick = (lambda c: c[entity]) if entity else (lambda c: sum(c.values()))
        p = pick(self.tp_pred) / pick(self.n_pred) if pick(self.n_pred) else 0.0
        r = pick(self.tp_gold) / pick(self.n_gold) if pick(self.n_gold) else 0.0
        f2 = 5 * p * r / (4 * p + r) if p + r else 0.0
        return {"precision": p, "recall": r, "f2": f2, "support": float(pick(self.n_gold))}


def score(examples: list[Example], predictions: list[list[tuple[int, int, str]]], strict: bool = False) -> Scores:
    s = Scores(Counter(), Counter(), Counter(), Counter())
    for ex, pred in zip(examples, predictions):
        pred = [p for p in pred if p[2] in EVAL_TYPES]
        by_type_gold: dict[str, list[tuple[int, int]]] = defaultdict(list)
        by_type_pred: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for a, b, t in ex.gold:
            by_type_gold[t].append((a, b))
        for a, b, t in pred:
            by_type_pred[t].append((a, b))
        for a, b, t in ex.gold:
            s.n_gold[t] += 1
            hit = (a, b) in by_type_pred[t] if strict else 2 * _covered(a, b, by_type_pred[t]) >= (b - a)
            s.tp_gold[t] += hit
        for a, b, t in pred:
            s.n_pred[t] += 1
            hit = (a, b) in by_type_gold[t] if strict else 2 * _covered(a, b, by_type_gold[t]) >= (b - a)
            s.tp_pred[t] += hit
    return s
