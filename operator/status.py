"""Pure functions from an Argo Workflow (as the apiserver returns it) to the owning resource's status.

Nothing here talks to Kubernetes: :mod:`.reconcile` reads the objects, calls these, and writes the
result. The mapping is:

* Argo's phase -> the kind's summary phase and summary condition (``Ready`` for families,
  ``Succeeded`` for runs), with reasons ``WorkflowPending``/``WorkflowRunning``/``WorkflowSucceeded``/
  ``WorkflowFailed``;
* the workflow's nodes -> :class:`~pixelgate.workflows.render.status.TaskRun` records (each pod's
  task, phase, message and the step's result, which Argo keeps on the node) -> per-stage conditions
  (e.g. ``Deduplicated``, ``Verified``) and figures, through the renderer's
  :func:`~pixelgate.workflows.render.status.status_from_runs` (the mapping the local runner uses);
* ``progress`` and ``failedNodes`` from the workflow itself.

Each change of phase or stage condition yields a :class:`Transition`, which becomes a Kubernetes Event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pixelgate.workflows.api import KINDS
from pixelgate.workflows.api.meta import Condition, get_condition, set_condition
from pixelgate.workflows.api.run_status import NodeFailure
from pixelgate.workflows.render.common import LABEL_HASH as LABEL_SPEC_HASH
from pixelgate.workflows.render.status import FAILED_PHASES, TaskRun, status_from_runs, task_of_template

from .argo import InvalidWorkflowStatus, read_status

ARGO_GROUP = "argoproj.io"
ARGO_VERSION = "v1alpha1"

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "pixelgate-operator"


@dataclass(frozen=True)
class Transition:
    """Something worth a Kubernetes Event on the owning resource."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


def argo_phase(workflow: dict[str, Any]) -> str:
    """Argo's phase; an unset phase (just submitted) counts as Pending."""
    return (workflow.get("status") or {}).get("phase") or "Pending"


