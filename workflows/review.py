"""GateReview decisions: pure functions over the reviewed runs' statuses.

The operator (on a cluster) and ``pixelgate run`` (locally) both call :func:`review`; neither
decides anything itself. Each check records observed, target and verdict; a failed review
names its gaps.

* data-foundation (Gate 1): the CompileRun succeeded and all 8 verification gates passed;
* baseline-metrics (Gate 2): each evaluation score meets its target (the spec's ``targets``, or
  the TrainingRun's ``evaluation.targets``);
* expansion-improvement (Gate 3): the named metrics improve on the baseline TrainingRun and no
  other shared metric regresses by more than ``tolerance``.
"""

from __future__ import annotations

from .api.compile_run import CompileRunStatus
from .api.gate_review import GateCheck, GateReviewSpec, GateReviewStatus
from .api.kinds import APPROVED, DECIDED, WAITING_FOR_RUN
from .api.meta import Condition, set_condition
from .api.training_run import EvaluationTargets, TrainingRunStatus

VERIFICATION_GATES = 8
# Scores where lower is better; every other score is higher-is-better.
LOWER_IS_BETTER = frozenset({"over_refusal", "over-refusal", "overRefusal", "eval_loss"})


def _fmt(value: float | None) -> str:
    return "missing" if value is None else f"{value:.4g}"


def _data_foundation(compile_status: CompileRunStatus | None) -> tuple[list[GateCheck], list[str]] | None:
    if compile_status is None or compile_status.phase != "Succeeded":
        return None
    checks = [GateCheck(name="compile", observed=compile_status.phase, target="Succeeded", verdict="Pass")]
    gaps = []
    for gate in compile_status.gates:
        checks.append(
            GateCheck(
                name=f"gate:{gate.name}",
                observed=gate.observed,
                target=gate.threshold,
                verdict="Pass" if gate.passed else "Fail",
            )
        )
        if not gate.passed:
            gaps.append(f"verification gate {gate.name} failed (observed {gate.observed}, threshold {gate.threshold})")
    passed = sum(g.passed for g in compile_status.gates)
    complete = len(compile_status.gates) == VERIFICATION_GATES
    checks.append(
        GateCheck(
            name="gates-passed",
            observed=f"{passed}/{len(compile_status.gates)}",
            target=f"{VERIFICATION_GATES}/{VERIFICATION_GATES}",
            verdict="Pass" if complete and passed == VERIFICATION_GATES else "Fail",
        )
    )
    if not complete:
        gaps.append(f"expected {VERIFICATION_GATES} verification gates, the report has {len(compile_status.gates)}")
    return checks, gaps


def _targets(spec: GateReviewSpec, defaults: EvaluationTargets | None) -> dict[str, float]:
    if spec.targets:
        return dict(spec.targets)
    return (defaults or EvaluationTargets()).model_dump()


def _baseline_metrics(spec: GateReviewSpec, training: TrainingRunStatus | None, defaults: EvaluationTargets | None):
    if training is None or training.phase != "Succeeded":
        return None
    checks, gaps = [], []
    for metric, target in sorted(_targets(spec, defaults).items()):
        observed = training.scores.get(metric)
        lower = metric in LOWER_IS_BETTER
        ok = observed is not None and (observed <= target if lower else observed >= target)
        checks.append(
            GateCheck(
                name=metric,
                observed=_fmt(observed),
                target=f"{'<=' if lower else '>='} {target:.4g}",
                verdict="Pass" if ok else "Fail",
            )
        )
        if not ok:
            gaps.append(f"{metric}: {_fmt(observed)} {'above' if lower else 'below'} target {target:.4g}")
    return checks, gaps


