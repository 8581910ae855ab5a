"""PII detection quality on labelled public data (span-level; method in docs/pii.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixelgate.workflows.steps.ingest.pii import PiiDetector, needs_ner, redact, regex_spans
from pixelgate.workflows.steps.ingest.pii_eval import (
    EVAL_TYPES,
    Example,
    io_tags,
    load_synth,
    load_wnut,
    score,
    split_half,
    token_confusion,
    token_score,
    tokens,
)


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


def test_token_scorer_io_tags_and_overlaps() -> None:
    text = "My name is John Smith."
    toks = tokens(text)
    assert [t for _, t in toks] == ["My", "name", "is", "John", "Smith", "."]
    assert io_tags(toks, [(11, 21, "PERSON")]) == ["O", "O", "O", "PERSON", "PERSON", "O"]
    # a span inside one token tags it; overlapping spans: the higher score wins the token
    assert io_tags(tokens("id:12345"), [(3, 8, "ID")]) == ["ID"]
    assert io_tags(toks, [(11, 21, "PERSON", 0.6), (16, 21, "LOCATION", 0.9)])[3:5] == ["PERSON", "LOCATION"]


def test_token_scorer_counts_like_presidio_research() -> None:
    keep = frozenset({"PERSON", "LOCATION"})
    # "at" is predicted PERSON but is a stop word: the mismatch is not counted; "home" is O/O
    c = token_confusion("Call John at home", [(5, 9, "PERSON")], [(5, 12, "PERSON")], keep)
    assert c == {("O", "O"): 2, ("PERSON", "PERSON"): 1}
    # types outside the supported set are "O" on both sides
    c = token_confusion("Visit Paris today", [(6, 11, "GPE")], [(0, 5, "DATE_TIME")], keep)
    assert c == {("O", "O"): 3}
    # a LOCATION token predicted as PERSON: wrong for each entity, but PII found overall
    ex = [Example("Visit Paris with Anna", ((6, 11, "LOCATION"), (17, 21, "PERSON")))]
    s = token_score(ex, [[(6, 11, "PERSON")]], keep)
    assert s.row("LOCATION")["recall"] == 0.0 and s.row("PERSON")["precision"] == 0.0
    overall = s.row()
    assert (overall["precision"], overall["recall"], overall["support"]) == (1.0, 0.5, 2.0)
    assert overall["f2"] == pytest.approx(5 * 1.0 * 0.5 / (4 * 1.0 + 0.5))


def test_split_half_is_deterministic_and_balanced() -> None:
    texts = [f"sentence {i}" for i in range(2000)]
    halves = [split_half(t) for t in texts]
    assert halves == [split_half(t) for t in texts] and set(halves) == {"tune", "heldout"}
    assert 900 < halves.count("heldout") < 1100
