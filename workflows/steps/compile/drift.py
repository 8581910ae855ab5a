"""Drift of a compile against a baseline compile: PSI and Jensen-Shannon distance per feature.

Features come from the two manifests' ``distribution``: the family mix, turns, length, every
quality axis (histograms over fixed edges, so bins line up) and per-entity PII rates (each a
two-bin distribution: records with the entity, records without).

* PSI = sum over bins of (p - q) * ln(p / q), with both distributions smoothed by adding
  ``EPS`` to every bin before normalizing. Warn at 0.1, alert at 0.2.
* JS distance = sqrt of the Jensen-Shannon divergence in bits (0 = identical, 1 = disjoint).
  Alert at 0.1.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from ...api.compile_run import FeatureDrift
from .stats import Distribution

PSI_WARN, PSI_ALERT, JS_ALERT = 0.1, 0.2, 0.1
EPS = 1e-4
Level = Literal["ok", "warn", "alert"]


class DriftReport(BaseModel):
    compile: str
    spec_hash: str
    baseline: str = Field(description="Baseline CompileRun name.")
    baseline_spec_hash: str
    thresholds: dict[str, float] = Field(
        default_factory=lambda: {"psi_warn": PSI_WARN, "psi_alert": PSI_ALERT, "js_alert": JS_ALERT}
    )
    features: list[FeatureDrift]
    level: Level = Field(description="The worst level over all features.")


def _normalize(counts: np.ndarray) -> np.ndarray:
    smoothed = counts.astype(np.float64) + EPS
    return smoothed / smoothed.sum()


def psi(current: list[float], baseline: list[float]) -> float:
    p, q = _normalize(np.asarray(current)), _normalize(np.asarray(baseline))
    return float(np.sum((p - q) * np.log(p / q)))


def js_distance(current: list[float], baseline: list[float]) -> float:
    p, q = _normalize(np.asarray(current)), _normalize(np.asarray(baseline))
    m = (p + q) / 2
    div = 0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.sum(q * np.log2(q / m))
    return float(np.sqrt(max(div, 0.0)))


def _level(p: float, j: float) -> Level:
    if p >= PSI_ALERT or j >= JS_ALERT:
        return "alert"
    return "warn" if p >= PSI_WARN else "ok"


def feature_vectors(dist: Distribution, other: Distribution) -> dict[str, tuple[list[float], list[float]]]:
    """Feature name -> (this compile's counts, the other's counts), bins aligned."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    fams = sorted(set(dist.families) | set(other.families))
    out["family_mix"] = ([dist.families.get(f, 0) for f in fams], [other.families.get(f, 0) for f in fams])
    out["turns"] = (dist.turns.counts, other.turns.counts)
    out["length"] = (dist.length.counts, other.length.counts)
    for axis, hist in dist.quality.items():
        base = other.quality.get(axis)
        if base is not None:
            out[f"quality.{axis}"] = (hist.counts + [hist.missing], base.counts + [base.missing])
    for entity in sorted(set(dist.pii) | set(other.pii)):
        a, b = dist.pii.get(entity, 0), other.pii.get(entity, 0)
        out[f"pii.{entity}"] = ([a, dist.records - a], [b, other.records - b])
    out["pii.any"] = ([dist.pii_any, dist.records - dist.pii_any], [other.pii_any, other.records - other.pii_any])
    return out


def compare(dist: Distribution, baseline: Distribution) -> list[FeatureDrift]:
    features = []
    for name, (cur, base) in feature_vectors(dist, baseline).items():
        p, j = psi(cur, base), js_distance(cur, base)
        features.append(FeatureDrift(feature=name, psi=round(p, 6), js=round(j, 6), level=_level(p, j)))
    return features


def worst(features: list[FeatureDrift]) -> Level:
    order: list[Level] = ["ok", "warn", "alert"]
    return max((f.level for f in features), key=order.index, default="ok")
