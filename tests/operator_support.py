"""Helpers for the operator and CRD tests against the real kube-apiserver (tests/cluster).

* :func:`install_crds` applies our CRDs (``crds/``) and Argo's, and waits until they are Established;
* :class:`RunningOperator` runs ``pixelgate.operator.main.operator_task`` in a thread (its own event
  loop), stopped through kopf's ``stop_flag``;
* :class:`Argo` plays the Argo controller: it moves a Workflow through phases with outputs;
* small builders for quickstart-like resources.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from pixelgate.operator.config import OperatorConfig
from pixelgate.operator.main import operator_task
from pixelgate.operator.metrics import Metrics
from pixelgate.workflows.api import KINDS
from pixelgate.workflows.api.meta import GROUP, VERSION

from .fake_argo import workflow_status

REPO = Path(__file__).resolve().parent.parent
KUBECTL = "/usr/bin/kubectl"


def wait_until(
    predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def install_crds(api: client.ApiClient, argo_crds_dir: Path) -> None:
    ext = client.ApiextensionsV1Api(api)
    docs = [yaml.safe_load(p.read_text()) for p in sorted((REPO / "crds").glob("*.yaml"))]
    docs += [yaml.safe_load((argo_crds_dir / "argoproj.io_workflows.yaml").read_text())]
    for doc in docs:
        try:
            ext.create_custom_resource_definition(doc)
        except client.ApiException as err:
            if err.status != 409:
                raise
            current = ext.read_custom_resource_definition(doc["metadata"]["name"])
            doc["metadata"]["resourceVersion"] = current.metadata.resource_version
            ext.replace_custom_resource_definition(doc["metadata"]["name"], doc)

    def established() -> bool:
        for doc in docs:
            crd = ext.read_custom_resource_definition(doc["metadata"]["name"])
            if not any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or [])):
                return False
        return True

    wait_until(established, 60, what="CRDs Established")


def write_kubeconfig(api: client.ApiClient, path: Path) -> Path:
    """A kubeconfig holding ``api``'s credentials (client certificate or bearer token)."""
    cfg = api.configuration
    user: dict[str, Any] = {}
    if cfg.cert_file:
        user = {"client-certificate": cfg.cert_file, "client-key": cfg.key_file}
    token = cfg.get_api_key_with_prefix("BearerToken") or cfg.get_api_key_with_prefix("authorization")
    if token:
        user["token"] = token.split(" ", 1)[-1]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {"server": cfg.host, "certificate-authority": cfg.ssl_ca_cert}}],
        "users": [{"name": "test", "user": user}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
        "current-context": "test",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


class RunningOperator:
    """The real operator, in-process, in a thread with its own event loop."""

    def __init__(self, cfg: OperatorConfig):
        self.cfg = cfg
        self.metrics = Metrics()
        self.stop_flag = threading.Event()
        self.ready_flag = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="operator", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(
                operator_task(self.cfg, stop_flag=self.stop_flag, ready_flag=self.ready_flag, metrics=self.metrics)
            )
        except BaseException as err:  # surfaced by start()/stop()
            self.error = err

    def start(self, timeout: float = 60.0) -> "RunningOperator":
        self.thread.start()
        wait_until(lambda: self.ready_flag.is_set() or self.error is not None, timeout, what="operator ready")
        if self.error is not None:
            raise self.error
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.stop_flag.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "operator did not stop"

    def __enter__(self) -> "RunningOperator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Cluster:
    """Admin-side helpers over one namespace."""

    def __init__(self, api: client.ApiClient, namespace: str, kubeconfig: Path):
        self.api = api
        self.ns = namespace
        self.kubeconfig = kubeconfig
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        kind = KINDS[obj["kind"]]
        return self.custom.create_namespaced_custom_object(GROUP, VERSION, self.ns, kind.plural, obj)

    def get(self, kind: str, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, KINDS[kind].plural, name)

    def patch(self, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.ns, KINDS[kind].plural, name, patch)

    def status(self, kind: str, name: str) -> dict[str, Any]:
        return self.get(kind, name).get("status") or {}

    def condition(self, kind: str, name: str, type_: str) -> dict[str, Any]:
        return next((c for c in self.status(kind, name).get("conditions", []) if c["type"] == type_), {})

    def workflows(self) -> list[dict[str, Any]]:
        return self.custom.list_namespaced_custom_object("argoproj.io", "v1alpha1", self.ns, "workflows")["items"]

    def workflow_of(self, kind: str, name: str) -> dict[str, Any] | None:
        found = [
            w
            for w in self.workflows()
            if w["metadata"]["labels"].get("pixelgate.dev/kind") == kind
            and w["metadata"]["labels"].get("pixelgate.dev/name") == name
        ]
        assert len(found) <= 1, f"{len(found)} workflows for {kind}/{name}"
        return found[0] if found else None

    def events(self, name: str) -> list[tuple[str, str]]:
        items = self.core.list_namespaced_event(self.ns, field_selector=f"involvedObject.name={name}").items
        return [(e.type, e.reason) for e in items]

    def kubectl(self, *args: str) -> str:
        out = subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.kubeconfig), "-n", self.ns, *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout


