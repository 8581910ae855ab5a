"""``pixelgate run``: load manifests, order them by dependency, render each resource with the
same builders the operator uses, interpret the manifest, and write each resource's status to
``<store>/status/<Kind>/<name>.json`` (the model the operator writes to ``.status``).
"""

from __future__ import annotations

import glob
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from ..api import KINDS, Resource, parse_resource
from ..api.meta import Condition, set_condition
from ..layout import run_manifest_key, status_key
from ..render import dump_manifest, render_workflow, status_from_outputs
from ..render.builders import resolve_sources
from ..review import review
from ..store import Store
from .cache import NodeCache
from .interpreter import Events, Launcher, WorkflowResult, run_workflow
from .launch import launch_subprocess

KIND_ORDER = ["DatasetFamily", "CompileRun", "TrainingRun", "GateReview"]
DONE = {"DatasetFamily": "Ready", "CompileRun": "Succeeded", "TrainingRun": "Succeeded", "GateReview": "Passed"}


@dataclass
class Item:
    resource: Resource[Any]
    base_dir: Path

    @property
    def ref(self) -> tuple[str, str]:
        return (self.resource.kind, self.resource.name)


@dataclass
class Outcome:
    kind: str
    name: str
    status: BaseModel
    workflow: WorkflowResult | None = None
    digest: str = ""

    @property
    def phase(self) -> str:
        return getattr(self.status, "phase", None) or "Unknown"


@dataclass
class RunReport:
    store: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.phase == DONE[o.kind] for o in self.outcomes)


def load_items(paths: list[str]) -> list[Item]:
    """Resources from files, folders (their *.yaml/*.yml, sorted) or ``-`` (stdin)."""
    items: list[Item] = []
    for raw in paths:
        if raw == "-":
            docs, base = list(yaml.safe_load_all(sys.stdin.read())), Path.cwd()
            items += [Item(parse_resource(d), base) for d in docs if d]
            continue
        path = Path(raw)
        files = sorted(p for ext in ("*.yaml", "*.yml") for p in path.glob(ext)) if path.is_dir() else [path]
        if not files or not all(f.is_file() for f in files):
            raise FileNotFoundError(f"no manifests at {raw}")
        for f in files:
            base = f.parent.resolve()
            items += [Item(parse_resource(d), base) for d in yaml.safe_load_all(f.read_text()) if d]
    seen: set[tuple[str, str]] = set()
    for item in items:
        if item.ref in seen:
            raise ValueError(f"{item.ref[0]}/{item.ref[1]} is given twice")
        seen.add(item.ref)
    return items


def dependencies(item: Item, items: list[Item]) -> list[tuple[str, str]]:
    """The resources ``item`` waits for (named, or selected by labels among ``items``)."""
    spec = item.resource.spec
    kind = item.resource.kind
    if kind == "CompileRun":
        names = set(spec.families.names)
        if spec.families.selector:
            wanted = spec.families.selector.match_labels.items()
            names |= {i.resource.name for i in items if i.resource.kind == "DatasetFamily" and wanted <= i.resource.metadata.labels.items()}
        deps = [("DatasetFamily", n) for n in sorted(names)]
        return deps + ([("CompileRun", spec.baseline)] if spec.baseline else [])
    if kind == "DatasetFamily" and spec.source.derive is not None:  # a derived family runs after its parents
        refs = spec.source.derive.from_
        names = set(refs.names)
        if refs.selector:
            names |= {i.resource.name for i in items if i.resource.kind == "DatasetFamily" and refs.selector.items() <= i.resource.metadata.labels.items()}
        return [("DatasetFamily", n) for n in sorted(names - {item.resource.name})]
    if kind == "TrainingRun":
        return [("CompileRun", spec.compile_run)]
    if kind == "GateReview":
        refs = [("CompileRun", spec.compile_run), ("TrainingRun", spec.training_run), ("TrainingRun", spec.baseline_training_run)]
        return [(k, n) for k, n in refs if n]
    return []


def order_items(items: list[Item]) -> list[Item]:
    """Kinds in pipeline order; within a kind, dependencies (e.g. a drift baseline) first."""
    by_ref = {i.ref: i for i in items}
    ordered: list[Item] = []
    state: dict[tuple[str, str], str] = {}

    def visit(item: Item) -> None:
        if state.get(item.ref) == "done":
            return
        if state.get(item.ref) == "visiting":
            raise ValueError(f"dependency cycle through {item.ref[0]}/{item.ref[1]}")
        state[item.ref] = "visiting"
        for dep in dependencies(item, items):
            if dep in by_ref:
                visit(by_ref[dep])
        state[item.ref] = "done"
        ordered.append(item)

    for item in sorted(items, key=lambda i: (KIND_ORDER.index(i.resource.kind), i.resource.name)):
        visit(item)
    return ordered


def _input_fingerprint(resource: Resource[Any]) -> list[Any]:
    """Source files (local: path, size, mtime; remote: one cheap listing, see
    ``fingerprint_source``): changed data invalidates the cache."""
    if resource.kind != "DatasetFamily":
        return []
    uri = resource.spec.source.uri
    if uri is None:
        return []
    if "://" in uri and not uri.startswith("file://"):
        from ..steps.ingest.sources import fingerprint_source

        return fingerprint_source(uri)
    pattern = uri[len("file://") :] if uri.startswith("file://") else uri
    return [[p, Path(p).stat().st_size, Path(p).stat().st_mtime_ns] for p in sorted(glob.glob(pattern)) if Path(p).is_file()]