def _nodes(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = list(((workflow.get("status") or {}).get("nodes") or {}).values())
    return sorted(nodes, key=lambda n: (n.get("startedAt") or "", n.get("id") or ""))


def node_template(node: dict[str, Any]) -> str:
    return node.get("templateName") or (node.get("templateRef") or {}).get("template") or node.get("displayName") or ""


def _result(node: dict[str, Any]) -> str | None:
    params = (node.get("outputs") or {}).get("parameters") or []
    return next((p.get("value") for p in params if p.get("name") == "result"), None)


def _rank(node: dict[str, Any]) -> str:
    params = (node.get("inputs") or {}).get("parameters") or []
    return next((str(p.get("value")) for p in params if p.get("name") == "rank"), "")


def task_runs(kind: str, nodes: list[dict[str, Any]]) -> list[TaskRun]:
    """The workflow's pods as :class:`TaskRun` records (Argo keeps each step's result on its node)."""
    tasks = task_of_template(kind)
    runs = []
    for n in nodes:
        task = tasks.get(node_template(n))
        if n.get("type") != "Pod" or task is None:
            continue
        runs.append(
            TaskRun(
                task,
                n.get("phase") or "Pending",
                n.get("displayName") or "",
                n.get("message") or "",
                _result(n),
                _rank(n),
            )
        )
    return runs


def _condition_transitions(before: list[Condition], after: list[Condition]) -> list[Transition]:
    out = []
    for cond in after:
        old = get_condition(before, cond.type)
        if (
            (old is None or old.status != cond.status)
            and cond.status != "Unknown"
            and cond.reason not in ("WorkflowPending", "WorkflowRunning")
        ):
            kind = "Warning" if cond.status == "False" and cond.reason.endswith("Failed") else "Normal"
            out.append(Transition(kind, f"{cond.type}{'' if cond.status == 'True' else 'False'}", cond.message))
    return out


def status_from_workflow(
    kind: str, current: dict[str, Any], workflow: dict[str, Any], generation: int | None
) -> tuple[dict[str, Any], list[Transition]]:
    """The owner's new status (wire form) given its current status and its current workflow. A
    workflow status of the wrong shape leaves the phase as it was and says so in the summary
    condition (reason ``InvalidWorkflowStatus``) and a Warning Event."""
    model = KINDS[kind].status
    before = model.model_validate(current or {})
    try:
        read_status(workflow)
    except InvalidWorkflowStatus as err:
        return _unreadable(kind, before, str(err), generation)
    wf_phase = argo_phase(workflow)
    wf_status = workflow.get("status") or {}
    name = workflow["metadata"]["name"]
    nodes = _nodes(workflow)
    failures = [
        NodeFailure(
            name=n.get("displayName") or n.get("name") or n.get("id", "?"),
            phase=n["phase"],
            message=n.get("message") or "",
        )
        for n in nodes
        if n.get("type") == "Pod" and n.get("phase") in FAILED_PHASES
    ]
    spec_hash = (workflow["metadata"].get("labels") or {}).get(LABEL_SPEC_HASH) or before.spec_hash or ""
    computed = status_from_runs(
        kind,
        workflow_phase=wf_phase,
        workflow=name,
        identity=spec_hash,
        runs=task_runs(kind, nodes),
        message=wf_status.get("message") or "",
        previous=before,
        generation=generation,
    )
    updates: dict[str, Any] = {
        "observed_generation": generation,
        "spec_hash": spec_hash or None,
        "progress": wf_status.get("progress") or before.progress,
        "failed_nodes": failures,
        "started_at": wf_status.get("startedAt") or before.started_at,
        "finished_at": wf_status.get("finishedAt") or None,
    }
    after = computed.model_copy(update=updates)
    transitions = _condition_transitions(before.conditions, after.conditions)
    if before.phase != after.phase:
        warn = after.phase == "Failed"
        detail = "; ".join(f"{f.name}: {f.message}" for f in failures) or (wf_status.get("message") or "")
        msg = (
            f"workflow {name} {wf_phase.lower()}"
            + (f" ({after.progress})" if after.progress else "")
            + (f": {detail}" if detail else "")
        )
        transitions.insert(0, Transition("Warning" if warn else "Normal", f"Workflow{wf_phase}", msg))
    return after.to_wire(), transitions


def workflow_deleted_status(
    kind: str, current: dict[str, Any], workflow: str, generation: int | None
) -> tuple[dict[str, Any], list[Transition]] | None:
    """The resource's status once its current workflow was deleted before it finished (by hand:
    Argo's TTL only removes finished ones): Failed, saying so. None when the deleted workflow was
    not the current one or had finished (its status stays the record)."""
    info = KINDS[kind]
    before = info.status.model_validate(current or {})
    if before.workflow != workflow or before.phase not in ("Pending", "Running"):
        return None
    message = (
        f"workflow {workflow} was deleted before it finished; change the spec, or delete and re-create the "
        f"{kind}, to run it again"
    )
    cond = Condition(
        type=info.summary_condition,
        status="False",
        reason="WorkflowDeleted",
        message=message,
        observed_generation=generation,
    )
    after = before.model_copy(
        update={"phase": "Failed", "message": message, "conditions": set_condition(list(before.conditions), cond)}
    )
    return after.to_wire(), [Transition("Warning", "WorkflowDeleted", message)]


def _unreadable(
    kind: str, before: Any, message: str, generation: int | None
) -> tuple[dict[str, Any], list[Transition]]:
    info = KINDS[kind]
    cond = Condition(
        type=info.summary_condition,
        status=info.summary_while_running,
        reason="InvalidWorkflowStatus",
        message=message,
        observed_generation=generation,
    )
    after = before.model_copy(update={"message": message, "conditions": set_condition(list(before.conditions), cond)})
    changed = before.message != message
    return after.to_wire(), [Transition("Warning", "InvalidWorkflowStatus", message)] if changed else []


def waiting_status(
    kind: str, current: dict[str, Any], condition: str, reason: str, message: str, generation: int | None
) -> tuple[dict[str, Any], list[Transition]]:
    """Phase ``Waiting`` with ``<condition>=False`` because a dependency is not ready yet. A resource
    that already ran for this generation keeps its phase and figures (its outputs are still the
    record) and only shows the condition, until the dependency is ready and it runs again."""
    info = KINDS[kind]
    before = info.status.model_validate(current or {})
    cond = Condition(type=condition, status="False", reason=reason, message=message, observed_generation=generation)
    conditions = set_condition(list(before.conditions), cond)
    if before.workflow and before.observed_generation == generation and before.phase not in (None, "", "Waiting"):
        return before.model_copy(update={"conditions": conditions}).to_wire(), []
    summary = Condition(
        type=info.summary_condition,
        status=info.summary_while_running,
        reason=reason,
        message=message,
        observed_generation=generation,
    )
    conditions = set_condition(conditions, summary)
    after = before.model_copy(
        update={"phase": "Waiting", "observed_generation": generation, "conditions": conditions, "message": message}
    )
    changed = before.phase != "Waiting" or before.message != message
    transitions = [Transition("Normal", reason, message)] if changed else []
    return after.to_wire(), transitions


def dependencies_met(
    kind: str, current: dict[str, Any], met: tuple[tuple[str, str], ...], generation: int | None
) -> dict[str, Any]:
    """Record ``<condition>=True`` for each dependency met (before the workflow is submitted)."""
    before = KINDS[kind].status.model_validate(current or {})
    conditions = list(before.conditions)
    for condition, message in met:
        cond = Condition(
            type=condition, status="True", reason="DependenciesReady", message=message, observed_generation=generation
        )
        conditions = set_condition(conditions, cond)
    return before.model_copy(update={"conditions": conditions}).to_wire()
