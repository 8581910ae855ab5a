"""RBAC: the operator runs as a ServiceAccount (a real TokenRequest token) bound to exactly the
rules of helm/pixelgate/files/operator-rbac.yaml, does its job with them, and fails loudly without."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from pixelgate.operator import rbac
from pixelgate.operator.config import OperatorConfig
from tests.operator_support import REPO, Cluster, RunningOperator, family, wait_until, write_kubeconfig

RULES_FILE = REPO / "helm" / "pixelgate" / "files" / "operator-rbac.yaml"


def _rules() -> list[dict]:
    return yaml.safe_load(RULES_FILE.read_text())["rules"]


def test_rules_file_grants_exactly_what_the_operator_checks():
    granted = {
        (group, resource, verb)
        for rule in _rules()
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    required = {(a.group, a.resource, a.verb) for a in rbac.REQUIRED}
    assert granted == required, {"granted, not needed": granted - required, "needed, not granted": required - granted}


def _bind(api: client.ApiClient, namespace: str, sa: str, rules: list[dict]) -> str:
    name = f"pixelgate-operator-{uuid.uuid4().hex[:8]}"
    rbac_api = client.RbacAuthorizationV1Api(api)
    rbac_api.create_cluster_role(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": rules,
        }
    )
    rbac_api.create_cluster_role_binding(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}],
        }
    )
    return name


def _unbind(api: client.ApiClient, name: str) -> None:
    rbac_api = client.RbacAuthorizationV1Api(api)
    rbac_api.delete_cluster_role_binding(name)
    rbac_api.delete_cluster_role(name)


def _operator(kube, cluster: Cluster, sa: str, tmp_path: Path) -> RunningOperator:
    with kube.service_account_client(cluster.ns, sa) as sa_api:
        kubeconfig = write_kubeconfig(sa_api, tmp_path / f"{sa}.kubeconfig")
    cfg = OperatorConfig(
        store_uri=str(tmp_path / "store"), namespaces=(cluster.ns,), kubeconfig=str(kubeconfig), standalone=True
    )
    return RunningOperator(cfg)


def test_operator_works_with_exactly_the_chart_rules(kube, cluster: Cluster, tmp_path: Path):
    binding = _bind(cluster.api, cluster.ns, "pixelgate-operator", _rules())
    try:
        with _operator(kube, cluster, "pixelgate-operator", tmp_path):
            cluster.create(family("rbac-fam", retention="Delete"))
            wf = wait_until(
                lambda: cluster.workflow_of("DatasetFamily", "rbac-fam"), what="workflow created by the ServiceAccount"
            )
            wait_until(
                lambda: cluster.status("DatasetFamily", "rbac-fam").get("workflow") == wf["metadata"]["name"],
                what="status written",
            )
            wait_until(lambda: ("Normal", "WorkflowCreated") in cluster.events("rbac-fam"), what="event posted")
            assert cluster.get("DatasetFamily", "rbac-fam")["metadata"]["finalizers"] == ["pixelgate.dev/cleanup"]
            # the delete handler runs and removes its finalizer with these rights too
            cluster.custom.delete_namespaced_custom_object(
                "pixelgate.dev", "v1alpha1", cluster.ns, "datasetfamilies", "rbac-fam"
            )
            wait_until(
                lambda: (
                    not cluster.custom.list_namespaced_custom_object(
                        "pixelgate.dev", "v1alpha1", cluster.ns, "datasetfamilies"
                    )["items"]
                ),
                what="finalizer removed",
            )
    finally:
        _unbind(cluster.api, binding)


def test_operator_fails_loudly_without_rights(kube, cluster: Cluster, tmp_path: Path):
    with pytest.raises(rbac.MissingPermissions) as err:
        _operator(kube, cluster, "no-rights", tmp_path).start()
    message = str(err.value)
    assert "create workflows.argoproj.io" in message and "update datasetfamilies/status.pixelgate.dev" in message


def test_operator_names_the_one_rule_taken_away(kube, cluster: Cluster, tmp_path: Path):
    rules = [r for r in _rules() if r["apiGroups"] != ["argoproj.io"]]
    rules.append({"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["get", "list", "watch"]})
    binding = _bind(cluster.api, cluster.ns, "almost", rules)
    try:
        with pytest.raises(rbac.MissingPermissions) as err:
            _operator(kube, cluster, "almost", tmp_path).start()
        assert "lacks 1 permission(s): create workflows.argoproj.io in " + cluster.ns in str(err.value)
    finally:
        _unbind(cluster.api, binding)
