"""``eval_report.json``: per-suite scores, metrics and samples, the targets and the verdict."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .suites import SuiteReport

# eval_report.json "scores" key of each suite; GateReviews compare these with the targets.
SCORE_KEYS = {
    "clinical-similarity": "clinical_similarity",
    "therapeutic-appropriateness": "therapeutic_appropriateness",
    "empathy": "empathy",
    "safety": "safety",
    "over-refusal": "over_refusal",
}


class EvalReport(BaseModel):
    training: str = Field(description="TrainingRun name.")
    spec_hash: str
    model_uri: str
    judge: str = Field(description="Judge of the judged suites: heuristic or llm:<model>.")
    scores: dict[str, float] = Field(description="Score per suite, by SCORE_KEYS name.")
    targets: dict[str, float]
    targets_met: bool
    gaps: list[str] = Field(default_factory=list, description="Targets not met, as 'name observed < target'.")
    prompt_sets: dict[str, int] = Field(default_factory=dict, description="Prompt set name -> version used.")
    suites: dict[str, SuiteReport]


def build_report(
    training: str,
    spec_hash: str,
    model_uri: str,
    judge: str,
    suites: list[SuiteReport],
    targets: dict[str, float],
    prompt_sets: dict[str, int],
) -> EvalReport:
    scores = {SCORE_KEYS[s.name]: round(s.score, 6) for s in suites}
    gaps = [
        f"{k} {scores[k]:.3f} < {t:.3f}" if k in scores else f"{k} not evaluated"
        for k, t in targets.items()
        if k not in scores or scores[k] < t
    ]
    return EvalReport(
        training=training,
        spec_hash=spec_hash,
        model_uri=model_uri,
        judge=judge,
        scores=scores,
        targets=targets,
        targets_met=not gaps,
        gaps=gaps,
        prompt_sets=prompt_sets,
        suites={s.name: s for s in suites},
    )
