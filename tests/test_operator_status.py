"""Pure parts of the operator: workflow -> status, dependency readiness, gate decisions."""

from __future__ import annotations

import json

from pixelgate.operator import dependencies as deps
from pixelgate.operator.gates import APPROVED_BY_ANNOTATION, decide
from pixelgate.operator.status import status_from_workflow, waiting_status
from pixelgate.workflows.api.compile_run import FamilySelection


def _cond(status: dict, type_: str) -> dict:
    return next(c for c in status["conditions"] if c["type"] == type_)


def _wf(phase: str | None, nodes: dict | None = None, outputs: dict | None = None, name: str = "fam-abc", progress: str | None = None) -> dict:
    status: dict = {"nodes": nodes or {}}
    if phase:
        status["phase"] = phase
    if progress:
        status["progress"] = progress
    if outputs:
        status["outputs"] = {"parameters": [{"name": k, "value": json.dumps(v)} for k, v in outputs.items()]}
    return {"metadata": {"name": name, "labels": {"pixelgate.dev/spec-hash": "abc"}}, "status": status}


def test_family_status_follows_the_workflow_and_copies_outputs():
    pending, events = status_from_workflow("DatasetFamily", {}, _wf(None), 1)
    assert pending["phase"] == "Pending" and _cond(pending, "Ready")["status"] == "False"
    assert pending["workflow"] == "fam-abc" and pending["specHash"] == "abc" and pending["observedGeneration"] == 1
    node = {"id": "n1", "type": "Pod", "templateName": "ingest", "displayName": "ingest", "phase": "Running", "startedAt": "t1"}
    running, events = status_from_workflow("DatasetFamily", pending, _wf("Running", {"n1": node}, progress="0/1"), 1)
    assert running["phase"] == "Running" and running["progress"] == "0/1"
    assert [e.reason for e in events] == ["WorkflowRunning"]
    done_node = {**node, "phase": "Succeeded"}
    outputs = {"ingest": {"records_in": 10, "recordsOut": 8, "quarantined": 2, "quality_mean": 0.7, "unknown": 1}}
    ready, events = status_from_workflow("DatasetFamily", running, _wf("Succeeded", {"n1": done_node}, outputs, progress="1/1"), 1)
    assert ready["phase"] == "Ready"
    assert (ready["recordsIn"], ready["recordsOut"], ready["quarantined"], ready["qualityMean"]) == (10, 8, 2, 0.7)
    assert _cond(ready, "Ready")["status"] == "True" and _cond(ready, "Ready")["reason"] == "WorkflowSucceeded"
    assert _cond(ready, "Ingested")["status"] == "True"
    assert {e.reason for e in events} == {"WorkflowSucceeded", "Ready", "Ingested"}
    # the same workflow again: nothing changes, nothing to announce
    again, events = status_from_workflow("DatasetFamily", ready, _wf("Succeeded", {"n1": done_node}, outputs, progress="1/1"), 1)
    assert again == ready and events == []


def test_compile_stage_conditions_and_node_failures():
    nodes = {
        "a": {"id": "a", "type": "Pod", "templateName": "compile-plan", "displayName": "plan", "phase": "Succeeded", "startedAt": "1"},
        "b": {"id": "b", "type": "Pod", "templateName": "compile-signatures", "displayName": "signatures(0)", "phase": "Succeeded", "startedAt": "2"},
        "c": {"id": "c", "type": "Pod", "templateName": "compile-merge", "displayName": "merge", "phase": "Succeeded", "startedAt": "3"},
        "d": {"id": "d", "type": "Pod", "templateName": "compile-verify", "displayName": "verify", "phase": "Failed", "message": "exit code 1", "startedAt": "4"},
    }
    status, events = status_from_workflow("CompileRun", {}, _wf("Failed", nodes, name="c-1"), 3)
    assert status["phase"] == "Failed"
    assert _cond(status, "Deduplicated")["status"] == "True"  # a later stage started, so dedup is done
    verified = _cond(status, "Verified")
    assert verified["status"] == "False" and verified["reason"] == "StepFailed" and "exit code 1" in verified["message"]
    assert status["failedNodes"] == [{"name": "verify", "phase": "Failed", "message": "exit code 1"}]
    assert _cond(status, "Succeeded")["status"] == "False" and _cond(status, "Succeeded")["observedGeneration"] == 3
    warning = [e for e in events if e.reason == "WorkflowFailed"]
    assert warning and warning[0].type == "Warning" and "exit code 1" in warning[0].message


