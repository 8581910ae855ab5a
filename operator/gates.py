"""GateReview in the operator: gather the reviewed runs' statuses and let
:func:`pixelgate.workflows.review.review` decide. Approval comes from ``spec.approval.approvedBy``
or the annotation ``pixelgate.dev/approved-by``; who approved and when is kept once recorded."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pixelgate.workflows.api import parse_resource
from pixelgate.workflows.api.compile_run import CompileRunStatus
from pixelgate.workflows.api.gate_review import GateReviewStatus
from pixelgate.workflows.api.kinds import COMPILE_RUN, DECIDED, TRAINING_RUN, WAITING_FOR_RUN
from pixelgate.workflows.api.meta import now_rfc3339
from pixelgate.workflows.api.training_run import TrainingRunSpec, TrainingRunStatus
from pixelgate.workflows.review import review

from .dependencies import KIND_INDEX, Ref, find
from .status import Transition

APPROVED_BY_ANNOTATION = "pixelgate.dev/approved-by"


def _status(ref: Ref | None, model: type[Any]) -> Any:
    return model.model_validate(dict(ref.status)) if ref is not None and ref.current else None


def decide(
    body: Mapping[str, Any], indexes: Mapping[str, Mapping[str, Iterable[Ref]]]
) -> tuple[dict[str, Any], list[Transition]]:
    """The GateReview's new status (wire form) and the transitions worth an Event; ``indexes`` are
    the operator's snapshot indexes (:data:`~.dependencies.KIND_INDEX`)."""
    compiles, trainings = indexes[KIND_INDEX[COMPILE_RUN]], indexes[KIND_INDEX[TRAINING_RUN]]
    resource = parse_resource(dict(body))
    spec = resource.spec
    ns = body["metadata"].get("namespace") or ""
    previous = GateReviewStatus.model_validate(body.get("status") or {})
    compile_status = _status(find(compiles, ns, spec.compile_run), CompileRunStatus) if spec.compile_run else None
    training_ref = find(trainings, ns, spec.training_run) if spec.training_run else None
    training = _status(training_ref, TrainingRunStatus)
    baseline = (
        _status(find(trainings, ns, spec.baseline_training_run), TrainingRunStatus)
        if spec.baseline_training_run
        else None
    )
    targets = (
        TrainingRunSpec.model_validate(dict(training_ref.spec)).evaluation.targets
        if training_ref is not None
        else None
    )
    approver = spec.approval.approved_by or (body["metadata"].get("annotations") or {}).get(APPROVED_BY_ANNOTATION)
    approved_at = previous.approved_at if previous.approved_by and previous.approved_by == approver else None
    status = review(
        spec,
        compile_status=compile_status,
        training=training,
        training_targets=targets,
        baseline=baseline,
        approver=approver,
        approved_at=approved_at,
        previous=previous,
        now=now_rfc3339(),
    )
    generation = body["metadata"].get("generation")
    conditions = [c.model_copy(update={"observed_generation": generation}) for c in status.conditions]
    status = status.model_copy(update={"observed_generation": generation, "conditions": conditions})
    transitions: list[Transition] = []
    if status.phase != previous.phase:
        if status.phase == "Failed":
            transitions.append(Transition("Warning", "GateFailed", "; ".join(status.gaps) or "a check failed"))
        elif status.phase == "Passed":
            who = f" (approved by {status.approved_by})" if status.approved_by else ""
            transitions.append(Transition("Normal", "GatePassed", f"{spec.gate}: all checks passed{who}"))
        elif status.phase == "AwaitingApproval":
            transitions.append(
                Transition("Normal", "AwaitingApproval", f"{spec.gate} passed its checks; waiting for an approver")
            )
        elif status.phase == "Waiting":
            transitions.append(
                Transition(
                    "Normal", WAITING_FOR_RUN, next((c.message for c in status.conditions if c.type == DECIDED), "")
                )
            )
    return status.to_wire(), transitions
