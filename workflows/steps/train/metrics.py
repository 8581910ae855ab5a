"""``metrics.json``: loss curves, perplexity, throughput and (on a GPU) peak memory of a training."""

from __future__ import annotations

import math
import time
from typing import Any

from pydantic import BaseModel, Field


class CurvePoint(BaseModel):
    step: int
    value: float


class TrainingMetrics(BaseModel):
    train_loss: list[CurvePoint] = Field(description="Training loss per logging step.")
    eval_loss: list[CurvePoint] = Field(description="Validation loss per evaluation.")
    best_eval_loss: float | None = Field(description="Lowest validation loss.")
    best_checkpoint: str | None = Field(description="URI of the checkpoint with the lowest validation loss.")
    perplexity: float | None = Field(description="exp(best_eval_loss).")
    global_step: int = Field(description="Optimizer steps done, across restarts.")
    resumed_from_step: int | None = Field(description="Step of the checkpoint this process resumed from.")
    stopped_early: bool = Field(description="Early stopping ended the run before max_steps.")
    max_steps: int = Field(description="Planned optimizer steps.")
    train_tokens: int = Field(description="Non-padding tokens this process trained on.")
    train_seconds: float = Field(description="Wall time of this process's training loop.")
    tokens_per_second: float = Field(description="train_tokens / train_seconds.")
    device: str = Field(description="cpu, or the CUDA device name.")
    gpu_max_memory_bytes: int | None = Field(description="Peak CUDA memory allocated (GPU runs only).")
    deepspeed_zero_stage: int | None = Field(description="ZeRO stage when DeepSpeed ran the training.")
    mixture: dict[str, float] = Field(description="Sampling share of each curriculum group.")
    train_records: dict[str, int] = Field(description="Train records per curriculum group.")


def curves(log_history: list[dict[str, Any]]) -> tuple[list[CurvePoint], list[CurvePoint]]:
    train = [CurvePoint(step=e["step"], value=float(e["loss"])) for e in log_history if "loss" in e]
    evals = [CurvePoint(step=e["step"], value=float(e["eval_loss"])) for e in log_history if "eval_loss" in e]
    return train, evals


def perplexity(loss: float | None) -> float | None:
    if loss is None:
        return None
    return math.exp(min(loss, 700.0))


class Stopwatch:
    """Counts wall time and non-padding tokens between ``start`` and ``stop``."""

    def __init__(self) -> None:
        self.tokens = 0
        self.seconds = 0.0
        self._t0: float | None = None

    def start(self) -> None:
        self._t0 = time.perf_counter()

    def stop(self) -> None:
        if self._t0 is not None:
            self.seconds += time.perf_counter() - self._t0
            self._t0 = None

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def device_memory() -> tuple[str, int | None]:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(), int(torch.cuda.max_memory_allocated())
    return "cpu", None
