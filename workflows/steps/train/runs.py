"""What the train and evaluate steps of one TrainingRun share: the run's identity, its local work
folder and its spec from a step invocation."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ...api.kinds import COMPILE_RUN, TRAINING_RUN, identity
from ...api.training_run import TrainingRunSpec
from ...store import Store
from ..inputs import input_root, store_inputs
from ..registry import StepInputError, StepInvocation

DEFAULT_WORKDIR = ".pixelgate/work"


def run_identity(name: str, spec: TrainingRunSpec, store: Store, inputs: Mapping[str, str] | None) -> str:
    """The run's identity; the compile it reads must still be at the identity it was given."""
    inputs = dict(inputs) if inputs is not None else store_inputs(TRAINING_RUN, name, spec, store)
    input_root(store, COMPILE_RUN, spec.compile_run, inputs, "compileRun")
    return identity(spec, inputs)


def run_workdir(workdir: str | os.PathLike[str] | None, name: str, digest: str) -> Path:
    base = Path(workdir or os.environ.get("PIXELGATE_WORKDIR", DEFAULT_WORKDIR))
    return (base / "trainings" / name / digest).resolve()


def unpack_training_run(invocation: StepInvocation) -> tuple[str, TrainingRunSpec]:
    """The invocation's TrainingRun name and spec."""
    spec = invocation.resource.spec
    if not isinstance(spec, TrainingRunSpec):
        raise StepInputError("kind", f"the train/evaluate steps need a TrainingRun, got {invocation.resource.kind}")
    return invocation.resource.name, spec
