"""The declaration of every resource kind: the one place its names, pipeline and rules are written.

For each kind this module says, once:

* its API facts: plural, short names, spec and status models, printer columns, the summary
  condition and the phase that means done;
* its **steps** (``pixelgate step <name>``: entry point and result model, lazily imported) and its
  **DAG** (tasks, what each waits for, fan-out source, compute class);
* its **stage conditions** (condition -> tasks, and what makes it True: e.g. ``Verified`` is True
  only when the finalize result says every gate passed, not when the pod exited 0);
* the **result -> status contract**: which result fields of which task land in the status, and
  which are deliberately kept off it;
* its **dependencies**: what it waits for, the waiting condition and reason;
* its **identity**: a resource's hash is its spec's hash folded with the identities of what it
  reads (:func:`identity`), so the workflow name and label, the status and the store folder agree.

The step registry, the Hera builders, the operator's status mapping and dependency waits, and the
local runner all derive from this module; no kind, step, template or condition name is written as a
string anywhere else (``tests/test_kinds.py`` checks it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .compile_run import CompileRunSpec, CompileRunStatus
from .dataset_family import DatasetFamilySpec, DatasetFamilyStatus
from .gate_review import GateReviewSpec, GateReviewStatus
from .meta import ApiModel, canonical_json, spec_hash
from .selection import Selection
from .training_run import TrainingRunSpec, TrainingRunStatus

DATASET_FAMILY = "DatasetFamily"
COMPILE_RUN = "CompileRun"
TRAINING_RUN = "TrainingRun"
GATE_REVIEW = "GateReview"


@dataclass(frozen=True)
class Compute:
    """Requests/limits, placement and time limits of one step's pod."""

    cpu: str = "1"
    memory: str = "2Gi"
    gpus: int = 0
    node_selector: dict[str, str] = field(default_factory=dict)
    deadline_s: int = 3600
    retries: int = 3

    def resources(self) -> dict[str, Any]:
        requests: dict[str, Any] = {"cpu": self.cpu, "memory": self.memory}
        limits: dict[str, Any] = {"memory": self.memory}
        if self.gpus:
            requests["nvidia.com/gpu"] = str(self.gpus)
            limits["nvidia.com/gpu"] = str(self.gpus)
        return {"requests": requests, "limits": limits}


@dataclass(frozen=True)
class Step:
    """What ``pixelgate step <name>`` runs: ``entry`` and ``result`` are ``module:attribute``,
    imported only when the step runs (or a test checks the contract)."""

    name: str
    entry: str
    result: str
    params: tuple[str, ...] = ()  # --param <name>=<value> the step needs (fan-out items)
    list_outputs: tuple[str, ...] = ()  # result fields exposed on their own, for a withParam fan-out


@dataclass(frozen=True)
class Task:
    """A task of a kind's DAG. ``fan_out`` is (task, list output) run once per item, into the
    step's first param; ``per_rank`` runs one pod per training node; ``reports`` lists the
    result fields that land in the status (same name) and ``internal`` those kept off it."""

    name: str
    step: Step
    compute: Compute | Callable[[Any], Compute]
    after: tuple[str, ...] = ()
    fan_out: tuple[str, str] | None = None
    per_rank: bool = False
    image: Literal["steps", "train"] = "steps"  # the step image, or the train image (torch, DeepSpeed)
    reports: tuple[str, ...] = ()
    internal: tuple[str, ...] = ()

    def compute_for(self, spec: Any) -> Compute:
        return self.compute(spec) if callable(self.compute) else self.compute

    @property
    def has_result(self) -> bool:
        return bool(self.reports or self.internal)


# A stage's verdict from its last task's result: None when the result says nothing against it,
# else the message of why the stage is not True (e.g. which gates failed).
Verdict = Callable[[Mapping[str, Any]], str | None]


@dataclass(frozen=True)
class Stage:
    """A per-stage condition over some tasks: True once they all succeeded (and ``verdict``, when
    given, finds nothing wrong in the last task's result), False when one failed."""

    condition: str
    tasks: tuple[str, ...]
    verdict: Verdict | None = None
    failed_reason: str = "StepFailed"
    verdict_reason: str = "VerdictFailed"


