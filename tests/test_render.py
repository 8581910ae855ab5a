"""The Hera builders: golden manifests, the template contract, names, size, and `argo lint`."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pixelgate.workflows.api import parse_resource
from pixelgate.workflows.api.manifests import load_items
from pixelgate.workflows.cli import main
from pixelgate.workflows.render import RenderError, Runtime, dump_manifest, render_workflow, workflow_name

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "examples" / "quickstart"
GOLDEN = Path(__file__).resolve().parent / "golden" / "render"
STORE = "s3://pixelgate-demo/store"


def _quickstart() -> list:
    return [i.resource for i in load_items([str(QUICKSTART)]) if i.resource.kind != "GateReview"]


def _family(name: str = "fam", **spec) -> object:
    body = {
        "source": {"uri": "data/x.jsonl", "format": "jsonl"},
        "mapping": {"turns": {"path": "messages"}},
        "license": {"spdx": "MIT", "allowTraining": True},
    } | spec
    return parse_resource(
        {"apiVersion": "pixelgate.dev/v1alpha1", "kind": "DatasetFamily", "metadata": {"name": name}, "spec": body}
    )


def _training(**resources) -> object:
    return parse_resource(
        {
            "apiVersion": "pixelgate.dev/v1alpha1",
            "kind": "TrainingRun",
            "metadata": {"name": "big"},
            "spec": {"compileRun": "c", "model": {"base": "gpt2"}, "resources": resources},
        }
    )


@pytest.mark.parametrize("resource", _quickstart(), ids=lambda r: f"{r.kind}-{r.name}")
def test_golden_manifests(resource) -> None:
    """The rendered bytes are pinned; PIXELGATE_UPDATE_GOLDEN=1 rewrites them after a deliberate change."""
    got = dump_manifest(render_workflow(resource, store_uri=STORE))
    path = GOLDEN / f"{resource.kind}-{resource.name}.yaml"
    if os.environ.get("PIXELGATE_UPDATE_GOLDEN"):
        path.write_bytes(got)
    assert path.is_file(), f"no golden file {path}; run with PIXELGATE_UPDATE_GOLDEN=1"
    assert got == path.read_bytes()
    assert got == dump_manifest(render_workflow(resource, store_uri=STORE)), "rendering is not deterministic"


@pytest.mark.parametrize("resource", _quickstart(), ids=lambda r: f"{r.kind}-{r.name}")
def test_every_template_carries_the_contract(resource) -> None:
    manifest = render_workflow(resource, store_uri=STORE)
    digest = resource.spec_hash()
    assert manifest["metadata"]["name"] == f"{resource.name}-{digest}"
    labels = {
        "pixelgate.dev/kind": resource.kind,
        "pixelgate.dev/name": resource.name,
        "pixelgate.dev/spec-hash": digest,
    }
    assert labels.items() <= manifest["metadata"]["labels"].items()
    spec = manifest["spec"]
    assert spec["podGC"]["strategy"] == "OnPodSuccess"
    assert spec["ttlStrategy"]["secondsAfterSuccess"] > 0
    params = {p["name"]: p["value"] for p in spec["arguments"]["parameters"]}
    assert parse_resource(yaml.safe_load(params["spec"])).spec == resource.spec
    assert params["store"] == STORE
    containers = [t for t in spec["templates"] if "container" in t]
    assert containers
    for t in containers:
        assert labels.items() <= t["metadata"]["labels"].items()
        assert t["activeDeadlineSeconds"] > 0
        retry = t["retryStrategy"]
        assert retry["limit"] >= 1 and retry["backoff"]["factor"] == 2
        assert "exitCode" in retry["expression"] and 'lastRetry.status == "Error"' in retry["expression"]
        assert {"cpu", "memory"} <= t["container"]["resources"]["requests"].keys()
        assert t["container"]["command"] == ["pixelgate"]
        args = t["container"]["args"]
        assert args[:2] == ["step", t["name"]] and "{{workflow.parameters.spec}}" in args
        assert {"name": "result", "valueFrom": {"path": "/tmp/result.json"}} in t["outputs"]["parameters"]


def test_compile_fans_out_over_the_plan_outputs() -> None:
    compile_run = next(r for r in _quickstart() if r.kind == "CompileRun")
    manifest = render_workflow(compile_run, store_uri=STORE)
    dag = {t["name"]: t for t in manifest["spec"]["templates"] if "dag" in t}["main"]
    tasks = {t["name"]: t for t in dag["dag"]["tasks"]}
    assert tasks["signatures"]["withParam"] == "{{tasks.plan.outputs.parameters.shards}}"
    assert tasks["buckets"]["withParam"] == "{{tasks.plan.outputs.parameters.bands}}"
    assert tasks["filter"]["withParam"] == "{{tasks.plan.outputs.parameters.shards}}"
    assert tasks["finalize"]["dependencies"] == ["filter"]
    assert dag["parallelism"] == compile_run.spec.workers


def test_training_requests_gpus_tolerations_and_node_selector() -> None:
    manifest = render_workflow(
        _training(gpusPerNode=4, gpuType="NVIDIA-H100-80GB-HBM3", cpu="16", memory="128Gi"), store_uri=STORE
    )
    for t in (t for t in manifest["spec"]["templates"] if "container" in t):
        res = t["container"]["resources"]
        assert res["requests"]["nvidia.com/gpu"] == "4" and res["limits"]["nvidia.com/gpu"] == "4"
        assert res["requests"]["cpu"] == "16" and res["requests"]["memory"] == "128Gi"
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in t["tolerations"]
        assert t["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    cpu_only = render_workflow(_training(gpusPerNode=0), store_uri=STORE)
    for t in (t for t in cpu_only["spec"]["templates"] if "container" in t):
        assert "nvidia.com/gpu" not in t["container"]["resources"]["requests"] and "tolerations" not in t


def test_multi_gpu_training_runs_under_torchrun() -> None:
    def train_template(manifest: dict) -> dict:
        return next(t for t in manifest["spec"]["templates"] if t["name"] == "train")

    assert train_template(render_workflow(_training(gpusPerNode=1), store_uri=STORE))["container"]["command"] == [
        "pixelgate"
    ]
    one_pod = train_template(render_workflow(_training(gpusPerNode=8), store_uri=STORE))["container"]["command"]
    assert one_pod == ["torchrun", "--standalone", "--nproc-per-node=8", "-m", "pixelgate.workflows.cli"]


def test_multi_node_training_is_one_pod_per_node_with_a_rendezvous_service() -> None:
    manifest = render_workflow(_training(nodes=3, gpusPerNode=8), store_uri=STORE)
    templates = {t["name"]: t for t in manifest["spec"]["templates"]}
    tasks = {t["name"]: t for t in templates["main"]["dag"]["tasks"]}
    # A headless Service, owned by the workflow, selecting its rank-0 pod (whose port torchrun's static
    # rendezvous opens).
    service = yaml.safe_load(templates["rendezvous"]["resource"]["manifest"])
    assert (
        templates["rendezvous"]["resource"]["action"] == "create"
        and templates["rendezvous"]["resource"]["setOwnerReference"] is True
    )
    assert (
        service["kind"] == "Service"
        and service["spec"]["clusterIP"] == "None"
        and service["spec"]["publishNotReadyAddresses"] is True
    )
    assert service["spec"]["selector"] == {
        "workflows.argoproj.io/workflow": "{{workflow.name}}",
        "pixelgate.dev/train-rank": "0",
    }
    # One train pod per node rank, after the Service; evaluate once, after all of them.
    assert tasks["train"]["withItems"] == ["0", "1", "2"] and tasks["train"]["dependencies"] == ["rendezvous"]
    assert tasks["evaluate"]["dependencies"] == ["train"] and "withItems" not in tasks["evaluate"]
    train = templates["train"]
    assert train["metadata"]["labels"]["pixelgate.dev/train-rank"] == "{{inputs.parameters.rank}}"
    command = train["container"]["command"]
    assert command[:3] == ["torchrun", "--nnodes=3", "--nproc-per-node=8"] and command[-2:] == [
        "-m",
        "pixelgate.workflows.cli",
    ]
    assert (
        "--node-rank={{inputs.parameters.rank}}" in command
        and f"--master-addr={service['metadata']['name']}" in command
    )
    assert train["container"]["resources"]["requests"]["nvidia.com/gpu"] == "8"


def test_gate_review_has_no_workflow() -> None:
    review = parse_resource(
        {
            "apiVersion": "pixelgate.dev/v1alpha1",
            "kind": "GateReview",
            "metadata": {"name": "g"},
            "spec": {"gate": "data-foundation", "compileRun": "c"},
        }
    )
    with pytest.raises(RenderError, match="no workflow"):
        render_workflow(review, store_uri=STORE)


def test_names_stay_dns_labels() -> None:
    long = "a" * 50 + "-" + "b" * 12
    assert len(long) == 63
    name = render_workflow(_family(long), store_uri=STORE)["metadata"]["name"]
    assert len(name) <= 63 and name.endswith(_family(long).spec_hash())
    assert workflow_name("abc-" * 16, "0123456789").count("--") == 0
    # two long names that share their first 52 characters, with equal specs: two workflows
    other = "a" * 50 + "-" + "c" * 12
    names = {render_workflow(_family(n), store_uri=STORE)["metadata"]["name"] for n in (long, other)}
    assert len(names) == 2 and all(len(n) <= 63 for n in names)
    assert workflow_name("short", "0123456789") == "short-0123456789"


def test_relative_source_resolves_against_base_dir(tmp_path: Path) -> None:
    resource = _family()
    cluster = render_workflow(resource, store_uri=STORE)
    local = render_workflow(resource, store_uri=STORE, base_dir=tmp_path)
    spec_of = lambda m: yaml.safe_load(m["spec"]["arguments"]["parameters"][0]["value"])["spec"]  # noqa: E731
    assert spec_of(cluster)["source"]["uri"] == "data/x.jsonl"
    assert spec_of(local)["source"]["uri"] == str(tmp_path / "data" / "x.jsonl")
    absolute = _family(source={"uri": "s3://bucket/x.jsonl", "format": "jsonl"})
    assert render_workflow(absolute, store_uri=STORE, base_dir=tmp_path) == render_workflow(absolute, store_uri=STORE)


def test_a_compile_over_50_families_stays_far_below_the_etcd_limit() -> None:
    names = [f"family-with-a-long-descriptive-name-{i:03d}" for i in range(50)]
    compile_run = parse_resource(
        {
            "apiVersion": "pixelgate.dev/v1alpha1",
            "kind": "CompileRun",
            "metadata": {"name": "fifty"},
            "spec": {"families": {"names": names}, "holdoutFamilies": names[:10], "workers": 64},
        }
    )
    size = len(dump_manifest(render_workflow(compile_run, store_uri=STORE)))
    assert size < 64 * 1024, f"{size} bytes: the manifest must not grow with data, only with the spec"
    assert size < 1.5 * 1024 * 1024 / 20


def test_render_command_writes_one_file_per_workflow(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["render", "-f", str(QUICKSTART), "-o", str(tmp_path), "--store", STORE])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in tmp_path.glob("*.yaml"))
    assert files == sorted(f"{r.name}-{r.spec_hash()}.yaml" for r in _quickstart())
    assert "GateReview/quickstart-data-foundation" in result.output


RUNTIME = Runtime(
    service_account="pixelgate-workflow",
    env=(("AWS_ENDPOINT_URL", "http://minio:9000"),),
    store_secret="pixelgate-s3",
    store_secret_keys=("id", "secret"),
    rclone_secret="pixelgate-rclone",
)


def test_runtime_wires_service_account_env_and_secrets_by_reference() -> None:
    family = _family(source={"uri": "rclone://drive:data/x.jsonl", "format": "jsonl"})
    plain = render_workflow(family, store_uri=STORE)
    wired = render_workflow(family, store_uri=STORE, runtime=RUNTIME)
    assert wired["metadata"]["name"] == plain["metadata"]["name"]  # deployment wiring is not part of the spec
    assert wired["spec"]["serviceAccountName"] == "pixelgate-workflow" and "serviceAccountName" not in plain["spec"]
    assert wired["spec"]["volumes"] == [{"name": "rclone-config", "secret": {"secretName": "pixelgate-rclone"}}]
    container = next(t["container"] for t in wired["spec"]["templates"] if "container" in t)
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env == {
        "AWS_ENDPOINT_URL": "http://minio:9000",
        "AWS_ACCESS_KEY_ID": {"secretKeyRef": {"name": "pixelgate-s3", "key": "id"}},
        "AWS_SECRET_ACCESS_KEY": {"secretKeyRef": {"name": "pixelgate-s3", "key": "secret"}},
        "RCLONE_CONFIG": "/etc/pixelgate/rclone/rclone.conf",
    }
    assert container["volumeMounts"] == [
        {"name": "rclone-config", "mountPath": "/etc/pixelgate/rclone", "readOnly": True}
    ]
    # API keys a spec names by Secret reference reach the step that uses them, by reference too
    generated = _family(
        "synthetic",
        source={
            "generate": {
                "count": 10,
                "generator": "llm",
                "llm": {"url": "http://vllm:8000/v1", "model": "m", "apiKey": {"name": "vllm-key", "key": "token"}},
            }
        },
        mapping=None,
        license=None,
    )
    (step,) = [
        t["container"]
        for t in render_workflow(generated, store_uri=STORE, runtime=RUNTIME)["spec"]["templates"]
        if "container" in t
    ]
    assert {
        "name": "PIXELGATE_GENERATOR_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "vllm-key", "key": "token"}},
    } in step["env"]
    judged = parse_resource(
        {
            "apiVersion": "pixelgate.dev/v1alpha1",
            "kind": "TrainingRun",
            "metadata": {"name": "j"},
            "spec": {
                "compileRun": "c",
                "model": {"base": "gpt2"},
                "evaluation": {
                    "judge": "llm",
                    "judgeEndpoint": "http://j/v1",
                    "judgeModel": "m",
                    "judgeSecret": "judge",
                },
            },
        }
    )
    evaluate = next(
        t["container"]
        for t in render_workflow(judged, store_uri=STORE, runtime=RUNTIME)["spec"]["templates"]
        if t["name"] == "evaluate"
    )
    assert {
        "name": "PIXELGATE_JUDGE_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "judge", "key": "api-key"}},
    } in evaluate["env"]
    # the rclone config is mounted only where an rclone:// source is read
    other = render_workflow(_family(), store_uri=STORE, runtime=RUNTIME)
    assert "volumes" not in other["spec"] and all(
        "volumeMounts" not in t.get("container", {}) for t in other["spec"]["templates"]
    )


def test_every_rendered_manifest_passes_argo_lint(argo_bin: Path, tmp_path: Path) -> None:
    manifests = [render_workflow(r, store_uri=STORE) for r in _quickstart()]
    manifests += [render_workflow(r, store_uri=STORE, runtime=RUNTIME) for r in _quickstart()]
    manifests.append(
        render_workflow(
            _family("remote", source={"uri": "rclone://drive:x.jsonl", "format": "jsonl"}),
            store_uri=STORE,
            runtime=RUNTIME,
        )
    )
    manifests.append(render_workflow(_training(gpusPerNode=8, gpuType="H100"), store_uri=STORE))
    manifests.append(render_workflow(_training(nodes=4, gpusPerNode=8), store_uri=STORE, runtime=RUNTIME))
    paths = []
    for i, m in enumerate(manifests):
        path = tmp_path / f"{i:02d}-{m['metadata']['name']}.yaml"
        path.write_bytes(dump_manifest(m))
        paths.append(str(path))
    done = subprocess.run([str(argo_bin), "lint", "--offline", *paths], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_argo_lint_rejects_a_broken_manifest(argo_bin: Path, tmp_path: Path) -> None:
    """The lint check above can fail: a dangling task dependency is an error."""
    manifest = copy.deepcopy(render_workflow(_family(), store_uri=STORE))
    manifest["spec"]["templates"][0]["dag"]["tasks"][0]["dependencies"] = ["nowhere"]
    path = tmp_path / "broken.yaml"
    path.write_bytes(dump_manifest(manifest))
    done = subprocess.run([str(argo_bin), "lint", "--offline", str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0


def test_a_per_rank_result_reports_rank_zero() -> None:
    """A multi-node train task has one pod per rank; the status takes rank 0's result."""
    from pixelgate.workflows.render.status import TaskRun, status_from_runs

    runs = [
        TaskRun("train", "Succeeded", "train(1:1)", result=json.dumps({"best_metric": 2.5}), order="1"),
        TaskRun("train", "Succeeded", "train(0:0)", result=json.dumps({"best_metric": 1.5}), order="0"),
    ]
    status = status_from_runs("TrainingRun", workflow_phase="Running", workflow="w", identity="h", runs=runs)
    assert (status.best_metric, status.phase) == (1.5, "Running")


