"""pixelgate on a real cluster, end to end: kubelet + containerd run the pods, Argo's
workflow-controller runs the Workflows, the operator runs in a pod installed by the Helm chart.

The environment (module fixture ``e2e``), all on loopback, nothing from a registry:

* etcd, kube-apiserver, kube-controller-manager (with the node controllers), kube-scheduler and a
  kubelet over Debian's containerd (:mod:`tests.cluster.node`);
* the images: pause, Argo's argoexec, and pixelgate's operator and steps images built from
  ``images/*/Dockerfile`` by ``tools/testcluster/images.sh``, imported into the node;
* Argo v3.6.18's CRDs and workflow-controller (:mod:`tests.cluster.argo`);
* versitygw as the S3 store, holding the quickstart's source files;
* ``helm install`` of ``helm/pixelgate`` (its CRDs, RBAC, the workflow ServiceAccount) with the
  operator pod under the chart's ServiceAccount. One stand-in patch: the Deployment gets
  ``hostNetwork: true``, because this node has no pod network (docs/testing.md).

Then the user's path: ``kubectl apply`` the quickstart, and every figure, condition, printer
column and stored byte is checked against what a ``pixelgate run`` of the same manifests writes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from kubernetes import client

from pixelgate.workflows.api import KINDS
from pixelgate.workflows.layout import LOCAL_RUNNER_PREFIXES
from tests.argo_ui_support import check_ui
from tests.cluster import tools
from tests.cluster.argo import ArgoController
from tests.cluster.kube import KCM_CONTROLLERS, NODE_CONTROLLERS, KubeCluster
from tests.cluster.node import Image, Node, build_images, node_prerequisites
from tests.cluster.s3 import S3Server
from tests.fake_argo import task_templates
from tests.operator_support import KUBECTL, Cluster, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "helm" / "pixelgate"
QUICKSTART = REPO / "examples" / "quickstart"
NAMESPACE = "pixelgate"
RELEASE = "pixelgate"
STORE_SECRET = "pixelgate-store"
NODE_TOOLS = ("kubelet", "kube-scheduler", "workflow-controller", "argoexec", "helm", "argo", "versitygw")
IMAGES = ("pause", "argoexec", "operator", "steps")
ALERTS = CHART / "files" / "alerts.yaml"
METRICS_JOB = "pixelgate-operator"  # the chart's ServiceMonitor job, which the alert rules select
PIXELGATE = (sys.executable, "-P", "-m", "pixelgate.workflows.cli")  # the CLI of the code under test
TIMING_FILES = {"timing.json"}  # wall-clock figures: the one thing two runs cannot share


@dataclass
class E2E:
    work: Path
    kube: KubeCluster
    node: Node
    s3: S3Server
    bucket: str
    cluster: Cluster
    manifests: Path  # the quickstart with its sources in S3
    images: dict[str, Image]  # what the node runs; the steps image is the chart's default reference
    metrics_port: int  # the operator pod's /metrics, on the host's network

    def kubectl(self, *args: str) -> subprocess.CompletedProcess:
        out = tools.run_tool([KUBECTL, "--kubeconfig", self.kube.kubeconfig, "-n", NAMESPACE, *args], timeout=120)
        assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"
        return out

    def argo_cli(self, *args: str) -> str:
        out = tools.run_tool(
            [tools.tool_path("argo"), "--kubeconfig", self.kube.kubeconfig, "-n", NAMESPACE, *args], timeout=120
        )
        assert out.returncode == 0, f"argo {' '.join(args)}: {out.stderr}"
        return out.stdout

    def store_objects(self, prefix: str) -> dict[str, bytes]:
        """Every object under ``prefix`` in the bucket: key relative to the prefix -> bytes."""
        s3 = self.s3.client()
        out = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                out[obj["Key"][len(prefix) :]] = s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
        return out

    def operator_pod(self) -> dict[str, Any]:
        pods = json.loads(
            self.kubectl("get", "pods", "-l", "app.kubernetes.io/component=operator", "-o", "json").stdout
        )
        running = [p for p in pods["items"] if p["status"].get("phase") == "Running"]
        return running[0] if running else {}


def _quickstart_in_s3(work: Path, s3: S3Server, bucket: str) -> Path:
    """The quickstart manifests with each family's source uploaded to ``s3://bucket/data/``."""
    data = work / "data"
    subprocess.run(
        [*PIXELGATE, "demo-data", "--size", "40", "-o", str(data)],
        check=True,
        capture_output=True,
    )
    s3c = s3.client()
    for path in sorted(data.iterdir()):
        s3c.upload_file(str(path), bucket, f"data/{path.name}")
    out = work / "quickstart"
    out.mkdir()
    for path in sorted(QUICKSTART.glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        for doc in docs:
            source = (doc.get("spec") or {}).get("source") or {}
            if source.get("uri") and "://" not in source["uri"]:
                source["uri"] = f"s3://{bucket}/data/{Path(source['uri']).name}"
        (out / path.name).write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return out


def _install_chart(kube: KubeCluster, s3: S3Server, bucket: str, work: Path) -> int:
    """``helm install`` with the store in S3; returns the operator's metrics port (on the host)."""
    host, port = kube.server.removeprefix("https://").split(":")
    metrics_port = tools.free_port()
    values = {
        "operator": {
            "probePort": tools.free_port(),
            "metricsPort": metrics_port,
            # The node has 2 CPUs and each step asks for 1: with the operator's 0.1 on top, steps
            # would run one at a time instead of the compile's two workers.
            "resources": {"requests": {"cpu": "0", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
            # hostNetwork pods cannot use the `kubernetes` Service (its endpoint cannot be loopback).
            "extraEnv": [
                {"name": "KUBERNETES_SERVICE_HOST", "value": host},
                {"name": "KUBERNETES_SERVICE_PORT", "value": port},
            ],
        },
        "store": {
            "uri": f"s3://{bucket}/store",
            "endpoint": s3.endpoint_url,
            "region": s3.region,
            "credentials": {"existingSecret": STORE_SECRET},
        },
    }
    values_file = work / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    helm = [str(tools.tool_path("helm")), "--kubeconfig", str(kube.kubeconfig), "-n", NAMESPACE]
    done = tools.run_tool([*helm, "install", RELEASE, CHART, "-f", values_file], timeout=180)
    assert done.returncode == 0, done.stderr
    # The one stand-in patch: this node has no pod network, so the operator shares the host's.
    with kube.api_client() as api:
        apps = client.AppsV1Api(api)
        (deployment,) = apps.list_namespaced_deployment(NAMESPACE).items
        apps.patch_namespaced_deployment(
            deployment.metadata.name, NAMESPACE, {"spec": {"template": {"spec": {"hostNetwork": True}}}}
        )
    return metrics_port


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    problems = node_prerequisites()
    if problems:
        tools.skip_or_fail("; ".join(problems))
    for name in NODE_TOOLS:
        tools.need(lambda name=name: tools.tool_path(name))
    work = tmp_path_factory.mktemp("e2e")
    images = tools.need(lambda: build_images(IMAGES, work / "images.log"))
    with contextlib.ExitStack() as stack:
        kube = KubeCluster(work / "kube", controllers=KCM_CONTROLLERS + NODE_CONTROLLERS).start()
        stack.callback(kube.stop)
        node = Node(kube, work / "node", images["pause"].ref)
        stack.callback(node.stop)
        node.start()
        for image in images.values():
            node.import_image(image)
        s3 = S3Server(work / "s3").start()
        stack.callback(s3.stop)
        bucket = s3.new_bucket("pixelgate-e2e")
        argo = ArgoController(kube, work / "argo", images["argoexec"].ref).start()
        stack.callback(argo.stop)
        api = stack.enter_context(kube.api_client())
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
        core.create_namespaced_secret(
            NAMESPACE,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name=STORE_SECRET),
                string_data={"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key},
            ),
        )
        metrics_port = _install_chart(kube, s3, bucket, work)
        env = E2E(
            work,
            kube,
            node,
            s3,
            bucket,
            Cluster(api, NAMESPACE, kube.kubeconfig),
            _quickstart_in_s3(work, s3, bucket),
            images,
            metrics_port,
        )
        wait_until(lambda: _ready(env.operator_pod()), timeout=180, interval=2, what="the operator pod Ready")
        yield env


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (pod.get("status") or {}).get("conditions", []))


def _phase(env: E2E, kind: str, name: str) -> str:
    return (env.cluster.status(kind, name) or {}).get("phase", "")


def _wait_phase(env: E2E, kind: str, names: list[str], want: str, timeout: float) -> None:
    def done() -> bool:
        phases = {n: _phase(env, kind, n) for n in names}
        failed = {n: p for n, p in phases.items() if p == "Failed"}
        assert not failed, f"{kind} failed: {failed}; {[env.cluster.status(kind, n) for n in failed]}"
        return all(p == want for p in phases.values())

    wait_until(done, timeout=timeout, interval=3, what=f"{kind} {names} {want}")


def _names(manifest: Path) -> list[str]:
    return [d["metadata"]["name"] for d in yaml.safe_load_all(manifest.read_text()) if d]


@pytest.fixture(scope="module")
def quickstart(e2e: E2E) -> list[str]:
    """The user's first step: ``kubectl apply`` the quickstart's families and compile, and wait.
    Returns the family names."""
    families = _names(e2e.manifests / "families.yaml")
    e2e.kubectl("apply", "-f", str(e2e.manifests / "families.yaml"))
    e2e.kubectl("apply", "-f", str(e2e.manifests / "compile.yaml"))
    started = time.monotonic()
    _wait_phase(e2e, "DatasetFamily", families, "Ready", timeout=600)
    families_s = time.monotonic() - started
    _wait_phase(e2e, "CompileRun", ["quickstart"], "Succeeded", timeout=900)
    compile_s = time.monotonic() - started - families_s
    print(f"\nfamilies Ready in {families_s:.0f}s, compile Succeeded {compile_s:.0f}s later")
    e2e.kubectl("apply", "-f", str(e2e.manifests / "review.yaml"))
    _wait_phase(e2e, "GateReview", _names(e2e.manifests / "review.yaml"), "Passed", timeout=120)
    return families


def test_quickstart_runs_on_a_real_node(e2e: E2E, quickstart: list[str], tmp_path: Path, prometheus) -> None:
    families = quickstart

    # Figures and conditions the operator read off the real Argo nodes.
    for name in families:
        status = e2e.cluster.status("DatasetFamily", name)
        assert status.get("recordsOut", 0) > 0, (name, status)
        assert e2e.cluster.condition("DatasetFamily", name, "Ready")["status"] == "True"
    compile_status = e2e.cluster.status("CompileRun", "quickstart")
    verified = e2e.cluster.condition("CompileRun", "quickstart", "Verified")
    assert verified.get("status") == "True", compile_status
    assert compile_status.get("records", 0) > 0, compile_status

    for review in _names(e2e.manifests / "review.yaml"):
        assert e2e.cluster.status("GateReview", review)["decision"] == "Pass"
        assert e2e.cluster.condition("GateReview", review, "Decided")["status"] == "True"

    # What `kubectl get` and `argo list/get` show a user.
    families_table = e2e.kubectl("get", "datasetfamilies").stdout
    for name in families:
        assert name in families_table
    assert "Ready" in families_table
    compile_table = e2e.kubectl("get", "compileruns").stdout.splitlines()
    assert "VERIFIED" in compile_table[0] and "True" in compile_table[1], compile_table
    argo_list = e2e.argo_cli("list")
    workflow = e2e.cluster.workflow_of("CompileRun", "quickstart")
    assert workflow is not None and workflow["metadata"]["name"] in argo_list
    argo_get = e2e.argo_cli("get", workflow["metadata"]["name"])
    for task in ("plan", "finalize"):
        assert task in argo_get, argo_get

    # The operator pod's metrics, scraped by a real Prometheus as the chart's ServiceMonitor has it
    # (job pixelgate-operator, /metrics), with the chart's alert rules loaded.
    server = prometheus([f"127.0.0.1:{e2e.metrics_port}"], job=METRICS_JOB, rule_files=[ALERTS])
    for name in families:
        expr = f'pixelgate_family_records{{namespace="{NAMESPACE}",family="{name}"}}'
        (sample,) = server.wait_for_series(expr)
        assert float(sample["value"][1]) == e2e.cluster.status("DatasetFamily", name)["recordsOut"]
    (sample,) = server.wait_for_series(f'pixelgate_compile_records{{namespace="{NAMESPACE}",compile="quickstart"}}')
    assert float(sample["value"][1]) == compile_status["records"]

    # The stored bytes: a `pixelgate run` of the same manifests on this machine, reading the same
    # source objects (so their URIs and LastModified times, which records carry, are the same),
    # into another prefix of the same bucket. Outputs name no store URI, so they can be compared.
    cluster_prefix, local_prefix = f"store/namespaces/{NAMESPACE}/", "local-run/"
    ran = subprocess.run(
        [
            *PIXELGATE,
            "run",
            "-f",
            str(e2e.manifests / "families.yaml"),
            "-f",
            str(e2e.manifests / "compile.yaml"),
            "--store",
            f"s3://{e2e.bucket}/{local_prefix.rstrip('/')}",
            "--image",
            e2e.images["steps"].ref,
        ],
        env={**os.environ, **e2e.s3.env()},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    in_cluster = _without_timing(e2e.store_objects(cluster_prefix))
    on_one_machine = _without_timing(e2e.store_objects(local_prefix))
    # The local runner also keeps what a cluster holds in the resources' status and Argo's Workflows.
    runner_only = {k for k in on_one_machine if k.startswith(LOCAL_RUNNER_PREFIXES)}
    assert runner_only, "the local run wrote no status or run records"
    assert sorted(in_cluster) == sorted(set(on_one_machine) - runner_only)
    differ = sorted(k for k in in_cluster if in_cluster[k] != on_one_machine[k])
    assert not differ, f"{len(differ)} of {len(in_cluster)} objects differ, e.g. {differ[:5]}"


def _without_timing(objects: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in objects.items() if Path(k).name not in TIMING_FILES}


def test_the_argo_ui_shows_the_real_workflows(
    e2e: E2E, quickstart: list[str], argo_ui_bin: Path, chromium_bin: Path, tmp_path: Path
) -> None:
    """Argo's web UI, served on loopback against this cluster, lists the workflows the real
    controller ran, with pixelgate's labels, and draws each one's steps (screenshots in tmp_path)."""
    check_ui(argo_ui_bin, e2e.kube, NAMESPACE, e2e.cluster.workflows(), tmp_path, exact=False)


def _workflows_of(env: E2E, kind: str, name: str) -> list[dict[str, Any]]:
    return [
        w
        for w in env.cluster.workflows()
        if w["metadata"]["labels"].get("pixelgate.dev/kind") == kind
        and w["metadata"]["labels"].get("pixelgate.dev/name") == name
    ]


def _running_pods(env: E2E, workflow: str) -> list[str]:
    pods = json.loads(
        env.kubectl("get", "pods", "-l", f"workflows.argoproj.io/workflow={workflow}", "-o", "json").stdout
    )
    return [p["metadata"]["name"] for p in pods["items"] if p["status"].get("phase") == "Running"]


def _kill_operator(env: E2E) -> None:
    """kill -9 of the operator's pod (no grace), then wait for the Deployment's next one to be Ready."""
    old = env.operator_pod()["metadata"]["name"]
    env.kubectl("delete", "pod", old, "--grace-period=0", "--force")
    wait_until(
        lambda: (pod := env.operator_pod()) and pod["metadata"]["name"] != old and _ready(pod),
        timeout=180,
        interval=2,
        what="a new operator pod Ready",
    )


def _compile_renamed(env: E2E, name: str) -> Path:
    """The quickstart compile's spec under another name (its own outputs, the same bytes expected)."""
    doc = yaml.safe_load((env.manifests / "compile.yaml").read_text())
    doc["metadata"]["name"] = name
    path = env.work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_operator_and_step_pods_killed_mid_compile(e2e: E2E, quickstart: list[str]) -> None:
    """kill -9 of the operator mid-compile and deletion of a running step pod: Argo retries the
    step, the new operator adopts the running workflow, and the compile ends Verified with one
    workflow and the same dataset a clean compile of the same spec wrote."""
    e2e.kubectl("apply", "-f", str(_compile_renamed(e2e, "killed")))
    workflow = wait_until(
        lambda: (
            (w := _workflows_of(e2e, "CompileRun", "killed")) and _running_pods(e2e, w[0]["metadata"]["name"]) and w[0]
        ),
        timeout=300,
        interval=1,
        what="a running step pod of the compile",
    )
    name = workflow["metadata"]["name"]
    victim = _running_pods(e2e, name)[0]
    e2e.kubectl("delete", "pod", victim, "--grace-period=0", "--force")
    _kill_operator(e2e)
    _wait_phase(e2e, "CompileRun", ["killed"], "Succeeded", timeout=900)
    assert [w["metadata"]["name"] for w in _workflows_of(e2e, "CompileRun", "killed")] == [name]
    assert e2e.cluster.condition("CompileRun", "killed", "Verified")["status"] == "True"
    # Argo ran the deleted pod's step again: v3.6 re-creates a pod deleted before it reported, for
    # the same node (so the pod's name has events of two pod objects); one deleted later fails its
    # node, and the retryStrategy adds another attempt.
    events = e2e.cluster.core.list_namespaced_event(NAMESPACE, field_selector=f"involvedObject.name={victim}").items
    nodes = e2e.cluster.custom.get_namespaced_custom_object("argoproj.io", "v1alpha1", NAMESPACE, "workflows", name)[
        "status"
    ]["nodes"]
    failed = [n for n in nodes.values() if n.get("type") == "Pod" and n.get("phase") in ("Error", "Failed")]
    assert len({e.involved_object.uid for e in events}) >= 2 or failed, f"{victim} was not run again"
    status, clean = e2e.cluster.status("CompileRun", "killed"), e2e.cluster.status("CompileRun", "quickstart")
    for figure in ("records", "duplicateRate", "gatesPassed"):
        assert status.get(figure) == clean.get(figure), (figure, status.get(figure), clean.get(figure))

    def dataset(compile_name: str) -> dict[str, bytes]:  # the final dataset and the split shards
        objects = e2e.store_objects(f"store/namespaces/{NAMESPACE}/compiles/{compile_name}/")
        return {k: v for k, v in objects.items() if "/compiled/" in k or "/shards/" in k}

    assert dataset("killed") and dataset("killed") == dataset("quickstart")


def test_workflow_deleted_by_hand_fails_the_family_and_is_not_rerun(e2e: E2E) -> None:
    family = next(d for d in yaml.safe_load_all((e2e.manifests / "families.yaml").read_text()) if d)
    family["metadata"]["name"] = "deleted-by-hand"
    path = e2e.work / "deleted-by-hand.yaml"
    path.write_text(yaml.safe_dump(family))
    e2e.kubectl("apply", "-f", str(path))
    workflow = wait_until(
        lambda: _workflows_of(e2e, "DatasetFamily", "deleted-by-hand"), timeout=120, interval=1, what="its workflow"
    )[0]
    e2e.argo_cli("delete", workflow["metadata"]["name"])
    wait_until(
        lambda: e2e.cluster.condition("DatasetFamily", "deleted-by-hand", "Ready").get("reason") == "WorkflowDeleted",
        timeout=120,
        interval=1,
        what="Ready=False, WorkflowDeleted",
    )
    assert _phase(e2e, "DatasetFamily", "deleted-by-hand") == "Failed"
    _kill_operator(e2e)  # a restart must not re-create it either
    time.sleep(15)
    assert _workflows_of(e2e, "DatasetFamily", "deleted-by-hand") == []
    assert _phase(e2e, "DatasetFamily", "deleted-by-hand") == "Failed"


def test_ttl_removes_finished_workflows_and_a_restart_reruns_nothing(e2e: E2E, quickstart: list[str]) -> None:
    """Argo's TTL controller deletes finished Workflows (here after 1 s instead of the rendered day);
    an operator restart afterwards keeps every status and creates no workflow."""
    finished = [w for w in e2e.cluster.workflows() if w.get("status", {}).get("phase") == "Succeeded"]
    before = {
        (kind, name): e2e.cluster.status(kind, name)
        for kind, name in {
            (w["metadata"]["labels"]["pixelgate.dev/kind"], w["metadata"]["labels"]["pixelgate.dev/name"])
            for w in finished
        }
    }
    for w in finished:
        e2e.cluster.custom.patch_namespaced_custom_object(
            "argoproj.io",
            "v1alpha1",
            NAMESPACE,
            "workflows",
            w["metadata"]["name"],
            {"spec": {"ttlStrategy": {"secondsAfterSuccess": 1}}},
        )
    gone = {w["metadata"]["name"] for w in finished}
    wait_until(
        lambda: not gone & {w["metadata"]["name"] for w in e2e.cluster.workflows()},
        timeout=180,
        interval=2,
        what="Argo's TTL deleting the finished workflows",
    )
    _kill_operator(e2e)
    time.sleep(20)
    assert not gone & {w["metadata"]["name"] for w in e2e.cluster.workflows()}
    for (kind, name), status in before.items():
        assert _workflows_of(e2e, kind, name) == [], f"{kind}/{name} got a new workflow after the restart"
        after = e2e.cluster.status(kind, name)
        assert after.get("phase") == status.get("phase") and after.get("workflow") == status.get("workflow")


def test_training_runs_in_the_train_image(e2e: E2E, quickstart: list[str]) -> None:
    """The quickstart TrainingRun (a tiny model, CPU) in the pixelgate-train image, as the chart
    renders it, and a GateReview of that run."""
    train = tools.need(lambda: build_images(("train",), e2e.work / "images.log"))["train"]
    e2e.node.import_image(train)
    e2e.kubectl("apply", "-f", str(e2e.manifests / "training.yaml"))
    runs = _names(e2e.manifests / "training.yaml")
    _wait_phase(e2e, "TrainingRun", runs, "Succeeded", timeout=1200)
    for run in runs:
        status = e2e.cluster.status("TrainingRun", run)
        assert status.get("bestMetric") is not None and status.get("scores"), status
        workflow = e2e.cluster.workflow_of("TrainingRun", run)
        assert workflow is not None
        containers = {t["name"]: t["container"]["image"] for t in workflow["spec"]["templates"] if "container" in t}
        templates = task_templates(workflow)
        refs = {"steps": e2e.images["steps"].ref, "train": train.ref}
        for task in KINDS["TrainingRun"].tasks:
            assert containers[templates[task.name]] == refs[task.image], (task.name, containers)
    # A gate over the trained model: decided either way (a 10-step model may well miss baseline metrics).
    review = {
        "apiVersion": "pixelgate.dev/v1alpha1",
        "kind": "GateReview",
        "metadata": {"name": "quickstart-baseline"},
        "spec": {"gate": "baseline-metrics", "trainingRun": runs[0]},
    }
    path = e2e.work / "baseline-review.yaml"
    path.write_text(yaml.safe_dump(review))
    e2e.kubectl("apply", "-f", str(path))
    wait_until(
        lambda: e2e.cluster.condition("GateReview", "quickstart-baseline", "Decided").get("status") == "True",
        timeout=120,
        interval=2,
        what="the baseline-metrics review Decided",
    )
    status = e2e.cluster.status("GateReview", "quickstart-baseline")
    assert status["decision"] in ("Pass", "Fail") and status["checks"], status


def test_spec_text_never_reaches_argos_template_engine(e2e: E2E) -> None:
    """Argo substitutes ``{{…}}`` and evaluates ``{{=…}}`` in workflow parameters. A spec string
    holding both reaches the step, and the records, verbatim: the real controller evaluated nothing
    (it would have put the workflow's ServiceAccount and the step's S3 secret there)."""
    hostile = "https://example.org/{{workflow.serviceAccountName}}/{{=sprig.env('AWS_SECRET_ACCESS_KEY')}}"
    family = next(d for d in yaml.safe_load_all((e2e.manifests / "families.yaml").read_text()) if d)
    family["metadata"]["name"] = "template-text"
    family["spec"]["license"]["url"] = hostile
    path = e2e.work / "template-text.yaml"
    path.write_text(yaml.safe_dump(family))
    e2e.kubectl("apply", "-f", str(path))
    _wait_phase(e2e, "DatasetFamily", ["template-text"], "Ready", timeout=300)
    (workflow,) = _workflows_of(e2e, "DatasetFamily", "template-text")
    spec_param = next(p["value"] for p in workflow["spec"]["arguments"]["parameters"] if p["name"] == "spec")
    assert "{{" not in spec_param
    parts = [
        body
        for key, body in e2e.store_objects(f"store/namespaces/{NAMESPACE}/families/template-text/").items()
        if "/records/" in key
    ]
    assert parts
    urls = {
        row["license_url"]
        for body in parts
        for row in pq.read_table(io.BytesIO(body)).column("provenance").to_pylist()
    }
    assert urls == {hostile}
