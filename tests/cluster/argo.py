"""Argo Workflows' real workflow-controller for a cluster with a :class:`~.node.Node`.

Installed the way Argo's manifests install it, with what a registry-less, network-less node
needs: every CRD of ``manifests/base/crds/minimal`` (the controller lists WorkflowTaskSets,
WorkflowTaskResults, … and never runs a Workflow while one is missing), the
``workflow-controller-configmap`` in namespace ``argo`` with the executor image imported into the
node (``imagePullPolicy: Never``), host networking for workflow pods (the node has no pod network)
and the apiserver's loopback address for the executor. The controller itself runs as a host
process with a cluster-admin kubeconfig (``LEADER_ELECTION_DISABLE``: one replica).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import yaml

from .kube import KubeCluster, write_kubeconfig
from .tools import ServerProcess, argo_crds_dir, free_port, tool_path

NAMESPACE = "argo"
CONFIGMAP = "workflow-controller-configmap"


def controller_config(apiserver: str, metrics_port: int) -> dict[str, str]:
    """The ConfigMap's data: each key a YAML document, as Argo reads it."""
    url = urlparse(apiserver)
    return {
        "executor": yaml.safe_dump(
            {
                "imagePullPolicy": "Never",
                "env": [
                    {"name": "KUBERNETES_SERVICE_HOST", "value": url.hostname},
                    {"name": "KUBERNETES_SERVICE_PORT", "value": str(url.port)},
                ],
            }
        ),
        "workflowDefaults": yaml.safe_dump({"spec": {"hostNetwork": True}}),
        "metricsConfig": yaml.safe_dump({"enabled": True, "port": metrics_port, "secure": False}),
    }


@dataclass
class ArgoController:
    cluster: KubeCluster
    workdir: Path
    executor_image: str
    process: ServerProcess | None = None
    metrics_port: int = 0

    def start(self) -> "ArgoController":
        from kubernetes import client, utils

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.metrics_port = free_port()
        with self.cluster.api_client() as api:
            for crd in sorted(argo_crds_dir().glob("argoproj.io_*.yaml")):
                try:
                    utils.create_from_yaml(api, str(crd))
                except utils.FailToCreateError as err:
                    if any(e.status != 409 for e in err.api_exceptions):
                        raise
            core = client.CoreV1Api(api)
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
            core.create_namespaced_config_map(
                NAMESPACE,
                client.V1ConfigMap(
                    metadata=client.V1ObjectMeta(name=CONFIGMAP),
                    data=controller_config(self.cluster.server, self.metrics_port),
                ),
            )
        assert self.cluster.admin is not None
        kubeconfig = write_kubeconfig(
            self.workdir / "workflow-controller.kubeconfig",
            self.cluster.server,
            self.cluster.ca_path,
            self.cluster.admin.cert_path,
            self.cluster.admin.key_path,
            namespace=NAMESPACE,
        )
        self.process = ServerProcess(
            "workflow-controller",
            [
                tool_path("workflow-controller"),
                f"--kubeconfig={kubeconfig}",
                f"--configmap={CONFIGMAP}",
                f"--executor-image={self.executor_image}",
                "--executor-image-pull-policy=Never",
                "--loglevel=info",
            ],
            self.workdir / "workflow-controller.log",
            env={"LEADER_ELECTION_DISABLE": "true"},
        )
        self.process.wait_ready(self._serving_metrics, timeout=60, interval=0.5)
        return self

    def _serving_metrics(self) -> bool:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as resp:
            return resp.status == 200

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
