"""One builder per resource kind: a validated resource -> a Hera ``Workflow`` -> a plain dict.

* DatasetFamily -> ``ingest``;
* CompileRun -> ``compile-plan`` then the datatrove-style fan-out: ``compile-signatures`` per
  input shard, ``compile-buckets`` per LSH band, ``compile-merge``, ``compile-filter`` per
  shard, ``compile-finalize`` (report, manifest); the shard and band lists come from the plan's JSON output
  (``withParam``);
* TrainingRun -> ``train`` then ``evaluate`` on GPUs per ``spec.resources``;
* GateReview has no workflow: it is decided by :mod:`pixelgate.workflows.review`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hera.workflows import DAG, Parameter, Task, Workflow
from hera.workflows import Resource as ResourceTemplate
from hera.workflows.models import PodGC, TTLStrategy

from ..api.compile_run import CompileRunSpec
from ..api.dataset_family import GENERATOR_API_KEY_ENV, DatasetFamilySpec
from ..api.meta import Resource, spec_hash, with_inputs_hash
from ..api.training_run import JUDGE_API_KEY_ENV, TrainingRunSpec
from .common import (
    DEFAULT_IMAGE, Compute, ResourceDef, Runtime, StepDef, dump_manifest, labels_for, spec_document, step_template, with_resources, workflow_name,
)

ENTRYPOINT = "main"


class RenderError(ValueError):
    """A resource that cannot be rendered into a workflow; the message says why."""


@dataclass(frozen=True)
class TaskDef:
    """A DAG task: a step, what it waits for, and optionally a fan-out over a list output."""

    name: str
    step: StepDef | ResourceDef
    after: tuple[str, ...] = ()
    fan_out: tuple[str, str] | None = None  # (task, output parameter) holding a JSON list
    items: tuple[str, ...] = ()  # or a fixed list (withItems)
    item_param: str | None = None  # the step input that receives {{item}}


def resolve_sources(resource: Resource[Any], base_dir: Path | None) -> Resource[Any]:
    """Make a DatasetFamily's relative ``source.uri`` absolute against the manifest's folder."""
    if base_dir is None or not isinstance(resource.spec, DatasetFamilySpec):
        return resource
    uri = resource.spec.source.uri
    if uri is None or "://" in uri or Path(uri).is_absolute():
        return resource
    source = resource.spec.source.model_copy(update={"uri": str(Path(base_dir).resolve() / uri)})
    return resource.model_copy(update={"spec": resource.spec.model_copy(update={"source": source})})


def _ingest_tasks(_: DatasetFamilySpec) -> tuple[list[TaskDef], dict[str, str]]:
    ingest = StepDef("ingest", "ingest", Compute(cpu="1", memory="4Gi", deadline_s=6 * 3600))
    return [TaskDef("ingest", ingest)], {"ingest": "ingest"}


def _compile_tasks(spec: CompileRunSpec) -> tuple[list[TaskDef], dict[str, str]]:
    stage = Compute(cpu="1", memory="2Gi", deadline_s=4 * 3600)
    big = Compute(cpu="1", memory="4Gi", deadline_s=4 * 3600)
    tasks = [
        TaskDef("plan", StepDef("compile-plan", "compile-plan", stage, list_outputs=("shards", "bands"))),
        TaskDef(
            "signatures",
            StepDef("compile-signatures", "compile-signatures", stage, inputs=("shard",)),
            after=("plan",),
            fan_out=("plan", "shards"),
            item_param="shard",
        ),
        TaskDef(
            "buckets",
            StepDef("compile-buckets", "compile-buckets", stage, inputs=("band",)),
            after=("signatures",),
            fan_out=("plan", "bands"),
            item_param="band",
        ),
        TaskDef("merge", StepDef("compile-merge", "compile-merge", big), after=("buckets",)),
        TaskDef(
            "filter",
            StepDef("compile-filter", "compile-filter", stage, inputs=("shard",)),
            after=("merge",),
            fan_out=("plan", "shards"),
            item_param="shard",
        ),
        TaskDef("finalize", StepDef("compile-finalize", "compile-finalize", big), after=("filter",)),
    ]
    return tasks, {"compile": "finalize"}


# Multi-node training: torchrun's static rendezvous on rank 0's pod, found through a headless
# Service the workflow creates (and owns) that selects the workflow's rank-0 pod.
RENDEZVOUS_SERVICE = "pgr-{{workflow.uid}}"
RENDEZVOUS_PORT = 29500
LABEL_RANK = "pixelgate.dev/train-rank"


def _rendezvous_service() -> ResourceDef:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": RENDEZVOUS_SERVICE},
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,  # rank 0 listens before any probe could pass
            "selector": {"workflows.argoproj.io/workflow": "{{workflow.name}}", LABEL_RANK: "0"},
            "ports": [{"name": "rendezvous", "port": RENDEZVOUS_PORT}],
        },
    }
    return ResourceDef("rendezvous", dump_manifest(service).decode())


def _launcher(nodes: int, gpus_per_node: int) -> tuple[str, ...]:
    """torchrun for more than one process: one per GPU in the pod, one pod per node."""
    per_node = max(gpus_per_node, 1)
    if nodes == 1:
        return ("torchrun", "--standalone", f"--nproc-per-node={per_node}") if per_node > 1 else ()
    return (
        "torchrun", f"--nnodes={nodes}", f"--nproc-per-node={per_node}", "--node-rank={{inputs.parameters.rank}}",
        f"--master-addr={RENDEZVOUS_SERVICE}", f"--master-port={RENDEZVOUS_PORT}",
    )


def _train_tasks(spec: TrainingRunSpec) -> tuple[list[TaskDef], dict[str, str]]:
    res = spec.resources
    selector = {"nvidia.com/gpu.product": res.gpu_type} if res.gpu_type else {}
    train = Compute(cpu=res.cpu, memory=res.memory, gpus=res.gpus_per_node, node_selector=selector, deadline_s=48 * 3600, retries=2)
    evaluate = Compute(cpu=res.cpu, memory=res.memory, gpus=res.gpus_per_node, node_selector=selector, deadline_s=12 * 3600, retries=2)
    launcher = _launcher(res.nodes, res.gpus_per_node)
    if res.nodes == 1:
        tasks = [TaskDef("train", StepDef("train", "train", train, launcher=launcher))]
    else:
        ranked = StepDef("train", "train", train, inputs=("rank",), launcher=launcher, pod_labels={LABEL_RANK: "{{inputs.parameters.rank}}"})
        tasks = [
            TaskDef("rendezvous", _rendezvous_service()),
            TaskDef("train", ranked, after=("rendezvous",), items=tuple(str(rank) for rank in range(res.nodes)), item_param="rank"),
        ]
    tasks.append(TaskDef("evaluate", StepDef("evaluate", "evaluate", evaluate), after=("train",)))
    return tasks, {"train": "train", "evaluate": "evaluate"}


_BUILDERS = {
    "DatasetFamily": _ingest_tasks,
    "CompileRun": _compile_tasks,
    "TrainingRun": _train_tasks,
}


def _task(defn: TaskDef) -> Task:
    arguments: list[Parameter] = []
    with_param = None
    if defn.fan_out:
        source_task, output = defn.fan_out
        with_param = f"{{{{tasks.{source_task}.outputs.parameters.{output}}}}}"
    if defn.fan_out or defn.items:
        arguments.append(Parameter(name=defn.item_param, value="{{item}}"))
    return Task(
        name=defn.name,
        template=defn.step.template,
        dependencies=list(defn.after) or None,
        with_param=with_param,
        with_items=list(defn.items) or None,
        arguments=arguments or None,
    )


def _template(defn: StepDef | ResourceDef, image: str, labels: dict[str, str]) -> Any:
    if isinstance(defn, ResourceDef):
        return ResourceTemplate(name=defn.template, action="create", manifest=defn.manifest, set_owner_reference=True)
    return step_template(defn, image=image, labels=labels)


def render_workflow(
    resource: Resource[Any],
    *,
    image: str | None = None,
    store_uri: str,
    base_dir: Path | str | None = None,
    runtime: Runtime | None = None,
    inputs: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Argo Workflow manifest (a plain dict) for ``resource``; deterministic for equal inputs.
    ``runtime`` adds the cluster wiring (ServiceAccount, Secrets) the operator is configured with.
    ``inputs`` (name -> spec hash of the resources it reads; a derived family's parents) join the
    spec in the workflow's hash, so a changed parent gives a new workflow."""
    builder = _BUILDERS.get(resource.kind)
    if builder is None:
        raise RenderError(f"{resource.kind}/{resource.name}: this kind has no workflow (GateReviews are decided, not run)")
    resource = resolve_sources(resource, Path(base_dir) if base_dir is not None else None)
    digest = with_inputs_hash(spec_hash(resource.spec), inputs or {})
    labels = labels_for(resource, digest)
    tasks, outputs = builder(resource.spec)
    steps = {t.step.template: t.step for t in tasks}
    templates = [_template(step, image or DEFAULT_IMAGE, labels) for step in steps.values()]
    dag = DAG(
        name=ENTRYPOINT,
        tasks=[_task(t) for t in tasks],
        parallelism=getattr(resource.spec, "workers", None),
        outputs=[
            Parameter(name=out, value_from={"parameter": f"{{{{tasks.{task}.outputs.parameters.result}}}}"})
            for out, task in outputs.items()
        ],
    )
    deadline = sum(s.compute.deadline_s for s in steps.values() if isinstance(s, StepDef))
    workflow = Workflow(
        name=workflow_name(resource.name, digest),
        labels=labels,
        annotations={"pixelgate.dev/resource": f"{resource.kind}/{resource.name}"},
        entrypoint=ENTRYPOINT,
        arguments=[Parameter(name="spec", value=spec_document(resource)), Parameter(name="store", value=store_uri)],
        pod_gc=PodGC(strategy="OnPodSuccess"),
        ttl_strategy=TTLStrategy(seconds_after_success=86400, seconds_after_failure=7 * 86400),
        active_deadline_seconds=deadline,
        templates=[dag, *templates],
    )
    manifest = workflow.to_dict()
    for template in manifest["spec"]["templates"]:
        if "container" in template:
            with_resources(template, steps[template["name"]].compute)
    if runtime is not None:
        uri = getattr(getattr(resource.spec, "source", None), "uri", None) or ""
        runtime.apply(manifest, rclone=uri.startswith("rclone://"), secret_env=_secret_env(resource.spec))
    return manifest


def _secret_env(spec: Any) -> tuple[tuple[str, str, str], ...]:
    """API keys a spec names by Secret reference: (environment variable, Secret, key)."""
    if isinstance(spec, DatasetFamilySpec) and spec.source.generate is not None and spec.source.generate.llm is not None:
        ref = spec.source.generate.llm.api_key
        return ((GENERATOR_API_KEY_ENV, ref.name, ref.key),) if ref is not None else ()
    if isinstance(spec, TrainingRunSpec) and spec.evaluation.judge_secret:
        return ((JUDGE_API_KEY_ENV, spec.evaluation.judge_secret, "api-key"),)
    return ()
