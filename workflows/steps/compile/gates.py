"""The eight verification gates, computed from the written output alone.

One streaming pass over the output shards gathers what every gate needs (and the distribution
statistics); the leakage gate then re-detects duplicates from scratch, with MinHash functions
seeded differently from the dedup pass, and confirms candidates by exact Jaccard on a second pass
that reads only the candidate records. Memory is bounded by the stated index: per output record
one content key, one split code and one hash per band (8 + 1 + 8 x bands bytes), plus the
shingle sets of candidate records only, and the parent ids of derived records (lineage).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from ...api.compile_run import CompileRunSpec, GateResult
from ...records import content_hash
from . import clusters, detect
from .inputs import Plan, content_keys, id_keys
from .lsh import band_hashes
from .minhash import MinHasher, Shingler, has_shingles
from .split import SPLITS
from .stats import Distribution

GATE_NAMES = ("coverage", "leakage", "distribution", "pii", "provenance", "hash", "split", "stats")
# structured identifiers the second-pass scan looks for (names as in the ingest PII recognizers)
STRUCTURED_PII = frozenset(
    {"EMAIL_ADDRESS", "URL", "PHONE_NUMBER", "US_SSN", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS"}
)
# a text can only hold one of them if it has an @, a URL marker or a run of digits
_DIGITS3 = re.compile(r"\d{3}")


def _pii_hint(text: str) -> bool:
    r"""Substring tests first (the same as searching ``@|https?:|www\.|\d{3}``, about twice as fast)."""
    return "@" in text or "http:" in text or "https:" in text or "www." in text or _DIGITS3.search(text) is not None


RECHECK_SEED = 7  # the leakage re-check's MinHash seed; the dedup pass uses 1
_BATCH, _BATCH_BYTES = 2048, 8 << 20  # records and characters hashed at once


class GateVerdict(BaseModel):
    name: str = Field(description="Gate name.")
    passed: bool = Field(description="Verdict.")
    observed: str = Field(description="What the gate measured.")
    threshold: str = Field(description="What it had to be.")
    offenders: list[Any] = Field(default_factory=list, description="A sample of offending records or pairs.")

    def summary(self) -> GateResult:
        return GateResult(name=self.name, passed=self.passed, observed=self.observed, threshold=self.threshold)


class DuplicateRate(BaseModel):
    observed: float = Field(
        description="Share of output records that are a near or exact duplicate of an earlier output record."
    )
    threshold: float = Field(description="gates.maxDuplicateRate.")
    passed: bool = Field(description="observed <= threshold.")


class VerificationReport(BaseModel):
    compile: str
    spec_hash: str
    passed: bool = Field(description="Every gate passed and the duplicate rate is within its threshold.")
    gates_passed: str = Field(description="Passed gates out of all, e.g. 8/8.")
    records: int = Field(description="Output records checked.")
    gates: list[GateVerdict]
    duplicate_rate: DuplicateRate


def pii_findings(texts: list[str], threshold: float) -> list[str]:
    """Entity types found by the second-pass regex scan (score >= threshold) in any of ``texts``."""
    from ..ingest.pii import regex_spans

    if not _pii_hint("\n".join(texts)):
        return []
    found = {
        s.entity
        for text in texts
        if _pii_hint(text)
        for s in regex_spans(text, STRUCTURED_PII)
        if s.score >= threshold
    }
    return sorted(found)


class _Scan:
    """Everything the gates need, gathered in one pass."""

    def __init__(self, spec: CompileRunSpec, plan: Plan):
        self.spec, self.plan = spec, plan
        self.sample = spec.gates.sample_size
        self.holdout = {f.name for f in plan.families if f.holdout}
        self.dist = Distribution()
        self.offenders: dict[str, list[Any]] = {g: [] for g in GATE_NAMES}
        self.counts: dict[str, int] = {g: 0 for g in GATE_NAMES}
        near = spec.dedup.near
        self.hasher = MinHasher(near.num_perm, RECHECK_SEED, Shingler(near.ngram, near.ngram_unit, RECHECK_SEED))
        self.exact: list[np.ndarray] = []
        self.bands: list[np.ndarray] = []
        self.shingled: list[np.ndarray] = []
        self.splits: list[int] = []
        self.ids: list[str] = []
        self.families: list[str] = []
        self.lineage: list[tuple[int, str]] = []  # (output index, parent id) of derived records
        # per family: licences, source URIs and whether every record allows training (for the manifest)
        self.sources: dict[str, dict[str, Any]] = {}
        self._pending: list[str] = []
        self._pending_hash: list[str] = []
        self._pending_bytes = 0

    def _offend(self, gate: str, item: Any) -> None:
        self.counts[gate] += 1
        if len(self.offenders[gate]) < self.sample:
            self.offenders[gate].append(item)

    def add(self, rec: dict[str, Any]) -> None:
        rid = rec["id"]
        self.dist.add(rec)
        recomputed = content_hash(rec["messages"])
        if recomputed != rec["content_hash"]:
            self._offend("hash", {"id": rid, "stored": rec["content_hash"], "recomputed": recomputed})
        prov = rec.get("provenance") or {}
        fam = self.sources.setdefault(rec["family"], {"licenses": set(), "sources": set(), "allow": True})
        fam["licenses"].add(prov.get("license", ""))
        fam["sources"].add(prov.get("source_uri", ""))
        fam["allow"] &= bool(prov.get("allow_training"))
        if not prov or not prov.get("allow_training") or not prov.get("license"):
            self._offend(
                "provenance", {"id": rid, "license": prov.get("license"), "allow_training": prov.get("allow_training")}
            )
        if rec["family"] in self.holdout and rec["split"] != "test":
            self._offend("split", {"id": rid, "family": rec["family"], "split": rec["split"]})
        found = pii_findings([m["content"] for m in rec["messages"]], self.spec.gates.pii_threshold)
        if found or (rec.get("pii") or {}).get("flagged"):
            self._offend("pii", {"id": rid, "entities": found, "flagged": bool((rec.get("pii") or {}).get("flagged"))})
        self.splits.append(SPLITS.index(rec["split"]))
        self.lineage.extend((len(self.ids), parent) for parent in prov.get("parents") or [])
        self.ids.append(rid)
        self.families.append(rec["family"])
        roles = ("assistant",) if self.spec.dedup.unit == "assistant-turns" else ("system", "user", "assistant")
        self._pending.append("\n".join(m["content"] for m in rec["messages"] if m["role"] in roles))
        self._pending_hash.append(recomputed)
        self._pending_bytes += len(self._pending[-1])
        if len(self._pending) >= _BATCH or self._pending_bytes >= _BATCH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        sig = self.hasher.signatures(self._pending)
        self.bands.append(band_hashes(sig, self.plan.bands, self.plan.rows))
        self.shingled.append(has_shingles(sig))
        self.exact.append(content_keys(self._pending_hash))
        self._pending, self._pending_hash, self._pending_bytes = [], [], 0

    def merge(self, other: "_Scan") -> None:
        """Append ``other``, a scan of the records that follow this one's in output order; the
        result is what one scan over both would have gathered."""
        self._flush()
        other._flush()
        offset = len(self.ids)
        self.dist.merge(other.dist)
        for gate in GATE_NAMES:
            self.counts[gate] += other.counts[gate]
            self.offenders[gate].extend(other.offenders[gate][: max(self.sample - len(self.offenders[gate]), 0)])
        for name, fam in other.sources.items():
            mine = self.sources.setdefault(name, {"licenses": set(), "sources": set(), "allow": True})
            mine["licenses"] |= fam["licenses"]
            mine["sources"] |= fam["sources"]
            mine["allow"] &= fam["allow"]
        self.exact += other.exact
        self.bands += other.bands
        self.shingled += other.shingled
        self.splits += other.splits
        self.ids += other.ids
        self.families += other.families
        self.lineage += [(i + offset, parent) for i, parent in other.lineage]

    def lineage_pairs(self) -> np.ndarray:
        """(child, parent) output indices of the derived records whose parent is in the output too."""
        child = np.array([c for c, _ in self.lineage], dtype=np.int64)
        return clusters.lineage_pairs(id_keys(self.ids), child, id_keys([p for _, p in self.lineage]))

    def duplicate_pairs(self, reread: Callable[[np.ndarray], dict[int, str]]) -> tuple[np.ndarray, np.ndarray]:
        """(pairs of output indices that are duplicates, their similarity), found from scratch."""
        self._flush()
        if not self.ids:
            return np.zeros((0, 2), np.int64), np.zeros(0)
        exact_pairs, cands = detect.candidates(
            np.concatenate(self.bands), np.concatenate(self.shingled), np.concatenate(self.exact)
        )
        dup, sims = detect.confirm(cands, reread, self.hasher.shingler, self.spec.dedup.near.threshold)
        return np.concatenate([exact_pairs, dup]), np.concatenate([np.ones(len(exact_pairs)), sims])


def scan(spec: CompileRunSpec, plan: Plan, records) -> _Scan:
    """One pass over ``records`` (output record dicts, in output order). Scans of consecutive
    runs of the output can be made in parallel and joined with :meth:`_Scan.merge`."""
    out = _Scan(spec, plan)
    for rec in records:
        out.add(rec)
    out._flush()
    return out


def verify(
    spec: CompileRunSpec, plan: Plan, name: str, spec_hash: str, records, reread
) -> tuple[VerificationReport, Distribution]:
    """Run the gates over ``records`` (output record dicts, in output order); ``reread(indices)``
    returns ``{index: text}`` for output records by position, for the exact-Jaccard confirmation."""
    return verify_scan(spec, plan, name, spec_hash, scan(spec, plan, records), reread)


def verify_scan(
    spec: CompileRunSpec, plan: Plan, name: str, spec_hash: str, scan: _Scan, reread
) -> tuple[VerificationReport, Distribution]:
    """The gates' verdicts from a finished scan of the whole output (see :func:`verify`)."""
    pairs, sims = scan.duplicate_pairs(reread)
    n = len(scan.ids)
    splits = np.array(scan.splits, dtype=np.int8)
    sample = spec.gates.sample_size

    declared = sorted({f.name for f in plan.families} | set(plan.missing))
    absent = [f for f in declared if not scan.dist.families.get(f)]
    verdicts = [
        GateVerdict(
            name="coverage",
            passed=not absent,
            observed=f"{len(declared) - len(absent)}/{len(declared)} families present",
            threshold="every declared family present",
            offenders=absent[:sample],
        )
    ]

    cross = np.flatnonzero(splits[pairs[:, 0]] != splits[pairs[:, 1]]) if len(pairs) else np.zeros(0, np.int64)
    lineage = scan.lineage_pairs()
    cross_lineage = lineage[splits[lineage[:, 0]] != splits[lineage[:, 1]]] if len(lineage) else lineage
    verdicts.append(
        GateVerdict(
            name="leakage",
            passed=not len(cross) and not len(cross_lineage),
            observed=f"{len(cross)} duplicate pairs and {len(cross_lineage)} parent/child pairs across splits",
            threshold="0",
            offenders=[
                {
                    "a": scan.ids[int(pairs[i, 0])],
                    "b": scan.ids[int(pairs[i, 1])],
                    "splits": [SPLITS[splits[pairs[i, 0]]], SPLITS[splits[pairs[i, 1]]]],
                    "similarity": round(float(sims[i]), 4),
                }
                for i in cross[:sample]
            ]
            + [
                {
                    "a": scan.ids[int(c)],
                    "b": scan.ids[int(p)],
                    "splits": [SPLITS[splits[c]], SPLITS[splits[p]]],
                    "lineage": True,
                }
                for c, p in cross_lineage[:sample].tolist()
            ],
        )
    )

    tolerance = spec.gates.split_tolerance if spec.gates.split_tolerance is not None else spec.split.tolerance
    holdout = {f.name for f in plan.families if f.holdout}
    regular = [s for s, fam in zip(splits.tolist(), scan.families) if fam not in holdout]
    shares = {s: (regular.count(code) / len(regular) if regular else 0.0) for code, s in enumerate(SPLITS)}
    targets = {"train": spec.split.train, "val": spec.split.val, "test": spec.split.test}
    off = {s: round(shares[s] - targets[s], 4) for s in SPLITS if abs(shares[s] - targets[s]) > tolerance}
    verdicts.append(
        GateVerdict(
            name="distribution",
            passed=bool(regular) and not off,
            observed=" ".join(f"{s}={shares[s]:.4f}" for s in SPLITS) + f" over {len(regular)} non-holdout records",
            threshold=" ".join(f"{s}={targets[s]:g}" for s in SPLITS) + f" +-{tolerance:g}",
            offenders=[{"split": s, "deviation": d} for s, d in off.items()],
        )
    )
    for gate, what, threshold in (
        (
            "pii",
            "records with structured PII or flagged for review",
            f"0 (scan score >= {spec.gates.pii_threshold:g})",
        ),
        ("provenance", "records without provenance or a licence that allows training", "0"),
        ("hash", "records whose content_hash does not recompute", "0"),
        ("split", "holdout-family records outside test", "0"),
    ):
        verdicts.append(
            GateVerdict(
                name=gate,
                passed=scan.counts[gate] == 0,
                observed=f"{scan.counts[gate]} {what}",
                threshold=threshold,
                offenders=scan.offenders[gate],
            )
        )
    missing = scan.dist.complete()
    verdicts.append(
        GateVerdict(
            name="stats",
            passed=not missing,
            observed="complete" if not missing else "missing: " + ", ".join(missing),
            threshold="records, turns, length, family mix and every quality axis present",
            offenders=missing[:sample],
        )
    )
    verdicts.sort(key=lambda v: GATE_NAMES.index(v.name))

    dup_labels = clusters.components(n, pairs)
    rate = (n - len(np.unique(dup_labels))) / n if n else 0.0
    dup = DuplicateRate(
        observed=round(rate, 6), threshold=spec.gates.max_duplicate_rate, passed=rate <= spec.gates.max_duplicate_rate
    )
    passed = sum(v.passed for v in verdicts)
    report = VerificationReport(
        compile=name,
        spec_hash=spec_hash,
        passed=passed == len(verdicts) and dup.passed,
        gates_passed=f"{passed}/{len(verdicts)}",
        records=n,
        gates=verdicts,
        duplicate_rate=dup,
    )
    return report, scan.dist
