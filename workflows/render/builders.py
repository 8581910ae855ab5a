"""One builder for every kind with a workflow: a validated resource -> a Hera ``Workflow`` -> a plain dict.

The DAG comes from the kind's declaration (:mod:`pixelgate.workflows.api.kinds`): one template per
step, one task per declared task, ``withParam`` fan-outs over a task's list output, and for a
multi-node TrainingRun one ``train`` pod per node (``withItems`` over the ranks) behind a headless
Service for torchrun's rendezvous. The DAG's outputs are the results of the tasks that report into
the status, named after those tasks. GateReviews have no workflow: :mod:`pixelgate.workflows.review`
decides them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hera.workflows import DAG, Parameter, Task, Workflow
from hera.workflows import Resource as ResourceTemplate
from hera.workflows.models import PodGC, TTLStrategy

from ..api.dataset_family import GENERATOR_API_KEY_ENV, DatasetFamilySpec
from ..api.kinds import KINDS
from ..api.kinds import Task as TaskDecl
from ..api.kinds import identity as resource_identity
from ..api.meta import Resource, canonical_json
from ..api.training_run import JUDGE_API_KEY_ENV, TrainingRunSpec
from .common import (
    DEFAULT_IMAGE,
    DEFAULT_TRAIN_IMAGE,
    POD_SECURITY,
    ResourceDef,
    Runtime,
    StepDef,
    dump_manifest,
    labels_for,
    spec_document,
    step_template,
    with_resources,
    workflow_name,
)

ENTRYPOINT = "main"


class RenderError(ValueError):
    """A resource that cannot be rendered into a workflow; the message says why."""


@dataclass(frozen=True)
class TaskDef:
    """A DAG task as rendered: a template, what it waits for, and optionally a fan-out."""

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
        "torchrun",
        f"--nnodes={nodes}",
        f"--nproc-per-node={per_node}",
        "--node-rank={{inputs.parameters.rank}}",
        f"--master-addr={RENDEZVOUS_SERVICE}",
        f"--master-port={RENDEZVOUS_PORT}",
    )


def _tasks(kind: str, spec: Any) -> list[TaskDef]:
    """The declared DAG of ``kind`` for this spec."""
    out: list[TaskDef] = []
    for decl in KINDS[kind].tasks:
        out.extend(_rendered(decl, spec))
    return out


def _rendered(decl: TaskDecl, spec: Any) -> list[TaskDef]:
    step, compute = decl.step, decl.compute_for(spec)
    if decl.fan_out is not None:
        param = step.params[0]
        defn = StepDef(
            step.name, step.name, compute, inputs=(param,), list_outputs=step.list_outputs, image=decl.image
        )
        return [TaskDef(decl.name, defn, decl.after, fan_out=decl.fan_out, item_param=param)]
    if not decl.per_rank:
        defn = StepDef(step.name, step.name, compute, list_outputs=step.list_outputs, image=decl.image)
        return [TaskDef(decl.name, defn, decl.after)]
    res = spec.resources
    launcher = _launcher(res.nodes, res.gpus_per_node)
    if res.nodes == 1:
        return [
            TaskDef(decl.name, StepDef(step.name, step.name, compute, launcher=launcher, image=decl.image), decl.after)
        ]
    param = step.params[0]
    ranked = StepDef(
        step.name,
        step.name,
        compute,
        inputs=(param,),
        launcher=launcher,
        image=decl.image,
        pod_labels={LABEL_RANK: f"{{{{inputs.parameters.{param}}}}}"},
    )
    ranks = tuple(str(rank) for rank in range(res.nodes))
    return [
        TaskDef("rendezvous", _rendezvous_service(), decl.after),
        TaskDef(decl.name, ranked, (*decl.after, "rendezvous"), items=ranks, item_param=param),
    ]


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
    train_image: str | None = None,
    store_uri: str,
    base_dir: Path | str | None = None,
    runtime: Runtime | None = None,
    inputs: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Argo Workflow manifest (a plain dict) for ``resource``; deterministic for equal inputs.
    ``image`` runs the steps, ``train_image`` (torch, DeepSpeed) the tasks declared ``image="train"``.
    ``runtime`` adds the cluster wiring (ServiceAccount, Secrets) the operator is configured with.
    ``inputs`` (``Kind/name`` -> identity of each resource it reads) join the spec in the
    workflow's hash (:func:`pixelgate.workflows.api.kinds.identity`) and reach the steps as the
    workflow parameter ``inputs``."""
    kind = KINDS.get(resource.kind)
    if kind is None or not kind.has_workflow:
        raise RenderError(
            f"{resource.kind}/{resource.name}: this kind has no workflow (GateReviews are decided, not run)"
        )
    resource = resolve_sources(resource, Path(base_dir) if base_dir is not None else None)
    inputs = dict(sorted((inputs or {}).items()))
    digest = resource_identity(resource.spec, inputs)
    labels = labels_for(resource, digest)
    tasks = _tasks(resource.kind, resource.spec)
    steps = {t.step.template: t.step for t in tasks}
    images = {"steps": image or DEFAULT_IMAGE, "train": train_image or DEFAULT_TRAIN_IMAGE}
    templates = [_template(s, images[s.image] if isinstance(s, StepDef) else "", labels) for s in steps.values()]
    dag = DAG(
        name=ENTRYPOINT,
        tasks=[_task(t) for t in tasks],
        parallelism=getattr(resource.spec, "workers", None),
        outputs=[
            Parameter(name=t.name, value_from={"parameter": f"{{{{tasks.{t.name}.outputs.parameters.result}}}}"})
            for t in kind.result_tasks()
        ],
    )
    deadline = sum(s.compute.deadline_s for s in steps.values() if isinstance(s, StepDef))
    workflow = Workflow(
        name=workflow_name(resource.name, digest),
        labels=labels,
        annotations={"pixelgate.dev/resource": f"{resource.kind}/{resource.name}"},
        entrypoint=ENTRYPOINT,
        arguments=[
            Parameter(name="spec", value=spec_document(resource)),
            Parameter(name="store", value=store_uri),
            Parameter(name="inputs", value=canonical_json(inputs).decode()),
        ],
        pod_gc=PodGC(strategy="OnPodSuccess"),
        ttl_strategy=TTLStrategy(seconds_after_success=86400, seconds_after_failure=7 * 86400),
        active_deadline_seconds=deadline,
        security_context=POD_SECURITY,
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
    if (
        isinstance(spec, DatasetFamilySpec)
        and spec.source.generate is not None
        and spec.source.generate.llm is not None
    ):
        ref = spec.source.generate.llm.api_key
        return ((GENERATOR_API_KEY_ENV, ref.name, ref.key),) if ref is not None else ()
    if isinstance(spec, TrainingRunSpec) and spec.evaluation.judge_secret:
        return ((JUDGE_API_KEY_ENV, spec.evaluation.judge_secret, "api-key"),)
    return ()
