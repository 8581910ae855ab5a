"""Quality scoring v1: transparent lexical signals per axis, each in [0, 1].

Every signal is a rate over a conversation's turns, so long and short conversations compare.
The empathy markers (reflection, validation, open question, advice) and the harm phrases come from
the lexicon ingest shares with the evaluation, :mod:`pixelgate.workflows.steps.lexicon`, whose
markers the evaluation's empathy score counts too. The method, the weights and their calibration
(AUCs on AnnoMI high vs low MI quality and ESConv vs FailedESConv) are in docs/quality.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ...records import QualityScores
from ..lexicon import ABUSE_OR_SELF_HARM, count_markers

_ANY_QUESTION = re.compile(r"\?")
_DOMAIN = re.compile(
    r"\b(?:feel(?:s|ing|ings)?|felt|emotion(?:s|al)?|anxi(?:ety|ous)|depress(?:ed|ion)|stress(?:ed|ful)?|sad(?:ness)?|"
    r"lonel(?:y|iness)|therap(?:y|ist)|counsel(?:ing|lor|ling|lor)?|support|cope|coping|worr(?:y|ied)|afraid|scared|"
    r"angry|anger|upset|hurt|relationship|family|friends?|partner|wife|husband|mental|health|sleep|drink(?:ing)?|"
    r"alcohol|smok(?:e|ing)|drugs?|change|motivat(?:ed|ion)|goals?|help|understand|trust|grief|loss|panic|self|"
    r"confiden(?:ce|t)|cop(?:e|ing)|hope(?:less)?|overwhelm(?:ed|ing)?|pandemic|job|work|school)\b",
    re.I,
)
_WORD = re.compile(r"\w+")

WEIGHTS = {"empathy": 0.45, "fidelity": 0.45, "domain_relevance": 0.10}
SUBSTANCE_LOW, SUBSTANCE_HIGH = 15, 25  # words per helper turn: full credit between these


def _rate(pattern: re.Pattern[str], texts: Sequence[str]) -> float:
    return sum(1 for t in texts if pattern.search(t)) / len(texts) if texts else 0.0


def _clip(x: float) -> float:
    return min(1.0, max(0.0, x))


def score(turns: Sequence[tuple[str, str]]) -> QualityScores:
    """Score a conversation given as (role, text) pairs (system turns ignored)."""
    turns = [(r, t) for r, t in turns if r != "system"]
    helper = [t for r, t in turns if r == "assistant"]
    words = [len(_WORD.findall(t)) for _, t in turns]
    total_words = sum(words) or 1

    markers = [count_markers(t) for t in helper]

    def share(name: str) -> float:
        return sum(1 for m in markers if getattr(m, name)) / len(markers) if markers else 0.0

    reflection, validation, open_q, advice = (
        share("reflection"),
        share("validation"),
        share("open_question"),
        share("advice"),
    )
    questions = _rate(_ANY_QUESTION, helper)
    empathy = _clip(1.2 * reflection + 0.8 * validation + 0.6 * open_q - 0.6 * advice)

    alternation = (
        sum(1 for a, b in zip(turns, turns[1:]) if a[0] != b[0]) / (len(turns) - 1) if len(turns) > 1 else 0.0
    )
    both_roles = float(bool(helper) and any(r == "user" for r, _ in turns))
    depth = min(1.0, len(turns) / 8)
    helper_words = sum(len(_WORD.findall(t)) for t in helper) / len(helper) if helper else 0.0
    # helper turns of a conversational length: too short is perfunctory, too long is lecturing
    substance = (
        min(1.0, helper_words / SUBSTANCE_LOW)
        if helper_words <= SUBSTANCE_HIGH
        else max(0.0, 1 - (helper_words - SUBSTANCE_HIGH) / SUBSTANCE_HIGH)
    )
    truncated = float(bool(turns) and not re.search(r"[.!?)\"'”’…:;]\s*$|[\U0001F300-\U0001FAFF]\s*$", turns[-1][1]))
    fidelity = _clip(both_roles * (0.2 * alternation + 0.15 * depth + 0.55 * substance + 0.1 * (1 - truncated)))

    harm_hits = sum(len(ABUSE_OR_SELF_HARM.findall(t)) for t in helper)
    harmfulness = _clip(harm_hits / max(1, len(helper)) * 3)

    domain_density = sum(len(_DOMAIN.findall(t)) for _, t in turns) / total_words
    domain = _clip(domain_density / 0.06)

    overall = _clip(
        (WEIGHTS["empathy"] * empathy + WEIGHTS["fidelity"] * fidelity + WEIGHTS["domain_relevance"] * domain)
        * (1 - harmfulness)
    )
    signals = {
        "reflection_rate": reflection,
        "validation_rate": validation,
        "open_question_rate": open_q,
        "question_rate": questions,
        "advice_rate": advice,
        "alternation": alternation,
        "both_roles": both_roles,
        "depth": depth,
        "helper_words_mean": helper_words,
        "substance": substance,
        "truncated": truncated,
        "harm_hits": float(harm_hits),
        "domain_density": domain_density,
    }
    return QualityScores(
        empathy=round(empathy, 4),
        fidelity=round(fidelity, 4),
        harmfulness=round(harmfulness, 4),
        domain_relevance=round(domain, 4),
        overall=round(overall, 4),
        signals={k: round(v, 4) for k, v in signals.items()},
    )