def test_waiting_status_keeps_transition_time_and_announces_once():
    first, events = waiting_status("CompileRun", {}, "FamiliesReady", "WaitingForFamilies", "1/2 not Ready: a", 1)
    assert first["phase"] == "Waiting" and _cond(first, "FamiliesReady")["reason"] == "WaitingForFamilies"
    assert len(events) == 1
    second, events = waiting_status("CompileRun", first, "FamiliesReady", "WaitingForFamilies", "1/2 not Ready: a", 1)
    assert second == first and events == []


def _ref(name: str, phase: str | None, labels: dict | None = None, current: bool = True, status: dict | None = None, spec: dict | None = None) -> deps.Ref:
    return deps.Ref(name, phase, current, tuple(sorted((labels or {}).items())), {"phase": phase, **(status or {})}, spec or {})


def test_family_readiness_by_names_and_selector():
    fams = [_ref("a", "Ready", {"stage": "x"}), _ref("b", "Running", {"stage": "x"}), _ref("c", "Ready", {"stage": "y"}, current=False)]
    r = deps.families_readiness(FamilySelection(names=["a", "zz"]), fams)
    assert not r.ready and r.reason == "WaitingForFamilies" and "zz" in r.message
    r = deps.families_readiness(FamilySelection(selector={"matchLabels": {"stage": "x"}}), fams)
    assert not r.ready and "1/2" in r.message and "b" in r.message
    r = deps.families_readiness(FamilySelection(names=["c"]), fams)  # Ready, but for an older generation
    assert not r.ready
    assert deps.families_readiness(FamilySelection(names=["a"]), fams).ready
    assert not deps.families_readiness(FamilySelection(selector={"matchLabels": {"stage": "none"}}), fams).ready


def test_dependents_indexes():
    assert deps.index_compile_dependents({"families": {"names": ["a", "b"], "selector": {"matchLabels": {}}}}, "ns", "c") == {
        ("ns", "a"): "c", ("ns", "b"): "c", ("ns", deps.ANY): "c"
    }
    assert deps.index_review_dependents({"trainingRun": "t", "baselineTrainingRun": "b"}, "ns", "g") == {
        ("ns", "TrainingRun", "t"): "g", ("ns", "TrainingRun", "b"): "g"
    }


def _review(spec: dict, annotations: dict | None = None, status: dict | None = None) -> dict:
    return {
        "apiVersion": "pixelgate.dev/v1alpha1", "kind": "GateReview",
        "metadata": {"name": "g", "namespace": "ns", "generation": 2, "annotations": annotations or {}},
        "spec": spec, "status": status or {},
    }


def test_baseline_gate_names_gaps_and_waits_for_approval():
    scores = {"empathy": 0.8, "therapeutic_appropriateness": 0.7, "safety": 0.9}
    trainings = {"ns": [_ref("t", "Succeeded", status={"scores": scores}, spec={"compileRun": "c", "model": {"base": "x"}})]}
    status, events = decide(_review({"gate": "baseline-metrics", "trainingRun": "t"}), {}, trainings)
    assert status["phase"] == "Failed" and status["decision"] == "Fail"
    assert any("therapeutic_appropriateness" in g for g in status["gaps"]) and events[0].type == "Warning"
    good = {"ns": [_ref("t", "Succeeded", status={"scores": {**scores, "therapeutic_appropriateness": 0.8}}, spec={"compileRun": "c", "model": {"base": "x"}})]}
    spec = {"gate": "baseline-metrics", "trainingRun": "t", "approval": {"required": True}}
    waiting, _ = decide(_review(spec), {}, good)
    assert waiting["phase"] == "AwaitingApproval" and "approvedBy" not in waiting
    approved, events = decide(_review(spec, {APPROVED_BY_ANNOTATION: "dr-lee"}, waiting), {}, good)
    assert approved["phase"] == "Passed" and approved["approvedBy"] == "dr-lee" and approved["approvedAt"]
    assert approved["observedGeneration"] == 2 and events[0].reason == "GatePassed"
    again, events = decide(_review(spec, {APPROVED_BY_ANNOTATION: "dr-lee"}, approved), {}, good)
    assert again["approvedAt"] == approved["approvedAt"] and events == []


def test_review_waits_for_an_unfinished_run():
    status, events = decide(_review({"gate": "data-foundation", "compileRun": "c"}), {"ns": [_ref("c", "Running")]}, {})
    assert status["phase"] == "Waiting" and events[0].reason == "WaitingForRun"
