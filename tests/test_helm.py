"""The Helm chart (helm/pixelgate) with the real `helm`: lint, render with default and full values,
values.schema.json rejecting bad values, RBAC and CRDs equal to their sources, and the rendered
operator command line accepted by the real `pixelgate operator` CLI."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.cluster.tools import run_tool, versions

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "helm" / "pixelgate"
FULL = CHART / "ci" / "full-values.yaml"
NS = "pixelgate-system"
# helm renders for this Kubernetes (the test cluster's); the chart needs >= 1.25 (CEL rules in the CRDs).
KUBE = ("--kube-version", versions()["KUBERNETES_VERSION"])


def helm(helm_bin: Path, *args: str | Path) -> subprocess.CompletedProcess:
    return run_tool([helm_bin, *args], timeout=120)


class _StrictLoader(yaml.SafeLoader):
    """YAML as the apiserver's strict decoding reads it: a key given twice in a mapping is an error
    (PyYAML would keep the last one silently)."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        repeated = sorted({k for k in keys if keys.count(k) > 1}, key=str)
        if repeated:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {repeated}", node.start_mark)
        return super().construct_mapping(node, deep=deep)


def render(helm_bin: Path, *args: str | Path) -> list[dict]:
    done = helm(helm_bin, "template", "pg", CHART, "--namespace", NS, *KUBE, *args)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.load_all(done.stdout, Loader=_StrictLoader) if doc]


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict], kind: str) -> dict:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"{len(found)} {kind}s"
    return found[0]


@pytest.fixture(scope="module")
def default(helm_bin) -> list[dict]:
    return render(helm_bin)


@pytest.fixture(scope="module")
def full(helm_bin) -> list[dict]:
    return render(helm_bin, "-f", FULL)


def test_lint_default_and_full(helm_bin):
    for args in ((), ("-f", FULL)):
        done = helm(helm_bin, "lint", "--strict", CHART, *KUBE, *args)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "0 chart(s) failed" in done.stdout


def test_default_render(default):
    kinds = sorted(d["kind"] for d in default)
    assert kinds == sorted(
        [
            "ClusterKopfPeering",
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
            "ServiceAccount",
        ]
    )
    # Optional parts are off by default; no Secret is ever rendered (credentials are references).
    for kind in ("ServiceMonitor", "PrometheusRule", "ConfigMap", "Secret"):
        assert not by_kind(default, kind), kind
    deploy = one(default, "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/pixelgate/pixelgate-operator:0.1.0"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"healthz": 8080, "metrics": 9090}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
    assert pod["serviceAccountName"] == "pg-pixelgate-operator"
    assert "--all-namespaces" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    assert env["PIXELGATE_IMAGE"]["value"] == "ghcr.io/pixelgate/pixelgate-steps:0.1.0"
    assert env["PIXELGATE_TRAIN_IMAGE"]["value"] == "ghcr.io/pixelgate/pixelgate-train:0.1.0"
    assert "AWS_SECRET_ACCESS_KEY" not in env  # no Secret named: ambient credentials
    svc = one(default, "Service")
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]
    assert svc["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]
    assert one(default, "ClusterKopfPeering")["metadata"]["name"] == "pixelgate"


def test_rendered_rbac_is_the_operator_tested_rules(default, full):
    rules = yaml.safe_load((CHART / "files" / "operator-rbac.yaml").read_text())["rules"]
    for docs in (default, full):
        role = one(docs, "ClusterRole")
        assert role["rules"] == rules
        binding = one(docs, "ClusterRoleBinding")
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": role["metadata"]["name"],
        }
        sa = next(
            d
            for d in by_kind(docs, "ServiceAccount")
            if d["metadata"]["name"] == one(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
        )
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NS}]


def _crd_docs(paths) -> dict[str, dict]:
    out = {}
    for p in paths:
        for doc in yaml.safe_load_all(Path(p).read_text()):
            if doc:
                out[doc["metadata"]["name"]] = doc
    return out


def test_rendered_crds_equal_the_generated_crds(helm_bin, tmp_path):
    expected = _crd_docs(sorted((REPO / "crds").glob("*.yaml")))
    assert len(expected) == 6
    # What `helm install` applies ...
    docs = render(helm_bin, "--include-crds")
    assert {d["metadata"]["name"]: d for d in by_kind(docs, "CustomResourceDefinition")} == expected
    # ... and what a packaged chart carries (the crds/ link resolved into real files).
    done = helm(helm_bin, "package", CHART, "--destination", tmp_path)
    assert done.returncode == 0, done.stderr
    (tgz,) = tmp_path.glob("pixelgate-*.tgz")
    with tarfile.open(tgz) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    packaged = tmp_path / "x" / "pixelgate" / "crds"
    assert _crd_docs(sorted(packaged.glob("*.yaml"))) == expected
    for source in (REPO / "crds").glob("*.yaml"):
        assert (packaged / source.name).read_bytes() == source.read_bytes(), source.name


