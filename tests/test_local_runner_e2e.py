"""`pixelgate run` end to end with the real steps: the quickstart through the CLI, statuses,
the compile's manifest and verification report, cache hits, resume after a kill, and S3.

Steps load spaCy/presidio, so runs are shared: one module-scoped run of the families feeds the
status, cache, resume and quickstart tests.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pixelgate.workflows.api.manifests import load_items
from pixelgate.workflows.demo import QUICKSTART, generate
from pixelgate.workflows.local.runner import run_resources
from pixelgate.workflows.store import LocalStore, S3Store

FAMILIES = ["counsel-qa", "crisis-holdout", "low-quality-forum", "mi-sessions", "support-chats"]
OUTPUT_PREFIXES = ("families/", "compiles/", "trainings/")


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart manifests beside freshly generated (small) data."""
    root = tmp_path_factory.mktemp("quickstart")
    for manifest in QUICKSTART.glob("*.yaml"):
        shutil.copy(manifest, root / manifest.name)
    generate(root / "data", seed=11, size=24)
    return root


def _pixelgate(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "pixelgate.workflows.cli", *args]
    return subprocess.run(argv, cwd=cwd, env=os.environ | (env or {}), capture_output=True, text=True, timeout=900)


def _outputs(store) -> dict[str, bytes]:
    # timing.json records how long a step took: by design the one output a rerun changes.
    return {
        k: store.read_bytes(k)
        for k in store.list("")
        if k.startswith(OUTPUT_PREFIXES) and not k.endswith("/timing.json")
    }


def _status(store, kind: str, name: str) -> dict:
    return store.read_json(f"status/{kind}/{name}.json")


