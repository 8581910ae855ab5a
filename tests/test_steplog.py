"""Step logs and progress: the text and JSON line formats, phases, Argo's progress file (atomic,
throttled), and a real ``pixelgate step`` process: phase lines on stderr, the JSON result alone on stdout."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pixelgate.workflows import steplog

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (DEBUG|INFO|WARNING|ERROR) \S+( \S+=\S.*)?$")


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch):
    """``configure(fmt)`` into a string buffer; the ``pixelgate`` logger is restored afterwards."""
    root = logging.getLogger(steplog.ROOT)
    saved = (list(root.handlers), root.level, root.propagate, os.environ.get(steplog._CONFIGURED_ENV))
    buf = io.StringIO()

    def setup(fmt: str | None = None) -> io.StringIO:
        steplog.configure(stream=buf, fmt=fmt)
        return buf

    yield setup
    root.handlers[:], root.level, root.propagate = saved[0], saved[1], saved[2]
    if saved[3] is None:
        os.environ.pop(steplog._CONFIGURED_ENV, None)
    else:
        os.environ[steplog._CONFIGURED_ENV] = saved[3]


def test_text_lines_carry_event_and_fields(logs) -> None:
    buf = logs()
    log = logging.getLogger("pixelgate.workflows.test")
    steplog.event(log, "ingest.read", records=1200, quarantined=3, file="a b.jsonl", reasons={"pii": 2}, ok=True)
    line = buf.getvalue().rstrip("\n")
    assert "\n" not in line and TEXT_LINE.match(line), line
    expected = 'INFO ingest.read records=1200 quarantined=3 file="a b.jsonl" reasons={"pii":2} ok=true'
    assert line.split(" ", 1)[1] == expected


def test_json_lines_parse_and_carry_the_fields(logs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(steplog.FORMAT_ENV, "json")
    buf = logs()
    log = logging.getLogger("pixelgate.workflows.test")
    with steplog.phase(log, "compile.merge", shard=3) as counts:
        counts["records"] = 10
    steplog.event(log, "x", logger="shadowed", event="shadowed", note='say "hi"')
    docs = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [d["event"] for d in docs] == ["compile.merge.start", "compile.merge", "x"]
    assert all(d.keys() >= {"ts", "level", "logger", "event"} for d in docs)
    assert {d["logger"] for d in docs} == {"pixelgate.workflows.test"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", docs[0]["ts"])
    assert docs[1]["shard"] == 3 and docs[1]["records"] == 10 and isinstance(docs[1]["elapsed_s"], float)
    assert docs[2]["logger"] == "pixelgate.workflows.test" and docs[2]["event"] == "x"  # fields never overwrite
    assert docs[2]["note"] == 'say "hi"'


def test_a_failed_phase_logs_an_error_and_raises(logs) -> None:
    buf = logs("json")
    log = logging.getLogger("pixelgate.workflows.test")
    with pytest.raises(ValueError, match="bad"):
        with steplog.phase(log, "train.fit") as counts:
            counts["step"] = 4
            raise ValueError("bad")
    failed = json.loads(buf.getvalue().splitlines()[-1])
    assert failed["event"] == "train.fit.failed" and failed["level"] == "ERROR"
    assert failed["error"] == "ValueError: bad" and failed["step"] == 4


def test_laps_time_consecutive_parts_of_a_phase(logs) -> None:
    buf = logs("json")
    finalize = steplog.Phase(logging.getLogger("pixelgate.workflows.test"), "compile.finalize", compile="c")
    finalize.lap("export", shards=2)
    finalize["gates"] = "8/8"
    finalize.done(records=5)
    docs = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [d["event"] for d in docs] == ["compile.finalize.start", "compile.finalize.export", "compile.finalize"]
    assert docs[1]["shards"] == 2 and "compile" not in docs[1]
    assert docs[2]["compile"] == "c" and docs[2]["records"] == 5 and docs[2]["gates"] == "8/8"
    assert docs[2]["elapsed_s"] >= docs[1]["elapsed_s"]


def test_unconfigured_library_logs_stay_quiet(capfd, monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger(steplog.ROOT)  # as before any configure() (an earlier CLI test may have run one)
    saved = root.level
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "propagate", True)
    root.setLevel(logging.NOTSET)
    try:
        steplog.event(logging.getLogger("pixelgate.workflows.test"), "quiet", n=1)
    finally:
        root.setLevel(saved)
    assert capfd.readouterr().err == ""


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_throttled_and_reaches_the_total(tmp_path: Path) -> None:
    path, clock = tmp_path / "progress", FakeClock()
    progress = steplog.Progress(10, path, interval_s=3.0, clock=clock)
    progress.update(1)
    assert path.read_text() == "1/10"  # the first value goes out at once
    for done, at in [(2, 101.0), (3, 102.9)]:
        clock.now = at
        progress.update(done)
        assert path.read_text() == "1/10"  # within the interval: not written
    clock.now = 103.1
    progress.advance()
    assert path.read_text() == "4/10"
    clock.now = 103.2
    progress.update(10)
    assert path.read_text() == "10/10"  # reaching the total always goes out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progress"]  # no temporary file left


def test_progress_writes_are_atomic_renames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "progress"
    path.write_text("0/3")
    seen: list[tuple[str, str, str]] = []
    real_replace = os.replace

    def replace(src, dst):
        # at the rename the target still holds the old value and the temporary file the whole new one
        seen.append((Path(src).read_text(), Path(dst).read_text(), Path(src).parent.name))
        real_replace(src, dst)

    monkeypatch.setattr(steplog.os, "replace", replace)
    progress = steplog.Progress(3, path, interval_s=0.0)
    progress.update(1)
    progress.update(3)
    assert seen == [("1/3", "0/3", tmp_path.name), ("3/3", "1/3", tmp_path.name)]
    assert path.read_text() == "3/3"


def test_progress_with_an_unknown_total_and_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "progress"
    monkeypatch.setenv(steplog.PROGRESS_ENV, str(path))
    progress = steplog.Progress(None, interval_s=0.0)  # the path comes from ARGO_PROGRESS_FILE
    progress.advance(5)
    assert path.read_text() == "5/6"  # never done/done before the end
    progress.finish()
    assert path.read_text() == "5/5"

    monkeypatch.delenv(steplog.PROGRESS_ENV)
    idle = steplog.Progress(3)
    idle.update(3)
    idle.finish()
    assert idle.path is None


def test_an_unwritable_progress_file_never_fails_the_step(tmp_path: Path, logs) -> None:
    buf = logs("json")
    progress = steplog.Progress(2, tmp_path / "missing-folder" / "progress", interval_s=0.0)
    progress.update(1)
    progress.update(2)
    warnings = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [w["event"] for w in warnings] == ["progress.unwritable"] and progress.path is None


def test_progress_logs_a_line_per_log_interval(logs) -> None:
    buf, clock = logs("json"), FakeClock()
    progress = steplog.Progress(
        None,
        log=logging.getLogger("pixelgate.workflows.test"),
        log_event="ingest.progress",
        log_interval_s=30.0,
        clock=clock,
    )
    for i in range(1, 61):
        clock.now = 100.0 + i
        progress.update(i * 10)
    docs = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [(d["event"], d["done"], d["per_s"]) for d in docs] == [
        ("ingest.progress", 300, 10.0),
        ("ingest.progress", 600, 10.0),
    ]


def _ingest_manifest(tmp_path: Path, rows: int) -> Path:
    """A small jsonl family beside its manifest: ``rows`` dialogs, one malformed line, one without turns."""
    lines = [
        json.dumps(
            {
                "id": f"d{i}",
                "dialog": [
                    {"speaker": "usr", "text": f"I feel anxious about my job, day {i}."},
                    {
                        "speaker": "sys",
                        "text": "It sounds like work has been stressful. What worries you most about it?",
                    },
                ],
            }
        )
        for i in range(rows)
    ] + ["{not json", json.dumps({"dialog": []})]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.jsonl").write_text("\n".join(lines) + "\n")
    spec = {
        "source": {"uri": "data/in.jsonl", "format": "jsonl"},
        "mapping": {
            "turns": {"path": "dialog", "role": "speaker", "content": "text"},
            "roles": {"usr": "user", "sys": "assistant"},
        },
        "license": {"spdx": "MIT", "allowTraining": True},
        "pii": {"entities": []},
    }
    manifest = {
        "apiVersion": "pixelgate.dev/v1alpha1",
        "kind": "DatasetFamily",
        "metadata": {"name": "logged"},
        "spec": spec,
    }
    (tmp_path / "family.yaml").write_text(json.dumps(manifest))
    return tmp_path / "family.yaml"


def _step(manifest: Path, store: Path, **env: str) -> subprocess.CompletedProcess[str]:
    unset = (steplog.FORMAT_ENV, steplog.PROGRESS_ENV, steplog.LEVEL_ENV, steplog._CONFIGURED_ENV)
    environ = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pixelgate.workflows.cli",
            "step",
            "ingest",
            "--spec",
            str(manifest),
            "--store",
            str(store),
        ],
        capture_output=True,
        text=True,
        cwd="/",
        check=True,
        env={**environ, **env},
    )


def test_a_step_process_logs_phases_on_stderr_and_only_its_result_on_stdout(tmp_path: Path) -> None:
    manifest = _ingest_manifest(tmp_path, rows=30)
    progress = tmp_path / "argo-progress"
    out = _step(manifest, tmp_path / "store", ARGO_PROGRESS_FILE=str(progress))

    (line,) = out.stdout.splitlines()  # stdout: the JSON result, nothing else
    result = json.loads(line)
    assert result["records_out"] == 30 and result["records_in"] == 32 and result["quarantined"] == 2
    assert progress.read_text() == "32/32"  # records written and quarantined, of all

    ours = [line for line in out.stderr.splitlines() if re.match(r"\d{4}-\d\d-\d\dT", line)]
    assert ours and all(TEXT_LINE.match(line) for line in ours), out.stderr
    events = {line.split(" ")[2]: line for line in ours}
    assert list(events) == [
        "ingest.start",
        "ingest.read.start",
        "ingest.read",
        "ingest.records",
        "ingest.pii",
        "ingest.quality",
        "ingest.write",
        "ingest",
    ]
    assert " rows=32 mapped=30 records=30 quarantined=2 elapsed_s=" in events["ingest.read"]
    assert " records_in=32 records_out=30 quarantined=2 " in events["ingest"]
    assert 'by_reason={"empty_conversation":1,"malformed_json":1}' in events["ingest"]


def test_json_step_logs_parse_line_by_line(tmp_path: Path) -> None:
    manifest = _ingest_manifest(tmp_path, rows=5)
    out = _step(manifest, tmp_path / "store", PIXELGATE_LOG_FORMAT="json")
    assert json.loads(out.stdout)["records_out"] == 5
    docs = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    assert docs and all(d["logger"].startswith("pixelgate.") and d["level"] == "INFO" for d in docs)
    by_event = {d["event"]: d for d in docs}
    assert by_event["ingest.read"]["records"] == 5 and by_event["ingest.read"]["quarantined"] == 2
    assert by_event["ingest.write"]["shards"] == 1 and isinstance(by_event["ingest"]["elapsed_s"], float)
    assert by_event["ingest"]["by_reason"] == {"empty_conversation": 1, "malformed_json": 1}
