"""Every public example ingests through its mapping alone, with exact record and turn counts
(checked against SOURCE.md and an independent count of the raw files). PII detection is off
here to keep the suite fast; PII is covered in test_ingest_pii.py and the benchmark."""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path

import pytest

from pixelgate.workflows.api.dataset_family import Pii
from pixelgate.workflows.api.manifests import load_items
from pixelgate.workflows.recordio import iter_records
from pixelgate.workflows.steps.ingest import ingest_family
from pixelgate.workflows.store import LocalStore

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "public"


def _ingest(name: str, store: LocalStore):
    [(resource, base_dir)] = [(i.resource, i.base_dir) for i in load_items([str(EXAMPLES / f"{name}.yaml")])]
    spec = resource.spec.model_copy(update={"pii": Pii(entities=[])})
    result = ingest_family(resource.name, spec, store, base_dir)
    records = list(
        iter_records(store, f"{store.read_json(f'families/{resource.name}/latest.json')['target']}/records")
    )
    return result, records


def _count_jsonl(paths: list[Path]) -> tuple[int, int]:
    convs = turns = 0
    for path in paths:
        for line in path.read_text().splitlines():
            if line.strip():
                convs += 1
                turns += len(json.loads(line)["dialog"])
    return convs, turns


def test_esconv_all_splits(datasets: Path, tmp_path: Path) -> None:
    result, records = _ingest("esconv", LocalStore(tmp_path))
    convs, turns = _count_jsonl(sorted((datasets / "esconv").glob("*.jsonl")))
    assert (convs, turns) == (1300, 26648 + 5678 + 6039)  # SOURCE.md
    assert result.records_out == len(records) == convs and result.quarantined == 0
    assert sum(len(r.messages) for r in records) == turns
    assert {r.meta["emotion"] for r in records} >= {"anxiety", "depression"}
    assert len({r.id for r in records}) == convs
    assert records[0].messages[0].content == "Hello good afternoon." or any(
        r.messages[0].content == "Hello good afternoon." for r in records
    )


def test_failed_esconv(datasets: Path, tmp_path: Path) -> None:
    result, records = _ingest("failed-esconv", LocalStore(tmp_path))
    raw = json.loads((datasets / "esconv" / "FailedESConv.json").read_text())
    assert (len(raw), sum(len(d["dialog"]) for d in raw)) == (196, 5230)
    assert result.records_out == 196 and result.quarantined == 0
    assert sum(len(r.messages) for r in records) == 5230
    assert all(r.split == "test" for r in records)  # holdout
    assert not any(m.content.endswith("\n") for r in records for m in r.messages)  # trailing newlines trimmed


def test_annomi_full_dedupes_annotator_rows(datasets: Path, tmp_path: Path) -> None:
    result, records = _ingest("annomi", LocalStore(tmp_path))
    with open(datasets / "annomi" / "AnnoMI-simple.csv", newline="") as fh:
        simple = list(csv.DictReader(fh))
    assert len(simple) == 9699
    assert result.records_out == 133 and result.quarantined == 0
    assert sum(len(r.messages) for r in records) == len(simple)
    by_transcript = {r.provenance.source_record: r for r in records}
    first = by_transcript["transcript_id=0"]
    expected = [row["utterance_text"].strip() for row in simple if row["transcript_id"] == "0"]
    assert [m.content for m in first.messages] == expected
    assert {r.meta["mi_quality"] for r in records} == {"high", "low"}
    assert sum(r.meta["mi_quality"] == "low" for r in records) == 23


def _html_text(value: str) -> str:
    return html.unescape(re.sub(r"<!--.*?-->|<[^>]+>", " ", value, flags=re.S)).strip()


@pytest.mark.parametrize(
    ("name", "file", "rows"),
    [("counselchat-20200325", "20200325_counsel_chat.csv", 2129), ("counselchat-data", "counselchat-data.csv", 1482)],
)
def test_counselchat(datasets: Path, tmp_path: Path, name: str, file: str, rows: int) -> None:
    csv.field_size_limit(1 << 30)  # counselchat-data has answers over the default 128 KiB limit
    with open(datasets / "counselchat" / file, newline="") as fh:
        raw = list(csv.DictReader(fh))
    assert len(raw) == rows  # SOURCE.md
    # answers or questions that are empty (counselchat-data has "<p><br></p>" answers) cannot make a pair
    empty = sum(
        1 for r in raw if not _html_text(r["answerText"]) or not _html_text(r["questionTitle"] + r["questionText"])
    )
    result, records = _ingest(name, LocalStore(tmp_path))
    assert result.records_out == len(records) == rows - empty
    assert result.quarantined_by_reason == ({"empty_turn": empty} if empty else {})
    assert all([m.role for m in r.messages] == ["user", "assistant"] for r in records)
    if name == "counselchat-data":
        assert empty == 7
        assert not any("<p>" in r.messages[1].content or "&#34;" in r.messages[1].content for r in records)
        stats = LocalStore(tmp_path).read_json(f"families/{name}/{result.spec_hash}/stats.json")
        assert stats["encoding_fixes"]["html_stripped"] >= 1367
        assert stats["quarantined"] == {"empty_turn": 7}
