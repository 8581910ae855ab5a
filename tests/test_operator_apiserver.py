"""The operator end to end against a real kube-apiserver: workflows created with owners, labels and
names; statuses, conditions, printer columns and Events following the workflows (we play Argo);
dependencies through indexes; GateReviews decided with approval; retention finalizers only where needed."""

from __future__ import annotations

import time
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest

from pixelgate.operator.config import OperatorConfig
from pixelgate.workflows.api import parse_resource
from tests.fake_argo import task_templates
from tests.operator_support import (
    EIGHT_GATES,
    Argo,
    Cluster,
    RunningOperator,
    compile_run,
    family,
    gate_review,
    training_run,
    wait_until,
)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def operator(kube, cluster, store):
    cfg = OperatorConfig(
        store_uri=str(store),
        namespaces=(cluster.ns,),
        kubeconfig=str(kube.kubeconfig),
        standalone=True,
        metrics_port=0,
        metrics_host="127.0.0.1",
    )
    with RunningOperator(cfg) as op:
        yield op


def _metrics(op: RunningOperator) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{op.metrics.port}/metrics", timeout=10) as resp:
        return resp.read().decode()


def _gauge(op: RunningOperator, series: str) -> float | None:
    """The value of one exposition line, e.g. ``name{a="b"}``; None while it is absent."""
    for line in _metrics(op).splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def _hash(obj: dict) -> str:
    return parse_resource(obj).spec_hash()


