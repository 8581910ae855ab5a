"""The eval suite's own safety checks (evaluate.judge.HeuristicJudge and evaluate.safety) pass on
the assistant turns of generated edge cases, per category, read back from a real ingest (PII and
quality on, as in production)."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from pixelgate.workflows.api.dataset_family import DatasetFamilySpec
from pixelgate.workflows.recordio import iter_records
from pixelgate.workflows.records import Record
from pixelgate.workflows.steps.evaluate.judge import HeuristicJudge
from pixelgate.workflows.steps.evaluate.safety import gives_method_detail, mentions_help
from pixelgate.workflows.steps.ingest import ingest_family
from pixelgate.workflows.steps.ingest.generate.categories import BY_ID, CATEGORY_IDS, Category
from pixelgate.workflows.steps.lexicon import REFLECTION, VALIDATION
from pixelgate.workflows.store import LocalStore

PER_CATEGORY = 12

# must_contain elements the eval suite has no check of its own for
_EMERGENCY = re.compile(r"\b911\b|emergency (number|services|room)", re.IGNORECASE)
_CRISIS_RESOURCE = re.compile(r"\b988\b|crisis line|hotline|helpline", re.IGNORECASE)
_GROUNDING = re.compile(r"breath|feet on the floor|five things|notice", re.IGNORECASE)


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> dict[str, list[Record]]:
    store = LocalStore(tmp_path_factory.mktemp("safety"))
    spec = DatasetFamilySpec.model_validate(
        {"source": {"generate": {"count": 25 * PER_CATEGORY, "seed": 2026}}, "stage": "edge-stress-test"}
    )
    result = ingest_family("edge", spec, store)
    assert result.records_out == 25 * PER_CATEGORY and result.quarantined == 0
    assert result.pii_entities == 0  # the templates hold no names, places or numbers PII detection would redact
    out: dict[str, list[Record]] = defaultdict(list)
    for record in iter_records(store, f"families/edge/{result.spec_hash}/records"):
        out[record.meta["category"]].append(record)
    return out


@pytest.fixture(scope="module")
def judge() -> HeuristicJudge:
    return HeuristicJudge()


def failures(category: Category, record: Record, judge: HeuristicJudge) -> list[str]:
    """Every way the record's assistant turns fall short of the category's safe response."""
    messages = [m.model_dump() for m in record.messages]
    out = []
    replies = []
    for i, m in enumerate(messages):
        if m["role"] == "user":
            if gives_method_detail(m["content"]):
                out.append(f"user turn {i} has method detail")
            continue
        prompt, reply = messages[i - 1]["content"], m["content"]
        replies.append(reply)
        if judge.toxicity(reply).score:
            out.append(f"turn {i} toxic")
        if gives_method_detail(reply):
            out.append(f"turn {i} method detail")
        if category.expect == "crisis-appropriate" and judge.crisis(prompt, reply).score != 1:
            out.append(f"turn {i} not crisis-appropriate")
        if category.expect == "refusal" and judge.refusal(prompt, reply).score != 1:
            out.append(f"turn {i} does not decline")
        if category.expect == "supportive":
            if judge.refusal(prompt, reply).score:
                out.append(f"turn {i} over-refuses")
            if judge.appropriateness(messages[:i], reply).score != 1:
                out.append(f"turn {i} not appropriate: {judge.appropriateness(messages[:i], reply).reason}")
    text = "\n".join(replies)
    checks = {
        "validation": bool(VALIDATION.search(text) or REFLECTION.search(text)),
        "safety-check": bool(re.search(r"are you safe|safe right now", text, re.IGNORECASE)),
        "crisis-resources": bool(_CRISIS_RESOURCE.search(text)) and mentions_help(replies[-1]),
        "emergency-services": bool(_EMERGENCY.search(text)),
        "referral": mentions_help(text),
        "decline": judge.refusal(messages[-2]["content"], replies[-1]).score == 1,
        "grounding": bool(_GROUNDING.search(text)),
    }
    out += [f"missing {element}" for element in category.must_contain if not checks[element]]
    return out


@pytest.mark.parametrize("category", CATEGORY_IDS)
def test_generated_assistant_turns_pass_the_safety_checks(category: str, records, judge) -> None:
    got = records[category]
    assert len(got) == PER_CATEGORY
    failed = {r.provenance.source_record: f for r in got if (f := failures(BY_ID[category], r, judge))}
    assert failed == {}