def test_no_user_text_reaches_argos_template_engine(tmp_path) -> None:
    """Argo expands ``{{...}}`` (and evaluates ``{{=...}}``) in parameter values: a spec value that
    looks like one must reach the step as plain text, and no ``{{`` may be left in the manifest."""
    import json as json_

    from pixelgate.workflows.api.manifests import load_spec_document

    hostile = '{{=sprig.env("AWS_SECRET_ACCESS_KEY")}} {{workflow.serviceAccountName}} {{{{x}}}}'
    resource = _family("hostile", mapping={"turns": {"path": "messages"}, "systemPrompt": hostile})
    manifest = render_workflow(resource, store_uri=STORE)
    spec_param = next(p["value"] for p in manifest["spec"]["arguments"]["parameters"] if p["name"] == "spec")
    assert "{{" not in spec_param
    parsed, _ = load_spec_document(spec_param)
    assert parsed["spec"]["mapping"]["systemPrompt"] == hostile
    assert json_.loads(spec_param) == parsed
    # every expression left in the manifest is one of ours
    expressions = set(re.findall(r"\{\{([^}]*)\}\}", dump_manifest(manifest).decode()))
    ours = ("workflow.parameters.", "inputs.parameters.", "tasks.", "item", "workflow.name", "workflow.uid")
    assert expressions and all(e.startswith(ours) for e in expressions), expressions


