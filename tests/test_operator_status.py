"""Pure parts of the operator: workflow -> status, dependency readiness, gate decisions."""

from __future__ import annotations

import pytest

from pixelgate.operator import dependencies as deps
from pixelgate.operator.gates import APPROVED_BY_ANNOTATION, decide
from pixelgate.operator.status import status_from_workflow, waiting_status
from pixelgate.workflows.api import parse_resource
from pixelgate.workflows.api.kinds import KINDS, readiness
from pixelgate.workflows.render import render_workflow

from .fake_argo import task_templates, with_status, workflow_status
from .operator_support import EIGHT_GATES, compile_run, family


def _cond(status: dict, type_: str) -> dict:
    return next(c for c in status["conditions"] if c["type"] == type_)


def _manifest(doc: dict, inputs: dict | None = None) -> dict:
    return render_workflow(parse_resource(doc), store_uri="s3://store", inputs=inputs)


FAMILY = _manifest(family("fam"))
COMPILE = _manifest(compile_run("c", ["a"]), {"DatasetFamily/a": "abc"})
COMPILE_TASKS = list(task_templates(COMPILE))


def test_family_status_follows_the_workflow_and_copies_declared_results():
    pending, events = status_from_workflow("DatasetFamily", {}, with_status(FAMILY, {}), 1)
    assert pending["phase"] == "Pending" and _cond(pending, "Ready")["status"] == "False"
    assert (
        pending["workflow"] == FAMILY["metadata"]["name"]
        and pending["specHash"] == FAMILY["metadata"]["labels"]["pixelgate.dev/spec-hash"]
    )
    assert pending["observedGeneration"] == 1
    running, events = status_from_workflow(
        "DatasetFamily",
        pending,
        with_status(FAMILY, workflow_status(FAMILY, "Running", {"ingest": "Running"}, progress="0/1")),
        1,
    )
    assert running["phase"] == "Running" and running["progress"] == "0/1"
    assert [e.reason for e in events] == ["WorkflowRunning"]
    result = {
        "family": "fam",
        "spec_hash": "x",
        "output_uri": "s3://store/families/fam/x",
        "records_in": 10,
        "records_out": 8,
        "quarantined": 2,
        "quarantined_by_reason": {"schema": 2},
        "pii_entities": 3,
        "quality_mean": 0.7,
    }
    done = with_status(
        FAMILY,
        workflow_status(FAMILY, "Succeeded", {"ingest": "Succeeded"}, results={"ingest": result}, progress="1/1"),
    )
    ready, events = status_from_workflow("DatasetFamily", running, done, 1)
    assert ready["phase"] == "Ready"
    assert (
        ready["recordsIn"],
        ready["recordsOut"],
        ready["quarantined"],
        ready["qualityMean"],
        ready["piiEntities"],
    ) == (10, 8, 2, 0.7, 3)
    assert ready["outputUri"] == "s3://store/families/fam/x"
    assert (
        ready["specHash"] == FAMILY["metadata"]["labels"]["pixelgate.dev/spec-hash"]
    )  # the label, never a result's own claim
    assert _cond(ready, "Ready")["status"] == "True" and _cond(ready, "Ready")["reason"] == "WorkflowSucceeded"
    assert _cond(ready, "Ingested")["status"] == "True"
    assert {e.reason for e in events} == {"WorkflowSucceeded", "Ready", "Ingested"}
    # the same workflow again: nothing changes, nothing to announce
    again, events = status_from_workflow("DatasetFamily", ready, done, 1)
    assert again == ready and events == []


def _finalize_result(passed: bool) -> dict:
    gates = [dict(g, passed=(g["name"] != "duplicates" or passed)) for g in EIGHT_GATES]
    return {
        "spec_hash": "x",
        "output_uri": "s3://store/compiles/c/x",
        "manifest_uri": "m",
        "report_uri": "r",
        "records": 10,
        "duplicate_rate": 0.02,
        "output_duplicate_rate": 0.0 if passed else 0.05,
        "gates_passed": "8/8" if passed else "7/8",
        "passed": passed,
        "gates": gates,
        "drift_uri": None,
        "drift_level": None,
        "drift": [],
    }


def test_compile_is_verified_exactly_when_every_gate_passed():
    every = {task: "Succeeded" for task in COMPILE_TASKS}
    items = {"signatures": 3, "buckets": 4, "filter": 3}
    good = with_status(
        COMPILE,
        workflow_status(COMPILE, "Succeeded", every, results={"finalize": _finalize_result(True)}, items=items),
    )
    status, _ = status_from_workflow("CompileRun", {}, good, 1)
    assert status["phase"] == "Succeeded" and _cond(status, "Deduplicated")["status"] == "True"
    assert _cond(status, "Verified")["status"] == "True" and status["gatesPassed"] == "8/8" and status["records"] == 10
    # the finalize pod exits 0 when a gate fails: Verified must still say False, and why
    bad = with_status(
        COMPILE,
        workflow_status(COMPILE, "Succeeded", every, results={"finalize": _finalize_result(False)}, items=items),
    )
    status, events = status_from_workflow("CompileRun", {}, bad, 1)
    verified = _cond(status, "Verified")
    assert (
        verified["status"] == "False" and verified["reason"] == "GatesFailed" and "duplicates" in verified["message"]
    )
    assert any(e.type == "Warning" and e.reason == "VerifiedFalse" for e in events)
    # finalize still running: Unknown, not True
    running = dict(every, finalize="Running")
    status, _ = status_from_workflow(
        "CompileRun", {}, with_status(COMPILE, workflow_status(COMPILE, "Running", running, items=items)), 1
    )
    assert _cond(status, "Verified")["status"] == "Unknown" and _cond(status, "Deduplicated")["status"] == "True"


