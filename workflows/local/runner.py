"""``pixelgate run``: load manifests, order them by dependency, render each resource with the
same builders the operator uses, interpret the manifest, and write each resource's status to
``<store>/status/<Kind>/<name>.json`` (the model the operator writes to ``.status``).
"""

from __future__ import annotations

import glob
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..api import KINDS, Resource
from ..api.kinds import COMPILE_RUN, GATE_REVIEW, PIPELINE_ORDER, TRAINING_RUN, Observed, readiness, selections
from ..api.manifests import Item
from ..api.meta import Condition, set_condition
from ..api.selection import select
from ..layout import run_manifest_key, status_key, status_prefix
from ..render import dump_manifest, render_workflow
from ..render.builders import resolve_sources
from ..render.common import LABEL_HASH
from ..render.status import TaskRun, status_from_runs
from ..review import review
from ..store import Store
from .cache import NodeCache
from .interpreter import Events, Launcher, NodeResult, WorkflowResult, run_workflow
from .launch import launch_subprocess


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
        return all(o.phase == KINDS[o.kind].done_phase for o in self.outcomes)


def dependencies(item: Item, items: list[Item]) -> list[tuple[str, str]]:
    """The resources ``item`` waits for (named, or selected by labels among ``items``), per the
    kind's declaration."""
    out: list[tuple[str, str]] = []
    for dep, selection in selections(item.resource.kind, item.resource.spec):
        candidates = [(i.resource.name, i.resource.metadata.labels) for i in items if i.resource.kind == dep.kind]
        exclude = item.resource.name if dep.kind == item.resource.kind else None
        chosen, missing = select(selection, candidates, exclude=exclude)
        out += [(dep.kind, n) for n in sorted({*chosen, *missing})]
    return out


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

    for item in sorted(items, key=lambda i: (PIPELINE_ORDER.index(i.resource.kind), i.resource.name)):
        visit(item)
    return ordered


def _input_fingerprint(resource: Resource[Any]) -> list[Any]:
    """Source files (local: path, size, mtime; remote: one cheap listing, see
    ``fingerprint_source``): changed data invalidates the cache."""
    uri = getattr(getattr(resource.spec, "source", None), "uri", None)
    if uri is None:
        return []
    if "://" in uri and not uri.startswith("file://"):
        from ..steps.ingest.sources import fingerprint_source

        return fingerprint_source(uri)
    pattern = uri[len("file://") :] if uri.startswith("file://") else uri
    return [
        [p, Path(p).stat().st_size, Path(p).stat().st_mtime_ns]
        for p in sorted(glob.glob(pattern))
        if Path(p).is_file()
    ]


def _task_run(node: NodeResult) -> TaskRun:
    return TaskRun(
        node.task, "Succeeded" if node.ok else "Failed", node.node, node.message, node.outputs.get("result"), node.node
    )


class Runner:
    def __init__(
        self,
        store: Store,
        *,
        workers: int,
        use_cache: bool,
        events: Events,
        launch: Launcher,
        logs_dir: Path,
        image: str | None,
    ):
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

    def _observed(self, items: list[Item]):
        """``kind -> [Observed]``: this run's resources (with their labels) and, for names outside
        it, the statuses an earlier run left in the store (selectable by name only)."""

        def observed(kind: str) -> list[Observed]:
            names = {i.resource.name: dict(i.resource.metadata.labels) for i in items if i.resource.kind == kind}
            names |= {Path(k).stem: {} for k in self.store.list(status_prefix(kind)) if Path(k).stem not in names}
            out = []
            for name, labels in names.items():
                status = self._status_of(kind, name)
                phase = getattr(status, "phase", None)
                out.append(Observed(kind, name, labels, phase, status is not None, getattr(status, "spec_hash", None)))
            return out

        return observed

    def run_item(self, item: Item, items: list[Item]) -> Outcome:
        kind, name = item.ref
        if kind == GATE_REVIEW:
            return self._review(item)
        ready = readiness(kind, name, item.resource.spec, self._observed(items))
        if not ready.ready:
            status = KINDS[kind].status.model_validate({"phase": "Waiting", "message": ready.message})
            status.conditions = set_condition(
                list(status.conditions),
                Condition(type=ready.condition, status="False", reason=ready.reason, message=ready.message),
            )
            return Outcome(kind, name, status)
        upstream = []
        for k, n in dependencies(item, items):
            dep = self.outcomes.get((k, n))
            upstream.append(
                dep.digest if dep else json.dumps(self._status_of(k, n).model_dump(mode="json"), sort_keys=True)
            )
        manifest = render_workflow(
            item.resource, image=self.image, store_uri=self.store.uri, base_dir=item.base_dir, inputs=ready.inputs
        )
        resolved = resolve_sources(item.resource, item.base_dir)
        workflow = manifest["metadata"]["name"]
        digest = manifest["metadata"]["labels"][LABEL_HASH]
        self.store.write_bytes(run_manifest_key(workflow), dump_manifest(manifest))
        running = status_from_runs(
            kind,
            workflow_phase="Running",
            workflow=workflow,
            identity=digest,
            runs=[],
            previous=self._previous(kind, name),
        )
        for condition, message in ready.met:
            met = Condition(type=condition, status="True", reason="DependenciesReady", message=message)
            running.conditions = set_condition(list(running.conditions), met)
        self._write_status(kind, name, running)
        context = hashlib.sha256(json.dumps([_input_fingerprint(resolved), upstream]).encode()).hexdigest()
        result = run_workflow(
            manifest,
            workers=self.workers,
            cache=self.cache,
            events=self.events,
            launch=self.launch,
            context_digest=context,
            logs_dir=self.logs_dir,
        )
        status = status_from_runs(
            kind,
            workflow_phase=result.phase,
            workflow=workflow,
            identity=digest,
            runs=[_task_run(n) for n in result.nodes],
            message=result.message,
            previous=running,
        )
        return Outcome(kind, name, status, result, result.digest)

    def _review(self, item: Item) -> Outcome:
        spec = item.resource.spec
        training = self._status_of(TRAINING_RUN, spec.training_run) if spec.training_run else None
        targets = None
        trainer = next((i for i in self.items if i.ref == (TRAINING_RUN, spec.training_run)), None)
        if trainer is not None:
            targets = trainer.resource.spec.evaluation.targets
        status = review(
            spec,
            compile_status=self._status_of(COMPILE_RUN, spec.compile_run) if spec.compile_run else None,
            training=training,
            training_targets=targets,
            baseline=self._status_of(TRAINING_RUN, spec.baseline_training_run) if spec.baseline_training_run else None,
            approver=item.resource.metadata.annotations.get("pixelgate.dev/approved-by"),
            previous=self._previous(GATE_REVIEW, item.resource.name),
        )
        return Outcome(GATE_REVIEW, item.resource.name, status)

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
    runner = Runner(
        store,
        workers=workers,
        use_cache=use_cache,
        events=events or Events(),
        launch=launch,
        logs_dir=logs_dir,
        image=image,
    )
    return RunReport(store.uri, runner.run(items))