@dataclass(frozen=True)
class Dependency:
    """Resources of ``kind`` a resource waits for, selected from its spec by ``select`` (None:
    this spec has none). ``joins_identity``: their identities join the resource's hash."""

    kind: str
    select: Callable[[Any], Selection | None]
    condition: str
    reason: str
    joins_identity: bool = True


@dataclass(frozen=True)
class Kind:
    """Everything pixelgate knows about one resource kind."""

    kind: str
    plural: str
    short_names: list[str]
    spec: type[ApiModel]
    status: type[ApiModel]
    summary_condition: str
    done_phase: str
    summary_while_running: str = "Unknown"  # the summary condition before the workflow is done
    printer_columns: list[dict[str, Any]] = field(default_factory=list)
    figures: tuple[tuple[str, str], ...] = ()  # (label, status field) that `pixelgate run` prints
    tasks: tuple[Task, ...] = ()
    stages: tuple[Stage, ...] = ()
    dependencies: tuple[Dependency, ...] = ()

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def has_workflow(self) -> bool:
        return bool(self.tasks)

    def task(self, name: str) -> Task:
        return next(t for t in self.tasks if t.name == name)

    def result_tasks(self) -> tuple[Task, ...]:
        return tuple(t for t in self.tasks if t.has_result)


# ----------------------------------------------------------------------------- compute classes

_INGEST = Compute(cpu="1", memory="4Gi", deadline_s=6 * 3600)
_STAGE = Compute(cpu="1", memory="2Gi", deadline_s=4 * 3600)
_BIG_STAGE = Compute(cpu="1", memory="4Gi", deadline_s=4 * 3600)


def _gpu_compute(deadline_s: int) -> Callable[[TrainingRunSpec], Compute]:
    def compute(spec: TrainingRunSpec) -> Compute:
        res = spec.resources
        selector = {"nvidia.com/gpu.product": res.gpu_type} if res.gpu_type else {}
        return Compute(
            cpu=res.cpu,
            memory=res.memory,
            gpus=res.gpus_per_node,
            node_selector=selector,
            deadline_s=deadline_s,
            retries=2,
        )

    return compute


# ----------------------------------------------------------------------------- steps

_INGEST_PKG = "pixelgate.workflows.steps.ingest"
_COMPILE_PKG = "pixelgate.workflows.steps.compile"
_TRAIN_PKG = "pixelgate.workflows.steps.train"

INGEST = Step("ingest", f"{_INGEST_PKG}:run_step", f"{_INGEST_PKG}.pipeline:IngestResult")
COMPILE = Step("compile", f"{_COMPILE_PKG}:run_step", f"{_COMPILE_PKG}.finalize:CompileResult")
COMPILE_PLAN = Step(
    "compile-plan", f"{_COMPILE_PKG}:plan_step", f"{_COMPILE_PKG}.stages:PlanResult", list_outputs=("shards", "bands")
)
COMPILE_SIGNATURES = Step(
    "compile-signatures",
    f"{_COMPILE_PKG}:signatures_step",
    f"{_COMPILE_PKG}.stages:SignaturesResult",
    params=("shard",),
)
COMPILE_BUCKETS = Step(
    "compile-buckets", f"{_COMPILE_PKG}:buckets_step", f"{_COMPILE_PKG}.stages:BucketsResult", params=("band",)
)
COMPILE_MERGE = Step("compile-merge", f"{_COMPILE_PKG}:merge_step", f"{_COMPILE_PKG}.stages:MergeResult")
COMPILE_FILTER = Step(
    "compile-filter", f"{_COMPILE_PKG}:filter_step", f"{_COMPILE_PKG}.stages:FilterResult", params=("shard",)
)
COMPILE_FINALIZE = Step("compile-finalize", f"{_COMPILE_PKG}:finalize_step", f"{_COMPILE_PKG}.finalize:CompileResult")
TRAIN = Step("train", f"{_TRAIN_PKG}:run_train_step", f"{_TRAIN_PKG}:TrainResult", params=("rank",))
EVALUATE = Step(
    "evaluate",
    "pixelgate.workflows.steps.evaluate:run_evaluate_step",
    "pixelgate.workflows.steps.evaluate:EvaluateResult",
)