def test_compile_stage_conditions_and_node_failures():
    phases = {
        "plan": "Succeeded",
        "signatures": "Succeeded",
        "buckets": "Succeeded",
        "merge": "Succeeded",
        "filter": "Succeeded",
        "finalize": "Failed",
    }
    wf = with_status(COMPILE, workflow_status(COMPILE, "Failed", phases, messages={"finalize": "exit code 1"}))
    status, events = status_from_workflow("CompileRun", {}, wf, 3)
    assert status["phase"] == "Failed"
    assert _cond(status, "Deduplicated")["status"] == "True"  # a later stage started, so dedup is done
    verified = _cond(status, "Verified")
    assert (
        verified["status"] == "False" and verified["reason"] == "StepFailed" and "exit code 1" in verified["message"]
    )
    assert status["failedNodes"] == [{"name": "finalize", "phase": "Failed", "message": "exit code 1"}]
    assert _cond(status, "Succeeded")["status"] == "False" and _cond(status, "Succeeded")["observedGeneration"] == 3
    warning = [e for e in events if e.reason == "WorkflowFailed"]
    assert warning and warning[0].type == "Warning" and "exit code 1" in warning[0].message


def test_every_stage_condition_names_rendered_tasks():
    for kind, info in KINDS.items():
        if not info.has_workflow:
            continue
        declared = {t.name for t in info.tasks}
        for stage in info.stages:
            assert set(stage.tasks) <= declared, (kind, stage.condition)
    assert set(task_templates(COMPILE)) == {t.name for t in KINDS["CompileRun"].tasks}


def test_a_fake_task_outside_the_manifest_is_refused():
    with pytest.raises(AssertionError, match="not in the rendered workflow"):
        workflow_status(COMPILE, "Running", {"verify": "Running"})


def test_waiting_status_keeps_transition_time_and_announces_once():
    first, events = waiting_status("CompileRun", {}, "FamiliesReady", "WaitingForFamilies", "1/2 not Ready: a", 1)
    assert first["phase"] == "Waiting" and _cond(first, "FamiliesReady")["reason"] == "WaitingForFamilies"
    assert len(events) == 1
    second, events = waiting_status("CompileRun", first, "FamiliesReady", "WaitingForFamilies", "1/2 not Ready: a", 1)
    assert second == first and events == []


def _ref(
    name: str,
    phase: str | None,
    labels: dict | None = None,
    current: bool = True,
    status: dict | None = None,
    spec: dict | None = None,
    kind: str = "DatasetFamily",
) -> deps.Ref:
    return deps.Ref(
        kind,
        name,
        phase,
        current,
        tuple(sorted((labels or {}).items())),
        {"phase": phase, "specHash": f"h-{name}", **(status or {})},
        spec or {},
    )


def _ready(spec_doc: dict, refs: list[deps.Ref]):
    resource = parse_resource(spec_doc)
    return readiness(
        resource.kind, resource.name, resource.spec, lambda kind: [r.observed() for r in refs if r.kind == kind]
    )


def test_family_readiness_by_names_and_selector():
    fams = [
        _ref("a", "Ready", {"stage": "x"}),
        _ref("b", "Running", {"stage": "x"}),
        _ref("c", "Ready", {"stage": "y"}, current=False),
    ]
    r = _ready(compile_run("k", ["a", "zz"]), fams)
    assert not r.ready and r.reason == "WaitingForFamilies" and r.condition == "FamiliesReady" and "zz" in r.message
    r = _ready(compile_run("k", selector={"stage": "x"}), fams)
    assert not r.ready and "1/2" in r.message and "b" in r.message
    assert not _ready(compile_run("k", ["c"]), fams).ready  # Ready, but for an older generation
    ok = _ready(compile_run("k", ["a"]), fams)
    assert ok.ready and ok.inputs == {"DatasetFamily/a": "h-a"} and ok.met[0][0] == "FamiliesReady"
    assert not _ready(compile_run("k", selector={"stage": "none"}), fams).ready


def test_a_compile_waits_for_its_baseline():
    fams = [_ref("a", "Ready")]
    doc = compile_run("k", ["a"], baseline="old")
    r = _ready(doc, fams)
    assert not r.ready and r.condition == "BaselineReady" and r.reason == "WaitingForBaseline"
    r = _ready(doc, fams + [_ref("old", "Running", kind="CompileRun")])
    assert not r.ready and "old (Running)" in r.message
    r = _ready(doc, fams + [_ref("old", "Succeeded", kind="CompileRun")])
    assert r.ready and r.inputs == {"DatasetFamily/a": "h-a", "CompileRun/old": "h-old"}


