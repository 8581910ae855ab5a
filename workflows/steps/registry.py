"""Names of the steps that ``pixelgate step <name>`` runs, mapped lazily to their entry points.

An entry point has the signature ``(invocation: StepInvocation) -> pydantic.BaseModel``: it
unpacks the invocation into the step's own typed arguments, calls the plain step function and
returns its typed result. Imports are lazy so that ``pixelgate --help`` stays fast and a step's
heavy dependencies (spaCy, torch) load only when that step runs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel

from ..api.meta import Resource
from ..store import Store

STEPS: dict[str, str] = {
    "ingest": "pixelgate.workflows.steps.ingest:run_step",
    "compile": "pixelgate.workflows.steps.compile:run_step",
    "compile-plan": "pixelgate.workflows.steps.compile:plan_step",
    "compile-signatures": "pixelgate.workflows.steps.compile:signatures_step",
    "compile-buckets": "pixelgate.workflows.steps.compile:buckets_step",
    "compile-merge": "pixelgate.workflows.steps.compile:merge_step",
    "compile-filter": "pixelgate.workflows.steps.compile:filter_step",
    "compile-finalize": "pixelgate.workflows.steps.compile:finalize_step",
    "train": "pixelgate.workflows.steps.train:run_train_step",
    "evaluate": "pixelgate.workflows.steps.train:run_evaluate_step",
}


@dataclass(frozen=True)
class StepInvocation:
    """What every step receives: the resource it works for, the store, and string parameters."""

    resource: Resource[Any]
    store: Store
    params: dict[str, str] = field(default_factory=dict)
    base_dir: Path | None = None


class UnknownStep(KeyError):
    pass


class StepInputError(ValueError):
    """The resource or its data is wrong: the step stops, a retry cannot help, and the message
    starts with the spec field to fix (``source.uri: no file matches ...``)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def resolve(name: str) -> Callable[[StepInvocation], BaseModel]:
    try:
        target = STEPS[name]
    except KeyError:
        raise UnknownStep(f"unknown step {name!r}; known steps: {', '.join(sorted(STEPS))}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)
