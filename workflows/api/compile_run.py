"""CompileRun: dedup families across each other, split them without leakage, shard, verify."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .meta import MAX_ITEMS, ApiModel, Condition, ResourceName
from .run_status import WorkflowStatus
from .selection import Selection


class Split(ApiModel):
    train: float = Field(default=0.90, ge=0, le=1, description="Share of clusters in train.")
    val: float = Field(default=0.05, ge=0, le=1, description="Share of clusters in val.")
    test: float = Field(default=0.05, ge=0, le=1, description="Share of clusters in test.")
    seed: int = Field(default=42, ge=0, description="Seed of the split hash.")
    tolerance: float = Field(
        default=0.01, ge=0, le=1, description="Allowed absolute deviation of each split's record share."
    )

    @model_validator(mode="after")
    def _sums_to_one(self) -> "Split":
        if abs(self.train + self.val + self.test - 1.0) > 1e-6:
            raise ValueError(f"split: train + val + test must be 1 (got {self.train + self.val + self.test:g})")
        return self

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.train + self.val + self.test >= 0.999999 && self.train + self.val + "
                    "self.test <= 1.000001",
                    "message": "split: train + val + test must be 1",
                }
            ]
        }
    }


class NearDedup(ApiModel):
    enabled: bool = Field(default=True, description="Run MinHash LSH near-duplicate detection.")
    threshold: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Jaccard similarity at or above which two records are near-duplicates.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self > 0.0 && self <= 1.0", "message": "threshold must lie in (0,1]"}
            ]
        },
    )
    num_perm: int = Field(default=128, ge=16, le=1024, description="MinHash permutations (signature length).")
    ngram: int = Field(default=5, ge=1, le=32, description="Shingle size.")
    ngram_unit: Literal["word", "char"] = Field(default="word", description="Shingle over words or characters.")
    bands: int | None = Field(
        default=None, ge=1, description="LSH bands; derived from threshold and numPerm when unset."
    )
    rows: int | None = Field(
        default=None, ge=1, description="Rows per band; derived when unset. bands*rows <= numPerm."
    )
    verify: bool = Field(default=True, description="Confirm LSH candidates by exact Jaccard before merging.")

    @model_validator(mode="after")
    def _bands_rows(self) -> "NearDedup":
        if (self.bands is None) != (self.rows is None):
            raise ValueError("dedup.near: give both bands and rows, or neither")
        if self.bands and self.rows and self.bands * self.rows > self.num_perm:
            raise ValueError(f"dedup.near: bands*rows ({self.bands * self.rows}) exceeds numPerm ({self.num_perm})")
        return self


class Dedup(ApiModel):
    exact: bool = Field(default=True, description="Drop records with equal content_hash.")
    near: NearDedup = Field(default_factory=NearDedup, description="Near-duplicate detection.")
    unit: Literal["conversation", "assistant-turns"] = Field(
        default="conversation",
        description="Text compared for near-dedup: the whole conversation, or its assistant turns only.",
    )
    keep: Literal["priority_order", "longest", "highest_quality"] = Field(
        default="priority_order",
        description="Which record of a duplicate group survives: lowest tier then highest weight "
        "then earliest; the longest; or the best overall quality.",
    )


class Gates(ApiModel):
    max_duplicate_rate: float = Field(
        default=0.01, ge=0, le=1, description="Highest tolerated near-duplicate rate in the output."
    )
    split_tolerance: float | None = Field(
        default=None, ge=0, le=1, description="Override of split.tolerance for the distribution gate."
    )
    pii_threshold: float = Field(
        default=0.5, ge=0, le=1, description="Score at or above which the second-pass PII scan counts a finding."
    )
    sample_size: int = Field(default=10, ge=0, le=1000, description="Offenders kept per gate in the report.")


class CompileRunSpec(ApiModel):
    families: Selection = Field(description="Which DatasetFamilies to compile: names, a label selector, or both.")
    split: Split = Field(default_factory=Split, description="Split ratios, seed and tolerance.")
    dedup: Dedup = Field(default_factory=Dedup, description="Exact and near-duplicate removal.")
    holdout_families: list[ResourceName] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description="Families sent to test only, beyond those flagged holdout.",
    )
    shard_size: int = Field(default=10000, ge=1, description="Records per output shard.")
    exports: list[Literal["jsonl", "parquet"]] = Field(
        default_factory=lambda: ["jsonl"], max_length=MAX_ITEMS, description="Export formats; jsonl is always written."
    )
    baseline: ResourceName | None = Field(
        default=None,
        description="Name of an earlier CompileRun to compute drift against; the compile waits until it Succeeded.",
    )
    gates: Gates = Field(default_factory=Gates, description="Verification gate thresholds.")
    workers: int = Field(default=4, ge=1, le=256, description="Fan-out width of the signature and filter stages.")
    retention: Literal["Retain", "Delete"] = Field(
        default="Retain", description="Delete removes the compile's store prefix on deletion."
    )
    # families and split.seed become immutable once the compile has run: a rule over the whole
    # object (it reads oldSelf.status), so it lives in crd.ROOT_VALIDATIONS.


class GateResult(ApiModel):
    name: str = Field(description="Gate name.")
    passed: bool = Field(description="Verdict.")
    observed: str = Field(default="", description="Observed value.")
    threshold: str = Field(default="", description="Threshold.")


class FeatureDrift(ApiModel):
    feature: str = Field(description="e.g. family_mix, turns, length, quality.empathy, pii.PHONE_NUMBER.")
    psi: float = Field(description="Population stability index against the baseline.")
    js: float = Field(description="Jensen-Shannon distance (base 2) against the baseline.")
    level: Literal["ok", "warn", "alert"] = Field(
        description="ok, warn (PSI >= 0.1) or alert (PSI >= 0.2 or JS >= 0.1)."
    )


class CompileRunStatus(WorkflowStatus):
    """Observed state of the compile, written by the operator (and by the local runner)."""

    phase: str | None = Field(default=None, description="Waiting, Pending, Running, Succeeded or Failed.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Succeeded (summary), FamiliesReady, BaselineReady (with a baseline), "
        "Deduplicated, Verified (every gate passed).",
    )
    output_uri: str | None = Field(default=None, description="Store folder of the compile.")
    manifest_uri: str | None = Field(default=None, description="The manifest.json.")
    report_uri: str | None = Field(default=None, description="The verification_report.json.")
    records: int | None = Field(default=None, description="Records in the final dataset.")
    duplicate_rate: float | None = Field(default=None, description="Share of input records removed as duplicates.")
    output_duplicate_rate: float | None = Field(
        default=None,
        description="Share of output records the verification pass still finds to be duplicates "
        "(gated by gates.maxDuplicateRate).",
    )
    gates_passed: str | None = Field(default=None, description="Passed gates out of all, e.g. 8/8.")
    gates: list[GateResult] = Field(default_factory=list, description="Per-gate verdicts.")
    drift_uri: str | None = Field(default=None, description="The drift.json against spec.baseline, when set.")
    drift_level: str | None = Field(default=None, description="ok, warn or alert: the worst drift over all features.")
    drift: list[FeatureDrift] = Field(
        default_factory=list, description="PSI and JS distance per feature against the baseline."
    )
