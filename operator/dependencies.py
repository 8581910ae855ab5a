"""Who waits for whom, answered from kopf indexes (in-memory, fed by the watches; no polling).

* A derived DatasetFamily waits, with ``SourcesReady=False``/``WaitingForSources``, until every
  parent family it names or selects is Ready for its current generation.
* A CompileRun waits, with ``FamiliesReady=False``/``WaitingForFamilies``, until every DatasetFamily
  it names or selects is Ready for its current generation.
* A TrainingRun waits, with ``CompileReady=False``/``WaitingForCompile``, until its CompileRun succeeded.
* A GateReview waits until the runs it reviews have finished (decided by :mod:`.gates`).

Two kinds of index serve this. *Snapshots* (``families``, ``compiles``, ``trainings``) hold each
resource's readiness and status. *Dependents* (``family_deps``, ``compile_deps``, ``training_deps``, ``review_deps``)
map a dependency to the resources waiting on it, so a dependency's change reconciles exactly those.
The index functions below are registered in :mod:`.handlers`; the readiness checks are pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pixelgate.workflows.api.compile_run import FamilySelection, LabelSelector

ANY = "*"  # a dependents key for "any family in the namespace" (label-selected families)
WAITING_PHASES = (None, "", "Waiting")


@dataclass(frozen=True)
class Ref:
    """A snapshot of one resource, as an index keeps it."""

    name: str
    phase: str | None
    current: bool  # status.observedGeneration == metadata.generation
    labels: tuple[tuple[str, str], ...]
    status: Mapping[str, Any]
    spec: Mapping[str, Any]

    def ready(self, phase: str) -> bool:
        return self.current and self.phase == phase


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str
    message: str


def snapshot(body: Mapping[str, Any]) -> Ref:
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    return Ref(
        name=meta["name"],
        phase=status.get("phase"),
        current=status.get("observedGeneration") == meta.get("generation"),
        labels=tuple(sorted((meta.get("labels") or {}).items())),
        status=status,
        spec=body.get("spec") or {},
    )


# ----------------------------------------------------------------------------- index functions


def index_by_namespace(body: Mapping[str, Any], namespace: str, **_: Any) -> dict[str, Ref]:
    """Snapshot index: namespace -> every resource of the kind there."""
    return {namespace: snapshot(body)}


def _dependents(names: Iterable[str], selected: bool, namespace: str, name: str) -> dict[tuple[str, str], str]:
    keys = {(namespace, family): name for family in names}
    if selected:
        keys[(namespace, ANY)] = name
    return keys


def index_family_dependents(spec: Mapping[str, Any], namespace: str, name: str, **_: Any) -> dict[tuple[str, str], str]:
    """Derived families by the parents they read."""
    parents = ((spec.get("source") or {}).get("derive") or {}).get("from") or {}
    return _dependents(parents.get("names") or [], bool(parents.get("selector")), namespace, name)


def index_compile_dependents(spec: Mapping[str, Any], namespace: str, name: str, **_: Any) -> dict[tuple[str, str], str]:
    families = spec.get("families") or {}
    return _dependents(families.get("names") or [], families.get("selector") is not None, namespace, name)


def index_training_dependents(spec: Mapping[str, Any], namespace: str, name: str, **_: Any) -> dict[tuple[str, str], str]:
    return {(namespace, spec["compileRun"]): name} if spec.get("compileRun") else {}


def index_review_dependents(spec: Mapping[str, Any], namespace: str, name: str, **_: Any) -> dict[tuple[str, str, str], str]:
    keys: dict[tuple[str, str, str], str] = {}
    if spec.get("compileRun"):
        keys[(namespace, "CompileRun", spec["compileRun"])] = name
    for field in ("trainingRun", "baselineTrainingRun"):
        if spec.get(field):
            keys[(namespace, "TrainingRun", spec[field])] = name
    return keys


def find(index: Mapping[str, Iterable[Ref]], namespace: str, name: str) -> Ref | None:
    return next((ref for ref in index.get(namespace, ()) if ref.name == name), None)


# ----------------------------------------------------------------------------- readiness (pure)


def _matches(labels: tuple[tuple[str, str], ...], match_labels: Mapping[str, str]) -> bool:
    have = dict(labels)
    return all(have.get(k) == v for k, v in match_labels.items())


def _short(names: list[str], limit: int = 5) -> str:
    head = ", ".join(names[:limit])
    return head + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def selected_families(selection: FamilySelection, families: Iterable[Ref]) -> tuple[list[str], list[Ref]]:
    """(named families that do not exist, every existing family selected by name or labels)."""
    by_name = {ref.name: ref for ref in families}
    chosen = {n: by_name[n] for n in selection.names if n in by_name}
    if selection.selector is not None:
        chosen.update({r.name: r for r in by_name.values() if _matches(r.labels, selection.selector.match_labels)})
    missing = sorted(n for n in selection.names if n not in by_name)
    return missing, [chosen[n] for n in sorted(chosen)]


def families_readiness(selection: FamilySelection, families: Iterable[Ref], waiting: str = "WaitingForFamilies") -> Readiness:
    missing, chosen = selected_families(selection, families)
    if missing:
        return Readiness(False, waiting, f"DatasetFamily not found: {_short(missing)}")
    if not chosen:
        return Readiness(False, waiting, "no DatasetFamily matches the selector")
    not_ready = [r.name for r in chosen if not r.ready("Ready")]
    if not_ready:
        return Readiness(False, waiting, f"{len(not_ready)}/{len(chosen)} DatasetFamilies not Ready: {_short(not_ready)}")
    return Readiness(True, "FamiliesReady", f"{len(chosen)} DatasetFamilies Ready: {_short([r.name for r in chosen])}")


def parents_selection(derive: Any) -> FamilySelection:
    """A derived family's ``source.derive.from`` as a family selection."""
    refs = derive.from_
    return FamilySelection(names=list(refs.names), selector=LabelSelector(match_labels=dict(refs.selector)) if refs.selector else None)


def sources_readiness(name: str, derive: Any, families: Iterable[Ref]) -> Readiness:
    """A derived family's parents (never itself, even when its own labels match its selector)."""
    return families_readiness(parents_selection(derive), [r for r in families if r.name != name], waiting="WaitingForSources")


def parent_hashes(name: str, derive: Any, families: Iterable[Ref]) -> dict[str, str]:
    """Each selected parent's spec hash (its status.specHash): they join the derived family's workflow hash."""
    _, chosen = selected_families(parents_selection(derive), [r for r in families if r.name != name])
    return {r.name: str(r.status.get("specHash") or "") for r in chosen}


def compile_readiness(compile_name: str, ref: Ref | None) -> Readiness:
    if ref is None:
        return Readiness(False, "WaitingForCompile", f"CompileRun {compile_name} not found")
    if not ref.ready("Succeeded"):
        return Readiness(False, "WaitingForCompile", f"CompileRun {compile_name} is {ref.phase or 'not started'}, not Succeeded")
    return Readiness(True, "CompileReady", f"CompileRun {compile_name} succeeded")
