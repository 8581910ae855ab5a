"""Who waits for whom, answered from kopf indexes (in-memory, fed by the watches; no polling).

What each kind waits for is declared in :mod:`pixelgate.workflows.api.kinds` (a derived family its
parents, a CompileRun its families and its baseline, a TrainingRun its CompileRun, a GateReview the
runs it reviews); :func:`pixelgate.workflows.api.kinds.readiness` decides, the same function the
local runner calls. Two kinds of index serve it:

* *snapshots* (one per kind, ``KIND_INDEX``): each resource's labels, phase and identity;
* *dependents* (one per kind that has dependencies, ``DEPENDENTS_INDEX``): ``(namespace, kind,
  name or ANY)`` of a dependency -> the resources waiting on it, so a dependency's change
  reconciles exactly those.

The index functions below are registered in :mod:`.handlers`; everything else is pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pixelgate.workflows.api import KINDS, parse_resource
from pixelgate.workflows.api.kinds import Observed, selections
from pixelgate.workflows.api.selection import Selection

ANY = "*"  # a dependents key for "any resource of the kind in the namespace" (label-selected)
WAITING_PHASES = (None, "", "Waiting")

KIND_INDEX = {kind: f"{info.plural}" for kind, info in KINDS.items()}
DEPENDENTS_INDEX = {kind: f"{info.plural}-dependents" for kind, info in KINDS.items() if info.dependencies}
INDEX_NAMES = (*KIND_INDEX.values(), *DEPENDENTS_INDEX.values())


@dataclass(frozen=True)
class Ref:
    """A snapshot of one resource, as an index keeps it."""

    kind: str
    name: str
    phase: str | None
    current: bool  # status.observedGeneration == metadata.generation
    labels: tuple[tuple[str, str], ...]
    status: Mapping[str, Any]
    spec: Mapping[str, Any]

    def observed(self) -> Observed:
        return Observed(self.kind, self.name, dict(self.labels), self.phase, self.current, self.status.get("specHash"))


def snapshot(kind: str, body: Mapping[str, Any]) -> Ref:
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    return Ref(
        kind=kind,
        name=meta["name"],
        phase=status.get("phase"),
        current=status.get("observedGeneration") == meta.get("generation"),
        labels=tuple(sorted((meta.get("labels") or {}).items())),
        status=status,
        spec=body.get("spec") or {},
    )


# ----------------------------------------------------------------------------- index functions


def snapshot_index(kind: str):
    """Snapshot index of ``kind``: namespace -> every resource of the kind there."""

    def index(body: Mapping[str, Any], namespace: str, **_: Any) -> dict[str, Ref]:
        return {namespace: snapshot(kind, body)}

    return index


def dependency_keys(kind: str, namespace: str, spec: Any) -> list[tuple[str, str, str]]:
    """``(namespace, dependency kind, name or ANY)`` of every resource the spec depends on."""
    keys: list[tuple[str, str, str]] = []
    for dep, selection in selections(kind, spec):
        keys += [(namespace, dep.kind, n) for n in selection.names]
        if selection.selector is not None:
            keys.append((namespace, dep.kind, ANY))
    return keys


def dependents_index(kind: str):
    """Dependents index of ``kind``: what each of its resources waits on -> (kind, name)."""

    def index(
        body: Mapping[str, Any], namespace: str, name: str, **_: Any
    ) -> dict[tuple[str, str, str], tuple[str, str]]:
        try:
            resource = parse_resource(dict(body))
        except ValueError:  # an invalid spec waits on nothing; reconcile reports it
            return {}
        return {key: (kind, name) for key in dependency_keys(kind, namespace, resource.spec)}

    return index


def find(index: Mapping[str, Iterable[Ref]], namespace: str, name: str) -> Ref | None:
    return next((ref for ref in index.get(namespace, ()) if ref.name == name), None)


def observed_in(indexes: Mapping[str, Any], namespace: str):
    """``kind -> [Observed]`` of one namespace, for :func:`pixelgate.workflows.api.kinds.readiness`."""
    return lambda kind: [ref.observed() for ref in indexes[KIND_INDEX[kind]].get(namespace, ())]


def dependents(indexes: Mapping[str, Any], namespace: str, kind: str, name: str) -> list[tuple[str, str]]:
    """The (kind, name) of every resource waiting on ``kind/name``, sorted."""
    found: set[tuple[str, str]] = set()
    for index_name in DEPENDENTS_INDEX.values():
        for key in ((namespace, kind, name), (namespace, kind, ANY)):
            found.update(indexes[index_name].get(key, ()))
    return sorted(found - {(kind, name)})


__all__ = ["ANY", "INDEX_NAMES", "Ref", "Selection", "WAITING_PHASES", "dependents", "find", "observed_in", "snapshot"]
