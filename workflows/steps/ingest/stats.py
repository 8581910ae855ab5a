"""``stats.json`` of an ingest: counts, fixes, PII and fixed-bin histograms (which compile
compares across runs to measure drift), duration and throughput."""

from __future__ import annotations

import bisect
from collections import Counter

from pydantic import BaseModel, Field

# Bin i holds values in [edges[i], edges[i+1]); the last bin holds [edges[-1], inf).
TURN_EDGES: list[float] = [0, 2, 4, 8, 16, 32, 64, 128]
LENGTH_EDGES: list[float] = [0, 100, 250, 500, 1000, 2000, 4000, 8000, 16000]  # characters per conversation
SCORE_EDGES: list[float] = [round(i / 10, 1) for i in range(10)]  # 0.0 .. 0.9; 1.0 falls in the last bin
QUALITY_AXES = ("empathy", "fidelity", "harmfulness", "domain_relevance", "overall")


class Histogram(BaseModel):
    edges: list[float] = Field(description="Left edges; bin i is [edges[i], edges[i+1]), the last bin is open-ended.")
    counts: list[int] = Field(description="One count per edge.")

    @classmethod
    def empty(cls, edges: list[float]) -> "Histogram":
        return cls(edges=list(edges), counts=[0] * len(edges))

    def add(self, value: float) -> None:
        self.counts[max(0, bisect.bisect_right(self.edges, value) - 1)] += 1


class SourceEntry(BaseModel):
    """One input of an ingest: a fetched file, or (for derived and generated families) what the producer names."""

    uri: str
    sha256: str
    size: int | None = Field(default=None, description="Bytes fetched; absent for inputs that are not files.")


class IngestStats(BaseModel):
    family: str
    spec_hash: str
    pipeline_version: str
    sources: list[SourceEntry] = Field(
        description="uri, sha256 and size of every source file read (producers' {uri, sha256} dicts validate too)."
    )
    rows_read: int = Field(description="Raw items read (lines, rows, array elements).")
    records_in: int = Field(description="Conversations considered: records_out + quarantined.")
    records_out: int
    quarantined: dict[str, int] = Field(description="Quarantined records by reason.")
    turns_out: int
    empty_turns_dropped: int
    encoding_fixes: dict[str, int] = Field(
        description="Texts changed by each repair (charset_detected, surrogate_bytes, ftfy, nfc, html_stripped)."
    )
    pii_entities: dict[str, int] = Field(description="Detected entities by type (all records, before any quarantine).")
    pii_ner_texts: int = Field(description="Texts that went through NER (the rest took the regex-only fast path).")
    pii_texts: int
    histograms: dict[str, Histogram] = Field(description="turns, length and each quality axis, over written records.")
    quality_mean: dict[str, float] = Field(description="Mean of each quality axis over written records.")
    filtered: dict[str, int] = Field(
        default_factory=dict,
        exclude_if=lambda v: not v,
        description="Derived families: parent records left out by each source.derive.where filter (not quarantine). "
        "Omitted from stats.json when empty, so other families' stats.json is unchanged.",
    )
    categories: dict[str, int] = Field(
        default_factory=dict,
        exclude_if=lambda v: not v,
        description="Generated families: written records per difficulty category (docs/generated-families.md). "
        "Omitted from stats.json when empty, so other families' stats.json is unchanged.",
    )

    @staticmethod
    def new_histograms() -> dict[str, Histogram]:
        out = {"turns": Histogram.empty(TURN_EDGES), "length": Histogram.empty(LENGTH_EDGES)}
        out.update({axis: Histogram.empty(SCORE_EDGES) for axis in QUALITY_AXES})
        return out


def counter_dict(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items()))


class IngestTiming(BaseModel):
    """How long the ingest took: kept apart from :class:`IngestStats` so that ``stats.json``
    stays byte-identical across reruns of the same input, while ``timing.json`` cannot."""

    duration_s: float
    records_per_s: float
    mb_per_s: float = Field(description="Source megabytes per second (one process, one core).")
    source_bytes: int
