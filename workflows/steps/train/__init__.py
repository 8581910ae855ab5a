"""The train step of a TrainingRun.

``train_run`` trains (or resumes) and writes ``trainings/<name>/<hash>/model/`` and
``metrics.json``. It is idempotent: a finished step returns its stored result. The evaluate step
that follows is :mod:`pixelgate.workflows.steps.evaluate`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ... import layout
from ...api.training_run import TrainingRunSpec
from ...store import Store, open_store
from ..registry import StepInvocation
from .checkpoints import CheckpointStore
from .runs import run_identity, run_workdir, unpack_training_run


class TrainResult(BaseModel):
    spec_hash: str = Field(description="Hash of the TrainingRun spec.")
    output_uri: str = Field(description="Store folder of the run.")
    metrics_uri: str = Field(description="metrics.json.")
    model_uri: str = Field(description="The trained model (best checkpoint's weights) and tokenizer.")
    best_checkpoint: str | None = Field(description="URI of the best checkpoint.")
    best_metric: float | None = Field(description="Best eval_loss.")
    global_step: int = Field(description="Optimizer steps done.")
    tokens_per_second: float = Field(description="Training throughput of the last process.")


def checkpoint_store(spec: TrainingRunSpec, store: Store, name: str, digest: str) -> CheckpointStore:
    """``<checkpoints.uri>/<identity>/`` when set (a changed spec or compile never resumes another's
    checkpoints), else the run's own ``checkpoints/`` folder."""
    if spec.checkpoints.uri:
        return CheckpointStore(open_store(spec.checkpoints.uri), digest)
    return CheckpointStore(store, layout.training_checkpoints(name, digest))


def _upload_folder(store: Store, folder: Path, prefix: str) -> None:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        store.write_bytes(f"{prefix}/{path.relative_to(folder).as_posix()}", path.read_bytes())


def wait_for_json(store: Store, key: str, timeout_s: float = 3600.0, interval_s: float = 2.0) -> dict[str, Any]:
    """``key``'s JSON once another process has written it; TimeoutError (transient: the step is
    retried) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not store.exists(key):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{store.url(key)} did not appear within {timeout_s:.0f} s")
        time.sleep(interval_s)
    return store.read_json(key)


def _train_result(store: Store, name: str, digest: str, metrics: dict[str, Any]) -> TrainResult:
    return TrainResult(
        spec_hash=digest,
        output_uri=store.url(layout.training_root(name, digest)),
        metrics_uri=store.url(layout.training_file(name, digest, "metrics.json")),
        model_uri=store.url(layout.training_file(name, digest, "model")),
        best_checkpoint=metrics["best_checkpoint"],
        best_metric=metrics["best_eval_loss"],
        global_step=metrics["global_step"],
        tokens_per_second=metrics["tokens_per_second"],
    )


def train_run(
    name: str,
    spec: TrainingRunSpec,
    store: Store,
    workdir: str | os.PathLike[str] | None = None,
    callbacks: list[Any] | None = None,
    inputs: Mapping[str, str] | None = None,
) -> TrainResult:
    """Train the TrainingRun ``name``; resumes from the store's latest checkpoint after a restart.
    ``inputs``: the compile's identity (default: its current output)."""
    from .trainer import train

    digest = run_identity(name, spec, store, inputs)
    metrics_key = layout.training_file(name, digest, "metrics.json")
    if store.exists(metrics_key):
        return _train_result(store, name, digest, store.read_json(metrics_key))
    checkpoints = checkpoint_store(spec, store, name, digest)
    outcome = train(spec, store, checkpoints, run_workdir(workdir, name, digest), callbacks)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun: rank 0 publishes, the others report its result
        return _train_result(store, name, digest, wait_for_json(store, metrics_key))
    _upload_folder(store, outcome.model_dir, layout.training_file(name, digest, "model"))
    metrics = outcome.metrics.model_dump(mode="json")
    store.write_json(metrics_key, metrics)
    return _train_result(store, name, digest, metrics)


def run_train_step(invocation: StepInvocation) -> TrainResult:
    name, spec = unpack_training_run(invocation)
    return train_run(name, spec, invocation.store, invocation.params.get("workdir"), inputs=invocation.resolved_inputs)
