"""Pure functions from an Argo Workflow (as the apiserver returns it) to the owning resource's status.

Nothing here talks to Kubernetes: :mod:`.reconcile` reads the objects, calls these, and writes the
result. The mapping is:

* Argo's phase -> the kind's summary phase and summary condition (``Ready`` for families,
  ``Succeeded`` for runs), with reasons ``WorkflowPending``/``WorkflowRunning``/``WorkflowSucceeded``/
  ``WorkflowFailed``;
* the workflow's nodes -> per-stage conditions (e.g. ``Deduplicated``, ``Verified``), ``progress``
  and ``failedNodes``;
* the workflow's output parameters -> figures, through the renderer's
  :func:`pixelgate.workflows.render.status_from_outputs` (the same mapping the local runner uses).

Each change of phase or stage condition yields a :class:`Transition`, which becomes a Kubernetes Event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pixelgate.workflows.api import KINDS
from pixelgate.workflows.api.meta import Condition, get_condition, set_condition
from pixelgate.workflows.api.run_status import NodeFailure
from pixelgate.workflows.render import status_from_outputs
from pixelgate.workflows.render.common import LABEL_HASH as LABEL_SPEC_HASH

ARGO_GROUP = "argoproj.io"
ARGO_VERSION = "v1alpha1"

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "pixelgate-operator"

FAILED_PHASES = ("Failed", "Error")


@dataclass(frozen=True)
class KindPolicy:
    """How one kind's status reads a workflow: phase names, summary condition, and stages."""

    summary: str
    succeeded_phase: str
    # Stage condition -> the rendered templates (name prefixes) that make up the stage, in pipeline order.
    stages: dict[str, tuple[str, ...]] = field(default_factory=dict)


POLICIES: dict[str, KindPolicy] = {
    "DatasetFamily": KindPolicy("Ready", "Ready", {"Ingested": ("ingest",)}),
    "CompileRun": KindPolicy(
        "Succeeded",
        "Succeeded",
        {"Deduplicated": ("compile-signatures", "compile-buckets", "compile-merge", "compile-filter"), "Verified": ("compile-verify",)},
    ),
    "TrainingRun": KindPolicy("Succeeded", "Succeeded", {"Trained": ("train",), "Evaluated": ("evaluate",)}),
}


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


def workflow_outputs(workflow: dict[str, Any]) -> dict[str, str]:
    """The workflow's own output parameters (its entry DAG's results), name -> raw value."""
    params = ((workflow.get("status") or {}).get("outputs") or {}).get("parameters") or []
    return {p["name"]: p.get("value") or "" for p in params if "name" in p}


def _stage_condition(
    stage: str, prefixes: tuple[str, ...], nodes: list[dict[str, Any]], later_started: bool, wf_phase: str, generation: int | None
) -> Condition:
    mine = [n for n in nodes if n.get("type") == "Pod" and node_template(n).startswith(prefixes)]
    failed = [n for n in mine if n.get("phase") in FAILED_PHASES]
    if failed:
        msg = "; ".join(f"{n.get('displayName')}: {n.get('message') or n.get('phase')}" for n in failed)
        return Condition(type=stage, status="False", reason="StepFailed", message=msg, observed_generation=generation)
    if not mine:
        return Condition(type=stage, status="Unknown", reason="NotStarted", message="", observed_generation=generation)
    done = all(n.get("phase") in ("Succeeded", "Skipped", "Omitted") for n in mine)
    if done and (later_started or wf_phase == "Succeeded"):
        return Condition(type=stage, status="True", reason="StepsSucceeded", message=f"{len(mine)} step(s) succeeded", observed_generation=generation)
    return Condition(type=stage, status="Unknown", reason="InProgress", message=f"{sum(n.get('phase') == 'Succeeded' for n in mine)}/{len(mine)} step(s) done", observed_generation=generation)


def _summary_condition(policy: KindPolicy, wf_phase: str, name: str, message: str, generation: int | None) -> Condition:
    if wf_phase == "Succeeded":
        return Condition(type=policy.summary, status="True", reason="WorkflowSucceeded", message=f"workflow {name} succeeded", observed_generation=generation)
    if wf_phase in FAILED_PHASES:
        return Condition(type=policy.summary, status="False", reason="WorkflowFailed", message=message or f"workflow {name} failed", observed_generation=generation)
    waiting = "False" if policy.summary == "Ready" else "Unknown"
    reason = "WorkflowRunning" if wf_phase == "Running" else "WorkflowPending"
    return Condition(type=policy.summary, status=waiting, reason=reason, message=f"workflow {name} is {wf_phase.lower()}", observed_generation=generation)


def _phase(policy: KindPolicy, wf_phase: str) -> str:
    if wf_phase == "Succeeded":
        return policy.succeeded_phase
    if wf_phase in FAILED_PHASES:
        return "Failed"
    return "Running" if wf_phase == "Running" else "Pending"


