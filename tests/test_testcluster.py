"""Smoke tests proving the test servers in tests/cluster are the real thing.

Each test exercises behaviour only a real implementation has: structural-schema
validation and pruning by kube-apiserver, RBAC decisions, ownerReference garbage
collection by kube-controller-manager, SigV4-checked S3 requests, Prometheus
scraping, and the real helm / argo linters.
"""

from __future__ import annotations

import subprocess
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import yaml

from tests.cluster import tools
from tests.cluster.prometheus import scrape_config

# --------------------------------------------------------------------------- skip / fail policy


def test_missing_tool_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("PIXELGATE_REQUIRE_TOOLS", raising=False)
    with pytest.raises(pytest.skip.Exception):
        tools.skip_or_fail("no such tool")
    for var, value in (("CI", "true"), ("PIXELGATE_REQUIRE_TOOLS", "1")):
        with monkeypatch.context() as m:
            m.setenv(var, value)
            with pytest.raises(pytest.fail.Exception):
                tools.skip_or_fail("no such tool")
    monkeypatch.setenv("CI", "false")
    assert not tools.tools_required()


@pytest.mark.parametrize(
    "modfile, module, key",
    [
        ("kube/go.mod", "k8s.io/kubernetes", "KUBERNETES_VERSION"),
        ("etcd/go.mod", "go.etcd.io/etcd/server/v3", "ETCD_VERSION"),
        ("helm/go.mod", "helm.sh/helm/v3", "HELM_VERSION"),
        ("argo/go.mod", "github.com/argoproj/argo-workflows/v3", "ARGO_VERSION"),
        ("versitygw/go.mod", "github.com/versity/versitygw", "VERSITYGW_VERSION"),
        ("grafana-check/go.mod", "github.com/grafana/grafana-foundation-sdk/go", "GRAFANA_SDK_VERSION"),
    ],
)
def test_versions_env_matches_go_mod(modfile: str, module: str, key: str) -> None:
    text = (tools.TESTCLUSTER / modfile).read_text()
    requires = {
        parts[-2]: parts[-1]
        for line in text.splitlines()
        if (parts := line.split("//")[0].split()) and len(parts) >= 2 and parts[-2] == module
    }
    assert requires.get(module) == tools.versions()[key], f"{modfile} and versions.env disagree on {module}"
    if module == "k8s.io/kubernetes":  # every staging module is pinned to the matching v0.x tag
        staging = "v0." + tools.versions()[key].split(".", 1)[1]
        replaces = [line.split() for line in text.splitlines() if "=>" in line]
        assert replaces and all(r[-1] == staging for r in replaces), replaces


# --------------------------------------------------------------------------- Kubernetes


def _k8s():
    from kubernetes import client

    return client


def test_kube_version_is_the_pinned_release(kube) -> None:
    assert kube.get("/version")["gitVersion"] == tools.versions()["KUBERNETES_VERSION"]
    assert Path(kube.kubeconfig).is_file()


def _wait_established(kube, name: str) -> None:
    client = _k8s()

    def established() -> bool:
        with kube.api_client() as api:
            crd = client.ApiextensionsV1Api(api).read_custom_resource_definition(name)
        return any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or []))

    kube.wait_for(established, timeout=30, what=f"CRD {name} Established")


def test_crd_structural_schema_rejects_invalid_and_prunes_status(kube, kube_namespace) -> None:
    client = _k8s()
    plural = f"widgets{uuid.uuid4().hex[:6]}"
    group = "smoke.pixelgate.test"
    name = f"{plural}.{group}"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "plural": plural,
                "singular": plural[:-1],
                "kind": "Widget" + plural[-6:].upper(),
                "listKind": "WidgetList" + plural[-6:].upper(),
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": {"size": {"type": "integer", "minimum": 1, "maximum": 10}},
                                },
                                "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
                            },
                        }
                    },
                }
            ],
        },
    }
    with kube.api_client() as api:
        client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)
        _wait_established(kube, name)
        custom = client.CustomObjectsApi(api)
        kind = crd["spec"]["names"]["kind"]

        def body(obj_name: str, spec: dict) -> dict:
            return {"apiVersion": f"{group}/v1", "kind": kind, "metadata": {"name": obj_name}, "spec": spec}

        # The discovery cache of a fresh CRD can lag a moment behind Established.
        def create(obj):
            return custom.create_namespaced_custom_object(group, "v1", kube_namespace, plural, obj)

        with pytest.raises(client.ApiException) as bad_type:
            for _ in range(20):
                try:
                    create(body("bad", {"size": "big"}))
                except client.ApiException as exc:
                    if exc.status == 404:
                        time.sleep(0.5)
                        continue
                    raise
                break
        assert bad_type.value.status == 422, bad_type.value.body
        assert "spec.size" in bad_type.value.body and "integer" in bad_type.value.body

        with pytest.raises(client.ApiException) as too_big:
            create(body("big", {"size": 11}))
        assert too_big.value.status == 422
        assert "spec.size" in too_big.value.body and "less than or equal to 10" in too_big.value.body

        created = create(body("good", {"size": 3, "unknownField": "dropped"}))
        assert created["spec"] == {"size": 3}, "unknown spec fields are pruned"

        patched = custom.patch_namespaced_custom_object_status(
            group, "v1", kube_namespace, plural, "good", {"status": {"phase": "Ready", "bogus": 42}}
        )
        assert patched["status"] == {"phase": "Ready"}, "unknown status fields are pruned"
        stored = custom.get_namespaced_custom_object(group, "v1", kube_namespace, plural, "good")
        assert stored["status"] == {"phase": "Ready"}

        # With the status subresource, writes to the main resource ignore status.
        stored["status"] = {"phase": "Hijacked"}
        stored["spec"]["size"] = 4
        replaced = custom.replace_namespaced_custom_object(group, "v1", kube_namespace, plural, "good", stored)
        assert replaced["spec"]["size"] == 4 and replaced["status"] == {"phase": "Ready"}

        client.ApiextensionsV1Api(api).delete_custom_resource_definition(name)


