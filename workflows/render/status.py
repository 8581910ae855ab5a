"""A workflow's run -> the owning resource's status: shared by the operator and the local runner.

Both runtimes describe what happened as :class:`TaskRun` records (one per pod: its task, phase,
message and the step's JSON result), from Argo's nodes on a cluster and from the interpreter's
nodes locally. From them and the kind's declaration (:mod:`pixelgate.workflows.api.kinds`):

* the summary phase and condition (``Ready`` for families, ``Succeeded`` for runs);
* one condition per declared stage, True once its tasks succeeded *and* the stage's verdict on
  the last task's result holds (``Verified``: every gate passed), False when one failed;
* the figures: exactly the result fields each task declares it reports (``Task.reports``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..api.kinds import KINDS, Kind, Stage
from ..api.meta import Condition, set_condition

FAILED_PHASES = ("Failed", "Error")
DONE_PHASES = ("Succeeded", "Skipped", "Omitted")


@dataclass(frozen=True)
class TaskRun:
    """One pod of a task, as a runtime observed it."""

    task: str
    phase: str  # Argo's node phase: Pending, Running, Succeeded, Failed, Error, Skipped, Omitted
    name: str = ""  # the display name, e.g. signatures(3:3)
    message: str = ""
    result: str | None = None  # the step's JSON result (output parameter "result")
    order: str = ""  # sorts the pods of one task (rank 0 first)


def task_of_template(kind: str) -> dict[str, str]:
    """Template (step) name -> task name for ``kind``'s declared tasks."""
    return {t.step.name: t.name for t in KINDS[kind].tasks}


def _parse(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def results_by_task(kind: str, runs: Iterable[TaskRun]) -> dict[str, dict[str, Any]]:
    """The parsed result of every reporting task that succeeded (a per-rank task: its first pod's)."""
    reporting = {t.name for t in KINDS[kind].result_tasks()}
    results: dict[str, dict[str, Any]] = {}
    for run in sorted(runs, key=lambda r: (r.task, r.order, r.name)):
        if run.task in reporting and run.phase == "Succeeded" and run.task not in results and run.result:
            results[run.task] = _parse(run.result)
    return results


def resource_phase(kind: str, workflow_phase: str) -> str:
    if workflow_phase == "Succeeded":
        return KINDS[kind].done_phase
    if workflow_phase in FAILED_PHASES:
        return "Failed"
    return "Running" if workflow_phase == "Running" else "Pending"


def summary_condition(
    kind: str, workflow_phase: str, workflow: str, message: str, generation: int | None
) -> Condition:
    summary = KINDS[kind].summary_condition
    if workflow_phase == "Succeeded":
        return Condition(
            type=summary,
            status="True",
            reason="WorkflowSucceeded",
            message=f"workflow {workflow} succeeded",
            observed_generation=generation,
        )
    if workflow_phase in FAILED_PHASES:
        return Condition(
            type=summary,
            status="False",
            reason="WorkflowFailed",
            message=message or f"workflow {workflow} failed",
            observed_generation=generation,
        )
    waiting = KINDS[kind].summary_while_running
    reason = "WorkflowRunning" if workflow_phase == "Running" else "WorkflowPending"
    return Condition(
        type=summary,
        status=waiting,
        reason=reason,
        message=f"workflow {workflow} is {workflow_phase.lower()}",
        observed_generation=generation,
    )


def _stage_condition(
    stage: Stage,
    runs: list[TaskRun],
    results: Mapping[str, Mapping[str, Any]],
    later_started: bool,
    workflow_phase: str,
    generation: int | None,
) -> Condition:
    def cond(status: str, reason: str, message: str) -> Condition:
        return Condition(
            type=stage.condition, status=status, reason=reason, message=message, observed_generation=generation
        )

    mine = [r for r in runs if r.task in stage.tasks]
    failed = [r for r in mine if r.phase in FAILED_PHASES]
    if failed:
        return cond(
            "False", stage.failed_reason, "; ".join(f"{r.name or r.task}: {r.message or r.phase}" for r in failed)
        )
    if not mine:
        return cond("Unknown", "NotStarted", "")
    finished = all(r.phase in DONE_PHASES for r in mine) and {r.task for r in mine} == set(stage.tasks)
    if not (finished and (later_started or workflow_phase == "Succeeded")):
        return cond("Unknown", "InProgress", f"{sum(r.phase == 'Succeeded' for r in mine)}/{len(mine)} step(s) done")
    if stage.verdict is not None:
        last = results.get(stage.tasks[-1])
        if last is None:
            return cond("Unknown", "NoResult", f"{stage.tasks[-1]} reported no result")
        problem = stage.verdict(last)
        if problem is not None:
            return cond("False", stage.verdict_reason, problem)
    return cond("True", "StepsSucceeded", f"{len(mine)} step(s) succeeded")


def stage_conditions(
    kind: str,
    runs: Iterable[TaskRun],
    results: Mapping[str, Mapping[str, Any]],
    workflow_phase: str,
    generation: int | None,
) -> list[Condition]:
    """One condition per declared stage of ``kind``, in pipeline order."""
    runs = list(runs)
    stages = KINDS[kind].stages
    out = []
    for i, stage in enumerate(stages):
        later = any(r.task in s.tasks for s in stages[i + 1 :] for r in runs)
        out.append(_stage_condition(stage, runs, results, later, workflow_phase, generation))
    return out


def figures(kind: Kind, results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The status fields the results report, per the declaration (later tasks win a shared field)."""
    values: dict[str, Any] = {}
    for task in kind.result_tasks():
        result = results.get(task.name) or {}
        values.update({f: result[f] for f in task.reports if result.get(f) is not None})
    return values


def status_from_runs(
    kind: str,
    *,
    workflow_phase: str,
    workflow: str,
    identity: str,
    runs: Iterable[TaskRun],
    message: str = "",
    previous: BaseModel | None = None,
    generation: int | None = None,
) -> BaseModel:
    """The status model of ``kind``: phase, summary and stage conditions, and figures."""
    info = KINDS[kind]
    runs = list(runs)
    results = results_by_task(kind, runs)
    conditions = list(getattr(previous, "conditions", []) or [])
    conditions = set_condition(conditions, summary_condition(kind, workflow_phase, workflow, message, generation))
    for cond in stage_conditions(kind, runs, results, workflow_phase, generation):
        conditions = set_condition(conditions, cond)
    return info.status.model_validate(
        {
            **figures(info, results),
            "phase": resource_phase(kind, workflow_phase),
            "workflow": workflow,
            "spec_hash": identity,
            "conditions": conditions,
            "workflow_phase": workflow_phase,
            "message": message or None,
        }
    )
