"""Pydantic models of every custom resource's spec and status: the single source of truth
from which ``crds/`` is generated (``pixelgate crds``), and what manifests are parsed into."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .compile_run import CompileRunSpec, CompileRunStatus
from .dataset_family import DatasetFamilySpec, DatasetFamilyStatus
from .gate_review import GateReviewSpec, GateReviewStatus
from .meta import API_VERSION, GROUP, VERSION, ApiModel, Resource
from .training_run import TrainingRunSpec, TrainingRunStatus


@dataclass(frozen=True)
class Kind:
    """Everything pixelgate knows about one resource kind."""

    kind: str
    plural: str
    short_names: list[str]
    spec: type[ApiModel]
    status: type[ApiModel]
    summary_condition: str
    printer_columns: list[dict[str, Any]] = field(default_factory=list)

    @property
    def singular(self) -> str:
        return self.kind.lower()


_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
_PHASE = {"name": "Phase", "type": "string", "jsonPath": ".status.phase"}

KINDS: dict[str, Kind] = {
    k.kind: k
    for k in [
        Kind(
            "DatasetFamily",
            "datasetfamilies",
            ["dsf", "family"],
            DatasetFamilySpec,
            DatasetFamilyStatus,
            "Ready",
            [
                _PHASE,
                {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
                {"name": "Records", "type": "integer", "jsonPath": ".status.recordsOut"},
                {"name": "Quarantined", "type": "integer", "jsonPath": ".status.quarantined"},
                {"name": "Quality", "type": "number", "jsonPath": ".status.qualityMean", "priority": 1},
                {"name": "Workflow", "type": "string", "jsonPath": ".status.workflow", "priority": 1},
                _AGE,
            ],
        ),
        Kind(
            "CompileRun",
            "compileruns",
            ["cr", "compile"],
            CompileRunSpec,
            CompileRunStatus,
            "Succeeded",
            [
                _PHASE,
                {"name": "Records", "type": "integer", "jsonPath": ".status.records"},
                {"name": "DupRate", "type": "number", "jsonPath": ".status.duplicateRate"},
                {"name": "Gates", "type": "string", "jsonPath": ".status.gatesPassed"},
                {"name": "Workflow", "type": "string", "jsonPath": ".status.workflow", "priority": 1},
                _AGE,
            ],
        ),
        Kind(
            "TrainingRun",
            "trainingruns",
            ["tr", "train"],
            TrainingRunSpec,
            TrainingRunStatus,
            "Succeeded",
            [
                _PHASE,
                {"name": "Compile", "type": "string", "jsonPath": ".spec.compileRun"},
                {"name": "BestEvalLoss", "type": "number", "jsonPath": ".status.bestMetric"},
                {"name": "Workflow", "type": "string", "jsonPath": ".status.workflow", "priority": 1},
                _AGE,
            ],
        ),
        Kind(
            "GateReview",
            "gatereviews",
            ["gr", "gate"],
            GateReviewSpec,
            GateReviewStatus,
            "Decided",
            [
                {"name": "Gate", "type": "string", "jsonPath": ".spec.gate"},
                _PHASE,
                {"name": "Decision", "type": "string", "jsonPath": ".status.decision"},
                {"name": "ApprovedBy", "type": "string", "jsonPath": ".status.approvedBy", "priority": 1},
                _AGE,
            ],
        ),
    ]
}


class ManifestError(ValueError):
    """A manifest that is not a valid pixelgate resource; the message says what to fix."""


def parse_resource(doc: dict[str, Any]) -> Resource[Any]:
    """Validate one manifest document into a typed :class:`Resource`."""
    from pydantic import ValidationError

    kind_name = doc.get("kind")
    if doc.get("apiVersion") != API_VERSION:
        raise ManifestError(f"apiVersion must be {API_VERSION} (got {doc.get('apiVersion')!r})")
    if kind_name not in KINDS:
        raise ManifestError(f"kind must be one of {', '.join(KINDS)} (got {kind_name!r})")
    model = Resource[KINDS[kind_name].spec]  # type: ignore[name-defined]
    try:
        return model.model_validate(doc)
    except ValidationError as err:
        name = (doc.get("metadata") or {}).get("name", "?")
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise ManifestError(f"{kind_name}/{name}: {problems}") from None


def load_manifests(path: str | Path) -> list[tuple[Resource[Any], Path]]:
    """Every pixelgate resource in a YAML file (multi-document allowed), with the file's folder."""
    path = Path(path)
    out = []
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            out.append((parse_resource(doc), path.parent.resolve()))
    return out


__all__ = ["API_VERSION", "GROUP", "KINDS", "VERSION", "Kind", "ManifestError", "Resource", "load_manifests", "parse_resource"]
