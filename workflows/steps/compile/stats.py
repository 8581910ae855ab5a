"""Distribution statistics of a compiled dataset, over fixed bin edges so that two compiles
(a run and its baseline) can always be compared bin by bin."""

from __future__ import annotations

import bisect
from typing import Any

from pydantic import BaseModel, Field

TURN_EDGES = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128]
LENGTH_EDGES = [0, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]
QUALITY_EDGES = [round(0.1 * i, 1) for i in range(10)]
QUALITY_AXES = ("empathy", "fidelity", "harmfulness", "domain_relevance", "overall")


class Histogram(BaseModel):
    edges: list[float] = Field(description="Lower bin edges; the last bin is open-ended.")
    counts: list[int] = Field(description="Values per bin.")
    missing: int = Field(default=0, description="Records without a value.")

    @classmethod
    def empty(cls, edges: list[float]) -> "Histogram":
        return cls(edges=list(edges), counts=[0] * len(edges))

    def merge(self, other: "Histogram") -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts)]
        self.missing += other.missing

    def add(self, value: float | None) -> None:
        if value is None:
            self.missing += 1
            return
        self.counts[max(bisect.bisect_right(self.edges, value) - 1, 0)] += 1


class Distribution(BaseModel):
    """What the stats gate requires and drift compares."""

    records: int = Field(default=0, description="Records in the output.")
    splits: dict[str, int] = Field(default_factory=dict, description="Records per split.")
    families: dict[str, int] = Field(default_factory=dict, description="Records per family (the family mix).")
    turns: Histogram = Field(default_factory=lambda: Histogram.empty(TURN_EDGES), description="Messages per record.")
    length: Histogram = Field(
        default_factory=lambda: Histogram.empty(LENGTH_EDGES), description="Characters per record (all messages)."
    )
    quality: dict[str, Histogram] = Field(
        default_factory=lambda: {a: Histogram.empty(QUALITY_EDGES) for a in QUALITY_AXES},
        description="Each quality axis.",
    )
    pii: dict[str, int] = Field(
        default_factory=dict, description="Records with at least one detected entity of each type (ingest counts)."
    )
    pii_any: int = Field(default=0, description="Records with any detected PII entity.")

    def add(self, record: dict[str, Any]) -> None:
        """Account one output record (as its JSON dict)."""
        self.records += 1
        self.splits[record["split"]] = self.splits.get(record["split"], 0) + 1
        self.families[record["family"]] = self.families.get(record["family"], 0) + 1
        self.turns.add(len(record["messages"]))
        self.length.add(sum(len(m["content"]) for m in record["messages"]))
        quality = record.get("quality") or {}
        for axis, hist in self.quality.items():
            hist.add(quality.get(axis))
        counts = (record.get("pii") or {}).get("counts") or {}
        found = [k for k, v in counts.items() if v]
        for entity in found:
            self.pii[entity] = self.pii.get(entity, 0) + 1
        self.pii_any += bool(found)

    def merge(self, other: "Distribution") -> None:
        """Account ``other``'s records after this one's (dict keys stay in first-seen order)."""
        self.records += other.records
        for mine, theirs in ((self.splits, other.splits), (self.families, other.families), (self.pii, other.pii)):
            for key, count in theirs.items():
                mine[key] = mine.get(key, 0) + count
        self.turns.merge(other.turns)
        self.length.merge(other.length)
        for axis, hist in self.quality.items():
            hist.merge(other.quality[axis])
        self.pii_any += other.pii_any

    def complete(self) -> list[str]:
        """Names of the statistics that are missing or empty (the stats gate's offenders)."""
        problems = []
        if not self.records:
            problems.append("records")
        if sum(self.turns.counts) != self.records:
            problems.append("turns")
        if sum(self.length.counts) != self.records:
            problems.append("length")
        if sum(self.families.values()) != self.records:
            problems.append("families")
        for axis in QUALITY_AXES:
            h = self.quality.get(axis)
            if h is None or sum(h.counts) + h.missing != self.records:
                problems.append(f"quality.{axis}")
        return problems
