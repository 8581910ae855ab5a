"""GateReview decisions (pure functions shared by the operator and the local runner)."""

from __future__ import annotations

from pixelgate.workflows.api.compile_run import CompileRunStatus, GateResult
from pixelgate.workflows.api.gate_review import GateReviewSpec
from pixelgate.workflows.api.training_run import EvaluationTargets, TrainingRunStatus
from pixelgate.workflows.review import review

GATES = ["coverage", "leakage", "distribution", "pii", "provenance", "hash", "split", "stats"]


def _compile(failed: set[str] = frozenset(), phase: str = "Succeeded", gates=GATES) -> CompileRunStatus:
    return CompileRunStatus(
        phase=phase,
        gates=[
            GateResult(name=g, passed=g not in failed, observed="3" if g in failed else "0", threshold="0")
            for g in gates
        ],
        gates_passed=f"{len(gates) - len(failed)}/{len(gates)}",
    )


def _training(phase: str = "Succeeded", **scores: float) -> TrainingRunStatus:
    return TrainingRunStatus(phase=phase, scores=scores)


def test_data_foundation_passes_with_all_eight_gates() -> None:
    status = review(GateReviewSpec(gate="data-foundation", compile_run="c"), compile_status=_compile())
    assert status.phase == "Passed" and status.decision == "Pass" and status.gaps == []
    assert all(c.verdict == "Pass" for c in status.checks)
    assert [c for c in status.conditions if c.type == "Decided"][0].reason == "GatePassed"


def test_data_foundation_names_each_failed_gate() -> None:
    status = review(
        GateReviewSpec(gate="data-foundation", compile_run="c"), compile_status=_compile({"leakage", "pii"})
    )
    assert status.phase == "Failed" and status.decision == "Fail"
    assert len(status.gaps) == 2 and "leakage" in status.gaps[0] and "pii" in status.gaps[1]
    gates_check = [c for c in status.checks if c.name == "gates-passed"][0]
    assert gates_check.observed == "6/8" and gates_check.verdict == "Fail"


def test_data_foundation_refuses_an_incomplete_report() -> None:
    status = review(GateReviewSpec(gate="data-foundation", compile_run="c"), compile_status=_compile(gates=GATES[:7]))
    assert status.decision == "Fail" and any("expected 8" in g for g in status.gaps)


def test_a_review_waits_for_its_run() -> None:
    spec = GateReviewSpec(gate="data-foundation", compile_run="c")
    for compile_status in (None, _compile(phase="Running")):
        status = review(spec, compile_status=compile_status)
        assert status.phase == "Waiting" and status.decision is None
        assert status.conditions[0].reason == "WaitingForRun"


def test_baseline_metrics_against_the_training_targets() -> None:
    spec = GateReviewSpec(gate="baseline-metrics", training_run="t")
    good = review(
        spec,
        training=_training(empathy=0.71, therapeutic_appropriateness=0.8, safety=0.9),
        training_targets=EvaluationTargets(),
    )
    assert good.decision == "Pass" and len(good.checks) == 3
    bad = review(
        spec, training=_training(empathy=0.5, therapeutic_appropriateness=0.8), training_targets=EvaluationTargets()
    )
    assert bad.decision == "Fail"
    assert bad.gaps == ["empathy: 0.5 below target 0.7", "safety: missing below target 0.8"]


def test_baseline_metrics_spec_targets_override_and_lower_is_better() -> None:
    spec = GateReviewSpec(gate="baseline-metrics", training_run="t", targets={"over_refusal": 0.1, "safety": 0.5})
    assert review(spec, training=_training(over_refusal=0.05, safety=0.6)).decision == "Pass"
    failed = review(spec, training=_training(over_refusal=0.3, safety=0.6))
    assert failed.decision == "Fail" and failed.gaps == ["over_refusal: 0.3 above target 0.1"]


def test_expansion_improvement() -> None:
    spec = GateReviewSpec(
        gate="expansion-improvement", training_run="t", baseline_training_run="b", improve=["empathy"], tolerance=0.02
    )
    base = _training(empathy=0.70, safety=0.85, over_refusal=0.10)
    better = review(spec, training=_training(empathy=0.75, safety=0.84, over_refusal=0.11), baseline=base)
    assert better.decision == "Pass", better.gaps
    worse = review(spec, training=_training(empathy=0.70, safety=0.80, over_refusal=0.20), baseline=base)
    assert worse.decision == "Fail"
    assert worse.gaps[0].startswith("empathy did not improve")
    assert any(g.startswith("over_refusal regressed") for g in worse.gaps) and any(
        g.startswith("safety regressed") for g in worse.gaps
    )
    assert review(spec, training=_training(empathy=0.9), baseline=_training(phase="Failed")).phase == "Waiting"


def test_approval_holds_a_pass_until_an_approver_is_recorded() -> None:
    spec = GateReviewSpec.model_validate(
        {"gate": "data-foundation", "compileRun": "c", "approval": {"required": True}}
    )
    waiting = review(spec, compile_status=_compile())
    assert waiting.phase == "AwaitingApproval" and waiting.decision == "Pass" and waiting.approved_by is None
    approved = review(
        spec, compile_status=_compile(), approver="dr-lee", approved_at="2026-01-01T00:00:00Z", previous=waiting
    )
    assert (
        approved.phase == "Passed"
        and approved.approved_by == "dr-lee"
        and approved.approved_at == "2026-01-01T00:00:00Z"
    )
    assert [c for c in approved.conditions if c.type == "Approved"][0].status == "True"
    # a failing review does not wait for anyone
    assert review(spec, compile_status=_compile({"hash"})).phase == "Failed"
