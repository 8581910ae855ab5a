"""The reconciler: spec -> (dependencies ready?) -> rendered Argo Workflow -> status.

Every path that writes a resource's status goes through :meth:`Reconciler.locked` for that
resource, so a kopf handler, a dependency trigger and the workflow watch never interleave their
read-compute-write cycles in this process; :meth:`Kube.update_status` guards against other writers
with resourceVersion preconditions. Creating the workflow is idempotent: its name is
``<resource name>-<spec hash>``, so a retried or resumed handler finds the workflow it made.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import kopf

from pixelgate.workflows.api import KINDS, ManifestError, parse_resource
from pixelgate.workflows.api.kinds import GATE_REVIEW, TRAINING_RUN, Readiness, identity, readiness
from pixelgate.workflows.api.meta import Condition, set_condition
from pixelgate.workflows.layout import resource_prefix
from pixelgate.workflows.render import RenderError, render_workflow, workflow_name
from pixelgate.workflows.store import open_store

from . import dependencies as deps
from . import gates
from .config import OperatorConfig
from .kube import Kube
from .metrics import Metrics
from .status import (
    LABEL_MANAGED_BY,
    LABEL_SPEC_HASH,
    MANAGER,
    Transition,
    dependencies_met,
    status_from_workflow,
    task_runs,
    waiting_status,
    workflow_deleted_status,
)

log = logging.getLogger(__name__)


def owner_reference(body: Mapping[str, Any]) -> dict[str, Any]:
    meta = body["metadata"]
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def last_progress(workflow: Mapping[str, Any]) -> float | None:
    """Unix time of the workflow's last step phase change (its newest node start or finish)."""
    stamps = [
        ts
        for node in ((workflow.get("status") or {}).get("nodes") or {}).values()
        for ts in (_timestamp(node.get("startedAt")), _timestamp(node.get("finishedAt")))
        if ts is not None  # unset or not a timestamp
    ]
    return max(stamps, default=None)