def _gates_verdict(result: Mapping[str, Any]) -> str | None:
    if result.get("passed"):
        return None
    failed = [str(g.get("name")) for g in result.get("gates") or [] if not g.get("passed")]
    if result.get("output_duplicate_rate") is not None and not failed:
        failed = ["output duplicate rate"]
    return f"{result.get('gates_passed', '?')} gates passed; failed: {', '.join(failed) or 'unknown'}"


# ----------------------------------------------------------------------------- the kinds

_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
_PHASE = {"name": "Phase", "type": "string", "jsonPath": ".status.phase"}
_WORKFLOW = {"name": "Workflow", "type": "string", "jsonPath": ".status.workflow", "priority": 1}

_PARENTS = Dependency(
    DATASET_FAMILY,
    lambda spec: spec.source.derive.from_ if spec.source.derive else None,
    "SourcesReady",
    "WaitingForSources",
)
_FAMILIES = Dependency(DATASET_FAMILY, lambda spec: spec.families, "FamiliesReady", "WaitingForFamilies")
_BASELINE = Dependency(
    COMPILE_RUN,
    lambda spec: Selection(names=[spec.baseline]) if spec.baseline else None,
    "BaselineReady",
    "WaitingForBaseline",
)
_COMPILE = Dependency(
    COMPILE_RUN, lambda spec: Selection(names=[spec.compile_run]), "CompileReady", "WaitingForCompile"
)


# A GateReview's conditions: Decided (summary; False/WaitingForRun until its runs finished) and Approved.
DECIDED = "Decided"
APPROVED = "Approved"
WAITING_FOR_RUN = "WaitingForRun"


def _reviewed(attr: str) -> Callable[[GateReviewSpec], Selection | None]:
    return lambda spec: Selection(names=[getattr(spec, attr)]) if getattr(spec, attr) else None