def _condition_transitions(before: list[Condition], after: list[Condition]) -> list[Transition]:
    out = []
    for cond in after:
        old = get_condition(before, cond.type)
        if (old is None or old.status != cond.status) and cond.status != "Unknown" and cond.reason not in ("WorkflowPending", "WorkflowRunning"):
            kind = "Warning" if cond.status == "False" and cond.reason.endswith("Failed") else "Normal"
            out.append(Transition(kind, f"{cond.type}{'' if cond.status == 'True' else 'False'}", cond.message))
    return out


def status_from_workflow(kind: str, current: dict[str, Any], workflow: dict[str, Any], generation: int | None) -> tuple[dict[str, Any], list[Transition]]:
    """The owner's new status (wire form) given its current status and its current workflow."""
    policy = POLICIES[kind]
    model = KINDS[kind].status
    before = model.model_validate(current or {})
    wf_phase = argo_phase(workflow)
    wf_status = workflow.get("status") or {}
    name = workflow["metadata"]["name"]
    nodes = _nodes(workflow)
    failures = [
        NodeFailure(name=n.get("displayName") or n.get("name") or n.get("id", "?"), phase=n["phase"], message=n.get("message") or "")
        for n in nodes
        if n.get("type") == "Pod" and n.get("phase") in FAILED_PHASES
    ]
    conditions = list(before.conditions)
    conditions = set_condition(conditions, _summary_condition(policy, wf_phase, name, wf_status.get("message") or "", generation))
    stages = list(policy.stages.items())
    for i, (stage, prefixes) in enumerate(stages):
        later = any(n.get("type") == "Pod" and node_template(n).startswith(p) for _, ps in stages[i + 1 :] for p in ps for n in nodes)
        conditions = set_condition(conditions, _stage_condition(stage, prefixes, nodes, later, wf_phase, generation))
    phase = _phase(policy, wf_phase)
    spec_hash = (workflow["metadata"].get("labels") or {}).get(LABEL_SPEC_HASH) or before.spec_hash or ""
    figures = status_from_outputs(
        kind, phase=phase, workflow=name, spec_hash=spec_hash, outputs=workflow_outputs(workflow), previous=before
    )
    updates: dict[str, Any] = {
        "phase": phase,
        "observed_generation": generation,
        "conditions": conditions,
        "workflow": name,
        "spec_hash": spec_hash or None,
        "workflow_phase": wf_phase,
        "progress": wf_status.get("progress") or before.progress,
        "message": wf_status.get("message") or None,
        "failed_nodes": failures,
        "started_at": wf_status.get("startedAt") or before.started_at,
        "finished_at": wf_status.get("finishedAt") or None,
    }
    after = model.model_validate({**figures.model_dump(), **updates})
    transitions = _condition_transitions(before.conditions, after.conditions)
    if before.phase != after.phase:
        warn = after.phase == "Failed"
        detail = "; ".join(f"{f.name}: {f.message}" for f in failures) or (wf_status.get("message") or "")
        msg = f"workflow {name} {wf_phase.lower()}" + (f" ({after.progress})" if after.progress else "") + (f": {detail}" if detail else "")
        transitions.insert(0, Transition("Warning" if warn else "Normal", f"Workflow{wf_phase}", msg))
    return after.to_wire(), transitions


def waiting_status(
    kind: str, current: dict[str, Any], condition: str, reason: str, message: str, generation: int | None
) -> tuple[dict[str, Any], list[Transition]]:
    """Phase ``Waiting`` with ``<condition>=False`` because a dependency is not ready yet."""
    model = KINDS[kind].status
    before = model.model_validate(current or {})
    cond = Condition(type=condition, status="False", reason=reason, message=message, observed_generation=generation)
    conditions = set_condition(list(before.conditions), cond)
    summary_type = KINDS[kind].summary_condition
    summary = Condition(
        type=summary_type, status="False" if summary_type == "Ready" else "Unknown", reason=reason, message=message, observed_generation=generation
    )
    conditions = set_condition(conditions, summary)
    after = before.model_copy(update={"phase": "Waiting", "observed_generation": generation, "conditions": conditions, "message": message})
    changed = before.phase != "Waiting" or before.message != message
    transitions = [Transition("Normal", reason, message)] if changed else []
    return after.to_wire(), transitions


def dependency_met(kind: str, current: dict[str, Any], condition: str, message: str, generation: int | None) -> dict[str, Any]:
    """Record ``<condition>=True`` once the dependencies are ready (before the workflow is submitted)."""
    model = KINDS[kind].status
    before = model.model_validate(current or {})
    cond = Condition(type=condition, status="True", reason="DependenciesReady", message=message, observed_generation=generation)
    return before.model_copy(update={"conditions": set_condition(list(before.conditions), cond)}).to_wire()

