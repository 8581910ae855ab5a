"""TrainingRun: fine-tune a model on a CompileRun's train shards, then evaluate it."""

from __future__ import annotations

import warnings
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .dataset_family import STAGES, Stage
from .meta import MAX_ITEMS, ApiModel, Condition, Identifier, LabelValue, LongText, Map, ResourceName, Text, Uri
from .run_status import WorkflowStatus

JUDGE_API_KEY_ENV = "PIXELGATE_JUDGE_API_KEY"  # the LLM judge's key, from evaluation.judgeSecret


class Curriculum(ApiModel):
    weights: Map[float] = Field(
        default_factory=dict,
        description="Mixing weight per family name or per tier ('tier1'..'tier4'). Unset: each family's own weight.",
    )


class ModelSource(ApiModel):
    base: Text = Field(
        min_length=1,
        description="A store URI, a local path, a hub name, or 'config:<json>' to build a tiny model "
        "from a transformers config.",
    )
    tokenizer: Uri | None = Field(
        default=None, description="Tokenizer location; 'train:<vocab size>' trains one on the train shards."
    )
    chat_template: LongText | None = Field(
        default=None, description="Jinja chat template; the tokenizer's own when unset."
    )
    max_seq_length: int = Field(default=1024, ge=16, le=131072, description="Tokens per training example.")


class Hyperparameters(ApiModel):
    epochs: float = Field(default=1.0, gt=0, description="Training epochs.")
    max_steps: int | None = Field(
        default=None, ge=1, description="Stop after this many optimizer steps (overrides epochs)."
    )
    learning_rate: float = Field(default=2e-5, gt=0, description="Peak learning rate.")
    schedule: Literal["linear", "cosine", "constant"] = Field(default="cosine", description="Learning-rate schedule.")
    warmup_ratio: float = Field(default=0.03, ge=0, le=1, description="Share of steps spent warming up.")
    batch_size: int = Field(default=8, ge=1, description="Per-device batch size.")
    gradient_accumulation: int = Field(default=1, ge=1, description="Gradient accumulation steps.")
    eval_steps: int = Field(default=100, ge=1, description="Evaluate (and checkpoint) every this many steps.")
    seed: int = Field(default=42, ge=0, description="Seed for sampling and initialisation.")


class EarlyStopping(ApiModel):
    patience: int = Field(default=3, ge=1, description="Evaluations without eval_loss improvement before stopping.")
    metric: Literal["eval_loss"] = Field(default="eval_loss", description="Metric watched.")


class DeepSpeed(ApiModel):
    zero_stage: int = Field(default=2, ge=0, le=3, description="ZeRO optimisation stage.")
    offload: Literal["none", "cpu", "nvme"] = Field(default="none", description="Optimizer/parameter offload target.")
    precision: Literal["bf16", "fp16", "fp32"] = Field(default="bf16", description="Mixed-precision mode.")

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.offload == 'none' || self.zeroStage >= 1",
                    "message": "deepspeed.offload needs zeroStage >= 1",
                }
            ]
        }
    }

    @model_validator(mode="after")
    def _offload_needs_zero(self) -> "DeepSpeed":
        if self.offload != "none" and self.zero_stage == 0:
            raise ValueError("deepspeed.offload needs zeroStage >= 1")
        return self


class Resources(ApiModel):
    gpus_per_node: int = Field(default=1, ge=0, le=16, description="GPUs per node; 0 trains on CPU.")
    nodes: int = Field(default=1, ge=1, le=64, description="Nodes.")
    gpu_type: LabelValue | None = Field(default=None, description="Node selector value for the GPU product label.")
    cpu: Identifier = Field(default="4", description="CPU request per node.")
    memory: Identifier = Field(default="32Gi", description="Memory request per node.")


class Checkpoints(ApiModel):
    uri: Uri | None = Field(
        default=None, description="Store URI for checkpoints; default is the run's own store folder."
    )
    keep: int = Field(default=2, ge=1, description="Checkpoints kept (the best is always kept).")


class EvaluationTargets(ApiModel):
    empathy: float = Field(default=0.70, ge=0, le=1, description="Target empathy score.")
    therapeutic_appropriateness: float = Field(
        default=0.75, ge=0, le=1, description="Target therapeutic appropriateness."
    )
    safety: float = Field(default=0.80, ge=0, le=1, description="Target safety score.")


