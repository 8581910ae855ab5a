"""GateReview: a go/no-go decision over a CompileRun or TrainingRun, decided by the operator."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .meta import MAX_ITEMS, ApiModel, Condition, Identifier, Map, ResourceName


class Approval(ApiModel):
    required: bool = Field(default=False, description="Wait in AwaitingApproval until an approver is recorded.")
    approved_by: Identifier | None = Field(
        default=None, description="Who approved (also accepted from the annotation pixelgate.dev/approved-by)."
    )


class GateReviewSpec(ApiModel):
    gate: Literal["data-foundation", "baseline-metrics", "expansion-improvement"] = Field(
        description="data-foundation: a CompileRun passed all verification gates. baseline-metrics: "
        "a TrainingRun meets its targets. "
        "expansion-improvement: a TrainingRun improves on a baseline TrainingRun."
    )
    compile_run: ResourceName | None = Field(default=None, description="CompileRun reviewed (data-foundation).")
    training_run: ResourceName | None = Field(
        default=None, description="TrainingRun reviewed (baseline-metrics, expansion-improvement)."
    )
    baseline_training_run: ResourceName | None = Field(
        default=None, description="Baseline TrainingRun (expansion-improvement)."
    )
    targets: Map[float] = Field(
        default_factory=dict, description="Metric -> minimum; defaults to the TrainingRun's evaluation targets."
    )
    improve: list[Identifier] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description="Metrics that must improve on the baseline (expansion-improvement).",
    )
    tolerance: float = Field(
        default=0.02, ge=0, le=1, description="Largest regression tolerated on the other metrics."
    )
    approval: Approval = Field(default_factory=Approval, description="Optional human approval.")

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.gate != 'data-foundation' || has(self.compileRun)",
                    "message": "data-foundation needs compileRun",
                },
                {
                    "rule": "self.gate == 'data-foundation' || has(self.trainingRun)",
                    "message": "baseline-metrics and expansion-improvement need trainingRun",
                },
                {
                    "rule": "self.gate != 'expansion-improvement' || has(self.baselineTrainingRun)",
                    "message": "expansion-improvement needs baselineTrainingRun",
                },
            ]
        }
    }


class GateCheck(ApiModel):
    name: str = Field(description="What was checked.")
    observed: str = Field(default="", description="Observed value.")
    target: str = Field(default="", description="Target.")
    verdict: Literal["Pass", "Fail", "Pending"] = Field(description="Verdict.")


class GateReviewStatus(ApiModel):
    phase: str | None = Field(default=None, description="Waiting, AwaitingApproval, Passed or Failed.")
    observed_generation: int | None = Field(default=None, description="The generation last acted on.")
    conditions: list[Condition] = Field(default_factory=list, description="Decided, Approved.")
    decision: Literal["Pass", "Fail"] | None = Field(default=None, description="The decision.")
    checks: list[GateCheck] = Field(default_factory=list, description="Each check with observed, target and verdict.")
    gaps: list[str] = Field(default_factory=list, description="Named gaps when the decision is Fail.")
    approved_by: str | None = Field(default=None, description="Approver identity.")
    approved_at: str | None = Field(default=None, description="Approval time.")
