"""Our CRDs inside a real kube-apiserver: the CEL rules reject bad resources with their message,
enums and bounds hold, defaults are applied, and every status field survives a round trip."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from pixelgate.workflows.api import KINDS, parse_resource
from pixelgate.workflows.api.compile_run import CompileRunStatus, FeatureDrift, GateResult
from pixelgate.workflows.api.dataset_family import DatasetFamilyStatus
from pixelgate.workflows.api.gate_review import GateCheck, GateReviewStatus
from pixelgate.workflows.api.meta import Condition
from pixelgate.workflows.api.run_status import NodeFailure
from pixelgate.workflows.api.selection import LegacySelectorWarning
from pixelgate.workflows.api.training_run import TrainingRunStatus
from tests.operator_support import Cluster, compile_run, family, gate_review, training_run


def _rejected(fn) -> str:
    with pytest.raises(client.ApiException) as err:
        fn()
    assert err.value.status == 422, err.value.body
    return json.loads(err.value.body)["message"]


def test_split_must_sum_to_one(cluster: Cluster):
    message = _rejected(
        lambda: cluster.create(
            compile_run("bad-split", families=["a"], split={"train": 0.8, "val": 0.1, "test": 0.05})
        )
    )
    assert "split: train + val + test must be 1" in message
    cluster.create(compile_run("good-split", families=["a"], split={"train": 0.8, "val": 0.1, "test": 0.1}))


def test_threshold_in_open_closed_unit_interval(cluster: Cluster):
    message = _rejected(lambda: cluster.create(compile_run("zero", families=["a"], dedup={"near": {"threshold": 0}})))
    assert "threshold" in message
    message = _rejected(
        lambda: cluster.create(compile_run("above", families=["a"], dedup={"near": {"threshold": 1.5}}))
    )
    assert "threshold" in message
    cluster.create(compile_run("one", families=["a"], dedup={"near": {"threshold": 1}}))


def test_unknown_enum_and_bounds_are_rejected(cluster: Cluster):
    message = _rejected(lambda: cluster.create(family("bad-format", source={"uri": "x.txt", "format": "txt"})))
    assert "spec.source.format" in message and "Unsupported value" in message
    message = _rejected(lambda: cluster.create(gate_review("bad-gate", gate="gate-9", compileRun="c")))
    assert "spec.gate" in message
    message = _rejected(lambda: cluster.create(family("bad-tier", tier=9)))
    assert "spec.tier" in message


def test_cross_field_rules(cluster: Cluster):
    assert "exactly one of turns, rows or pair" in _rejected(
        lambda: cluster.create(
            family("two-layouts", mapping={"turns": {"path": "m"}, "pair": {"prompt": ["q"], "response": "a"}})
        )
    )
    assert "give names, a selector, or both" in _rejected(lambda: cluster.create(compile_run("no-families")))
    assert "data-foundation needs compileRun" in _rejected(
        lambda: cluster.create(gate_review("g", gate="data-foundation"))
    )


def test_source_kinds(cluster: Cluster):
    """A family reads raw files, derives from other families, or generates: exactly one."""

    def bare(name: str, source: dict, **spec) -> dict:
        body = family(name)
        body["spec"] = {"source": source, **spec}
        return body

    derive = {"from": {"names": ["esconv"]}, "where": {"minTurns": 21}}
    assert "exactly one of uri, derive or generate" in _rejected(
        lambda: cluster.create(bare("two-sources", {"derive": derive, "generate": {"count": 10}}))
    )
    assert "exactly one of uri, derive or generate" in _rejected(lambda: cluster.create(bare("no-source", {})))
    assert "source.format: required with source.uri" in _rejected(
        lambda: cluster.create(family("no-format", source={"uri": "x.jsonl"}))
    )
    assert "mapping and license: required when source.uri is set" in _rejected(
        lambda: cluster.create(bare("no-mapping", {"uri": "x.jsonl", "format": "jsonl"}))
    )
    assert "mapping: only for source.uri" in _rejected(
        lambda: cluster.create(bare("mapped-derive", {"derive": derive}, mapping={"turns": {"path": "m"}}))
    )
    assert "spec.source.derive.from: Invalid value: give names, a selector, or both" in _rejected(
        lambda: cluster.create(bare("no-parents", {"derive": {"from": {}}}))
    )
    # an empty selector would select every family: refused where it is written
    empty = bare("empty-selector", {"derive": {"from": {"selector": {"matchLabels": {}}}}})
    assert "selector.matchLabels: name at least one label" in _rejected(lambda: cluster.create(empty))
    # the first release's bare label map is kept (not pruned), and the operator reads it as matchLabels
    legacy = cluster.create(bare("legacy-selector", {"derive": {"from": {"selector": {"tier": "one"}}}}))
    assert legacy["spec"]["source"]["derive"]["from"]["selector"] == {"tier": "one"}
    with pytest.warns(LegacySelectorWarning):
        assert parse_resource(legacy).spec.source.derive.from_.selector.match_labels == {"tier": "one"}
    assert "source.generate.llm: required when generator is llm" in _rejected(
        lambda: cluster.create(bare("llm-without-endpoint", {"generate": {"count": 10, "generator": "llm"}}))
    )
    rejected = _rejected(
        lambda: cluster.create(
            bare("unknown-category", {"generate": {"count": 10, "categories": ["grief", "sadness"]}})
        )
    )
    assert (
        'Unsupported value: "sadness"' in rejected and '"older-adult-isolation"' in rejected
    )  # the valid ones are listed
    cluster.create(bare("long-sessions", {"derive": derive}))
    created = cluster.create(bare("edge-cases", {"generate": {"count": 100, "seed": 7}}))
    assert created["spec"]["source"]["generate"]["generator"] == "template"  # defaulted by the schema


def test_defaults_are_applied(cluster: Cluster):
    created = cluster.create(family("defaults"))
    spec = created["spec"]
    assert spec["tier"] == 2 and spec["stage"] == "foundation" and spec["retention"] == "Retain"
    assert spec["pii"]["mode"] == "redact" and "PERSON" in spec["pii"]["entities"]
    created = cluster.create(compile_run("defaults", families=["a"]))
    assert created["spec"]["split"] == {"train": 0.9, "val": 0.05, "test": 0.05, "seed": 42, "tolerance": 0.01}
    assert created["spec"]["dedup"]["near"]["threshold"] == 0.8


def test_compile_families_and_seed_immutable_once_run(cluster: Cluster):
    cluster.create(compile_run("imm", families=["a"]))
    # Before it has run, a fix is allowed.
    cluster.patch("CompileRun", "imm", {"spec": {"families": {"names": ["a", "b"]}}})
    body = cluster.get("CompileRun", "imm")
    body["status"] = {"phase": "Running", "workflow": "imm-0123456789"}
    cluster.custom.replace_namespaced_custom_object_status(
        "pixelgate.dev", "v1alpha1", cluster.ns, "compileruns", "imm", body
    )
    message = _rejected(lambda: cluster.patch("CompileRun", "imm", {"spec": {"families": {"names": ["a"]}}}))
    assert "spec.families is immutable once the CompileRun has run" in message
    message = _rejected(lambda: cluster.patch("CompileRun", "imm", {"spec": {"split": {"seed": 7}}}))
    assert "spec.split.seed is immutable once the CompileRun has run" in message
    cluster.patch("CompileRun", "imm", {"spec": {"workers": 8}})  # other fields stay editable


def _full_statuses() -> dict[str, dict]:
    cond = Condition(
        type="Ready",
        status="True",
        reason="WorkflowSucceeded",
        message="m",
        observed_generation=1,
        last_transition_time="2026-01-01T00:00:00Z",
    )
    common = dict(
        phase="Ready",
        observed_generation=1,
        conditions=[cond],
        workflow="w-0123456789",
        spec_hash="0123456789",
        workflow_phase="Succeeded",
        progress="3/3",
        message="done",
        failed_nodes=[NodeFailure(name="n", phase="Error", message="x")],
        started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:10:00Z",
    )
    return {
        "DatasetFamily": DatasetFamilyStatus(
            **common,
            output_uri="s3://b/f",
            records_in=10,
            records_out=9,
            quarantined=1,
            pii_entities=3,
            quality_mean=0.5,
        ).to_wire(),
        "CompileRun": CompileRunStatus(
            **common,
            output_uri="s3://b/c",
            manifest_uri="s3://b/c/m.json",
            report_uri="s3://b/c/r.json",
            records=9,
            duplicate_rate=0.1,
            output_duplicate_rate=0.004,
            gates_passed="1/1",
            gates=[GateResult(name="leakage", passed=True, observed="0", threshold="0")],
            drift_uri="s3://b/c/drift.json",
            drift_level="warn",
            drift=[FeatureDrift(feature="turns", psi=0.12, js=0.03, level="warn")],
        ).to_wire(),
        "TrainingRun": TrainingRunStatus(
            **common,
            output_uri="s3://b/t",
            metrics_uri="s3://b/t/metrics.json",
            eval_report_uri="s3://b/t/eval.json",
            best_checkpoint="s3://b/t/ckpt",
            best_metric=1.5,
            scores={"empathy": 0.7, "safety": 0.9},
        ).to_wire(),
        "GateReview": GateReviewStatus(
            phase="Passed",
            observed_generation=1,
            conditions=[cond],
            decision="Pass",
            checks=[GateCheck(name="empathy", observed="0.7", target=">= 0.7", verdict="Pass")],
            gaps=["none"],
            approved_by="dr-lee",
            approved_at="2026-01-01T00:00:00Z",
        ).to_wire(),
    }


def test_every_status_field_survives_a_round_trip(cluster: Cluster):
    objects = {
        "DatasetFamily": family("rt"),
        "CompileRun": compile_run("rt", families=["a"]),
        "TrainingRun": training_run("rt", "c"),
        "GateReview": gate_review("rt", gate="data-foundation", compileRun="c"),
    }
    for kind, status in _full_statuses().items():
        # every field of the model is set, so a pruned field would show
        assert set(status) == {f.alias or n for n, f in KINDS[kind].status.model_fields.items()}, kind
        body = cluster.create(objects[kind])
        body["status"] = status
        cluster.custom.replace_namespaced_custom_object_status(
            "pixelgate.dev", "v1alpha1", cluster.ns, KINDS[kind].plural, "rt", body
        )
        assert cluster.get(kind, "rt")["status"] == status, kind


def test_training_rules_and_stage_names(cluster: Cluster):
    message = _rejected(lambda: cluster.create(training_run("ds", "c", deepspeed={"zeroStage": 0, "offload": "cpu"})))
    assert "deepspeed.offload needs zeroStage >= 1" in message
    message = _rejected(lambda: cluster.create(training_run("judge", "c", evaluation={"judge": "llm"})))
    assert "evaluation.judge is llm: set evaluation.judgeEndpoint and evaluation.judgeModel" in message
    assert "spec.stage" in _rejected(lambda: cluster.create(training_run("numbered", "c", stage=2)))
    created = cluster.create(training_run("named", "c", stage="therapeutic-expertise"))
    assert created["spec"]["stage"] == "therapeutic-expertise"
    assert cluster.create(training_run("plain", "c"))["spec"]["stage"] == "foundation"


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: compile_run("ref-families", families=["../compiles/x"]), "spec.families.names[0]"),
        (lambda: compile_run("ref-holdout", families=["a"], holdoutFamilies=["a/b"]), "spec.holdoutFamilies[0]"),
        (lambda: compile_run("ref-baseline", families=["a"], baseline="../../.."), "spec.baseline"),
        (lambda: training_run("ref-compile", "../compiles"), "spec.compileRun"),
        (lambda: gate_review("ref-review", gate="data-foundation", compileRun="Upper"), "spec.compileRun"),
        (
            lambda: {**family("ref-parents"), "spec": {"source": {"derive": {"from": {"names": ["../x"]}}}}},
            "spec.source.derive.from.names[0]",
        ),
    ],
)
def test_references_are_resource_names(cluster: Cluster, make, field):
    """A reference names a resource (a DNS label): never a path into the store."""
    message = _rejected(lambda: cluster.create(make()))
    assert field in message and "should match" in message, message


def test_nothing_in_a_spec_is_unbounded(cluster: Cluster):
    """The bounds of meta.py hold in the apiserver too: oversized text, lists and maps are refused."""
    prompt = {"turns": {"path": "messages"}, "systemPrompt": "s" * 20 * 1024}
    message = _rejected(lambda: cluster.create(family("long-prompt", mapping=prompt)))
    assert "spec.mapping.systemPrompt" in message and "Too long" in message
    many = [f"f{i}" for i in range(300)]
    message = _rejected(lambda: cluster.create(compile_run("many-families", families=many)))
    assert "spec.families.names" in message and "must have at most 256 items" in message
    metadata = {"turns": {"path": "messages"}, "metadata": {f"k{i}": "a.b" for i in range(1000)}}
    message = _rejected(lambda: cluster.create(family("big-map", mapping=metadata)))
    assert "spec.mapping.metadata" in message and "must have at most 256 items" in message
    long_key = {"turns": {"path": "messages"}, "metadata": {"k" * 300: "a"}}
    message = _rejected(lambda: cluster.create(family("long-key", mapping=long_key)))
    assert "spec.mapping.metadata" in message and "keys must have at most 253 characters" in message
    cluster.create(family("fits", mapping={"turns": {"path": "messages"}, "systemPrompt": "s" * 16384}))
