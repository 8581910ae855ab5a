"""Start the operator: kopf settings, credentials, metrics server, and the kopf main loop.

:func:`run` blocks (the CLI); :func:`operator_task` is the coroutine (tests run it in a thread with
a ``stop_flag``). kopf is set up so that:

* handler progress and the diff base live in annotations under ``pixelgate.dev/`` (``status`` is ours);
* peering (``KopfPeering``/``ClusterKopfPeering`` named by ``--peering``) keeps one replica active,
  unless ``--standalone``;
* the liveness endpoint (``--liveness``) answers while the operator is healthy;
* the finalizer, only on resources with ``spec.retention: Delete``, is ``pixelgate.dev/cleanup``;
* missing RBAC permissions stop it at startup with one error naming them all (:mod:`.rbac`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from . import rbac
from .config import OperatorConfig
from .handlers import build_registry
from .kube import POOL_SIZE, Kube, api_client, connection_info
from .metrics import Metrics
from .reconcile import Reconciler

PREFIX = "pixelgate.dev"
FINALIZER = f"{PREFIX}/cleanup"


# kopf pauses every peer that shares the highest priority, so replicas started with the same
# --priority (a Deployment's) would all pause. Each adds a random tie-breaker below this.
TIE_BREAKER = 1 << 20


def peering_priority(base: int) -> int:
    """``base`` ranks replicas as given (a higher --priority always wins); equal ones never tie."""
    return base * TIE_BREAKER + secrets.randbelow(TIE_BREAKER)


def settings_for(cfg: OperatorConfig) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration"
    )
    settings.persistence.finalizer = FINALIZER
    # Peering lives in the settings only: kopf.operator(peering_name=...) would force it mandatory.
    settings.peering.name = cfg.peering_name
    settings.peering.standalone = cfg.standalone
    settings.peering.mandatory = not cfg.standalone
    settings.peering.priority = peering_priority(cfg.priority)
    settings.posting.level = logging.WARNING  # kopf's own log lines are not Kubernetes Events
    settings.watching.server_timeout = 300
    return settings


async def operator_task(
    cfg: OperatorConfig,
    *,
    stop_flag: asyncio.Event | threading.Event | None = None,
    ready_flag: asyncio.Event | threading.Event | None = None,
    metrics: Metrics | None = None,
) -> None:
    """Run until ``stop_flag`` is set (or forever)."""
    # the Kubernetes client is synchronous: its calls run in threads, as many as the connection pool
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="kube"))
    metrics = metrics or Metrics()
    api = api_client(cfg)
    reconciler = Reconciler(cfg, Kube(api), metrics)
    registry = build_registry(reconciler)

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info(api)

    try:
        scoped = not cfg.clusterwide and not any(set("*?[") & set(ns) for ns in cfg.namespaces)
        await rbac.check(api, list(cfg.namespaces) if scoped else None)
        if cfg.metrics_port is not None:
            metrics.serve(cfg.metrics_port, cfg.metrics_host)
        await kopf.operator(
            registry=registry,
            settings=settings_for(cfg),
            clusterwide=cfg.clusterwide,
            namespaces=list(cfg.namespaces),
            liveness_endpoint=cfg.liveness_endpoint,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        metrics.stop()
        await asyncio.to_thread(api.close)


def run(cfg: OperatorConfig) -> None:
    """Block running the operator (``pixelgate operator``)."""
    asyncio.run(operator_task(cfg))