KINDS: dict[str, Kind] = {
    k.kind: k
    for k in [
        Kind(
            DATASET_FAMILY,
            "datasetfamilies",
            ["dsf", "family"],
            DatasetFamilySpec,
            DatasetFamilyStatus,
            summary_condition="Ready",
            done_phase="Ready",
            summary_while_running="False",  # Kubernetes' Ready: False until it is
            printer_columns=[
                _PHASE,
                {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
                {"name": "Records", "type": "integer", "jsonPath": ".status.recordsOut"},
                {"name": "Quarantined", "type": "integer", "jsonPath": ".status.quarantined"},
                {"name": "Quality", "type": "number", "jsonPath": ".status.qualityMean", "priority": 1},
                _WORKFLOW,
                _AGE,
            ],
            tasks=(
                Task(
                    "ingest",
                    INGEST,
                    _INGEST,
                    reports=("output_uri", "records_in", "records_out", "quarantined", "pii_entities", "quality_mean"),
                    internal=("family", "spec_hash", "quarantined_by_reason"),
                ),
            ),
            stages=(Stage("Ingested", ("ingest",)),),
            dependencies=(_PARENTS,),
            figures=(("records", "records_out"), ("quarantined", "quarantined"), ("quality", "quality_mean")),
        ),
        Kind(
            COMPILE_RUN,
            "compileruns",
            ["cr", "compile"],
            CompileRunSpec,
            CompileRunStatus,
            summary_condition="Succeeded",
            done_phase="Succeeded",
            printer_columns=[
                _PHASE,
                {"name": "Records", "type": "integer", "jsonPath": ".status.records"},
                {"name": "DupRate", "type": "number", "jsonPath": ".status.duplicateRate"},
                {"name": "Gates", "type": "string", "jsonPath": ".status.gatesPassed"},
                {"name": "Verified", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Verified")].status'},
                _WORKFLOW,
                _AGE,
            ],
            tasks=(
                Task("plan", COMPILE_PLAN, _STAGE),
                Task("signatures", COMPILE_SIGNATURES, _STAGE, after=("plan",), fan_out=("plan", "shards")),
                Task("buckets", COMPILE_BUCKETS, _STAGE, after=("signatures",), fan_out=("plan", "bands")),
                Task("merge", COMPILE_MERGE, _BIG_STAGE, after=("buckets",)),
                Task("filter", COMPILE_FILTER, _STAGE, after=("merge",), fan_out=("plan", "shards")),
                Task(
                    "finalize",
                    COMPILE_FINALIZE,
                    _BIG_STAGE,
                    after=("filter",),
                    reports=(
                        "output_uri",
                        "manifest_uri",
                        "report_uri",
                        "drift_uri",
                        "records",
                        "duplicate_rate",
                        "output_duplicate_rate",
                        "gates_passed",
                        "gates",
                        "drift_level",
                        "drift",
                    ),
                    internal=("spec_hash", "passed"),  # passed decides the Verified condition
                ),
            ),
            stages=(
                Stage("Deduplicated", ("signatures", "buckets", "merge", "filter")),
                Stage("Verified", ("finalize",), verdict=_gates_verdict, verdict_reason="GatesFailed"),
            ),
            dependencies=(_FAMILIES, _BASELINE),
            figures=(("records", "records"), ("dup-rate", "duplicate_rate"), ("gates", "gates_passed")),
        ),
        Kind(
            TRAINING_RUN,
            "trainingruns",
            ["tr", "train"],
            TrainingRunSpec,
            TrainingRunStatus,
            summary_condition="Succeeded",
            done_phase="Succeeded",
            printer_columns=[
                _PHASE,
                {"name": "Compile", "type": "string", "jsonPath": ".spec.compileRun"},
                {"name": "BestEvalLoss", "type": "number", "jsonPath": ".status.bestMetric"},
                _WORKFLOW,
                _AGE,
            ],
            tasks=(
                Task(
                    "train",
                    TRAIN,
                    _gpu_compute(48 * 3600),
                    per_rank=True,
                    image="train",
                    reports=("output_uri", "metrics_uri", "best_checkpoint", "best_metric"),
                    internal=("spec_hash", "model_uri", "global_step", "tokens_per_second"),
                ),
                Task(
                    "evaluate",
                    EVALUATE,
                    _gpu_compute(12 * 3600),
                    after=("train",),
                    image="train",
                    reports=("output_uri", "eval_report_uri", "scores"),
                    internal=("spec_hash", "targets_met"),  # GateReviews decide on the scores themselves
                ),
            ),
            stages=(Stage("Trained", ("train",)), Stage("Evaluated", ("evaluate",))),
            dependencies=(_COMPILE,),
            figures=(("best-eval-loss", "best_metric"), ("scores", "scores")),
        ),
        Kind(
            GATE_REVIEW,
            "gatereviews",
            ["gr", "gate"],
            GateReviewSpec,
            GateReviewStatus,
            summary_condition=DECIDED,
            done_phase="Passed",
            printer_columns=[
                {"name": "Gate", "type": "string", "jsonPath": ".spec.gate"},
                _PHASE,
                {"name": "Decision", "type": "string", "jsonPath": ".status.decision"},
                {"name": "ApprovedBy", "type": "string", "jsonPath": ".status.approvedBy", "priority": 1},
                _AGE,
            ],
            # a review has no workflow: it is decided (workflows/review.py) once its runs finished
            dependencies=(
                Dependency(COMPILE_RUN, _reviewed("compile_run"), DECIDED, WAITING_FOR_RUN, joins_identity=False),
                Dependency(TRAINING_RUN, _reviewed("training_run"), DECIDED, WAITING_FOR_RUN, joins_identity=False),
                Dependency(
                    TRAINING_RUN, _reviewed("baseline_training_run"), DECIDED, WAITING_FOR_RUN, joins_identity=False
                ),
            ),
            figures=(("decision", "decision"), ("gaps", "gaps")),
        ),
    ]
}

STEPS: dict[str, Step] = {
    s.name: s
    for s in (
        INGEST,
        COMPILE,
        COMPILE_PLAN,
        COMPILE_SIGNATURES,
        COMPILE_BUCKETS,
        COMPILE_MERGE,
        COMPILE_FILTER,
        COMPILE_FINALIZE,
        TRAIN,
        EVALUATE,
    )
}
WORKFLOW_KINDS = tuple(k.kind for k in KINDS.values() if k.has_workflow)
PIPELINE_ORDER = tuple(KINDS)  # dependencies point backwards in this order


# ----------------------------------------------------------------------------- identity


def input_key(kind: str, name: str) -> str:
    return f"{kind}/{name}"


def identity(spec: ApiModel, inputs: Mapping[str, str] | None = None) -> str:
    """The hash naming a resource's workflow, status and store folder: its spec's hash, folded
    with ``inputs`` (``Kind/name`` -> that input's identity) when it reads other resources."""
    own = spec_hash(spec)
    if not inputs:
        return own
    payload = canonical_json({"spec": own, "inputs": dict(sorted(inputs.items()))})
    return hashlib.sha256(payload).hexdigest()[: len(own)]


# ----------------------------------------------------------------------------- dependencies


@dataclass(frozen=True)
class Observed:
    """What a runtime knows of one resource it may depend on."""

    kind: str
    name: str
    labels: Mapping[str, str]
    phase: str | None
    current: bool  # its status is for its current spec (observedGeneration == generation)
    identity: str | None  # status.specHash

    @property
    def done(self) -> bool:
        return self.current and self.phase == KINDS[self.kind].done_phase


@dataclass(frozen=True)
class Readiness:
    ready: bool
    condition: str
    reason: str
    message: str
    inputs: dict[str, str] = field(default_factory=dict)  # Kind/name -> identity, when ready
    met: tuple[tuple[str, str], ...] = ()  # (condition, message) of each dependency met


def _short(names: list[str], limit: int = 5) -> str:
    head = ", ".join(names[:limit])
    return head + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def _plural(kind: str, n: int) -> str:
    return kind if n == 1 else ("DatasetFamilies" if kind == DATASET_FAMILY else f"{kind}s")


def selections(kind: str, spec: Any) -> list[tuple[Dependency, Selection]]:
    """The dependencies ``spec`` actually has, with what each selects."""
    out = []
    for dep in KINDS[kind].dependencies:
        chosen = dep.select(spec)
        if chosen is not None:
            out.append((dep, chosen))
    return out


def readiness(kind: str, name: str, spec: Any, observed: Callable[[str], list[Observed]]) -> Readiness:
    """Whether every dependency of the resource is done; ``observed(kind)`` lists the resources of
    a kind the runtime knows (in the resource's namespace). When ready, ``inputs`` holds the
    identities that join the resource's hash."""
    from .selection import select

    inputs: dict[str, str] = {}
    met: list[tuple[str, str]] = []
    for dep, selection in selections(kind, spec):
        pool = {o.name: o for o in observed(dep.kind)}
        exclude = name if dep.kind == kind else None
        chosen, missing = select(selection, ((o.name, o.labels) for o in pool.values()), exclude=exclude)
        plural = _plural(dep.kind, 2)
        if missing:
            return Readiness(
                False, dep.condition, dep.reason, f"{_plural(dep.kind, len(missing))} not found: {_short(missing)}"
            )
        if not chosen:
            return Readiness(False, dep.condition, dep.reason, f"no {dep.kind} matches the selector")
        pending = [n for n in chosen if not pool[n].done]
        if pending:
            states = [f"{n} ({pool[n].phase or 'not started'})" for n in pending]
            done = KINDS[dep.kind].done_phase
            message = f"{len(pending)}/{len(chosen)} {plural} not {done}: {_short(states)}"
            return Readiness(False, dep.condition, dep.reason, message)
        if dep.joins_identity:
            inputs.update({input_key(dep.kind, n): str(pool[n].identity or "") for n in chosen})
        met.append(
            (
                dep.condition,
                f"{len(chosen)} {_plural(dep.kind, len(chosen))} {KINDS[dep.kind].done_phase}: {_short(chosen)}",
            )
        )
    return Readiness(True, "", "", "", inputs, tuple(met))
