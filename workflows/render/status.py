"""Workflow outputs -> resource status: shared by the operator and the local runner.

A rendered workflow's entry DAG exposes the JSON result of its key steps as output parameters
(``ingest`` for a DatasetFamily, ``compile`` for a CompileRun, ``train`` and ``evaluate`` for a
TrainingRun). A result field whose name is a status field (snake_case or camelCase) is copied
into the status; so a step reports ``records_out`` and the family's status shows it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from ..api import KINDS
from ..api.meta import Condition, set_condition

# Fields the workflow machinery owns; results never overwrite them.
_RESERVED = {"phase", "observed_generation", "conditions", "workflow", "spec_hash"}


def _parse(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return {}
    if isinstance(parsed, list):  # a fanned-out step (multi-node training): one result per pod, rank 0 first
        return _parse(parsed[0] if isinstance(parsed[0], str) else json.dumps(parsed[0])) if parsed else {}
    return parsed if isinstance(parsed, dict) else {}


def status_from_outputs(
    kind: str,
    *,
    phase: str,
    workflow: str,
    spec_hash: str,
    outputs: dict[str, str],
    message: str = "",
    previous: BaseModel | None = None,
) -> BaseModel:
    """The status model of ``kind`` for a workflow in ``phase`` with these output parameters."""
    info = KINDS[kind]
    fields = info.status.model_fields
    by_name = {name: name for name in fields} | {f.alias: name for name, f in fields.items() if f.alias}
    values: dict[str, Any] = {}
    for out in outputs.values():
        for key, value in _parse(out).items():
            name = by_name.get(key)
            if name and name not in _RESERVED and value is not None:
                values[name] = value
    conditions = list(getattr(previous, "conditions", []) or [])
    done = phase in {"Succeeded", "Ready"}
    summary_status = "True" if done else ("False" if phase == "Failed" else "Unknown")
    reason = {"Succeeded": "WorkflowSucceeded", "Ready": "WorkflowSucceeded", "Failed": "WorkflowFailed"}.get(phase, "WorkflowRunning")
    conditions = set_condition(conditions, Condition(type=info.summary_condition, status=summary_status, reason=reason, message=message))
    return info.status.model_validate(
        values | {"phase": phase, "workflow": workflow, "spec_hash": spec_hash, "conditions": conditions}
    )