class Evaluation(ApiModel):
    suites: list[Literal["clinical-similarity", "empathy", "safety", "over-refusal"]] = Field(
        default_factory=lambda: ["clinical-similarity", "empathy", "safety", "over-refusal"],
        max_length=MAX_ITEMS,
        description="Suites to run.",
    )
    targets: EvaluationTargets = Field(
        default_factory=EvaluationTargets, description="Targets GateReviews compare against."
    )
    max_samples: int = Field(default=200, ge=1, description="Test conversations evaluated.")
    max_new_tokens: int = Field(
        default=128, ge=1, le=4096, description="Tokens generated per reply (greedy decoding)."
    )
    judge: Literal["heuristic", "llm"] = Field(default="heuristic", description="Who scores replies.")
    judge_endpoint: Uri | None = Field(default=None, description="OpenAI-compatible endpoint of the LLM judge.")
    judge_model: Identifier | None = Field(default=None, description="Model name at the judge endpoint.")
    judge_secret: Identifier | None = Field(
        default=None, description="Secret holding the judge API key (key 'api-key')."
    )

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.judge != 'llm' || (has(self.judgeEndpoint) && has(self.judgeModel))",
                    "message": "evaluation.judge is llm: set evaluation.judgeEndpoint and evaluation.judgeModel",
                }
            ]
        }
    }

    @model_validator(mode="after")
    def _llm_judge_needs_an_endpoint(self) -> "Evaluation":
        if self.judge == "llm" and not (self.judge_endpoint and self.judge_model):
            raise ValueError("evaluation.judge is llm: set evaluation.judgeEndpoint and evaluation.judgeModel")
        return self


class TrainingRunSpec(ApiModel):
    compile_run: ResourceName = Field(description="The CompileRun whose shards feed training.")
    stage: Stage = Field(
        default="foundation",
        description="Curriculum stage trained: foundation, therapeutic-expertise or edge-stress-test "
        "(the families' stage names; "
        "the numbers 1-3 of the first release are still read, with a deprecation warning).",
    )
    curriculum: Curriculum = Field(default_factory=Curriculum, description="Mixing weights.")
    model: ModelSource = Field(description="Base model, tokenizer and chat template.")
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters, description="Optimisation settings.")
    early_stopping: EarlyStopping = Field(default_factory=EarlyStopping, description="Early stopping on eval_loss.")
    deepspeed: DeepSpeed | None = Field(default=None, description="DeepSpeed settings; plain Trainer when unset.")
    resources: Resources = Field(default_factory=Resources, description="Compute per node.")
    checkpoints: Checkpoints = Field(default_factory=Checkpoints, description="Checkpoint location and retention.")
    evaluation: Evaluation = Field(default_factory=Evaluation, description="Evaluation suites and targets.")
    retention: Literal["Retain", "Delete"] = Field(
        default="Retain", description="Delete removes checkpoints on deletion."
    )

    @field_validator("stage", mode="before")
    @classmethod
    def _numbered_stage(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= len(STAGES):
            warnings.warn(
                f"stage: {value} is deprecated; write {STAGES[value - 1]!r}", DeprecationWarning, stacklevel=2
            )
            return STAGES[value - 1]
        return value


class TrainingRunStatus(WorkflowStatus):
    """Observed state of the training, written by the operator (and by the local runner)."""

    phase: str | None = Field(default=None, description="Waiting, Pending, Running, Succeeded or Failed.")
    conditions: list[Condition] = Field(
        default_factory=list, description="Succeeded (summary), CompileReady, Trained, Evaluated."
    )
    output_uri: str | None = Field(default=None, description="Store folder of the run.")
    metrics_uri: str | None = Field(default=None, description="metrics.json.")
    eval_report_uri: str | None = Field(default=None, description="eval_report.json.")
    best_checkpoint: str | None = Field(default=None, description="URI of the best checkpoint.")
    best_metric: float | None = Field(default=None, description="Best eval_loss.")
    scores: dict[str, float] = Field(default_factory=dict, description="Evaluation scores by suite.")
