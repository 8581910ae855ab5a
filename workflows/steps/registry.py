"""The steps that ``pixelgate step <name>`` runs (declared in :mod:`pixelgate.workflows.api.kinds`),
resolved lazily to their entry points.

An entry point has the signature ``(invocation: StepInvocation) -> pydantic.BaseModel``: it
unpacks the invocation into the step's own typed arguments, calls the plain step function and
returns its typed result. Imports are lazy so that ``pixelgate --help`` stays fast and a step's
heavy dependencies (spaCy, torch) load only when that step runs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel

from ..api.kinds import STEPS, identity
from ..api.meta import Resource
from ..store import Store


@dataclass(frozen=True)
class StepInvocation:
    """What every step receives: the resource it works for, the store, string parameters, and
    the identities of the resources it reads (``Kind/name`` -> identity, as the workflow was
    rendered with; None when run by hand: the step then reads them from the store's pointers)."""

    resource: Resource[Any]
    store: Store
    params: dict[str, str] = field(default_factory=dict)
    base_dir: Path | None = None
    inputs: dict[str, str] | None = None

    @cached_property
    def resolved_inputs(self) -> dict[str, str]:
        if self.inputs is not None:
            return dict(self.inputs)
        from .inputs import store_inputs

        return store_inputs(self.resource.kind, self.resource.name, self.resource.spec, self.store)

    @cached_property
    def identity(self) -> str:
        """The hash naming this resource's outputs (see :func:`pixelgate.workflows.api.kinds.identity`)."""
        return identity(self.resource.spec, self.resolved_inputs)


class UnknownStep(KeyError):
    pass


class StepInputError(ValueError):
    """The resource or its data is wrong: the step stops, a retry cannot help, and the message
    starts with the spec field to fix (``source.uri: no file matches ...``)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def load(target: str) -> Any:
    """The object a ``module:attribute`` reference of the declaration names."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def resolve(name: str) -> Callable[[StepInvocation], BaseModel]:
    try:
        step = STEPS[name]
    except KeyError:
        raise UnknownStep(f"unknown step {name!r}; known steps: {', '.join(sorted(STEPS))}") from None
    return load(step.entry)