def _expansion(spec: GateReviewSpec, training: TrainingRunStatus | None, baseline: TrainingRunStatus | None):
    if training is None or baseline is None or training.phase != "Succeeded" or baseline.phase != "Succeeded":
        return None
    checks, gaps = [], []
    for metric in sorted(spec.improve):
        new, old = training.scores.get(metric), baseline.scores.get(metric)
        sign = -1 if metric in LOWER_IS_BETTER else 1
        ok = new is not None and old is not None and sign * (new - old) > 0
        checks.append(
            GateCheck(
                name=f"improve:{metric}",
                observed=_fmt(new),
                target=f"{'<' if sign < 0 else '>'} {_fmt(old)}",
                verdict="Pass" if ok else "Fail",
            )
        )
        if not ok:
            gaps.append(f"{metric} did not improve ({_fmt(new)} vs baseline {_fmt(old)})")
    for metric in sorted(set(training.scores) & set(baseline.scores) - set(spec.improve)):
        new, old = training.scores[metric], baseline.scores[metric]
        sign = -1 if metric in LOWER_IS_BETTER else 1
        regression = sign * (old - new)
        ok = regression <= spec.tolerance
        checks.append(
            GateCheck(
                name=f"no-regression:{metric}",
                observed=_fmt(new),
                target=f"within {spec.tolerance:.4g} of {_fmt(old)}",
                verdict="Pass" if ok else "Fail",
            )
        )
        if not ok:
            gaps.append(f"{metric} regressed by {regression:.4g} (tolerance {spec.tolerance:.4g})")
    return checks, gaps


def review(
    spec: GateReviewSpec,
    *,
    compile_status: CompileRunStatus | None = None,
    training: TrainingRunStatus | None = None,
    training_targets: EvaluationTargets | None = None,
    baseline: TrainingRunStatus | None = None,
    approver: str | None = None,
    approved_at: str | None = None,
    previous: GateReviewStatus | None = None,
    now: str | None = None,
) -> GateReviewStatus:
    """Decide ``spec`` from the reviewed runs' statuses. A run that has not succeeded yet
    leaves the review Waiting; a required approval leaves a Pass AwaitingApproval."""
    conditions = list(previous.conditions) if previous else []
    if spec.gate == "data-foundation":
        outcome = _data_foundation(compile_status)
        waiting_for = f"CompileRun {spec.compile_run}"
    elif spec.gate == "baseline-metrics":
        outcome = _baseline_metrics(spec, training, training_targets)
        waiting_for = f"TrainingRun {spec.training_run}"
    else:
        outcome = _expansion(spec, training, baseline)
        waiting_for = f"TrainingRuns {spec.training_run} and {spec.baseline_training_run}"
    if outcome is None:
        conditions = set_condition(
            conditions,
            Condition(
                type=DECIDED,
                status="False",
                reason=WAITING_FOR_RUN,
                message=f"waiting for {waiting_for} to succeed",
                last_transition_time=now,
            ),
        )
        return GateReviewStatus(phase="Waiting", conditions=conditions)
    checks, gaps = outcome
    decision = "Fail" if gaps or any(c.verdict == "Fail" for c in checks) else "Pass"
    message = "all checks passed" if decision == "Pass" else "; ".join(gaps)
    conditions = set_condition(
        conditions,
        Condition(
            type=DECIDED,
            status="True",
            reason="GatePassed" if decision == "Pass" else "GateFailed",
            message=message,
            last_transition_time=now,
        ),
    )
    status = GateReviewStatus(decision=decision, checks=checks, gaps=gaps, conditions=conditions)
    if decision == "Fail":
        return status.model_copy(update={"phase": "Failed"})
    who = spec.approval.approved_by or approver
    if spec.approval.required and not who:
        conditions = set_condition(
            conditions,
            Condition(
                type=APPROVED,
                status="False",
                reason="AwaitingApproval",
                message="spec.approval.required: record an approver in spec.approval.approvedBy or the "
                "pixelgate.dev/approved-by annotation",
                last_transition_time=now,
            ),
        )
        return status.model_copy(update={"phase": "AwaitingApproval", "conditions": conditions})
    if who:
        conditions = set_condition(
            conditions,
            Condition(
                type=APPROVED, status="True", reason=APPROVED, message=f"approved by {who}", last_transition_time=now
            ),
        )
        status = status.model_copy(
            update={"approved_by": who, "approved_at": approved_at or now, "conditions": conditions}
        )
    return status.model_copy(update={"phase": "Passed"})
