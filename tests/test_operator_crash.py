"""Crash safety: the operator stops in the middle of a reconcile (workflow created, status not yet
written); a fresh operator creates no second workflow and the status converges."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from pixelgate.operator import kube as kube_module
from pixelgate.operator.config import OperatorConfig
from pixelgate.workflows.api import parse_resource
from tests.operator_support import Argo, Cluster, RunningOperator, family, wait_until


def test_restart_mid_reconcile_creates_no_duplicate_and_converges(kube, cluster: Cluster, tmp_path: Path, monkeypatch):
    cfg = OperatorConfig(
        store_uri=str(tmp_path / "store"), namespaces=(cluster.ns,), kubeconfig=str(kube.kubeconfig), standalone=True
    )
    reached = threading.Event()
    real_update = kube_module.Kube.update_status

    async def stall_after_create(self, kind, namespace, name, compute):
        if kind == "DatasetFamily" and name == "crashy":
            reached.set()
            await asyncio.sleep(3600)  # the crash: the operator stops while we hang here
        return await real_update(self, kind, namespace, name, compute)

    monkeypatch.setattr(kube_module.Kube, "update_status", stall_after_create)
    spec = family("crashy")
    with RunningOperator(cfg):
        cluster.create(spec)
        wait_until(reached.is_set, what="reconcile to reach the status write")
        assert cluster.workflow_of("DatasetFamily", "crashy") is not None
        assert "workflow" not in cluster.status("DatasetFamily", "crashy")
    monkeypatch.setattr(kube_module.Kube, "update_status", real_update)

    with RunningOperator(cfg):
        expected = f"crashy-{parse_resource(spec).spec_hash()}"
        wait_until(
            lambda: cluster.status("DatasetFamily", "crashy").get("workflow") == expected,
            what="status converges after restart",
        )
        workflows = [w["metadata"]["name"] for w in cluster.workflows()]
        assert workflows == [expected]
        Argo(cluster).set(expected, "Succeeded", {"ingest": "Succeeded"}, results={"ingest": {"records_out": 5}})
        wait_until(lambda: cluster.status("DatasetFamily", "crashy").get("phase") == "Ready", what="Ready")
        assert cluster.status("DatasetFamily", "crashy")["recordsOut"] == 5
        assert [w["metadata"]["name"] for w in cluster.workflows()] == [expected]
