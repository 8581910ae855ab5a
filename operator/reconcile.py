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
from datetime import datetime
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import kopf

from pixelgate.workflows.api import KINDS, ManifestError, parse_resource
from pixelgate.workflows.api.meta import Condition, set_condition, spec_hash, with_inputs_hash
from pixelgate.workflows.layout import compile_root
from pixelgate.workflows.render import RenderError, render_workflow
from pixelgate.workflows.store import open_store
from pixelgate.workflows.steps.compile.drift import DriftReport

from . import dependencies as deps
from . import gates
from .config import OperatorConfig
from .kube import Kube
from .metrics import Metrics
from .status import (
    LABEL_MANAGED_BY, LABEL_SPEC_HASH, MANAGER, Transition, dependency_met, node_template, status_from_workflow, waiting_status,
)

log = logging.getLogger(__name__)

DEPENDENCY_CONDITION = {"DatasetFamily": "SourcesReady", "CompileRun": "FamiliesReady", "TrainingRun": "CompileReady"}
STORE_PREFIX = {"DatasetFamily": "families", "CompileRun": "compiles", "TrainingRun": "trainings"}


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


def training_progress(workflow: Mapping[str, Any], before: tuple[str, float] | None, now: float) -> tuple[str, float] | None:
    """(the train step's self-reported progress, when it last changed) for a running training.

    The train step writes ``step/total`` to Argo's progress file; the controller copies it into
    the node's ``progress``. A change is dated when the operator sees it; a step that has not
    advanced since it started is dated by its start, so a training stuck from the outset alerts.
    """
    nodes = ((workflow.get("status") or {}).get("nodes") or {}).values()
    train = next((n for n in nodes if n.get("type") == "Pod" and node_template(n) == "train" and n.get("phase") == "Running"), None)
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

    def readiness(self, kind: str, resource: Any, namespace: str, indexes: Mapping[str, Any]) -> deps.Readiness | None:
        if kind == "DatasetFamily" and resource.spec.source.derive is not None:
            return deps.sources_readiness(resource.name, resource.spec.source.derive, indexes["families"].get(namespace, ()))
        if kind == "CompileRun":
            return deps.families_readiness(resource.spec.families, indexes["families"].get(namespace, ()))
        if kind == "TrainingRun":
            name = resource.spec.compile_run
            return deps.compile_readiness(name, deps.find(indexes["compiles"], namespace, name))
        return None

    @staticmethod
    def inputs(kind: str, resource: Any, namespace: str, indexes: Mapping[str, Any]) -> dict[str, str]:
        """The inputs that join a resource's workflow hash: a derived family's parents."""
        if kind == "DatasetFamily" and resource.spec.source.derive is not None:
            return deps.parent_hashes(resource.name, resource.spec.source.derive, indexes["families"].get(namespace, ()))
        return {}

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
        condition = DEPENDENCY_CONDITION.get(kind)
        if ready is not None and not ready.ready:
            written, transitions = await self.kube.update_status(
                kind, namespace, name,
                lambda b: waiting_status(kind, b.get("status") or {}, condition, ready.reason, ready.message, b["metadata"].get("generation")),
                body,
            )
            if written:
                self.emit(written, transitions)
            return "waiting"
        try:
            manifest = await asyncio.to_thread(
                render_workflow, resource, image=self.cfg.image, store_uri=self.cfg.store_uri, runtime=self.cfg.runtime(),
                inputs=self.inputs(kind, resource, namespace, indexes),
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
            current = dict(b.get("status") or {})
            if ready is not None:
                current = dependency_met(kind, current, condition, ready.message, gen)
            if current.get("workflow") == wf_name and current.get("observedGeneration") == gen:
                return current, []  # the workflow watch already mirrors this workflow
            return status_from_workflow(kind, current, workflow, gen)

        written, transitions = await self.kube.update_status(kind, namespace, name, compute, body)
        if written:
            self.emit(written, [Transition("Normal", "WorkflowCreated" if created else "WorkflowFound", f"workflow {wf_name}")] + transitions)
        return "created" if created else "existing"

    async def _invalid(self, kind: str, namespace: str, name: str, message: str, generation: int | None) -> None:
        summary = KINDS[kind].summary_condition

        def compute(b: Mapping[str, Any]) -> tuple[dict[str, Any], list[Transition]]:
            model = KINDS[kind].status.model_validate(b.get("status") or {})
            cond = Condition(type=summary, status="False", reason="InvalidSpec", message=message, observed_generation=generation)
            status = model.model_copy(update={"phase": "Failed", "message": message, "observed_generation": generation, "conditions": set_condition(list(model.conditions), cond)})
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
            current_hash = with_inputs_hash(spec_hash(resource.spec), self.inputs(kind, resource, namespace, indexes))
            if current_hash != wf_hash:
                return None  # a workflow of an earlier spec: its news is history
            return status_from_workflow(kind, b.get("status") or {}, dict(workflow), b["metadata"].get("generation"))

        async with self.locked(kind, namespace, owner):
            written, transitions = await self.kube.update_status(kind, namespace, owner, compute)
        if written:
            self.emit(written, transitions)
            facts: dict[str, Any] = {"last_progress": last_progress(workflow)}
            if kind == "TrainingRun":
                before = self.metrics.fact(kind, namespace, owner, "training_progress")
                facts["training_progress"] = training_progress(workflow, before, time.time())
            if kind == "CompileRun" and written["status"].get("phase") == "Succeeded":
                facts["drift"] = await asyncio.to_thread(self.load_drift, owner, wf_hash or "")
            self.metrics.observe(kind, namespace, owner, written["status"], **facts)

    def load_drift(self, compile_name: str, digest: str) -> dict[str, dict[str, float]]:
        """PSI/JS per feature from the compile's ``drift.json``; empty when there is none."""
        try:
            doc = open_store(self.cfg.store_uri).read_json(f"{compile_root(compile_name, digest)}/drift.json")
        except Exception as err:  # no baseline, no drift report, or the store is unreachable
            log.info("no drift for compile %s/%s: %s", compile_name, digest, err)
            return {}
        report = DriftReport.model_validate(doc)
        return {f.feature: {"psi": f.psi, "js": f.js} for f in report.features}

    # ------------------------------------------------------------------ GateReview

    async def review(self, namespace: str, name: str, indexes: Mapping[str, Any]) -> str:
        started = time.perf_counter()
        try:
            async with self.locked("GateReview", namespace, name):
                written, transitions = await self.kube.update_status(
                    "GateReview", namespace, name, lambda b: gates.decide(b, indexes["compiles"], indexes["trainings"])
                )
        except Exception as err:
            self.metrics.errors.labels("GateReview", type(err).__name__).inc()
            raise
        finally:
            self.metrics.latency.labels("GateReview").observe(time.perf_counter() - started)
        if written:
            self.emit(written, transitions)
        outcome = (written or {}).get("status", {}).get("phase") or "unchanged"
        self.metrics.reconciles.labels("GateReview", outcome).inc()
        return outcome

    # ------------------------------------------------------------------ dependency triggers

    async def on_dependency_change(self, kind: str, namespace: str, name: str, indexes: Mapping[str, Any]) -> None:
        """A dependency's status changed: reconcile the resources waiting on it (from the indexes)."""
        if kind == "DatasetFamily":
            keys = [(namespace, name), (namespace, deps.ANY)]
            # Derived families re-derive when a parent becomes Ready (its spec hash joins theirs).
            parent = deps.find(indexes["families"], namespace, name)
            derived = {n for k in keys for n in indexes["family_deps"].get(k, ())} - {name}
            for family in sorted(derived):
                ref = deps.find(indexes["families"], namespace, family)
                if ref is None or ref.phase in deps.WAITING_PHASES or (parent is not None and parent.ready("Ready")):
                    await self.reconcile("DatasetFamily", namespace, family, indexes)
            waiting = {n for k in keys for n in indexes["compile_deps"].get(k, ())}
            for compile_name in sorted(waiting):
                ref = deps.find(indexes["compiles"], namespace, compile_name)
                if ref is None or ref.phase in deps.WAITING_PHASES or not ref.current:
                    await self.reconcile("CompileRun", namespace, compile_name, indexes)
        if kind == "CompileRun":
            for training in sorted(set(indexes["training_deps"].get((namespace, name), ()))):
                ref = deps.find(indexes["trainings"], namespace, training)
                if ref is None or ref.phase in deps.WAITING_PHASES or not ref.current:
                    await self.reconcile("TrainingRun", namespace, training, indexes)
        if kind in ("CompileRun", "TrainingRun"):
            for review in sorted(set(indexes["review_deps"].get((namespace, kind, name), ()))):
                await self.review(namespace, review, indexes)

    # ------------------------------------------------------------------ deletion

    async def delete_outputs(self, kind: str, name: str) -> int:
        """``spec.retention: Delete``: remove the resource's store prefix (all spec hashes)."""
        prefix = f"{STORE_PREFIX[kind]}/{name}/"
        return await asyncio.to_thread(lambda: open_store(self.cfg.store_uri).delete_prefix(prefix))