class Runner:
    def __init__(self, store: Store, *, workers: int, use_cache: bool, events: Events, launch: Launcher, logs_dir: Path, image: str | None):
        self.store = store
        self.workers = workers
        self.cache = NodeCache(store, enabled=use_cache)
        self.events = events
        self.launch = launch
        self.logs_dir = logs_dir
        self.image = image
        self.outcomes: dict[tuple[str, str], Outcome] = {}
        self.items: list[Item] = []

    def _status_of(self, kind: str, name: str) -> BaseModel | None:
        if (kind, name) in self.outcomes:
            return self.outcomes[(kind, name)].status
        try:
            return KINDS[kind].status.model_validate(self.store.read_json(status_key(kind, name)))
        except Exception:
            return None

    def _write_status(self, kind: str, name: str, status: BaseModel) -> None:
        self.store.write_json(status_key(kind, name), status.model_dump(mode="json", by_alias=True, exclude_none=True))

    def _previous(self, kind: str, name: str) -> BaseModel | None:
        try:
            return KINDS[kind].status.model_validate(self.store.read_json(status_key(kind, name)))
        except Exception:
            return None

    def run_item(self, item: Item, items: list[Item]) -> Outcome:
        kind, name = item.ref
        deps = dependencies(item, items)
        if kind == "GateReview":
            return self._review(item)
        missing = [f"{k}/{n}" for k, n in deps if getattr(self._status_of(k, n), "phase", None) != DONE[k]]
        if missing:
            reason = {"DatasetFamily": "WaitingForSources", "CompileRun": "WaitingForFamilies", "TrainingRun": "WaitingForCompile"}[kind]
            cond_type = {"DatasetFamily": "SourcesReady", "CompileRun": "FamiliesReady", "TrainingRun": "CompileReady"}[kind]
            status = KINDS[kind].status.model_validate({"phase": "Waiting"})
            status.conditions = set_condition(list(status.conditions), Condition(type=cond_type, status="False", reason=reason, message="not ready: " + ", ".join(missing)))
            return Outcome(kind, name, status)
        upstream = []
        for k, n in deps:
            dep = self.outcomes.get((k, n))
            upstream.append(dep.digest if dep else json.dumps(self._status_of(k, n).model_dump(mode="json"), sort_keys=True))
        manifest = render_workflow(item.resource, image=self.image, store_uri=self.store.uri, base_dir=item.base_dir)
        resolved = resolve_sources(item.resource, item.base_dir)
        digest = resolved.spec_hash()
        workflow = manifest["metadata"]["name"]
        self.store.write_bytes(run_manifest_key(workflow), dump_manifest(manifest))
        previous = self._previous(kind, name)
        running = status_from_outputs(kind, phase="Running", workflow=workflow, spec_hash=digest, outputs={}, previous=previous)
        self._write_status(kind, name, running)
        context = hashlib.sha256(json.dumps([_input_fingerprint(resolved), upstream]).encode()).hexdigest()
        result = run_workflow(
            manifest, workers=self.workers, cache=self.cache, events=self.events, launch=self.launch, context_digest=context, logs_dir=self.logs_dir
        )
        phase = DONE[kind] if result.phase == "Succeeded" else "Failed"
        status = status_from_outputs(kind, phase=phase, workflow=workflow, spec_hash=digest, outputs=result.outputs, message=result.message, previous=running)
        return Outcome(kind, name, status, result, result.digest)

    def _review(self, item: Item) -> Outcome:
        spec = item.resource.spec
        training = self._status_of("TrainingRun", spec.training_run) if spec.training_run else None
        targets = None
        trainer = next((i for i in self.items if i.ref == ("TrainingRun", spec.training_run)), None)
        if trainer is not None:
            targets = trainer.resource.spec.evaluation.targets
        status = review(
            spec,
            compile_status=self._status_of("CompileRun", spec.compile_run) if spec.compile_run else None,
            training=training,
            training_targets=targets,
            baseline=self._status_of("TrainingRun", spec.baseline_training_run) if spec.baseline_training_run else None,
            approver=item.resource.metadata.annotations.get("pixelgate.dev/approved-by"),
            previous=self._previous("GateReview", item.resource.name),
        )
        return Outcome("GateReview", item.resource.name, status)

    def run(self, items: list[Item]) -> list[Outcome]:
        self.items = items
        for item in order_items(items):
            outcome = self.run_item(item, items)
            self._write_status(outcome.kind, outcome.name, outcome.status)
            self.outcomes[item.ref] = outcome
        return list(self.outcomes.values())


def run_resources(
    items: list[Item],
    store: Store,
    *,
    workers: int = 2,
    use_cache: bool = True,
    events: Events | None = None,
    launch: Launcher = launch_subprocess,
    logs_dir: Path = Path(".pixelgate/logs"),
    image: str | None = None,
) -> RunReport:
    runner = Runner(store, workers=workers, use_cache=use_cache, events=events or Events(), launch=launch, logs_dir=logs_dir, image=image)
    return RunReport(store.uri, runner.run(items))