def test_dependents_indexes():
    index = deps.dependents_index("CompileRun")
    body = compile_run("c", ["a", "b"], selector={"x": "y"}, baseline="old")
    assert index(body, "ns", "c") == {
        ("ns", "DatasetFamily", "a"): ("CompileRun", "c"),
        ("ns", "DatasetFamily", "b"): ("CompileRun", "c"),
        ("ns", "DatasetFamily", deps.ANY): ("CompileRun", "c"),
        ("ns", "CompileRun", "old"): ("CompileRun", "c"),
    }
    review = {
        "apiVersion": "pixelgate.dev/v1alpha1",
        "kind": "GateReview",
        "metadata": {"name": "g"},
        "spec": {"gate": "expansion-improvement", "trainingRun": "t", "baselineTrainingRun": "b"},
    }
    assert deps.dependents_index("GateReview")(review, "ns", "g") == {
        ("ns", "TrainingRun", "t"): ("GateReview", "g"),
        ("ns", "TrainingRun", "b"): ("GateReview", "g"),
    }


def _indexes(compiles: list[deps.Ref] | None = None, trainings: list[deps.Ref] | None = None) -> dict:
    return {
        deps.KIND_INDEX["CompileRun"]: {"ns": compiles or []},
        deps.KIND_INDEX["TrainingRun"]: {"ns": trainings or []},
    }


def _review(spec: dict, annotations: dict | None = None, status: dict | None = None) -> dict:
    return {
        "apiVersion": "pixelgate.dev/v1alpha1",
        "kind": "GateReview",
        "metadata": {"name": "g", "namespace": "ns", "generation": 2, "annotations": annotations or {}},
        "spec": spec,
        "status": status or {},
    }


def test_baseline_gate_names_gaps_and_waits_for_approval():
    scores = {"empathy": 0.8, "therapeutic_appropriateness": 0.7, "safety": 0.9}
    trainings = _indexes(
        trainings=[
            _ref(
                "t",
                "Succeeded",
                status={"scores": scores},
                spec={"compileRun": "c", "model": {"base": "x"}},
                kind="TrainingRun",
            )
        ]
    )
    status, events = decide(_review({"gate": "baseline-metrics", "trainingRun": "t"}), trainings)
    assert status["phase"] == "Failed" and status["decision"] == "Fail"
    assert any("therapeutic_appropriateness" in g for g in status["gaps"]) and events[0].type == "Warning"
    good = _indexes(
        trainings=[
            _ref(
                "t",
                "Succeeded",
                status={"scores": {**scores, "therapeutic_appropriateness": 0.8}},
                spec={"compileRun": "c", "model": {"base": "x"}},
                kind="TrainingRun",
            )
        ]
    )
    spec = {"gate": "baseline-metrics", "trainingRun": "t", "approval": {"required": True}}
    waiting, _ = decide(_review(spec), good)
    assert waiting["phase"] == "AwaitingApproval" and "approvedBy" not in waiting
    approved, events = decide(_review(spec, {APPROVED_BY_ANNOTATION: "dr-lee"}, waiting), good)
    assert approved["phase"] == "Passed" and approved["approvedBy"] == "dr-lee" and approved["approvedAt"]
    assert approved["observedGeneration"] == 2 and events[0].reason == "GatePassed"
    again, events = decide(_review(spec, {APPROVED_BY_ANNOTATION: "dr-lee"}, approved), good)
    assert again["approvedAt"] == approved["approvedAt"] and events == []


def test_review_waits_for_an_unfinished_run():
    status, events = decide(
        _review({"gate": "data-foundation", "compileRun": "c"}),
        _indexes(compiles=[_ref("c", "Running", kind="CompileRun")]),
    )
    assert status["phase"] == "Waiting" and events[0].reason == "WaitingForRun"


@pytest.mark.parametrize(
    "garbage",
    [
        {"phase": 3},
        {"phase": "Running", "nodes": ["not", "a", "map"]},
        {
            "phase": "Succeeded",
            "nodes": {
                "n": {"type": "Pod", "templateName": "ingest", "phase": "Succeeded", "outputs": {"parameters": "x"}}
            },
        },
        {"phase": "Running", "progress": {"done": 1}},
    ],
)
def test_a_workflow_status_of_the_wrong_shape_is_a_condition_not_an_exception(garbage):
    before, _ = status_from_workflow(
        "DatasetFamily", {}, with_status(FAMILY, workflow_status(FAMILY, "Running", {"ingest": "Running"})), 1
    )
    after, events = status_from_workflow("DatasetFamily", before, with_status(FAMILY, garbage), 1)
    ready = _cond(after, "Ready")
    assert (
        ready["reason"] == "InvalidWorkflowStatus" and "cannot read" in ready["message"] and ready["status"] == "False"
    )
    assert after["phase"] == "Running" and [e.reason for e in events] == ["InvalidWorkflowStatus"]
    again, events = status_from_workflow("DatasetFamily", after, with_status(FAMILY, garbage), 1)
    assert again == after and events == []