def test_rbac_forbids_service_account_until_bound(kube, kube_namespace) -> None:
    client = _k8s()
    ns = kube_namespace
    impersonated = kube.impersonate_service_account(ns, "robot")
    with impersonated as sa_api:
        with pytest.raises(client.ApiException) as denied:
            client.CoreV1Api(sa_api).list_namespaced_config_map(ns)
        assert denied.value.status == 403
        assert f"system:serviceaccount:{ns}:robot" in denied.value.body

    with kube.api_client() as admin:
        rbac = client.RbacAuthorizationV1Api(admin)
        rbac.create_namespaced_role(
            ns,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "configmap-reader"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
            },
        )
        rbac.create_namespaced_role_binding(
            ns,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "robot-reads-configmaps"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmap-reader"},
                "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": ns}],
            },
        )

    def allowed(api) -> bool:
        try:
            client.CoreV1Api(api).list_namespaced_config_map(ns)
            return True
        except client.ApiException as exc:
            if exc.status == 403:
                return False
            raise

    with kube.impersonate_service_account(ns, "robot") as sa_api:
        kube.wait_for(lambda: allowed(sa_api), timeout=15, what="RoleBinding to take effect")
        # still only what the Role grants
        with pytest.raises(client.ApiException) as create_denied:
            client.CoreV1Api(sa_api).create_namespaced_config_map(ns, {"metadata": {"name": "nope"}, "data": {}})
        assert create_denied.value.status == 403
        # and only in its namespace
        with pytest.raises(client.ApiException) as other_ns:
            client.CoreV1Api(sa_api).list_namespaced_config_map("default")
        assert other_ns.value.status == 403

    # A real token from the TokenRequest API authenticates as the same ServiceAccount.
    with kube.service_account_client(ns, "robot") as token_api:
        kube.wait_for(lambda: allowed(token_api), timeout=15, what="token client allowed")
    with kube.service_account_client(ns, "stranger") as token_api:
        assert not allowed(token_api)


def test_owner_reference_garbage_collection(kube, kube_namespace) -> None:
    client = _k8s()
    if kube.controller_manager is None:
        tools.skip_or_fail("kube-controller-manager is not built; run `bash tools/testcluster/build.sh`")
    ns = kube_namespace
    with kube.api_client() as api:
        core = client.CoreV1Api(api)
        owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "owner"}, "data": {"a": "1"}})
        core.create_namespaced_config_map(
            ns,
            {
                "metadata": {
                    "name": "dependent",
                    "ownerReferences": [
                        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
                    ],
                },
                "data": {"b": "2"},
            },
        )
        core.delete_namespaced_config_map("owner", ns, propagation_policy="Background")

        def dependent_gone() -> bool:
            try:
                core.read_namespaced_config_map("dependent", ns)
                return False
            except client.ApiException as exc:
                if exc.status == 404:
                    return True
                raise

        kube.wait_for(dependent_gone, timeout=90, what="garbage collection of the dependent ConfigMap")


def test_namespace_deletion_is_finalized(kube) -> None:
    client = _k8s()
    if kube.controller_manager is None:
        tools.skip_or_fail("kube-controller-manager is not built; run `bash tools/testcluster/build.sh`")
    name = f"gone-{uuid.uuid4().hex[:8]}"
    with kube.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": name}})
        core.create_namespaced_config_map(name, {"metadata": {"name": "x"}, "data": {}})
        core.delete_namespace(name)

        def gone() -> bool:
            try:
                core.read_namespace(name)
                return False
            except client.ApiException as exc:
                return exc.status == 404

        kube.wait_for(gone, timeout=90, what=f"namespace {name} to be deleted")


def test_argo_crds_from_module_cache_install(kube, argo_crds_dir) -> None:
    client = _k8s()
    files = sorted(argo_crds_dir.glob("argoproj.io_*.yaml"))
    assert files, f"no CRDs in {argo_crds_dir}"
    with kube.api_client() as api:
        ext = client.ApiextensionsV1Api(api)
        for path in files:
            crd = yaml.safe_load(path.read_text())
            try:
                ext.create_custom_resource_definition(crd)
            except client.ApiException as exc:
                if exc.status != 409:
                    raise
        _wait_established(kube, "workflows.argoproj.io")