class Argo:
    """Plays the Argo controller: writes a Workflow's status the way Argo would, with nodes built
    from the Workflow the operator created (:mod:`tests.fake_argo`), never invented ones."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster

    def set(
        self,
        workflow: str,
        phase: str,
        tasks: dict[str, str] | None = None,
        *,
        message: str | None = None,
        **status_args: Any,
    ) -> None:
        """``tasks``: task -> node phase; ``status_args``: see :func:`tests.fake_argo.workflow_status`."""
        manifest = self.cluster.custom.get_namespaced_custom_object(
            "argoproj.io", "v1alpha1", self.cluster.ns, "workflows", workflow
        )
        status = workflow_status(manifest, phase, tasks or {}, **status_args)
        if message:
            status["message"] = message
        self.cluster.custom.patch_namespaced_custom_object(
            "argoproj.io", "v1alpha1", self.cluster.ns, "workflows", workflow, {"status": status}
        )


# ----------------------------------------------------------------------------- quickstart-like resources


def family(name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "DatasetFamily",
        "metadata": {"name": name, "labels": labels or {"pixelgate.dev/example": "quickstart"}},
        "spec": {
            "source": {"uri": f"s3://quickstart/{name}.jsonl", "format": "jsonl"},
            "mapping": {"turns": {"path": "messages"}},
            "license": {"spdx": "CC-BY-4.0", "allowTraining": True},
            **spec,
        },
    }


def compile_run(
    name: str, families: list[str] | None = None, selector: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    selection: dict[str, Any] = {}
    if families:
        selection["names"] = families
    if selector:
        selection["selector"] = {"matchLabels": selector}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CompileRun",
        "metadata": {"name": name},
        "spec": {"families": selection, **spec},
    }


def training_run(name: str, compile_name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TrainingRun",
        "metadata": {"name": name},
        "spec": {
            "compileRun": compile_name,
            "model": {"base": 'config:{"model_type":"gpt2","n_layer":1}'},
            "resources": {"gpusPerNode": 0},
            **spec,
        },
    }


def gate_review(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "GateReview", "metadata": {"name": name}, "spec": spec}


EIGHT_GATES = [
    {"name": g, "passed": True, "observed": "ok", "threshold": "ok"}
    for g in ("schema", "provenance", "pii", "duplicates", "leakage", "split-distribution", "holdout", "counts")
]


# ----------------------------------------------------------------------------- load


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def time_to_workflows(
    cluster: Cluster,
    keys: list[str],
    create: Callable[[str], None],
    workflow_key: Callable[[dict], str | None],
    workers: int = 8,
    timeout: float = 600.0,
) -> tuple[list[float], float, float]:
    """Call ``create(key)`` for every key from a thread pool, and time each key until a Workflow
    whose ``workflow_key`` is that key shows up on a watch.

    Returns the latencies in ``keys`` order, the seconds all creates took, and the seconds until
    every Workflow was seen."""
    from concurrent.futures import ThreadPoolExecutor

    from kubernetes import watch

    applied: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()

    def watch_workflows() -> None:
        w = watch.Watch()
        while not stop.is_set():
            for ev in w.stream(
                cluster.custom.list_namespaced_custom_object,
                "argoproj.io",
                "v1alpha1",
                cluster.ns,
                "workflows",
                timeout_seconds=5,
            ):
                key = workflow_key(ev["object"])
                if key is not None:
                    seen.setdefault(key, time.time())
                if stop.is_set():
                    break

    threading.Thread(target=watch_workflows, daemon=True).start()
    time.sleep(1.0)

    def timed_create(key: str) -> None:
        applied[key] = time.time()
        create(key)

    started = time.time()
    try:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(timed_create, keys))
        apply_s = time.time() - started
        wait_until(
            lambda: len(seen) >= len(keys), timeout, interval=0.5, what=f"{len(keys)} workflows (seen {len(seen)})"
        )
        return [seen[key] - applied[key] for key in keys], apply_s, time.time() - started
    finally:
        stop.set()


def run_load(cluster: Cluster, n: int, workers: int = 8, timeout: float = 600.0) -> dict[str, float]:
    """Apply ``n`` DatasetFamilies at once; measure apply -> workflow-created latency (seen on a watch);
    then play Argo finishing every workflow and check that every family's status got its own figures."""
    from concurrent.futures import ThreadPoolExecutor

    names = [f"load-{i:04d}" for i in range(n)]
    latencies, apply_s, created_s = time_to_workflows(
        cluster,
        names,
        lambda name: cluster.create(family(name, labels={"pixelgate.dev/example": "load"})),
        lambda wf: wf["metadata"].get("labels", {}).get("pixelgate.dev/name"),
        workers,
        timeout,
    )

    def statuses() -> dict[str, dict]:
        items = cluster.custom.list_namespaced_custom_object(GROUP, VERSION, cluster.ns, "datasetfamilies")["items"]
        return {i["metadata"]["name"]: i.get("status") or {} for i in items}

    wait_until(
        lambda: all(s.get("workflow") for s in statuses().values()),
        timeout,
        interval=1.0,
        what="every status names its workflow",
    )
    workflows = {w["metadata"]["labels"]["pixelgate.dev/name"]: w["metadata"]["name"] for w in cluster.workflows()}
    assert len(cluster.workflows()) == n, "a family got more than one workflow"
    argo = Argo(cluster)
    finish_started = time.time()
    with ThreadPoolExecutor(workers) as pool:
        list(
            pool.map(
                lambda i: argo.set(
                    workflows[names[i]], "Succeeded", {"ingest": "Succeeded"}, results={"ingest": {"records_out": i}}
                ),
                range(n),
            )
        )

    def converged() -> bool:
        current = statuses()
        return all(
            current[name].get("phase") == "Ready" and current[name].get("recordsOut") == i
            for i, name in enumerate(names)
        )

    wait_until(converged, timeout, interval=1.0, what="every family Ready with its own recordsOut")
    return {
        "n": n,
        "apply_s": apply_s,
        "all_workflows_s": created_s,
        "p50_s": percentile(latencies, 0.50),
        "p95_s": percentile(latencies, 0.95),
        "max_s": max(latencies),
        "finish_converge_s": time.time() - finish_started,
    }


@pytest.fixture(scope="session")
def crds(kube, argo_crds_dir):
    """Our CRDs and Argo's, installed once into the session's real apiserver."""
    with kube.api_client() as api:
        install_crds(api, argo_crds_dir)


@pytest.fixture
def cluster(kube, kube_namespace, crds):
    with kube.api_client() as api:
        yield Cluster(api, kube_namespace, kube.kubeconfig)