def _pod_of(manifest: dict, template: dict, *, secure: bool = True) -> dict:
    """A Pod as Argo runs a template's main container (Argo adds its executor containers, whose
    securityContext the controller's configuration sets)."""
    container = {
        k: v
        for k, v in template["container"].items()
        if k in ("image", "command", "args", "resources", "securityContext")
    }
    if not secure:
        container.pop("securityContext", None)
    pod_security = manifest["spec"]["securityContext"] if secure else {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "probe-"},
        "spec": {
            "securityContext": pod_security,
            "containers": [{"name": "main", **container}],
            "restartPolicy": "Never",
        },
    }


def test_every_rendered_pod_passes_pod_security_restricted(kube) -> None:
    """The real apiserver's Pod Security admission, in a namespace that enforces "restricted"."""
    from kubernetes import client

    multi_node = parse_resource(
        {
            "apiVersion": "pixelgate.dev/v1alpha1",
            "kind": "TrainingRun",
            "metadata": {"name": "t"},
            "spec": {"compileRun": "c", "model": {"base": "x"}, "resources": {"nodes": 2, "gpusPerNode": 2}},
        }
    )
    manifests = [render_workflow(r, store_uri=STORE) for r in [*_quickstart(), multi_node]]
    namespace = f"restricted-{os.getpid()}"
    labels = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    with kube.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace, labels=labels)))
        try:
            checked = 0
            for manifest in manifests:
                for template in (t for t in manifest["spec"]["templates"] if "container" in t):
                    core.create_namespaced_pod(namespace, _pod_of(manifest, template), dry_run="All")
                    checked += 1
            assert checked >= 10
            template = next(t for t in manifests[0]["spec"]["templates"] if "container" in t)
            with pytest.raises(client.ApiException) as refused:  # the check bites: the same pod, unhardened
                core.create_namespaced_pod(namespace, _pod_of(manifests[0], template, secure=False), dry_run="All")
            message = json.loads(refused.value.body)["message"]
            assert refused.value.status == 403 and 'violates PodSecurity "restricted:latest"' in message
        finally:
            core.delete_namespace(namespace)


def test_train_and_evaluate_run_in_the_train_image() -> None:
    training = next(r for r in _quickstart() if r.kind == "TrainingRun")
    family = next(r for r in _quickstart() if r.kind == "DatasetFamily")
    images = {"image": "registry.local/pixelgate-steps:1", "train_image": "registry.local/pixelgate-train:1"}
    by_template = {
        t["name"]: t["container"]["image"]
        for t in render_workflow(training, store_uri=STORE, **images)["spec"]["templates"]
        if "container" in t
    }
    assert by_template == {"train": images["train_image"], "evaluate": images["train_image"]}
    [ingest] = [t for t in render_workflow(family, store_uri=STORE, **images)["spec"]["templates"] if "container" in t]
    assert ingest["container"]["image"] == images["image"]
