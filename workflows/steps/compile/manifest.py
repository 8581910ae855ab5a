"""The compile manifest (``manifest.json``): what was read, what was written, and how."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .stages import OutputShard
from .stats import Distribution


class FamilyEntry(BaseModel):
    name: str = Field(description="DatasetFamily name.")
    input: str = Field(description="Store folder of the family output that was read.")
    input_spec_hash: str = Field(description="Spec hash of that family output.")
    records_in: int = Field(description="Records read.")
    records_out: int = Field(description="Records in the compiled output.")
    removed_exact: int = Field(description="Records removed as exact duplicates.")
    removed_near: int = Field(description="Records removed as near duplicates.")
    holdout: bool = Field(description="Sent to test only.")
    weight: float = Field(description="Mixing weight used for dedup ties.")
    licenses: list[str] = Field(description="SPDX ids of the output records' licences.")
    allow_training: bool = Field(description="Every output record's provenance allows training.")
    sources: list[str] = Field(description="Distinct provenance source URIs.")


class DedupSummary(BaseModel):
    exact: bool = Field(description="Exact dedup on content_hash ran.")
    near: bool = Field(description="MinHash LSH near dedup ran.")
    threshold: float = Field(description="Jaccard threshold.")
    num_perm: int = Field(description="Signature length.")
    bands: int = Field(description="LSH bands.")
    rows: int = Field(description="Rows per band.")
    candidates: int = Field(description="Distinct LSH candidate pairs (excluding exact duplicates).")
    verified: int = Field(description="Candidates confirmed at or above the threshold.")
    removed_exact: int = Field(description="Records removed as exact duplicates.")
    removed_near: int = Field(description="Records removed as near duplicates.")
    duplicate_rate: float = Field(description="Removed records / input records.")
    removed_log: str = Field(description="Store key of dedup/removed.parquet.")


class Manifest(BaseModel):
    compile: str = Field(description="CompileRun name.")
    spec_hash: str = Field(description="Hash of the CompileRun spec; names the output folder.")
    config_hash: str = Field(description="SHA-256 of the canonical spec JSON (defaults applied).")
    seed: int = Field(description="Split seed.")
    pipeline_version: str = Field(description="pixelgate version that wrote the output.")
    records_in: int = Field(description="Input records over all families.")
    records: int = Field(description="Output records.")
    splits: dict[str, int] = Field(description="Output records per split.")
    shards: list[OutputShard] = Field(description="Every output shard: path, split, sha256, records, bytes.")
    exports: dict[str, str] = Field(description="Format -> store key of the single-file export.")
    families: list[FamilyEntry] = Field(description="Every family read.")
    missing_families: list[str] = Field(
        default_factory=list, description="Declared families that had no output to read."
    )
    dedup: DedupSummary = Field(description="What dedup did.")
    distribution: Distribution = Field(description="Distribution statistics of the output (drift compares these).")
