"""Unicode repair against ftfy's own test cases and charset_normalizer's samples."""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from pathlib import Path

import ftfy
import pytest

from pixelgate.workflows.steps.ingest.encoding import TextRepair, decode_bytes, html_to_text
from pixelgate.workflows.steps.ingest.sources import iter_items, resolve_source


def _cases(datasets: Path, name: str) -> list[dict]:
    return json.loads((datasets / "ftfy-test-cases" / f"{name}.json").read_text())


def _modulo_our_options(text: str) -> str:
    """Undo the ftfy options we deliberately turn off (curly quotes and full-width forms kept)."""
    return unicodedata.normalize("NFC", ftfy.fixes.uncurl_quotes(ftfy.fixes.fix_character_width(text)))


@pytest.mark.parametrize("name", ["in-the-wild", "synthetic", "negative"])
def test_ftfy_cases_repair_as_ftfy_expects(datasets: Path, name: str) -> None:
    cases = [c for c in _cases(datasets, name) if c["expect"] == "pass"]
    assert len(cases) >= 30
    failures = []
    for case in cases:
        # HTML entities are decoded only where the mapping says stripHtml (ftfy's "auto" guesses)
        ours = TextRepair(strip_html=bool(re.search(r"&#?\w+;", case["original"]))).fix(case["original"])
        if _modulo_our_options(ours) != _modulo_our_options(case["fixed"]):
            failures.append((case["label"], ours, case["fixed"]))
    assert failures == []


def test_known_failures_run_without_error(datasets: Path) -> None:
    for case in _cases(datasets, "known-failures"):
        assert isinstance(TextRepair().fix(case["original"]), str)


def test_curly_quotes_are_kept_and_fixes_counted() -> None:
    repair = TextRepair()
    assert repair.fix("\u201cI\u2019m fine,\u201d she said") == "\u201cI\u2019m fine,\u201d she said"
    assert repair.fix("It\u00e2\u20ac\u2122s caf\u00c3\u00a9") == "It\u2019s caf\u00e9"
    assert repair.fix("cafe\u0301") == "caf\u00e9"
    assert repair.counts == {"ftfy": 1, "nfc": 1}


def test_charset_samples_decode_to_the_right_text(datasets: Path) -> None:
    folder = datasets / "charset-normalizer-samples"
    with open(folder / "expected_labels.csv", newline="") as fh:
        labels = list(csv.DictReader(fh))
    assert len(labels) == 18
    for row in labels:
        data = (folder / row["file"]).read_bytes()
        expected = data.decode(row["expected_charset"].replace("utf_8", "utf-8-sig"))
        text, _codec = decode_bytes(data)
        assert text == expected, row["file"]


def test_legacy_encoded_file_is_read_through_detection(datasets: Path) -> None:
    folder = datasets / "charset-normalizer-samples"
    [source] = resolve_source("sample-french-1.txt", folder)  # cp1252; sample-french.txt is the UTF-8 twin
    lines = [item.raw for item in iter_items(source, "jsonl", None)]
    assert lines and all(item == "malformed_json" for item in (i.reason for i in iter_items(source, "jsonl", None)))
    twin = (folder / "sample-french.txt").read_text(encoding="utf-8-sig").splitlines()
    assert [line for line in lines] == [line for line in twin if line.strip()]


def test_html_to_text() -> None:
    assert html_to_text("<p>Hi&nbsp;there</p><p><br></p><p>&#34;ok&#34; <b>now</b></p>") == 'Hi\u00a0there\n\n"ok" now'
    assert html_to_text("<style>p{color:red}</style><!-- c --><p>x</p>") == "x"