@pytest.fixture(scope="module")
def families_run(
    quickstart: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[LocalStore, subprocess.CompletedProcess]:
    work = tmp_path_factory.mktemp("families-run")
    store = LocalStore(work / "store")
    done = _pixelgate("run", "-f", str(quickstart / "families.yaml"), "--store", str(store.root), cwd=work)
    return store, done


def test_families_run_and_write_statuses(families_run) -> None:
    store, done = families_run
    assert done.returncode == 0, done.stdout + done.stderr
    for family in FAMILIES:
        status = _status(store, "DatasetFamily", family)
        assert status["phase"] == "Ready", status
        assert status["recordsOut"] > 0 and status["workflow"].startswith(family + "-")
        assert [c for c in status["conditions"] if c["type"] == "Ready"][0]["status"] == "True"
        assert store.exists(f"runs/{status['workflow']}/workflow.yaml")
    assert "support-chats" in done.stdout and "Ready" in done.stdout  # the status table
    assert _status(store, "DatasetFamily", "support-chats")["quarantined"] >= 2, (
        "the malformed and the unmappable lines are quarantined"
    )


def test_a_second_run_comes_from_the_cache(families_run, quickstart: Path, tmp_path: Path) -> None:
    store, _ = families_run
    before = _outputs(store)
    report = run_resources(
        load_items([str(quickstart / "families.yaml")]), store, workers=2, logs_dir=tmp_path / "logs"
    )
    assert report.ok
    assert all(o.workflow.cached_nodes == len(o.workflow.nodes) == 1 for o in report.outcomes), (
        "every step from the cache"
    )
    assert _outputs(store) == before


def test_a_killed_run_resumes_to_identical_output(families_run, quickstart: Path, tmp_path: Path) -> None:
    clean, _ = families_run
    store = LocalStore(tmp_path / "killed")
    argv = [
        sys.executable,
        "-m",
        "pixelgate.workflows.cli",
        "run",
        "-f",
        str(quickstart / "families.yaml"),
        "--store",
        str(store.root),
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(
        argv, cwd=tmp_path, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 600
    while not any(k.endswith("/ingest.json") for k in store.list("runs/")):
        assert proc.poll() is None, "the run finished before it could be killed"
        assert time.monotonic() < deadline, "no step finished in time"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and the step it was running, mid-way
    proc.wait()
    finished = sorted(k for k in store.list("runs/") if k.endswith("/ingest.json"))
    assert 1 <= len(finished) < len(FAMILIES)
    stamps = {k: (store.root / k).stat().st_mtime_ns for k in finished}

    done = _pixelgate(
        "run", "-f", str(quickstart / "families.yaml"), "--store", str(store.root), "--workers", "1", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert {k: (store.root / k).stat().st_mtime_ns for k in finished} == stamps, "finished steps are not run again"
    assert _outputs(store) == _outputs(clean)


def test_quickstart_end_to_end(families_run, quickstart: Path, tmp_path: Path) -> None:
    """The whole quickstart on top of the families run: compile, training, review."""
    store, _ = families_run
    done = _pixelgate("run", "-f", str(quickstart), "--store", str(store.root), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    compile_status = _status(store, "CompileRun", "quickstart")
    assert compile_status["phase"] == "Succeeded" and compile_status["gatesPassed"] == "8/8", compile_status
    for uri in (compile_status["manifestUri"], compile_status["reportUri"]):
        assert json.loads(Path(uri).read_text())
    assert _status(store, "TrainingRun", "quickstart-tiny")["phase"] == "Succeeded"
    review = _status(store, "GateReview", "quickstart-data-foundation")
    assert review["phase"] == "Passed" and review["decision"] == "Pass"

    report = run_resources(load_items([str(quickstart)]), store, logs_dir=tmp_path / "logs")
    ran = [o for o in report.outcomes if o.workflow is not None]
    assert len(ran) == 7 and all(o.workflow.cached_nodes == len(o.workflow.nodes) for o in ran)


def test_the_whole_quickstart_against_the_s3_store(
    quickstart: Path, tmp_path: Path, s3, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Families, compile (its fan-out stages), training (checkpoints to S3) and review on a real S3 server."""
    uri = f"s3://{s3_bucket}/pixelgate"
    done = _pixelgate("run", "-f", str(quickstart), "--store", uri, cwd=tmp_path, env=s3.env())
    assert done.returncode == 0, done.stdout + done.stderr
    store = S3Store(uri, client=s3.client())
    for family in FAMILIES:
        assert _status(store, "DatasetFamily", family)["phase"] == "Ready"
    compile_status = _status(store, "CompileRun", "quickstart")
    assert compile_status["phase"] == "Succeeded" and compile_status["gatesPassed"] == "8/8", compile_status
    assert compile_status["manifestUri"].startswith(f"s3://{s3_bucket}/") and store.read_json(
        store.read_json("compiles/quickstart/latest.json")["manifest"]
    )
    training = _status(store, "TrainingRun", "quickstart-tiny")
    assert training["phase"] == "Succeeded" and training["bestCheckpoint"].startswith(f"s3://{s3_bucket}/"), training
    assert any("/checkpoints/" in k for k in store.list("trainings/quickstart-tiny/"))
    assert _status(store, "GateReview", "quickstart-data-foundation")["phase"] == "Passed"
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    report = run_resources(load_items([str(quickstart)]), store, logs_dir=tmp_path / "logs")
    ran = [o for o in report.outcomes if o.workflow is not None]
    assert report.ok and all(o.workflow.cached_nodes == len(o.workflow.nodes) for o in ran), (
        "a second run comes from the cache"
    )


def test_a_changed_input_reruns_that_family_only(families_run, quickstart: Path, tmp_path: Path) -> None:
    """Last in the module: it changes a source file."""
    store, _ = families_run
    (quickstart / "data" / "counsel_qa.csv").touch()
    report = run_resources(
        load_items([str(quickstart / "families.yaml")]), store, workers=2, logs_dir=tmp_path / "logs"
    )
    assert report.ok
    assert {o.name for o in report.outcomes if o.workflow.cached_nodes == 0} == {"counsel-qa"}
