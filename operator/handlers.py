"""kopf handler registration: one :class:`kopf.OperatorRegistry` per operator run, built by
:func:`build_registry`, so several operators (tests) can live in one process with their own config.

Per kind:

* DatasetFamily, CompileRun, TrainingRun: create, update (``spec`` changes only) and resume run
  :meth:`Reconciler.reconcile`; a delete handler (with a finalizer) only where ``spec.retention``
  is ``Delete``;
* GateReview: every event re-decides (cheap, pure, and it catches the approval annotation);
* Workflows labelled ``pixelgate.dev/kind``: every event mirrors progress into the owner's status;
* indexes for dependencies (see :mod:`.dependencies`); every event of our kinds refreshes the
  metrics snapshot and, when a dependency changed, reconciles the resources waiting on it.
"""

from __future__ import annotations

from typing import Any

import kopf

from pixelgate.workflows.api import KINDS
from pixelgate.workflows.api.kinds import GATE_REVIEW, WORKFLOW_KINDS
from pixelgate.workflows.api.meta import GROUP, VERSION
from pixelgate.workflows.layout import resource_prefix
from pixelgate.workflows.render.common import LABEL_KIND, LABEL_NAME

from . import dependencies as deps
from .reconcile import Reconciler
from .status import ARGO_GROUP, ARGO_VERSION


def _indexes(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {name: kwargs[name] for name in deps.INDEX_NAMES}


def _retention_delete(spec: Any, **_: Any) -> bool:
    return (spec or {}).get("retention") == "Delete"


def build_registry(reconciler: Reconciler) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    res = {kind: dict(group=GROUP, version=VERSION, plural=KINDS[kind].plural, registry=registry) for kind in KINDS}

    for kind, index_id in deps.KIND_INDEX.items():
        kopf.index(**res[kind], id=index_id)(deps.snapshot_index(kind))
    for kind, index_id in deps.DEPENDENTS_INDEX.items():
        kopf.index(**res[kind], id=index_id)(deps.dependents_index(kind))

    for kind in WORKFLOW_KINDS:

        async def reconcile(namespace: str, name: str, _kind: str = kind, **kwargs: Any) -> None:
            await reconciler.reconcile(_kind, namespace, name, _indexes(kwargs))

        kopf.on.create(**res[kind], id="reconcile")(reconcile)
        kopf.on.update(**res[kind], id="reconcile-spec", field="spec")(reconcile)
        kopf.on.resume(**res[kind], id="resume")(reconcile)

        async def cleanup(namespace: str, name: str, logger: Any, _kind: str = kind, **_: Any) -> None:
            removed = await reconciler.delete_outputs(_kind, namespace, name)
            where = f"{reconciler.cfg.store_for(namespace)}/{resource_prefix(_kind, name)}"
            logger.info("retention Delete: removed %d objects under %s", removed, where)

        kopf.on.delete(**res[kind], id="retention-delete", when=_retention_delete)(cleanup)

    for kind in KINDS:

        async def observe(
            event: dict[str, Any], body: Any, namespace: str, name: str, _kind: str = kind, **kwargs: Any
        ) -> None:
            if event["type"] == "DELETED":
                reconciler.metrics.observe(_kind, namespace, name, None)
                return
            reconciler.metrics.observe(
                _kind, namespace, name, body.get("status") or {}, spec=dict(body.get("spec") or {})
            )
            if _kind == GATE_REVIEW:
                await reconciler.review(namespace, name, _indexes(kwargs))
            await reconciler.on_dependency_change(_kind, namespace, name, _indexes(kwargs))

        kopf.on.event(**res[kind], id="observe")(observe)

    @kopf.on.event(
        ARGO_GROUP,
        ARGO_VERSION,
        "workflows",
        labels={LABEL_KIND: kopf.PRESENT, LABEL_NAME: kopf.PRESENT},
        registry=registry,
        id="mirror",
    )
    async def mirror(event: dict[str, Any], body: Any, labels: Any, **kwargs: Any) -> None:
        if labels[LABEL_KIND] not in WORKFLOW_KINDS:
            return
        if event["type"] == "DELETED":
            await reconciler.workflow_deleted(dict(body), labels[LABEL_KIND], labels[LABEL_NAME])
            return
        await reconciler.mirror(dict(body), labels[LABEL_KIND], labels[LABEL_NAME], _indexes(kwargs))

    return registry
