"""PII detection quality on labelled public data (span-level; method in docs/pii.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixelgate.workflows.steps.ingest.pii import PiiDetector, needs_ner, redact, regex_spans
from pixelgate.workflows.steps.ingest.pii_eval import EVAL_TYPES, load_synth, load_wnut, score


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return PiiDetector(sorted(EVAL_TYPES))


def _predict(detector: PiiDetector, examples) -> list[list[tuple[int, int, str]]]:
    return [[(s.start, s.end, s.entity) for s in spans] for spans in detector.detect([e.text for e in examples])]


def test_synth_dataset_v2_f2(datasets: Path, detector: PiiDetector) -> None:
    examples = load_synth(datasets / "presidio-synth-pii" / "synth_dataset_v2.json")
    assert len(examples) == 1500
    scores = score(examples, _predict(detector, examples))
    overall = scores.row()
    assert overall["support"] == 2342  # spans of the evaluated types (SOURCE.md counts, mapped)
    # measured 0.767 (P 0.835, R 0.752); vanilla presidio scores 0.478 on the same metric (benchmark)
    assert overall["f2"] >= 0.75
    for entity in ("EMAIL_ADDRESS", "US_SSN", "IP_ADDRESS", "URL"):
        assert scores.row(entity)["f2"] == 1.0, entity
    for entity in ("CREDIT_CARD", "IBAN_CODE", "AGE"):
        assert scores.row(entity)["f2"] >= 0.89, entity
    assert scores.row("LOCATION")["f2"] >= 0.75 and scores.row("PERSON")["f2"] >= 0.65


def test_wnut17_person_location_recall(datasets: Path, detector: PiiDetector) -> None:
    examples = list(load_wnut(datasets / "wnut17" / "emerging.test.annotated"))
    assert len(examples) == 1287
    scores = score(examples, _predict(detector, examples))
    assert scores.row("PERSON")["support"] == 429 and scores.row("LOCATION")["support"] == 150  # SOURCE.md
    # lower-cased, noisy tweets are hard for the small model and for the capitalization gate (docs/pii.md)
    assert scores.row("PERSON")["recall"] >= WNUT_PERSON_RECALL
    assert scores.row("LOCATION")["recall"] >= WNUT_LOCATION_RECALL


WNUT_PERSON_RECALL = 0.35  # measured 0.357
WNUT_LOCATION_RECALL = 0.40  # measured 0.407


def test_fast_path_gate() -> None:
    assert not needs_ner("I feel so tired. Hello, how are you? Thanks for listening.")
    assert needs_ner("Yesterday I talked to Maria about it.")
    assert needs_ner("Leif, can I please speak to your boss?")


def test_structured_recognizers_and_redaction() -> None:
    text = "SSN 078-05-1120, card 4111 1111 1111 1111, ip 10.0.0.256 and 192.168.1.20, I'm 34 years old."
    spans = {(text[s.start:s.end], s.entity) for s in regex_spans(text, frozenset(EVAL_TYPES))}
    assert {("078-05-1120", "US_SSN"), ("4111 1111 1111 1111", "CREDIT_CARD"), ("192.168.1.20", "IP_ADDRESS"), ("34", "AGE")} <= spans
    assert not any(v == "10.0.0.256" for v, _ in spans)  # octet out of range
    detector = PiiDetector(["US_SSN", "AGE"])
    [found] = detector.detect(["My SSN is 078-05-1120 and I am 34."])
    assert redact("My SSN is 078-05-1120 and I am 34.", found) == "My SSN is <US_SSN> and I am <AGE>."
    assert regex_spans("License D1234567 A12345", frozenset(["US_DRIVER_LICENSE"])) == []  # no such recognizer
