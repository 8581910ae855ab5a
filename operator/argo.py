"""What the operator reads of an Argo Workflow's status, validated before it is used.

A status with the wrong shape (a ``nodes`` list instead of a map, a number for a phase, ...) is
not trusted: :func:`read_status` raises :class:`InvalidWorkflowStatus` with a short message, and
:mod:`.status` shows it as a condition instead of failing inside the event handler.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Parameter(_Model):
    name: str
    value: str | None = None


class _Parameters(_Model):
    parameters: list[_Parameter] = []


class _TemplateRef(_Model):
    template: str | None = None


class ArgoNode(_Model):  # field names as Argo spells them
    id: str | None = None
    name: str | None = None
    displayName: str | None = None
    type: str | None = None
    templateName: str | None = None
    templateRef: _TemplateRef | None = None
    phase: str | None = None
    message: str | None = None
    progress: str | None = None
    startedAt: str | None = None
    finishedAt: str | None = None
    inputs: _Parameters | None = None
    outputs: _Parameters | None = None


class ArgoStatus(_Model):
    phase: str | None = None
    message: str | None = None
    progress: str | None = None
    startedAt: str | None = None
    finishedAt: str | None = None
    nodes: dict[str, ArgoNode] | None = None


class InvalidWorkflowStatus(ValueError):
    """A workflow status the operator cannot read; the message names the first bad fields."""


def read_status(workflow: dict[str, Any]) -> None:
    """Check the shape of ``workflow``'s status (absent is fine: just submitted)."""
    try:
        ArgoStatus.model_validate(workflow.get("status") or {})
    except ValidationError as err:
        problems = "; ".join(f"status.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()[:3])
        raise InvalidWorkflowStatus(
            f"workflow {workflow['metadata']['name']} has a status the operator cannot read: {problems}"
        ) from None