# --------------------------------------------------------------------------- S3


def test_s3_put_get_list_delete(s3) -> None:
    from botocore.exceptions import ClientError

    s3c = s3.client()
    key = "datasets/raw/part-0001.jsonl"
    payload = b'{"text": "hello"}\n' * 1000
    s3c.put_object(Bucket=s3.bucket, Key=key, Body=payload, ContentType="application/jsonl")
    head = s3c.head_object(Bucket=s3.bucket, Key=key)
    assert head["ContentLength"] == len(payload)
    assert s3c.get_object(Bucket=s3.bucket, Key=key)["Body"].read() == payload
    listed = s3c.list_objects_v2(Bucket=s3.bucket, Prefix="datasets/")
    assert [o["Key"] for o in listed.get("Contents", [])] == [key]
    s3c.delete_object(Bucket=s3.bucket, Key=key)
    assert s3c.list_objects_v2(Bucket=s3.bucket, Prefix="datasets/").get("KeyCount", 0) == 0
    with pytest.raises(ClientError) as missing:
        s3c.get_object(Bucket=s3.bucket, Key=key)
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"


def test_s3_rejects_bad_signature(s3) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    bad = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key="wrong-secret",
        region_name=s3.region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as denied:
        bad.list_objects_v2(Bucket=s3.bucket)
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


# --------------------------------------------------------------------------- Prometheus


def test_promtool_checks_config(promtool, tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text(yaml.safe_dump(scrape_config(["127.0.0.1:9999"])))
    ok = promtool("check", "config", good)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("global:\n  scrape_interval: banana\n")
    failed = promtool("check", "config", bad)
    assert failed.returncode != 0
    assert "banana" in failed.stdout + failed.stderr


def test_prometheus_scrapes_a_real_exporter(prometheus) -> None:
    from prometheus_client import CollectorRegistry, Counter, start_http_server

    registry = CollectorRegistry()
    counter = Counter("pixelgate_smoke_events", "Events seen by the smoke test.", ["kind"], registry=registry)
    counter.labels(kind="ping").inc(3)
    port = tools.free_port()
    httpd, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        server = prometheus([f"127.0.0.1:{port}"], job="smoke")
        series = server.wait_for_series('pixelgate_smoke_events_total{job="smoke",kind="ping"}', timeout=30)
        assert float(series[0]["value"][1]) == 3.0
        assert series[0]["metric"]["instance"] == f"127.0.0.1:{port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------- argo / helm

GOOD_WORKFLOW = textwrap.dedent(
    """\
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata:
      generateName: smoke-
    spec:
      entrypoint: main
      templates:
        - name: main
          steps:
            - - name: say
                template: echo
        - name: echo
          container:
            image: busybox:1.36
            command: [echo, hello]
    """
)


def test_argo_lint_offline(argo_bin: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD_WORKFLOW)
    ok = tools.run_tool([argo_bin, "lint", "--offline", good], cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    broken = tmp_path / "broken.yaml"
    broken.write_text(GOOD_WORKFLOW.replace("template: echo", "template: does-not-exist"))
    failed = tools.run_tool([argo_bin, "lint", "--offline", broken], cwd=tmp_path)
    assert failed.returncode != 0
    assert "does-not-exist" in failed.stdout + failed.stderr


def _helm_env(tmp_path: Path) -> dict:
    import os

    env = dict(os.environ)
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[var] = str(tmp_path / "helm-home" / var.lower())
    return env


def test_helm_lint_scratch_chart(helm_bin: Path, tmp_path: Path) -> None:
    env = _helm_env(tmp_path)
    created = tools.run_tool([helm_bin, "create", tmp_path / "smoke"], env=env)
    assert created.returncode == 0, created.stderr
    ok = tools.run_tool([helm_bin, "lint", "--strict", tmp_path / "smoke"], env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    (tmp_path / "smoke" / "templates" / "broken.yaml").write_text(
        "kind: ConfigMap\nmetadata:\n  name: {{ .Values.name \n"
    )
    failed = tools.run_tool([helm_bin, "lint", tmp_path / "smoke"], env=env)
    assert failed.returncode != 0
    assert "broken.yaml" in failed.stdout + failed.stderr


def test_cli_versions_are_the_pinned_ones(helm_bin: Path, argo_bin: Path, etcd_bin: Path) -> None:
    v = tools.versions()
    assert v["HELM_VERSION"] in subprocess.run([helm_bin, "version", "--short"], capture_output=True, text=True).stdout
    assert v["ARGO_VERSION"] in subprocess.run([argo_bin, "version", "--short"], capture_output=True, text=True).stdout
    assert (
        v["ETCD_VERSION"].lstrip("v") in subprocess.run([etcd_bin, "--version"], capture_output=True, text=True).stdout
    )
