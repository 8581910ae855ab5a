"""The evaluate step of a TrainingRun, and its evaluation suites of the trained model: clinical
similarity, empathy / MI adherence, safety and refusal over-triggering, scored by a judge
(heuristic by default, or an LLM behind an OpenAI-compatible endpoint). See docs/evaluation.md.

``evaluate_run`` evaluates the model the train step wrote and writes ``eval_report.json`` and then
``trainings/<name>/latest.json``. It is idempotent: a finished step returns its stored result.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field

from ... import layout
from ...api.training_run import TrainingRunSpec
from ...store import Store, write_pointer
from ..registry import StepInvocation
from ..train.runs import run_identity, run_workdir, unpack_training_run


class EvaluateResult(BaseModel):
    spec_hash: str = Field(description="Hash of the TrainingRun spec.")
    output_uri: str = Field(description="Store folder of the run.")
    eval_report_uri: str = Field(description="eval_report.json.")
    scores: dict[str, float] = Field(description="Score per suite (and headline metric).")
    targets_met: bool = Field(description="Every evaluation target met.")


def evaluate_run(
    name: str,
    spec: TrainingRunSpec,
    store: Store,
    workdir: str | os.PathLike[str] | None = None,
    prompts_dir: Path | None = None,
    inputs: Mapping[str, str] | None = None,
) -> EvaluateResult:
    """Evaluate the trained model; write eval_report.json, then ``trainings/<name>/latest.json``."""
    from .run import evaluate_model

    digest = run_identity(name, spec, store, inputs)
    report_key = layout.training_file(name, digest, "eval_report.json")
    if not store.exists(report_key):
        model_prefix = layout.training_file(name, digest, "model")
        if not store.list(model_prefix):
            raise FileNotFoundError(
                f"TrainingRun {name!r} has no trained model at {store.url(model_prefix)}; run the train step first"
            )
        eval_dir = run_workdir(workdir, name, digest) / "eval"
        report = evaluate_model(name, spec, store, model_prefix, eval_dir, prompts_dir, digest)
        store.write_json(report_key, report.model_dump(mode="json"))
    report = store.read_json(report_key)
    write_pointer(store, layout.training_pointer(name), layout.training_root(name, digest), spec_hash=digest)
    return EvaluateResult(
        spec_hash=digest,
        output_uri=store.url(layout.training_root(name, digest)),
        eval_report_uri=store.url(report_key),
        scores=report["scores"],
        targets_met=report["targets_met"],
    )


def run_evaluate_step(invocation: StepInvocation) -> EvaluateResult:
    name, spec = unpack_training_run(invocation)
    workdir = invocation.params.get("workdir")
    return evaluate_run(name, spec, invocation.store, workdir, inputs=invocation.resolved_inputs)
