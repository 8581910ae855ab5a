"""The ingest step's contract on small real files: formats, quarantine, errors, idempotency,
PII modes, the quality floor, the CLI and the S3 store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pixelgate.workflows.api import parse_resource
from pixelgate.workflows.api.dataset_family import DatasetFamilySpec
from pixelgate.workflows.recordio import iter_records
from pixelgate.workflows.steps.ingest import IngestError, ingest_family
from pixelgate.workflows.store import LocalStore, S3Store

NO_PII = {"entities": []}


def _spec(uri: str, fmt: str, mapping: dict, **extra) -> DatasetFamilySpec:
    doc = {
        "source": {"uri": uri, "format": fmt},
        "mapping": mapping,
        "license": {"spdx": "MIT", "allowTraining": True},
        "pii": NO_PII,
    }
    doc.update(extra)
    return DatasetFamilySpec.model_validate(doc)


TURNS = {
    "turns": {"path": "dialog", "role": "speaker", "content": "text"},
    "roles": {"usr": "user", "sys": "assistant"},
}


def _dialog(i: int) -> dict:
    return {
        "id": f"d{i}",
        "topic": "work",
        "dialog": [
            {"speaker": "usr", "text": f"I feel anxious about my job, day {i}."},
            {"speaker": "sys", "text": "It sounds like work has been stressful. What worries you most about it?"},
        ],
    }


def _records(store: LocalStore, family: str) -> list:
    return list(iter_records(store, store.read_json(f"families/{family}/latest.json")["target"] + "/records"))


def _quarantine(store: LocalStore, family: str, spec_hash: str, reason: str) -> list[dict]:
    text = store.read_bytes(f"families/{family}/{spec_hash}/quarantine/{reason}.jsonl").decode()
    return [json.loads(line) for line in text.splitlines()]


def test_jsonl_bad_lines_are_quarantined_and_the_step_finishes(tmp_path: Path) -> None:
    lines = [
        json.dumps(_dialog(0)),
        "{not json",
        json.dumps({"id": "x"}),
        json.dumps({"dialog": []}),
        json.dumps({"dialog": [{"speaker": "bot", "text": "hi"}]}),
        json.dumps(_dialog(1)),
        json.dumps({"dialog": [{"speaker": "usr", "text": "   "}]}),
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n")
    store = LocalStore(tmp_path / "store")
    result = ingest_family("mixed", _spec(str(src), "jsonl", TURNS), store)
    assert result.records_out == 2
    assert result.quarantined_by_reason == {
        "malformed_json": 1,
        "missing_field": 1,
        "empty_conversation": 2,
        "unknown_role": 1,
    }
    assert result.records_in == 7
    bad = _quarantine(store, "mixed", result.spec_hash, "malformed_json")
    assert bad[0]["source_record"] == "line:2" and bad[0]["raw"] == "{not json"
    roles = _quarantine(store, "mixed", result.spec_hash, "unknown_role")
    assert "'bot'" in roles[0]["detail"] and roles[0]["raw"]["dialog"][0]["speaker"] == "bot"
    stats = store.read_json(f"families/mixed/{result.spec_hash}/stats.json")
    assert stats["quarantined"] == result.quarantined_by_reason and stats["records_out"] == 2
    assert sum(stats["histograms"]["turns"]["counts"]) == 2
    assert store.read_json("families/mixed/latest.json")["target"] == f"families/mixed/{result.spec_hash}"


def test_json_array_csv_and_parquet_sources(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps([_dialog(0), _dialog(1)]) + "  ")
    store = LocalStore(tmp_path / "store")
    assert ingest_family("arr", _spec(str(tmp_path / "a.json"), "json", TURNS), store).records_out == 2

    rows = [
        {"conv": "b", "n": 2, "who": "client", "text": "yes"},
        {"conv": "b", "n": 1, "who": "therapist", "text": "Ready?"},
        {"conv": "a", "n": 10, "who": "therapist", "text": "And then?"},
        {"conv": "a", "n": 9, "who": "client", "text": "I stopped."},
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "rows.parquet")
    mapping = {
        "rows": {"groupBy": "conv", "orderBy": "n", "role": "who", "content": "text"},
        "roles": {"client": "user", "therapist": "assistant"},
    }
    result = ingest_family("rows", _spec(str(tmp_path / "rows.parquet"), "parquet", mapping), store)
    recs = {r.provenance.source_record: [m.content for m in r.messages] for r in _records(store, "rows")}
    assert result.records_out == 2
    assert recs == {"conv=b": ["Ready?", "yes"], "conv=a": ["I stopped.", "And then?"]}  # numeric order: 9 before 10

    (tmp_path / "qa.csv").write_bytes(
        'q,a\n"Why?","<p>Because&nbsp;caf\u00e9 &#34;x&#34;</p>"\nonly-one-field\n'.encode("cp1252", "replace")
    )
    pair = {"pair": {"prompt": ["q"], "response": "a"}, "stripHtml": True}
    result = ingest_family("qa", _spec(str(tmp_path / "qa.csv"), "csv", pair), store)
    assert result.records_out == 1 and result.quarantined_by_reason == {"malformed_row": 1}
    assert (
        _records(store, "qa")[0].messages[1].content == 'Because\u00a0caf\u00e9 "x"'
    )  # cp1252 detected, HTML stripped
    assert store.read_json(f"families/qa/{result.spec_hash}/stats.json")["encoding_fixes"]["charset_detected"] == 1


def test_rerun_writes_identical_bytes(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(_dialog(i)) for i in range(30)) + "\n")
    spec = _spec(str(src), "jsonl", TURNS, pii={"entities": ["PERSON", "PHONE_NUMBER"], "auditSampleRate": 1.0})
    a, b = LocalStore(tmp_path / "a"), LocalStore(tmp_path / "b")
    ra, rb = ingest_family("same", spec, a, shard_size=7), ingest_family("same", spec, b, shard_size=7)
    keys = a.list(f"families/same/{ra.spec_hash}/records")
    assert len(keys) == 5 and keys == b.list(f"families/same/{rb.spec_hash}/records")
    assert all(a.read_bytes(k) == b.read_bytes(k) for k in keys)
    first = a.read_bytes(keys[0])
    ingest_family("same", spec, a, shard_size=7)  # rerun in place
    assert a.read_bytes(keys[0]) == first


def test_errors_name_the_field_to_fix(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(_dialog(0)) + "\n")
    store = LocalStore(tmp_path / "store")
    with pytest.raises(IngestError, match=r"^source\.uri: no file matches") as err:
        ingest_family("f", _spec(str(tmp_path / "nope*.jsonl"), "jsonl", TURNS), store)
    assert err.value.field == "source.uri"
    bad_sum = _spec(str(src), "jsonl", TURNS, source={"uri": str(src), "format": "jsonl", "sha256": "0" * 64})
    with pytest.raises(IngestError, match=r"^source\.sha256: expected 0{64}, but .* has [0-9a-f]{64}"):
        ingest_family("f", bad_sum, store)
    wrong_path = {**TURNS, "turns": {"path": "messages", "role": "speaker", "content": "text"}}
    with pytest.raises(IngestError, match=r"^mapping\.turns\.path: the mapping matched no record"):
        ingest_family("f", _spec(str(src), "jsonl", wrong_path), store)
    wrong_roles = {**TURNS, "roles": {"user": "user"}}
    with pytest.raises(IngestError, match=r"^mapping\.roles:"):
        ingest_family("f", _spec(str(src), "jsonl", wrong_roles), store)
    assert not store.exists("families/f/latest.json")  # a failed ingest never moves the pointer


def test_pii_modes_quality_floor_and_audit(tmp_path: Path) -> None:
    convs = [
        {
            "dialog": [
                {
                    "speaker": "usr",
                    "text": "My name is Jonathan Meyers, call me at 617-555-0199 or jon.m@example.org.",
                },
                {"speaker": "sys", "text": "Thank you for sharing. How are you feeling today?"},
            ]
        },
        {
            "dialog": [
                {"speaker": "usr", "text": "I feel low and tired all the time."},
                {"speaker": "sys", "text": "That sounds really hard. What has changed recently?"},
            ]
        },
        {"dialog": [{"speaker": "usr", "text": "ok"}, {"speaker": "usr", "text": "k"}]},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(c) for c in convs) + "\n")
    store = LocalStore(tmp_path / "store")
    pii = {"entities": ["PERSON", "PHONE_NUMBER", "EMAIL_ADDRESS"], "auditSampleRate": 1.0}

    result = ingest_family("red", _spec(str(src), "jsonl", TURNS, pii=pii, quality={"minOverall": 0.2}), store)
    assert result.quarantined_by_reason == {"low_quality": 1}
    rec = next(r for r in _records(store, "red") if r.pii.counts)
    text = rec.messages[0].content
    assert text == "My name is <PERSON>, call me at <PHONE_NUMBER> or <EMAIL_ADDRESS>."
    assert rec.pii.counts == {"EMAIL_ADDRESS": 1, "PERSON": 1, "PHONE_NUMBER": 1}
    assert rec.pii.placeholders == ["<EMAIL_ADDRESS>", "<PERSON>", "<PHONE_NUMBER>"]
    audit = store.read_bytes(f"families/red/{result.spec_hash}/pii_audit.jsonl").decode()
    assert (
        len(audit.splitlines()) == 3
        and "Meyers" not in audit
        and "617-555" not in audit
        and "jon.m" not in audit
        and "span_sha256" in audit
    )
    low = _quarantine(store, "red", result.spec_hash, "low_quality")
    assert low[0]["source_record"] == "line:3"

    dropped = ingest_family("drop", _spec(str(src), "jsonl", TURNS, pii={**pii, "mode": "drop-record"}), store)
    assert dropped.quarantined_by_reason == {"pii": 1} and dropped.records_out == 2

    flagged = ingest_family("flag", _spec(str(src), "jsonl", TURNS, pii={**pii, "mode": "flag"}), store)
    rec = next(r for r in _records(store, "flag") if r.pii.counts)
    assert rec.pii.flagged and "Jonathan Meyers" in rec.messages[0].content and flagged.pii_entities == 3


def test_cli_resolves_relative_uri_against_manifest(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.jsonl").write_text(json.dumps(_dialog(0)) + "\n")
    manifest = {
        "apiVersion": "pixelgate.dev/v1alpha1",
        "kind": "DatasetFamily",
        "metadata": {"name": "cli-fam"},
        "spec": _spec("data/in.jsonl", "jsonl", TURNS).to_wire(),
    }
    (tmp_path / "family.yaml").write_text(yaml.safe_dump(manifest))
    parse_resource(manifest)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pixelgate.workflows.cli",
            "step",
            "ingest",
            "--spec",
            str(tmp_path / "family.yaml"),
            "--store",
            str(tmp_path / "store"),
        ],
        capture_output=True,
        text=True,
        cwd="/",
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["records_out"] == 1 and result["family"] == "cli-fam"


def test_s3_source_and_store(s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    bucket = s3.new_bucket()
    client = s3.client()
    for i in range(2):
        client.put_object(Bucket=bucket, Key=f"raw/part-{i}.jsonl", Body=(json.dumps(_dialog(i)) + "\n").encode())
    store = S3Store(f"s3://{bucket}/out", client=client)
    result = ingest_family("s3fam", _spec(f"s3://{bucket}/raw/part-*.jsonl", "jsonl", TURNS), store)
    assert result.records_out == 2 and result.output_uri == f"s3://{bucket}/out/families/s3fam/{result.spec_hash}"
    pointer = store.read_json("families/s3fam/latest.json")
    assert pointer["records_out"] == 2
    recs = list(iter_records(store, pointer["target"] + "/records"))
    assert sorted(r.provenance.source_uri for r in recs) == [
        f"s3://{bucket}/raw/part-0.jsonl",
        f"s3://{bucket}/raw/part-1.jsonl",
    ]
    assert store.exists(f"{pointer['target']}/stats.json")
