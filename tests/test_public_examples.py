"""examples/public end to end through `pixelgate run`, against the S3 store (a real S3 server):
the real datasets in ../shared/datasets ingested with PII on, compiled (the two CounselChat
scrapes overlap, so dedup has real work), verified, and reviewed at Gate 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pixelgate.workflows.store import S3Store

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "public"
# Exact counts of the sources (each folder's SOURCE.md; test_ingest_datasets.py counts them independently).
RECORDS = {"esconv": 1300, "failed-esconv": 196, "annomi": 133, "counselchat-20200325": 2129, "counselchat-data": 1482}
QUARANTINED = {"counselchat-data": 7}  # answers that are empty once their HTML is stripped


@pytest.fixture(scope="module")
def public_run(s3, tmp_path_factory: pytest.TempPathFactory) -> tuple[S3Store, subprocess.CompletedProcess]:
    uri = f"s3://{s3.new_bucket()}/public"
    argv = [
        sys.executable,
        "-P",
        "-m",
        "pixelgate.workflows.cli",
        "run",
        "-f",
        str(EXAMPLES),
        "--store",
        uri,
        "--workers",
        "2",
    ]
    done = subprocess.run(
        argv,
        cwd=tmp_path_factory.mktemp("public"),
        env=os.environ | s3.env(),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    return S3Store(uri, client=s3.client()), done


def test_every_public_family_is_ready_with_exact_counts(public_run) -> None:
    store, done = public_run
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    for family, records in RECORDS.items():
        status = store.read_json(f"status/DatasetFamily/{family}.json")
        assert status["phase"] == "Ready", (family, status)
        assert status["recordsOut"] == records - QUARANTINED.get(family, 0), family
        assert status["quarantined"] == QUARANTINED.get(family, 0), family
        assert store.exists(f"{store.read_json(f'families/{family}/latest.json')['target']}/stats.json")


def test_public_compile_dedups_the_overlapping_scrapes_and_passes_all_gates(public_run) -> None:
    store, _ = public_run
    status = store.read_json("status/CompileRun/public.json")
    assert status["phase"] == "Succeeded" and status["gatesPassed"] == "8/8", status
    pointer = store.read_json("compiles/public/latest.json")
    manifest = store.read_json(pointer["manifest"])
    report = store.read_json(pointer["report"])
    assert report["passed"] and report["duplicate_rate"]["observed"] <= 0.01
    families = {f["name"]: f for f in manifest["families"]}
    assert set(families) == {
        "esconv",
        "failed-esconv",
        "counselchat-20200325",
        "counselchat-data",
    }  # AnnoMI: no licence to train
    # The later scrape repeats the earlier one's answers: at least 1,300 of its 1,468 records go.
    later = families["counselchat-data"]
    assert later["removed_exact"] + later["removed_near"] >= 1300 and later["records_out"] < 200
    assert families["esconv"]["records_out"] == 1300  # nothing in ESConv duplicates the rest
    # The holdout goes to test only; every record of every split is accounted for.
    seen: dict[str, dict[str, int]] = {}
    for shard in manifest["shards"]:
        for line in store.read_bytes(shard["path"]).decode().splitlines():
            record = json.loads(line)
            assert record["split"] == shard["split"]
            seen.setdefault(record["family"], {}).setdefault(record["split"], 0)
            seen[record["family"]][record["split"]] += 1
    assert seen["failed-esconv"] == {"test": 196}
    assert sum(n for splits in seen.values() for n in splits.values()) == manifest["records"] == status["records"]
    train_share = manifest["splits"]["train"] / (manifest["records"] - 196)
    assert abs(train_share - 0.9) <= 0.05


def test_gate_1_passes_on_the_public_compile(public_run) -> None:
    store, _ = public_run
    review = store.read_json("status/GateReview/public-data-foundation.json")
    assert review["phase"] == "Passed" and review["decision"] == "Pass", review
    assert all(check["verdict"] == "Pass" for check in review["checks"])
