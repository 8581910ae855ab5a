"""Peering keeps one replica active (the other pauses, then takes over), and the liveness probe answers."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path

from pixelgate.operator.config import OperatorConfig
from tests.operator_support import Cluster, RunningOperator, family, wait_until


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _create_peering(cluster: Cluster) -> None:
    peering = {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "pixelgate"}}
    cluster.custom.create_namespaced_custom_object("kopf.dev", "v1", cluster.ns, "kopfpeerings", peering)


def _peers(cluster: Cluster) -> int:
    """Replicas registered in the KopfPeering "pixelgate"."""
    peering = cluster.custom.get_namespaced_custom_object("kopf.dev", "v1", cluster.ns, "kopfpeerings", "pixelgate")
    return len(peering.get("status") or {})


def _reconciles(op: RunningOperator) -> float:
    """DatasetFamily reconciles this replica ran (a paused replica runs none)."""
    return sum(
        sample.value
        for metric in op.metrics.reconciles.collect()
        for sample in metric.samples
        if sample.name == "pixelgate_reconcile_total" and sample.labels["kind"] == "DatasetFamily"
    )


def test_one_replica_active_then_failover(kube, cluster: Cluster, tmp_path: Path):
    _create_peering(cluster)
    port = _free_port()

    def cfg(priority: int, liveness: str | None = None) -> OperatorConfig:
        return OperatorConfig(
            store_uri=str(tmp_path / "store"),
            namespaces=(cluster.ns,),
            kubeconfig=str(kube.kubeconfig),
            peering_name="pixelgate",
            priority=priority,
            liveness_endpoint=liveness,
        )

    leader = RunningOperator(cfg(100, f"http://127.0.0.1:{port}/healthz")).start()
    follower = RunningOperator(cfg(0)).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
            assert resp.status == 200
            json.loads(resp.read() or b"{}")
        wait_until(lambda: _peers(cluster) == 2, what="both replicas in the peering object")
        cluster.create(family("peer-1"))
        wait_until(lambda: cluster.workflow_of("DatasetFamily", "peer-1"), what="workflow from the active replica")
        wait_until(lambda: _reconciles(leader) >= 1, what="the leader reconciled")
        assert _reconciles(follower) == 0
    finally:
        leader.stop()
    cluster.create(family("peer-2"))
    try:
        wait_until(lambda: cluster.workflow_of("DatasetFamily", "peer-2"), timeout=90, what="the follower takes over")
        # the reconcile is counted when it returns, just after it created the workflow
        wait_until(lambda: _reconciles(follower) >= 1, what="the follower counted its reconcile")
    finally:
        follower.stop()


def test_replicas_with_the_same_priority_run_exactly_one_active(kube, cluster: Cluster, tmp_path: Path):
    """The chart's Deployment gives every replica the same --priority; kopf pauses all peers that tie
    at the highest priority, so without a tie-breaker `replicas: 2` ran nothing. Now exactly one of
    two equal replicas reconciles, and the other takes over when it stops."""
    from pixelgate.operator.main import TIE_BREAKER, peering_priority

    assert peering_priority(1) > peering_priority(0) + 0 and peering_priority(0) < TIE_BREAKER
    _create_peering(cluster)
    same = OperatorConfig(
        store_uri=str(tmp_path / "store"),
        namespaces=(cluster.ns,),
        kubeconfig=str(kube.kubeconfig),
        peering_name="pixelgate",
        priority=10,  # as helm/pixelgate/ci/full-values.yaml gives both of its replicas
        liveness_endpoint=None,
    )
    replicas = [RunningOperator(same).start(), RunningOperator(same).start()]
    try:
        # both registered, and each has seen the other's keepalive (where a tie pauses them both)
        wait_until(lambda: _peers(cluster) == 2, what="both replicas in the peering object")
        time.sleep(5)
        cluster.create(family("equal-1"))
        wait_until(lambda: cluster.workflow_of("DatasetFamily", "equal-1"), timeout=90, what="one replica active")
        wait_until(lambda: sum(_reconciles(r) for r in replicas) >= 1, what="its reconcile counted")
        active, standby = sorted(replicas, key=_reconciles, reverse=True)
        assert _reconciles(standby) == 0
        active.stop()
        cluster.create(family("equal-2"))
        wait_until(lambda: cluster.workflow_of("DatasetFamily", "equal-2"), timeout=90, what="the standby takes over")
        wait_until(lambda: _reconciles(standby) >= 1, what="the standby counted its reconcile")
    finally:
        for replica in replicas:
            replica.stop()