def test_quickstart_flow(cluster: Cluster, operator: RunningOperator, store: Path):
    argo = Argo(cluster)
    fams = [family("fam-a"), family("fam-b", tier=1)]
    for f in fams:
        cluster.create(f)
    cluster.create(compile_run("qs-compile", families=["fam-a", "fam-b"]))
    cluster.create(training_run("qs-train", "qs-compile"))
    cluster.create(gate_review("gate1", gate="data-foundation", compileRun="qs-compile"))
    cluster.create(gate_review("gate2", gate="baseline-metrics", trainingRun="qs-train", approval={"required": True}))

    # Families: one workflow each, named <name>-<spec hash>, owned by the family, labelled.
    for f in fams:
        name = f["metadata"]["name"]
        wf = wait_until(lambda name=name: cluster.workflow_of("DatasetFamily", name), what=f"workflow of {name}")
        owner = cluster.get("DatasetFamily", name)
        assert wf["metadata"]["name"] == f"{name}-{_hash(f)}"
        assert wf["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "pixelgate.dev/v1alpha1",
                "kind": "DatasetFamily",
                "name": name,
                "uid": owner["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        labels = wf["metadata"]["labels"]
        assert labels["pixelgate.dev/kind"] == "DatasetFamily" and labels["pixelgate.dev/name"] == name
        assert (
            labels["pixelgate.dev/spec-hash"] == _hash(f)
            and labels["app.kubernetes.io/managed-by"] == "pixelgate-operator"
        )
        wait_until(
            lambda name=name, wf=wf: cluster.status("DatasetFamily", name).get("workflow") == wf["metadata"]["name"],
            what="status.workflow",
        )
        st = cluster.status("DatasetFamily", name)
        assert st["phase"] == "Pending" and st["observedGeneration"] == 1 and st["specHash"] == _hash(f)

    # The CompileRun waits for its families; the TrainingRun for the compile; no workflows for them yet.
    wait_until(
        lambda: cluster.condition("CompileRun", "qs-compile", "FamiliesReady").get("reason") == "WaitingForFamilies",
        what="compile waiting",
    )
    assert cluster.status("CompileRun", "qs-compile")["phase"] == "Waiting"
    wait_until(
        lambda: cluster.condition("TrainingRun", "qs-train", "CompileReady").get("reason") == "WaitingForCompile",
        what="training waiting",
    )
    wait_until(lambda: cluster.status("GateReview", "gate1").get("phase") == "Waiting", what="gate1 waiting")
    assert (
        cluster.workflow_of("CompileRun", "qs-compile") is None
        and cluster.workflow_of("TrainingRun", "qs-train") is None
    )

    # Argo runs fam-a: Running, then Succeeded with the ingest result as an output parameter.
    wf_a = cluster.workflow_of("DatasetFamily", "fam-a")["metadata"]["name"]
    argo.set(wf_a, "Running", {"ingest": "Running"}, progress="0/1")
    wait_until(lambda: cluster.status("DatasetFamily", "fam-a").get("phase") == "Running", what="fam-a Running")
    progress = (
        f'pixelgate_workflow_last_progress_timestamp_seconds{{kind="DatasetFamily",'
        f'name="fam-a",namespace="{cluster.ns}"}} 1.767225601e+09'
    )
    wait_until(lambda: progress in _metrics(operator), what="last-progress metric while running")
    assert cluster.status("DatasetFamily", "fam-a")["progress"] == "0/1"
    ingest = {
        "records_in": 120,
        "records_out": 100,
        "quarantined": 20,
        "pii_entities": 12,
        "quality_mean": 0.74,
        "output_uri": "s3://x/families/fam-a",
    }
    argo.set(wf_a, "Succeeded", {"ingest": "Succeeded"}, results={"ingest": ingest}, progress="1/1")
    wait_until(lambda: cluster.status("DatasetFamily", "fam-a").get("phase") == "Ready", what="fam-a Ready")
    st = cluster.status("DatasetFamily", "fam-a")
    assert (st["recordsIn"], st["recordsOut"], st["quarantined"], st["qualityMean"]) == (120, 100, 20, 0.74)
    assert cluster.condition("DatasetFamily", "fam-a", "Ready")["status"] == "True"
    assert cluster.condition("DatasetFamily", "fam-a", "Ingested")["status"] == "True"
    # One family is not enough for the compile.
    wait_until(
        lambda: "fam-b" in cluster.condition("CompileRun", "qs-compile", "FamiliesReady").get("message", ""),
        what="compile names fam-b",
    )
    assert cluster.workflow_of("CompileRun", "qs-compile") is None

    # fam-b fails, then (after a fix of the source) we play a success: the compile starts on its own.
    wf_b = cluster.workflow_of("DatasetFamily", "fam-b")["metadata"]["name"]
    argo.set(wf_b, "Failed", {"ingest": "Failed"}, messages={"ingest": "OOMKilled"}, message="child failed")
    wait_until(lambda: cluster.status("DatasetFamily", "fam-b").get("phase") == "Failed", what="fam-b Failed")
    st = cluster.status("DatasetFamily", "fam-b")
    assert st["failedNodes"] == [{"name": "ingest", "phase": "Failed", "message": "OOMKilled"}]
    wait_until(lambda: ("Warning", "WorkflowFailed") in cluster.events("fam-b"), what="Warning event")
    argo.set(wf_b, "Succeeded", {"ingest": "Succeeded"}, results={"ingest": {**ingest, "records_out": 50}})
    compile_wf = wait_until(
        lambda: cluster.workflow_of("CompileRun", "qs-compile"), what="compile workflow after families Ready"
    )
    assert compile_wf["metadata"]["ownerReferences"][0]["name"] == "qs-compile"
    wait_until(
        lambda: cluster.condition("CompileRun", "qs-compile", "FamiliesReady").get("status") == "True",
        what="FamiliesReady True",
    )

    # The compile succeeds with 8/8 gates: Gate 1 passes; the TrainingRun starts.
    every_task = {task: "Succeeded" for task in task_templates(compile_wf)}
    result = {
        "records": 150,
        "duplicate_rate": 0.0625,
        "output_duplicate_rate": 0.002,
        "gates": EIGHT_GATES,
        "gates_passed": "8/8",
        "passed": True,
        "manifest_uri": "s3://x/m.json",
        "drift": [{"feature": "turns", "psi": 0.12, "js": 0.03, "level": "warn"}],
    }
    argo.set(
        compile_wf["metadata"]["name"],
        "Succeeded",
        every_task,
        results={"finalize": result},
        items={"signatures": 2, "filter": 2},
        progress="8/8",
    )
    wait_until(
        lambda: cluster.status("CompileRun", "qs-compile").get("phase") == "Succeeded", what="compile Succeeded"
    )
    for cond in ("Succeeded", "Deduplicated", "Verified", "FamiliesReady"):
        assert cluster.condition("CompileRun", "qs-compile", cond)["status"] == "True", cond
    wait_until(lambda: cluster.status("GateReview", "gate1").get("phase") == "Passed", what="gate1 Passed")
    checks = cluster.status("GateReview", "gate1")["checks"]
    assert all(c["verdict"] == "Pass" for c in checks) and {"observed", "target"} <= set(checks[0])
    train_wf = wait_until(lambda: cluster.workflow_of("TrainingRun", "qs-train"), what="training workflow")

    # A running training reports progress through Argo's progress file: the operator dates it.
    # Stuck at 0 since its start -> dated by the start; once it advances -> dated when seen.
    gauge = f'pixelgate_training_last_progress_timestamp_seconds{{namespace="{cluster.ns}",training="qs-train"}}'
    started = "2026-01-01T00:00:01Z"  # fake_argo starts the first task's pod at second 1
    argo.set(
        train_wf["metadata"]["name"],
        "Running",
        {"train": "Running"},
        node_progress={"train": "0/100"},
        progress="0/100",
    )
    assert (
        wait_until(lambda: _gauge(operator, gauge), what="training progress gauge")
        == datetime.fromisoformat(started).timestamp()
    )
    before_advance = time.time()
    argo.set(
        train_wf["metadata"]["name"],
        "Running",
        {"train": "Running"},
        node_progress={"train": "40/100"},
        progress="40/100",
    )
    assert (
        wait_until(
            lambda: (v := _gauge(operator, gauge)) and v >= before_advance and v, what="progress dated when seen"
        )
        <= time.time()
    )

    # Training succeeds; Gate 2 passes its checks and waits for a human; the annotation approves it.
    scores = {"empathy": 0.72, "therapeutic_appropriateness": 0.8, "safety": 0.9}
    argo.set(
        train_wf["metadata"]["name"],
        "Succeeded",
        {"train": "Succeeded", "evaluate": "Succeeded"},
        results={"train": {"best_metric": 1.25}, "evaluate": {"scores": scores}},
    )
    wait_until(
        lambda: cluster.status("GateReview", "gate2").get("phase") == "AwaitingApproval", what="gate2 AwaitingApproval"
    )
    cluster.patch("GateReview", "gate2", {"metadata": {"annotations": {"pixelgate.dev/approved-by": "dr-lee"}}})
    wait_until(lambda: cluster.status("GateReview", "gate2").get("phase") == "Passed", what="gate2 Passed")
    st = cluster.status("GateReview", "gate2")
    assert st["approvedBy"] == "dr-lee" and st["approvedAt"] and st["decision"] == "Pass"

    # Printer columns through the real kubectl, and the category lists all four kinds.
    wide = cluster.kubectl("get", "datasetfamilies", "-o", "wide")
    header, *rows = wide.splitlines()
    assert header.split() == ["NAME", "PHASE", "READY", "RECORDS", "QUARANTINED", "QUALITY", "WORKFLOW", "AGE"]
    row_a = next(r.split() for r in rows if r.startswith("fam-a "))
    assert row_a[1:7] == ["Ready", "True", "100", "20", "0.74", wf_a]
    compiles = cluster.kubectl("get", "compileruns")
    assert compiles.splitlines()[0].split() == ["NAME", "PHASE", "RECORDS", "DUPRATE", "GATES", "VERIFIED", "AGE"]
    assert compiles.splitlines()[1].split()[1:6] == ["Succeeded", "150", "0.0625", "8/8", "True"]
    assert "Succeeded" in compiles and "0.0625" in compiles and "8/8" in compiles
    listing = cluster.kubectl("get", "pixelgate")
    for name in (
        "datasetfamily.pixelgate.dev/fam-a",
        "compilerun.pixelgate.dev/qs-compile",
        "trainingrun.pixelgate.dev/qs-train",
        "gatereview.pixelgate.dev/gate2",
    ):
        assert name in listing

    # Events on the transitions.
    events = cluster.events("qs-compile")
    for reason in ("WaitingForFamilies", "WorkflowCreated", "WorkflowSucceeded"):
        assert ("Normal", reason) in events, (reason, events)

    # Metrics on /metrics: resources by phase and per-resource figures.
    body = _metrics(operator)
    assert 'pixelgate_resources{kind="DatasetFamily",phase="Ready"} 2.0' in body
    assert 'pixelgate_family_records{family="fam-a",namespace="' in body
    assert 'pixelgate_compile_gate_passed{compile="qs-compile",gate="leakage"' in body
    assert 'pixelgate_training_metric{metric="safety",namespace="' in body
    assert f'pixelgate_compile_drift_psi{{compile="qs-compile",feature="turns",namespace="{cluster.ns}"}} 0.12' in body
    assert f'pixelgate_compile_max_duplicate_rate{{compile="qs-compile",namespace="{cluster.ns}"}} 0.01' in body
    assert f'pixelgate_training_gpus{{namespace="{cluster.ns}",training="qs-train"}} 0.0' in body
    assert f'pixelgate_compile_output_duplicate_rate{{compile="qs-compile",namespace="{cluster.ns}"}} 0.002' in body
    assert "pixelgate_workflow_last_progress_timestamp_seconds{" not in body  # nothing is running any more
    assert "pixelgate_training_last_progress_timestamp_seconds{" not in body
    assert 'pixelgate_gate_decision{decision="Pass",gate="baseline-metrics"' in body
    assert "pixelgate_reconcile_total" in body and "pixelgate_reconcile_duration_seconds_bucket" in body


def test_spec_change_creates_a_new_workflow_and_ignores_the_old(cluster: Cluster, operator: RunningOperator):
    f = family("fam-c")
    cluster.create(f)
    first = wait_until(lambda: cluster.workflow_of("DatasetFamily", "fam-c"), what="first workflow")["metadata"][
        "name"
    ]
    cluster.patch("DatasetFamily", "fam-c", {"spec": {"tier": 3}})
    f["spec"]["tier"] = 3
    second = f"fam-c-{_hash(f)}"
    wait_until(
        lambda: cluster.status("DatasetFamily", "fam-c").get("workflow") == second, what="new workflow in status"
    )
    assert cluster.status("DatasetFamily", "fam-c")["observedGeneration"] == 2
    names = {w["metadata"]["name"] for w in cluster.workflows()}
    assert {first, second} <= names
    # news of the old spec's workflow does not touch the status
    Argo(cluster).set(first, "Failed")
    Argo(cluster).set(second, "Running")
    wait_until(
        lambda: cluster.status("DatasetFamily", "fam-c").get("phase") == "Running",
        what="Running from the new workflow",
    )
    assert cluster.status("DatasetFamily", "fam-c")["workflow"] == second


def test_finalizer_only_with_retention_delete(cluster: Cluster, operator: RunningOperator, store: Path):
    cluster.create(family("keep"))
    cluster.create(family("drop", retention="Delete"))
    wait_until(
        lambda: cluster.workflow_of("DatasetFamily", "drop") and cluster.workflow_of("DatasetFamily", "keep"),
        what="workflows",
    )
    assert cluster.get("DatasetFamily", "drop")["metadata"].get("finalizers") == ["pixelgate.dev/cleanup"]
    assert not cluster.get("DatasetFamily", "keep")["metadata"].get("finalizers")
    data = store / "namespaces" / cluster.ns / "families" / "drop" / "abc" / "records" / "part-00000.parquet"
    data.parent.mkdir(parents=True)
    data.write_bytes(b"x")
    other = store / "namespaces" / "other-team" / "families" / "drop" / "abc" / "records" / "part-00000.parquet"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"theirs")
    cluster.custom.delete_namespaced_custom_object("pixelgate.dev", "v1alpha1", cluster.ns, "datasetfamilies", "drop")

    def gone() -> bool:
        try:
            cluster.get("DatasetFamily", "drop")
            return False
        except Exception:
            return True

    wait_until(gone, what="drop deleted")
    assert not data.exists()
    assert other.read_bytes() == b"theirs", "another namespace's family of the same name is not touched"


def test_workflows_go_with_their_owner(kube, cluster: Cluster, operator: RunningOperator):
    if kube.controller_manager is None:
        pytest.skip(
            "kube-controller-manager not built (bash tools/testcluster/build.sh "
            "kube-controller-manager): no garbage collector"
        )
    cluster.create(family("owned"))
    wait_until(lambda: cluster.workflow_of("DatasetFamily", "owned"), what="workflow")
    cluster.custom.delete_namespaced_custom_object("pixelgate.dev", "v1alpha1", cluster.ns, "datasetfamilies", "owned")
    wait_until(
        lambda: cluster.workflow_of("DatasetFamily", "owned") is None,
        timeout=60,
        what="workflow garbage-collected with its owner",
    )


def test_expansion_improvement_gate_compares_two_trainings(cluster: Cluster, operator: RunningOperator):
    """Gate 3 against the real apiserver: the candidate must improve the named metrics, with no
    regression beyond tolerance; the review re-decides as the trainings' statuses arrive."""
    argo = Argo(cluster)
    cluster.create(family("fam-g3"))
    cluster.create(compile_run("c-g3", families=["fam-g3"]))
    for name in ("base", "better", "worse"):
        cluster.create(training_run(name, "c-g3"))
    improve = {
        "gate": "expansion-improvement",
        "baselineTrainingRun": "base",
        "improve": ["empathy"],
        "tolerance": 0.02,
    }
    cluster.create(gate_review("g3-better", trainingRun="better", **improve))
    cluster.create(gate_review("g3-worse", trainingRun="worse", **improve))
    wait_until(
        lambda: cluster.status("GateReview", "g3-better").get("phase") == "Waiting",
        what="gate 3 waits for its trainings",
    )

    wf = wait_until(lambda: cluster.workflow_of("DatasetFamily", "fam-g3"), what="family workflow")["metadata"]["name"]
    argo.set(wf, "Succeeded", {"ingest": "Succeeded"}, results={"ingest": {"records_in": 10, "records_out": 10}})
    wf = wait_until(lambda: cluster.workflow_of("CompileRun", "c-g3"), what="compile workflow")["metadata"]["name"]
    argo.set(
        wf,
        "Succeeded",
        {task: "Succeeded" for task in task_templates(cluster.workflow_of("CompileRun", "c-g3"))},
        results={"finalize": {"records": 10, "gates": EIGHT_GATES, "gates_passed": "8/8", "passed": True}},
    )
    scores = {
        "base": {"empathy": 0.70, "safety": 0.85, "therapeutic_appropriateness": 0.80},
        "better": {"empathy": 0.76, "safety": 0.84, "therapeutic_appropriateness": 0.81},
        "worse": {"empathy": 0.70, "safety": 0.78, "therapeutic_appropriateness": 0.80},
    }
    for name in ("better", "worse", "base"):  # the baseline last: both reviews wait for it
        wf = wait_until(lambda n=name: cluster.workflow_of("TrainingRun", n), what=f"{name} workflow")["metadata"][
            "name"
        ]
        argo.set(
            wf,
            "Succeeded",
            {"train": "Succeeded", "evaluate": "Succeeded"},
            results={"train": {"best_metric": 1.0}, "evaluate": {"scores": scores[name]}},
        )
        if name != "base":
            wait_until(
                lambda n=name: cluster.status("TrainingRun", n).get("phase") == "Succeeded", what=f"{name} Succeeded"
            )
            assert cluster.status("GateReview", f"g3-{name}")["phase"] == "Waiting"  # no baseline yet

    passed = wait_until(
        lambda: (s := cluster.status("GateReview", "g3-better")).get("phase") == "Passed" and s,
        what="g3-better Passed",
    )
    assert passed["decision"] == "Pass" and passed["gaps"] == []
    checks = {c["name"]: c for c in passed["checks"]}
    assert checks["improve:empathy"]["verdict"] == "Pass" and checks["improve:empathy"]["observed"].startswith("0.76")
    assert checks["no-regression:safety"]["verdict"] == "Pass"  # -0.01: within the 0.02 tolerance
    failed = wait_until(
        lambda: (s := cluster.status("GateReview", "g3-worse")).get("phase") == "Failed" and s, what="g3-worse Failed"
    )
    assert failed["decision"] == "Fail"
    assert failed["gaps"][0].startswith("empathy did not improve") and any(
        g.startswith("safety regressed") for g in failed["gaps"]
    )
    assert {c["name"]: c["verdict"] for c in failed["checks"]}["no-regression:safety"] == "Fail"


def test_a_derived_family_waits_for_its_parents_and_re_derives_when_one_changes(
    cluster: Cluster, operator: RunningOperator
):
    argo = Argo(cluster)
    parent = family("parent-a")
    cluster.create(parent)
    derived = {
        "apiVersion": parent["apiVersion"],
        "kind": "DatasetFamily",
        "metadata": {"name": "long-a"},
        "spec": {"source": {"derive": {"from": {"names": ["parent-a"]}, "where": {"minTurns": 21}}}},
    }
    cluster.create(derived)

    # SourcesReady=False while the parent is not Ready; no workflow for the derived family yet.
    waiting = wait_until(
        lambda: cluster.condition("DatasetFamily", "long-a", "SourcesReady"), what="derived family waits"
    )
    assert (
        waiting["status"] == "False" and waiting["reason"] == "WaitingForSources" and "parent-a" in waiting["message"]
    )
    assert cluster.status("DatasetFamily", "long-a")["phase"] == "Waiting"
    assert cluster.workflow_of("DatasetFamily", "long-a") is None

    def workflows_of(name: str) -> list[dict]:
        return [w for w in cluster.workflows() if w["metadata"]["labels"].get("pixelgate.dev/name") == name]

    def finish_parent() -> str:
        """Play the parent's newest workflow to success; its spec hash."""
        (wf,) = wait_until(
            lambda: [w for w in workflows_of("parent-a") if w["metadata"]["name"] not in finished],
            what="parent workflow",
        )
        argo.set(
            wf["metadata"]["name"],
            "Succeeded",
            {"ingest": "Succeeded"},
            results={"ingest": {"records_in": 5, "records_out": 5}},
        )
        finished.add(wf["metadata"]["name"])
        return wf["metadata"]["labels"]["pixelgate.dev/spec-hash"]

    finished: set[str] = set()
    first_parent_hash = finish_parent()
    first = wait_until(
        lambda: cluster.workflow_of("DatasetFamily", "long-a"), what="derived workflow once the parent is Ready"
    )
    assert cluster.condition("DatasetFamily", "long-a", "SourcesReady")["status"] == "True"
    own_hash = _hash(derived)
    assert first["metadata"]["name"] != f"long-a-{own_hash}"  # the parent's hash joined the derived family's
    argo.set(
        first["metadata"]["name"],
        "Succeeded",
        {"ingest": "Succeeded"},
        results={"ingest": {"records_in": 5, "records_out": 2}},
    )
    wait_until(lambda: cluster.status("DatasetFamily", "long-a").get("phase") == "Ready", what="derived Ready")

    # The parent's spec changes: once it is Ready again, the derived family re-derives (a new workflow).
    cluster.patch("DatasetFamily", "parent-a", {"spec": {"tier": 1}})
    assert finish_parent() != first_parent_hash
    second = wait_until(
        lambda: [w for w in workflows_of("long-a") if w["metadata"]["name"] != first["metadata"]["name"]],
        what="a new derived workflow after the parent changed",
    )
    assert len(second) == 1
    wait_until(
        lambda: cluster.status("DatasetFamily", "long-a").get("workflow") == second[0]["metadata"]["name"],
        what="status follows the new workflow",
    )
    # News of the superseded workflow is history now.
    argo.set(first["metadata"]["name"], "Failed", {"ingest": "Failed"}, message="late news")
    argo.set(
        second[0]["metadata"]["name"],
        "Succeeded",
        {"ingest": "Succeeded"},
        results={"ingest": {"records_in": 6, "records_out": 3}},
    )
    wait_until(
        lambda: cluster.status("DatasetFamily", "long-a").get("recordsOut") == 3,
        what="derived Ready on the new parent",
    )
    assert cluster.status("DatasetFamily", "long-a")["phase"] == "Ready"


def test_a_finished_workflow_removed_by_ttl_is_not_rerun_after_a_restart(kube, cluster: Cluster, store: Path):
    """Argo's TTL deletes finished workflows; the status and the store are the record, so an
    operator restart (kopf's resume handlers) must not create the workflow again."""
    cfg = OperatorConfig(
        store_uri=str(store),
        namespaces=(cluster.ns,),
        kubeconfig=str(kube.kubeconfig),
        standalone=True,
        metrics_port=0,
        metrics_host="127.0.0.1",
    )
    with RunningOperator(cfg):
        cluster.create(family("ttl-a"))
        wf = wait_until(lambda: cluster.workflow_of("DatasetFamily", "ttl-a"), what="workflow")["metadata"]["name"]
        Argo(cluster).set(
            wf, "Succeeded", {"ingest": "Succeeded"}, results={"ingest": {"records_in": 3, "records_out": 3}}
        )
        wait_until(lambda: cluster.status("DatasetFamily", "ttl-a").get("phase") == "Ready", what="family Ready")
    cluster.custom.delete_namespaced_custom_object("argoproj.io", "v1alpha1", cluster.ns, "workflows", wf)
    wait_until(lambda: cluster.workflow_of("DatasetFamily", "ttl-a") is None, what="the TTL's deletion")
    with RunningOperator(cfg) as again:
        resumed = again.metrics.reconciles.labels("DatasetFamily", "existing")
        wait_until(lambda: resumed._value.get() >= 1, what="the resume handler reconciled the family")
        time.sleep(2)  # anything it would create has been created by now
        assert cluster.workflow_of("DatasetFamily", "ttl-a") is None
    status = cluster.status("DatasetFamily", "ttl-a")
    assert status["phase"] == "Ready" and status["workflow"] == wf and status["recordsOut"] == 3


def test_a_compile_waits_for_its_baseline_and_recompiles_when_a_family_is_re_ingested(
    cluster: Cluster, operator: RunningOperator
):
    argo = Argo(cluster)
    cluster.create(family("fam-r"))
    cluster.create(compile_run("c-base", families=["fam-r"]))
    cluster.create(compile_run("c-next", families=["fam-r"], baseline="c-base"))

    def new_workflow(kind: str, name: str, exclude: set[str]) -> dict | None:
        found = [
            w
            for w in cluster.workflows()
            if (w["metadata"]["labels"].get("pixelgate.dev/kind"), w["metadata"]["labels"].get("pixelgate.dev/name"))
            == (kind, name)
            and w["metadata"]["name"] not in exclude
        ]
        assert len(found) <= 1, f"{len(found)} new workflows for {kind}/{name}"
        return found[0] if found else None

    def finish(kind: str, name: str, exclude: set[str] = frozenset()) -> dict:
        wf = wait_until(lambda: new_workflow(kind, name, exclude), what=f"{name} workflow")
        tasks = {task: "Succeeded" for task in task_templates(wf)}
        results = {
            "ingest": {"records_in": 4, "records_out": 4},
            "finalize": {"records": 4, "gates": EIGHT_GATES, "gates_passed": "8/8", "passed": True},
        }
        argo.set(wf["metadata"]["name"], "Succeeded", tasks, results={t: r for t, r in results.items() if t in tasks})
        return wf

    first_family = finish("DatasetFamily", "fam-r")
    first_base = finish("CompileRun", "c-base")
    # c-next waited for its baseline, not only for its family
    wait_until(
        lambda: cluster.condition("CompileRun", "c-next", "BaselineReady").get("status") == "True",
        what="baseline ready",
    )
    first_next = finish("CompileRun", "c-next")
    assert first_next["metadata"]["labels"]["pixelgate.dev/spec-hash"] != _hash(
        compile_run("c-next", families=["fam-r"], baseline="c-base")
    )
    wait_until(lambda: cluster.status("CompileRun", "c-next").get("phase") == "Succeeded", what="c-next Succeeded")

    # The family is re-ingested under another spec: while it runs, the compiles keep their phase
    # and say why they will run again; once it is Ready, both recompile under a new workflow.
    cluster.patch("DatasetFamily", "fam-r", {"spec": {"tier": 1}})
    wait_until(
        lambda: cluster.condition("CompileRun", "c-base", "FamiliesReady").get("status") == "False",
        what="c-base sees the family re-run",
    )
    assert cluster.status("CompileRun", "c-base")["phase"] == "Succeeded"
    finish("DatasetFamily", "fam-r", exclude={first_family["metadata"]["name"]})
    second_base = finish("CompileRun", "c-base", exclude={first_base["metadata"]["name"]})
    assert second_base["metadata"]["name"] != first_base["metadata"]["name"]
    finish("CompileRun", "c-next", exclude={first_next["metadata"]["name"]})
    wait_until(
        lambda: cluster.status("CompileRun", "c-next").get("workflow") not in (None, first_next["metadata"]["name"]),
        what="c-next follows its new workflow",
    )


def test_verified_is_false_when_a_gate_failed_though_every_pod_succeeded(cluster: Cluster, operator: RunningOperator):
    argo = Argo(cluster)
    cluster.create(family("fam-v"))
    cluster.create(compile_run("c-v", families=["fam-v"]))
    cluster.create(gate_review("g-v", gate="data-foundation", compileRun="c-v"))
    wf = wait_until(lambda: cluster.workflow_of("DatasetFamily", "fam-v"), what="family workflow")["metadata"]["name"]
    argo.set(wf, "Succeeded", {"ingest": "Succeeded"}, results={"ingest": {"records_in": 4, "records_out": 4}})
    compile_wf = wait_until(lambda: cluster.workflow_of("CompileRun", "c-v"), what="compile workflow")
    gates = [dict(g, passed=g["name"] != "duplicates") for g in EIGHT_GATES]
    result = {"records": 4, "gates": gates, "gates_passed": "7/8", "passed": False, "output_duplicate_rate": 0.05}
    tasks = {task: "Succeeded" for task in task_templates(compile_wf)}
    argo.set(compile_wf["metadata"]["name"], "Succeeded", tasks, results={"finalize": result})
    verified = wait_until(
        lambda: (c := cluster.condition("CompileRun", "c-v", "Verified")).get("status") == "False" and c,
        what="Verified False",
    )
    assert verified["reason"] == "GatesFailed" and "duplicates" in verified["message"] and "7/8" in verified["message"]
    # the workflow ran to its end; the verification report is the record
    assert cluster.status("CompileRun", "c-v")["phase"] == "Succeeded"
    wait_until(lambda: ("Warning", "VerifiedFalse") in cluster.events("c-v"), what="a Warning event")
    wait_until(lambda: cluster.status("GateReview", "g-v").get("phase") == "Failed", what="Gate 1 fails")


def test_a_workflow_deleted_by_hand_while_running_fails_its_resource(cluster: Cluster, operator: RunningOperator):
    cluster.create(family("fam-gone"))
    cluster.create(family("fam-done"))
    argo = Argo(cluster)
    running = wait_until(lambda: cluster.workflow_of("DatasetFamily", "fam-gone"), what="workflow")["metadata"]["name"]
    argo.set(running, "Running", {"ingest": "Running"})
    wait_until(lambda: cluster.status("DatasetFamily", "fam-gone").get("phase") == "Running", what="Running")
    done = wait_until(lambda: cluster.workflow_of("DatasetFamily", "fam-done"), what="workflow")["metadata"]["name"]
    argo.set(done, "Succeeded", {"ingest": "Succeeded"}, results={"ingest": {"records_in": 2, "records_out": 2}})
    wait_until(lambda: cluster.status("DatasetFamily", "fam-done").get("phase") == "Ready", what="Ready")
    for wf in (running, done):
        cluster.custom.delete_namespaced_custom_object("argoproj.io", "v1alpha1", cluster.ns, "workflows", wf)

    gone = wait_until(
        lambda: (s := cluster.status("DatasetFamily", "fam-gone")).get("phase") == "Failed" and s, what="Failed"
    )
    ready = next(c for c in gone["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "WorkflowDeleted" and running in ready["message"]
    wait_until(lambda: ("Warning", "WorkflowDeleted") in cluster.events("fam-gone"), what="a Warning event")
    time.sleep(1)
    assert (
        cluster.status("DatasetFamily", "fam-done")["phase"] == "Ready"
    )  # a finished workflow's deletion changes nothing
    assert cluster.workflow_of("DatasetFamily", "fam-gone") is None  # and nothing is re-created behind the user's back


def test_a_garbage_workflow_status_shows_as_a_condition_and_a_good_one_follows(
    cluster: Cluster, operator: RunningOperator
):
    cluster.create(family("fam-garbage"))
    wf = wait_until(lambda: cluster.workflow_of("DatasetFamily", "fam-garbage"), what="workflow")["metadata"]["name"]
    garbage = {"phase": "Running", "nodes": ["not", "a", "map"]}
    cluster.custom.patch_namespaced_custom_object(
        "argoproj.io", "v1alpha1", cluster.ns, "workflows", wf, {"status": garbage}
    )
    ready = wait_until(
        lambda: (
            (c := cluster.condition("DatasetFamily", "fam-garbage", "Ready")).get("reason") == "InvalidWorkflowStatus"
            and c
        ),
        what="the condition",
    )
    assert "status.nodes" in ready["message"]
    wait_until(lambda: ("Warning", "InvalidWorkflowStatus") in cluster.events("fam-garbage"), what="a Warning event")
    Argo(cluster).set(
        wf, "Succeeded", {"ingest": "Succeeded"}, results={"ingest": {"records_in": 1, "records_out": 1}}
    )
    wait_until(
        lambda: cluster.status("DatasetFamily", "fam-garbage").get("phase") == "Ready",
        what="Ready after a good status",
    )


def test_two_namespaces_keep_their_stores_apart(kube, cluster: Cluster, store: Path):
    """Families of the same name in two namespaces: one workflow each, each on its namespace's store."""
    from kubernetes import client

    second = f"{cluster.ns}-b"
    client.CoreV1Api(cluster.api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=second)))
    try:
        other = Cluster(cluster.api, second, cluster.kubeconfig)
        cfg = OperatorConfig(
            store_uri=str(store),
            namespaces=(cluster.ns, second),
            kubeconfig=str(kube.kubeconfig),
            standalone=True,
            metrics_port=0,
            metrics_host="127.0.0.1",
        )
        with RunningOperator(cfg):
            for team in (cluster, other):
                team.create(family("shared-name"))
            stores = {}
            for team in (cluster, other):
                wf = wait_until(
                    lambda t=team: t.workflow_of("DatasetFamily", "shared-name"), what=f"workflow in {team.ns}"
                )
                stores[team.ns] = next(
                    p["value"] for p in wf["spec"]["arguments"]["parameters"] if p["name"] == "store"
                )
        assert stores == {ns: f"{store}/namespaces/{ns}" for ns in (cluster.ns, second)}
    finally:
        client.CoreV1Api(cluster.api).delete_namespace(second)


def test_a_family_back_at_its_old_identity_makes_its_compile_ready_again(cluster: Cluster, operator: RunningOperator):
    argo = Argo(cluster)
    cluster.create(family("fam-back"))
    cluster.create(compile_run("c-back", families=["fam-back"]))
    wf = wait_until(lambda: cluster.workflow_of("DatasetFamily", "fam-back"), what="family workflow")["metadata"][
        "name"
    ]
    argo.set(wf, "Succeeded", {"ingest": "Succeeded"}, results={"ingest": {"records_in": 1, "records_out": 1}})
    compile_wf = wait_until(lambda: cluster.workflow_of("CompileRun", "c-back"), what="compile workflow")
    result = {"records": 1, "gates": EIGHT_GATES, "gates_passed": "8/8", "passed": True}
    tasks = {task: "Succeeded" for task in task_templates(compile_wf)}
    argo.set(compile_wf["metadata"]["name"], "Succeeded", tasks, results={"finalize": result})
    wait_until(lambda: cluster.status("CompileRun", "c-back").get("phase") == "Succeeded", what="compile Succeeded")

    cluster.patch("DatasetFamily", "fam-back", {"spec": {"tier": 1}})  # another identity: the compile would re-run ...
    wait_until(
        lambda: cluster.condition("CompileRun", "c-back", "FamiliesReady").get("status") == "False", what="not ready"
    )
    cluster.patch("DatasetFamily", "fam-back", {"spec": {"tier": 2}})  # ... but the family is back where it was
    wait_until(
        lambda: cluster.status("DatasetFamily", "fam-back").get("workflow") == wf,
        what="the family's old workflow again",
    )
    wait_until(
        lambda: cluster.condition("CompileRun", "c-back", "FamiliesReady").get("status") == "True", what="ready again"
    )
    status = cluster.status("CompileRun", "c-back")
    assert status["phase"] == "Succeeded" and status["workflow"] == compile_wf["metadata"]["name"]
