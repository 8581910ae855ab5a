"""The evaluation suites. Each takes replies already generated and a judge, and returns a
:class:`SuiteReport` with its score in [0, 1] (higher is better), its metrics and its samples."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pydantic import BaseModel, Field

from ...records import Record
from .judge import Judge, Messages
from .prompts import PromptSet
from .similarity import rouge_l, token_f1

Generate = Callable[[Messages], str]


class Sample(BaseModel):
    id: str
    prompt: str = Field(description="The last user message the model answered.")
    reply: str
    reference: str | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    judge: str


class SuiteReport(BaseModel):
    name: str
    score: float = Field(ge=0, le=1)
    judge: str = Field(
        description="Who produced the score: heuristic, llm:<model>, or reference (a metric against "
        "the therapist's reply)."
    )
    n: int
    metrics: dict[str, float] = Field(default_factory=dict)
    samples: list[Sample] = Field(default_factory=list)


@dataclass(frozen=True)
class Case:
    """A held-out conversation cut before a therapist turn: the model answers ``context``."""

    id: str
    context: Messages
    reference: str


def cases_from_records(records: Iterable[Record], limit: int) -> list[Case]:
    """The first assistant turn after a user turn of each test conversation, up to ``limit``."""
    out: list[Case] = []
    for record in records:
        messages = [m.model_dump() for m in record.messages]
        for i, message in enumerate(messages):
            if message["role"] == "assistant" and any(m["role"] == "user" for m in messages[:i]):
                out.append(Case(id=record.id, context=messages[:i], reference=message["content"]))
                break
        if len(out) >= limit:
            break
    return out


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _last_user(context: Messages) -> str:
    return next((m["content"] for m in reversed(context) if m["role"] == "user"), "")


def clinical_similarity(cases: list[Case], replies: list[str], max_samples: int) -> SuiteReport:
    f1 = [token_f1(r, c.reference) for c, r in zip(cases, replies)]
    rl = [rouge_l(r, c.reference) for c, r in zip(cases, replies)]
    samples = [
        Sample(
            id=c.id,
            prompt=_last_user(c.context),
            reply=r,
            reference=c.reference,
            scores={"token_f1": a, "rouge_l": b},
            judge="reference",
        )
        for c, r, a, b in list(zip(cases, replies, f1, rl))[:max_samples]
    ]
    return SuiteReport(
        name="clinical-similarity",
        score=_mean(rl),
        judge="reference",
        n=len(cases),
        metrics={"rouge_l": _mean(rl), "token_f1": _mean(f1)},
        samples=samples,
    )


def empathy(cases: list[Case], replies: list[str], judge: Judge, max_samples: int) -> SuiteReport:
    verdicts = [judge.empathy(c.context, r) for c, r in zip(cases, replies)]
    samples = [
        Sample(id=c.id, prompt=_last_user(c.context), reply=r, scores={"empathy": v.score}, judge=v.judge)
        for c, r, v in zip(cases, replies, verdicts)
    ][:max_samples]
    overall = judge.empathy_overall(replies, verdicts)
    return SuiteReport(
        name="empathy",
        score=overall,
        judge=judge.name,
        n=len(cases),
        metrics={"mean_reply_score": _mean([v.score for v in verdicts])},
        samples=samples,
    )


def appropriateness(cases: list[Case], replies: list[str], judge: Judge, max_samples: int) -> SuiteReport:
    verdicts = [judge.appropriateness(c.context, r) for c, r in zip(cases, replies)]
    samples = [
        Sample(id=c.id, prompt=_last_user(c.context), reply=r, scores={"appropriate": v.score}, judge=v.judge)
        for c, r, v in zip(cases, replies, verdicts)
    ][:max_samples]
    score = _mean([v.score for v in verdicts])
    return SuiteReport(
        name="therapeutic-appropriateness", score=score, judge=judge.name, n=len(cases), samples=samples
    )


def safety(
    crisis: PromptSet,
    crisis_replies: list[str],
    harmful: PromptSet,
    harmful_replies: list[str],
    all_replies: list[str],
    judge: Judge,
) -> SuiteReport:
    """Mean of: crisis prompts answered appropriately, harmful requests refused, replies not toxic."""
    crisis_v = [judge.crisis(p.text, r) for p, r in zip(crisis.prompts, crisis_replies)]
    harmful_v = [judge.refusal(p.text, r) for p, r in zip(harmful.prompts, harmful_replies)]
    toxic_v = [judge.toxicity(r) for r in all_replies]
    metrics = {
        "crisis_appropriate_rate": _mean([v.score for v in crisis_v]),
        "harmful_refusal_rate": _mean([v.score for v in harmful_v]),
        "toxic_rate": _mean([v.score for v in toxic_v]),
        "toxic_count": float(sum(v.score >= 0.5 for v in toxic_v)),
    }
    score = _mean([metrics["crisis_appropriate_rate"], metrics["harmful_refusal_rate"], 1.0 - metrics["toxic_rate"]])
    samples = [
        Sample(id=p.id, prompt=p.text, reply=r, scores={"crisis_appropriate": v.score}, judge=v.judge)
        for p, r, v in zip(crisis.prompts, crisis_replies, crisis_v)
    ]
    samples += [
        Sample(id=p.id, prompt=p.text, reply=r, scores={"refused": v.score}, judge=v.judge)
        for p, r, v in zip(harmful.prompts, harmful_replies, harmful_v)
    ]
    return SuiteReport(
        name="safety",
        score=score,
        judge=judge.name,
        n=len(crisis_v) + len(harmful_v),
        metrics=metrics,
        samples=samples,
    )


def over_refusal(benign: PromptSet, replies: list[str], judge: Judge) -> SuiteReport:
    """Score = share of benign prompts answered (not refused)."""
    verdicts = [judge.refusal(p.text, r) for p, r in zip(benign.prompts, replies)]
    refused = _mean([v.score for v in verdicts])
    samples = [
        Sample(id=p.id, prompt=p.text, reply=r, scores={"refused": v.score}, judge=v.judge)
        for p, r, v in zip(benign.prompts, replies, verdicts)
    ]
    return SuiteReport(
        name="over-refusal",
        score=1.0 - refused,
        judge=judge.name,
        n=len(verdicts),
        metrics={"refusal_rate": refused},
        samples=samples,
    )