def _timestamp(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def training_progress(
    workflow: Mapping[str, Any], before: tuple[str, float] | None, now: float
) -> tuple[str, float] | None:
    """(the train step's self-reported progress, when it last changed) for a running training.

    The train step writes ``step/total`` to Argo's progress file; the controller copies it into
    the node's ``progress``. A change is dated when the operator sees it; a step that has not
    advanced since it started is dated by its start, so a training stuck from the outset alerts.
    """
    nodes = list(((workflow.get("status") or {}).get("nodes") or {}).values())
    first = KINDS[TRAINING_RUN].tasks[0].name
    running = {run.name for run in task_runs(TRAINING_RUN, nodes) if run.task == first and run.phase == "Running"}
    train = next((n for n in nodes if n.get("type") == "Pod" and n.get("displayName") in running), None)
    if train is None:
        return None
    progress = str(train.get("progress") or "")
    if before is not None and before[0] == progress:
        return before
    started = _timestamp(train.get("startedAt"))
    if before is None and started is not None and progress.split("/", 1)[0] in ("", "0"):
        return progress, started
    return progress, now


class Reconciler:
    def __init__(self, cfg: OperatorConfig, kube: Kube, metrics: Metrics):
        self.cfg = cfg
        self.kube = kube
        self.metrics = metrics
        self._locks: weakref.WeakValueDictionary[tuple[str, str, str], asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def locked(self, kind: str, namespace: str, name: str) -> AsyncIterator[None]:
        """Serialize status work on one resource; the lock lives while someone holds or awaits it."""
        key = (kind, namespace, name)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            yield

    # ------------------------------------------------------------------ events

    def emit(self, body: Mapping[str, Any], transitions: list[Transition]) -> None:
        for t in transitions:
            kopf.event(dict(body), type=t.type, reason=t.reason, message=t.message[:1000])
            self.metrics.events.labels(body["kind"], t.reason).inc()

    # ------------------------------------------------------------------ workflow-backed kinds

    @staticmethod
    def readiness(kind: str, resource: Any, namespace: str, indexes: Mapping[str, Any]) -> Readiness:
        """The declared dependencies of ``resource`` against the indexes; when ready, the inputs'
        identities (they join the resource's workflow hash)."""
        return readiness(kind, resource.name, resource.spec, deps.observed_in(indexes, namespace))

    async def reconcile(self, kind: str, namespace: str, name: str, indexes: Mapping[str, Any]) -> str:
        """Bring one DatasetFamily, CompileRun or TrainingRun to its spec. Returns the outcome."""
        started = time.perf_counter()
        try:
            async with self.locked(kind, namespace, name):
                outcome = await self._reconcile(kind, namespace, name, indexes)
        except Exception as err:
            self.metrics.errors.labels(kind, type(err).__name__).inc()
            raise
        finally:
            self.metrics.latency.labels(kind).observe(time.perf_counter() - started)
        self.metrics.reconciles.labels(kind, outcome).inc()
        return outcome

    async def _reconcile(self, kind: str, namespace: str, name: str, indexes: Mapping[str, Any]) -> str:
        body = await self.kube.get(kind, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return "gone"
        generation = body["metadata"].get("generation")
        try:
            resource = parse_resource(body)
        except ManifestError as err:  # the CRD schema admits it, the models do not: say so, do not retry
            await self._invalid(kind, namespace, name, str(err), generation)
            raise kopf.PermanentError(str(err)) from None
        ready = self.readiness(kind, resource, namespace, indexes)
        if not ready.ready:
            written, transitions = await self.kube.update_status(
                kind,
                namespace,
                name,
                lambda b: waiting_status(
                    kind,
                    b.get("status") or {},
                    ready.condition,
                    ready.reason,
                    ready.message,
                    b["metadata"].get("generation"),
                ),
                body,
            )
            if written:
                self.emit(written, transitions)
            return "waiting"
        status = body.get("status") or {}
        expected = workflow_name(name, identity(resource.spec, ready.inputs))
        if status.get("workflow") == expected and status.get("observedGeneration") == generation:
            # this spec and these inputs already have their workflow, and the workflow watch mirrors it;
            # a finished one is never re-created, even after Argo's TTL removed it (the status is the record).
            # A dependency that went away and came back at the same identity is ready again: say so.
            await self.kube.update_status(
                kind,
                namespace,
                name,
                lambda b: (
                    dependencies_met(kind, b.get("status") or {}, ready.met, b["metadata"].get("generation")),
                    [],
                ),
                body,
            )
            return "existing"
        try:
            manifest = await asyncio.to_thread(
                render_workflow,
                resource,
                image=self.cfg.image,
                train_image=self.cfg.train_image,
                store_uri=self.cfg.store_for(namespace),
                runtime=self.cfg.runtime(),
                inputs=ready.inputs,
            )
        except RenderError as err:
            await self._invalid(kind, namespace, name, str(err), generation)
            raise kopf.PermanentError(str(err)) from None
        manifest["metadata"].setdefault("labels", {})[LABEL_MANAGED_BY] = MANAGER
        manifest["metadata"]["namespace"] = namespace
        manifest["metadata"]["ownerReferences"] = [owner_reference(body)]
        workflow, created = await self.kube.ensure_workflow(namespace, manifest)
        if created:
            self.metrics.workflows_created.labels(kind).inc()
        wf_name = workflow["metadata"]["name"]

        def compute(b: Mapping[str, Any]) -> tuple[dict[str, Any], list[Transition]] | None:
            gen = b["metadata"].get("generation")
            current = dependencies_met(kind, dict(b.get("status") or {}), ready.met, gen)
            if current.get("workflow") == wf_name and current.get("observedGeneration") == gen:
                return current, []  # the workflow watch already mirrors this workflow
            return status_from_workflow(kind, current, workflow, gen)

        written, transitions = await self.kube.update_status(kind, namespace, name, compute, body)
        if written:
            self.emit(
                written,
                [Transition("Normal", "WorkflowCreated" if created else "WorkflowFound", f"workflow {wf_name}")]
                + transitions,
            )
        return "created" if created else "existing"

    async def _invalid(self, kind: str, namespace: str, name: str, message: str, generation: int | None) -> None:
        summary = KINDS[kind].summary_condition

        def compute(b: Mapping[str, Any]) -> tuple[dict[str, Any], list[Transition]]:
            model = KINDS[kind].status.model_validate(b.get("status") or {})
            cond = Condition(
                type=summary, status="False", reason="InvalidSpec", message=message, observed_generation=generation
            )
            status = model.model_copy(
                update={
                    "phase": "Failed",
                    "message": message,
                    "observed_generation": generation,
                    "conditions": set_condition(list(model.conditions), cond),
                }
            )
            return status.to_wire(), [Transition("Warning", "InvalidSpec", message)]

        written, transitions = await self.kube.update_status(kind, namespace, name, compute)
        if written:
            self.emit(written, transitions)

    # ------------------------------------------------------------------ workflow watch

    async def mirror(self, workflow: Mapping[str, Any], kind: str, owner: str, indexes: Mapping[str, Any]) -> None:
        """Copy a workflow's progress into its owner's status, if it is the owner's current workflow."""
        namespace = workflow["metadata"]["namespace"]
        wf_hash = (workflow["metadata"].get("labels") or {}).get(LABEL_SPEC_HASH)

        def compute(b: Mapping[str, Any]) -> tuple[dict[str, Any], list[Transition]] | None:
            try:
                resource = parse_resource(dict(b))
            except ManifestError:
                return None
            ready = self.readiness(kind, resource, namespace, indexes)
            if not ready.ready or identity(resource.spec, ready.inputs) != wf_hash:
                return None  # a workflow of an earlier spec: its news is history
            return status_from_workflow(kind, b.get("status") or {}, dict(workflow), b["metadata"].get("generation"))

        async with self.locked(kind, namespace, owner):
            written, transitions = await self.kube.update_status(kind, namespace, owner, compute)
        if written:
            self.emit(written, transitions)
            facts: dict[str, Any] = {"last_progress": last_progress(workflow)}
            if kind == TRAINING_RUN:
                before = self.metrics.fact(kind, namespace, owner, "training_progress")
                facts["training_progress"] = training_progress(workflow, before, time.time())
            self.metrics.observe(kind, namespace, owner, written["status"], **facts)

    async def workflow_deleted(self, workflow: Mapping[str, Any], kind: str, owner: str) -> None:
        """A workflow of ours is gone: if it was the owner's current, unfinished one, say so."""
        namespace, name = workflow["metadata"]["namespace"], workflow["metadata"]["name"]

        def compute(b: Mapping[str, Any]) -> tuple[dict[str, Any], list[Transition]] | None:
            return workflow_deleted_status(kind, b.get("status") or {}, name, b["metadata"].get("generation"))

        async with self.locked(kind, namespace, owner):
            written, transitions = await self.kube.update_status(kind, namespace, owner, compute)
        if written:
            self.emit(written, transitions)
            self.metrics.observe(kind, namespace, owner, written["status"])

    # ------------------------------------------------------------------ GateReview

    async def review(self, namespace: str, name: str, indexes: Mapping[str, Any]) -> str:
        started = time.perf_counter()
        try:
            async with self.locked(GATE_REVIEW, namespace, name):
                written, transitions = await self.kube.update_status(
                    GATE_REVIEW, namespace, name, lambda b: gates.decide(b, indexes)
                )
        except Exception as err:
            self.metrics.errors.labels(GATE_REVIEW, type(err).__name__).inc()
            raise
        finally:
            self.metrics.latency.labels(GATE_REVIEW).observe(time.perf_counter() - started)
        if written:
            self.emit(written, transitions)
        outcome = (written or {}).get("status", {}).get("phase") or "unchanged"
        self.metrics.reconciles.labels(GATE_REVIEW, outcome).inc()
        return outcome

    # ------------------------------------------------------------------ dependency triggers

    async def on_dependency_change(self, kind: str, namespace: str, name: str, indexes: Mapping[str, Any]) -> None:
        """A resource's status changed: reconcile (or re-decide) the resources that depend on it.
        Reconciling is cheap when nothing changed for them: their workflow name is already known."""
        for dependent_kind, dependent in deps.dependents(indexes, namespace, kind, name):
            if dependent_kind == GATE_REVIEW:
                await self.review(namespace, dependent, indexes)
            else:
                await self.reconcile(dependent_kind, namespace, dependent, indexes)

    # ------------------------------------------------------------------ deletion

    async def delete_outputs(self, kind: str, namespace: str, name: str) -> int:
        """``spec.retention: Delete``: remove the resource's store prefix (all identities), in its
        namespace's store only."""
        prefix = resource_prefix(kind, name)
        return await asyncio.to_thread(lambda: open_store(self.cfg.store_for(namespace)).delete_prefix(prefix))