def test_full_render(full):
    deploy = one(full, "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deploy["spec"]["replicas"] == 2
    assert container["image"] == "registry.example.com/ml/pixelgate-operator:0.1.0-rc1"
    assert container["args"][:3] == ["operator", "--namespace=ml-data", "--namespace=ml-train"]
    assert "--all-namespaces" not in container["args"] and "--verbose" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    assert env["AWS_SECRET_ACCESS_KEY"] == {
        "name": "AWS_SECRET_ACCESS_KEY",
        "valueFrom": {"secretKeyRef": {"name": "pixelgate-s3", "key": "secret-key"}},
    }
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {"name": "pixelgate-s3", "key": "access-key"}
    assert env["AWS_ENDPOINT_URL"]["value"] == "https://minio.example.com"
    assert env["PIXELGATE_IMAGE"]["value"] == "registry.example.com/ml/pixelgate-steps:0.1.0-rc1"
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert not by_kind(full, "Secret")

    # Peering per watched namespace; the workflow identity in every namespace workflows run in.
    assert sorted(p["metadata"]["namespace"] for p in by_kind(full, "KopfPeering")) == ["ml-data", "ml-train"]
    assert not by_kind(full, "ClusterKopfPeering")
    workflow_ns = [NS, "ml-data", "ml-train", "ml-eval"]
    runners = [d for d in by_kind(full, "ServiceAccount") if d["metadata"]["name"] == "pixelgate-runner"]
    assert sorted(r["metadata"]["namespace"] for r in runners) == sorted(workflow_ns)
    for role in by_kind(full, "Role"):
        assert role["rules"] == [
            {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}
        ]
    assert sorted(r["metadata"]["namespace"] for r in by_kind(full, "RoleBinding")) == sorted(workflow_ns)

    # Argo's artifact repository: S3 keys by Secret reference.
    repos = [d for d in by_kind(full, "ConfigMap") if d["metadata"]["name"] == "artifact-repositories"]
    assert sorted(r["metadata"]["namespace"] for r in repos) == sorted(workflow_ns)
    s3 = yaml.safe_load(repos[0]["data"]["pixelgate-s3"])["s3"]
    assert s3["accessKeySecret"] == {"name": "pixelgate-s3", "key": "access-key"}
    assert s3["secretKeySecret"] == {"name": "pixelgate-s3", "key": "secret-key"}
    assert s3["bucket"] == "ml-argo" and s3["endpoint"] == "minio.example.com"

    # kube-prometheus-stack parts.
    monitor = one(full, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["selector"]["matchLabels"] == one(full, "Service")["spec"]["selector"]
    assert monitor["spec"]["jobLabel"] in one(full, "Service")["metadata"]["labels"]
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"}
    ]
    rule = one(full, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["spec"] == yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())

    dashboards = [
        d for d in by_kind(full, "ConfigMap") if d["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    files = sorted((CHART / "dashboards").glob("*.json"))
    assert len(dashboards) == len(files) == 4
    for cm in dashboards:
        assert cm["metadata"]["namespace"] == "monitoring" and cm["metadata"]["annotations"] == {
            "grafana_folder": "pixelgate"
        }
        ((name, text),) = cm["data"].items()
        assert json.loads(text) == json.loads((CHART / "dashboards" / name).read_text())


def test_rendered_operator_command_line_is_accepted_by_the_cli(default, full, monkeypatch):
    """Every flag the chart passes exists in `pixelgate operator` and yields a valid OperatorConfig."""
    from pixelgate.operator.cli import operator_command
    from pixelgate.operator.config import OperatorConfig

    for docs, scope in (
        (default, {"clusterwide": True, "namespaces": ()}),
        (full, {"clusterwide": False, "namespaces": ("ml-data", "ml-train")}),
    ):
        (container,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
        args = container["args"]
        assert args[0] == "operator"
        for e in container["env"]:
            if "value" in e:
                monkeypatch.setenv(e["name"], e["value"])
        ctx = operator_command.make_context("operator", list(args[1:]))
        params = dict(ctx.params)
        params.pop("verbose")
        params["namespaces"] = tuple(params["namespaces"])
        cfg = OperatorConfig(**params)
        assert (cfg.clusterwide, cfg.namespaces) == (scope["clusterwide"], scope["namespaces"])
        assert cfg.liveness_endpoint == "http://0.0.0.0:8080/healthz" and cfg.metrics_port == 9090
        assert cfg.image == next(e["value"] for e in container["env"] if e["name"] == "PIXELGATE_IMAGE")
        assert cfg.train_image == next(e["value"] for e in container["env"] if e["name"] == "PIXELGATE_TRAIN_IMAGE")
        assert cfg.store_uri == next(e["value"] for e in container["env"] if e["name"] == "PIXELGATE_STORE")
    # The full values' workflow wiring reaches every submitted Workflow: identity, endpoint, keys by reference.
    runtime = cfg.runtime()
    assert runtime.service_account == "pixelgate-runner" and runtime.rclone_secret == "pixelgate-rclone"
    assert dict(runtime.env) == {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "https://minio.example.com",
        "PIXELGATE_SOURCE_ROOTS": "/mnt/datasets",  # the source policy (docs/security.md)
        "PIXELGATE_SOURCE_NETWORKS": "10.20.0.0/16",
    }
    assert (runtime.store_secret, runtime.store_secret_keys) == ("pixelgate-s3", ("access-key", "secret-key"))


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        (["--set", "operator.replicas=-1"], "replicas"),
        (["--set", "operator.image.pullPolicy=Sometimes"], "pullPolicy"),
        (["--set", "operator.bogus=1"], "bogus"),
        (["--set", "serviceMonitor.enabled=yes"], "enabled"),
        (["--set", "store.uri=/data/local"], "uri"),
        (["--set", "store.credentials.secretAccessKey=hunter2"], "secretAccessKey"),
        (["--set", "operator.watch.allNamespaces=false"], "namespaces"),
        (
            ["--set", "operator.watch.namespaces={Not_A_Namespace}", "--set", "operator.watch.allNamespaces=false"],
            "namespaces",
        ),
        (["--set", "operator.metricsPort=70000"], "metricsPort"),
        (["--set", "serviceMonitor.interval=often"], "interval"),
    ],
)
def test_schema_rejects_bad_values(helm_bin, override, complaint):
    done = helm(helm_bin, "template", "pg", CHART, *KUBE, *override)
    assert done.returncode != 0, f"{override} was accepted"
    assert "values don't meet the specifications of the schema" in done.stderr, done.stderr
    assert complaint in done.stderr, done.stderr


def test_rendered_manifests_pass_the_real_apiserver(helm_bin, kube, argo_crds_dir, tmp_path):
    """Server-side dry run of the rendered chart (CRDs installed first, as Helm does): every object
    is valid for the real kube-apiserver, the CEL-bearing CRDs included."""
    from kubernetes import client

    from tests.operator_support import KUBECTL, install_crds

    with kube.api_client() as api:
        install_crds(api, argo_crds_dir)
        try:
            client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
        except client.ApiException as err:
            if err.status != 409:
                raise
    docs = render(
        helm_bin,
        "--set",
        "dashboards.enabled=true",
        "--set",
        "workflows.artifactRepository.enabled=true",
        "--set",
        "store.credentials.existingSecret=pixelgate-s3",
    )
    manifest = tmp_path / "chart.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    done = run_tool(
        [KUBECTL, "--kubeconfig", kube.kubeconfig, "apply", "--dry-run=server", "-f", manifest], timeout=120
    )
    assert done.returncode == 0, done.stderr
    applied = [line for line in done.stdout.splitlines() if "(server dry run)" in line]
    assert len(applied) == len(docs), done.stdout


def test_the_network_policy_admits_only_scrapes_probes_dns_the_api_server_and_the_store(default, full):
    assert by_kind(default, "NetworkPolicy") == []
    policy = one(full, "NetworkPolicy")["spec"]
    pod = one(full, "Deployment")["spec"]["template"]
    assert policy["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    metrics, probe = policy["ingress"]
    assert [p["port"] for p in metrics["ports"]] == [ports["metrics"]]
    assert metrics["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    assert [p["port"] for p in probe["ports"]] == [ports["healthz"]] and "from" not in probe
    dns, api, store = policy["egress"]
    assert sorted((p["port"], p["protocol"]) for p in dns["ports"]) == [(53, "TCP"), (53, "UDP")] and "to" not in dns
    assert [t["ipBlock"]["cidr"] for t in api["to"]] == ["10.0.0.1/32", "192.168.10.0/24"]
    assert [p["port"] for p in api["ports"]] == [443, 6443]
    assert store == {"to": [{"ipBlock": {"cidr": "10.2.0.0/16"}}], "ports": [{"port": 9000, "protocol": "TCP"}]}
