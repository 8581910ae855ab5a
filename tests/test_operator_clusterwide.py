"""Cluster-wide mode (`pixelgate operator -A`): one operator serves every namespace, peers through a
ClusterKopfPeering, and keeps dependencies inside their namespace."""

from __future__ import annotations

import uuid
from pathlib import Path

from kubernetes import client

from pixelgate.operator.config import OperatorConfig
from tests.operator_support import Cluster, RunningOperator, compile_run, family, wait_until


def test_one_operator_serves_every_namespace(kube, crds, tmp_path: Path):
    peering = f"pixelgate-{uuid.uuid4().hex[:8]}"
    namespaces = [f"cw-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with kube.api_client() as api:
        core = client.CoreV1Api(api)
        custom = client.CustomObjectsApi(api)
        for ns in namespaces:
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
        custom.create_cluster_custom_object(
            "kopf.dev",
            "v1",
            "clusterkopfpeerings",
            {
                "apiVersion": "kopf.dev/v1",
                "kind": "ClusterKopfPeering",
                "metadata": {"name": peering},
            },
        )
        first, second = (Cluster(api, ns, kube.kubeconfig) for ns in namespaces)
        cfg = OperatorConfig(
            store_uri=str(tmp_path / "store"), clusterwide=True, kubeconfig=str(kube.kubeconfig), peering_name=peering
        )
        try:
            with RunningOperator(cfg):
                # The same names in two namespaces are two resources, each with its own workflow.
                for cluster in (first, second):
                    cluster.create(family("shared-name"))
                for cluster in (first, second):
                    wf = wait_until(
                        lambda c=cluster: c.workflow_of("DatasetFamily", "shared-name"),
                        what=f"workflow in {cluster.ns}",
                    )
                    assert wf["metadata"]["namespace"] == cluster.ns
                    assert (
                        wf["metadata"]["ownerReferences"][0]["uid"]
                        == cluster.get("DatasetFamily", "shared-name")["metadata"]["uid"]
                    )

                # Dependencies resolve within a namespace: a compile in the second namespace does not
                # see a family of that name that only the first namespace has.
                first.create(family("only-in-first"))
                second.create(compile_run("needs-family", families=["only-in-first"]))
                waiting = wait_until(
                    lambda: second.condition("CompileRun", "needs-family", "FamiliesReady"), what="compile waits"
                )
                assert waiting["status"] == "False" and waiting["reason"] == "WaitingForFamilies"
                assert "only-in-first" in waiting["message"]
                assert second.workflow_of("CompileRun", "needs-family") is None

                # The active replica announced itself in the cluster-scoped peering object.
                body = custom.get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", peering)
                assert len(body.get("status") or {}) == 1
        finally:
            custom.delete_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", peering)
            for ns in namespaces:
                core.delete_namespace(ns)
