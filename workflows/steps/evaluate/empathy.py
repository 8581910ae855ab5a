"""The calibrated empathy / MI-adherence score.

A logistic model over the share of counsellor replies showing each marker
(:mod:`..lexicon`), fitted on AnnoMI's expert ``mi_quality`` labels (high vs low, one example per
transcript) by :mod:`.calibrate`, which writes ``calibration.json`` beside this module. The
score of a set of replies is ``sigmoid(w . mean_presence + b)``: the calibrated probability that
a counsellor with these marker rates is rated high-quality MI. One reply is a set of one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..lexicon import FEATURES, count_markers
from .stats import sigmoid

CALIBRATION = Path(__file__).with_name("calibration.json")


@dataclass(frozen=True)
class EmpathyModel:
    weights: dict[str, float]
    bias: float

    @classmethod
    def load(cls, path: Path = CALIBRATION) -> "EmpathyModel":
        data = json.loads(path.read_text())
        return cls(weights=data["weights"], bias=data["bias"])

    def features(self, replies: Iterable[str]) -> np.ndarray:
        rows = [count_markers(r).as_features() for r in replies]
        return np.mean(rows, axis=0) if rows else np.zeros(len(FEATURES))

    def score(self, replies: Iterable[str]) -> float:
        x = self.features(replies)
        return float(sigmoid(float(np.dot(x, [self.weights[f] for f in FEATURES]) + self.bias)))


def supportive_rate(replies: list[str]) -> float:
    """Share of replies with a reflection or a validation: the uncalibrated empathy-marker rate."""
    if not replies:
        return 0.0
    hits = [count_markers(r) for r in replies]
    return sum(1 for m in hits if m.reflection or m.validation) / len(replies)
