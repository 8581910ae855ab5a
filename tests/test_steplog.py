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
    progress = steplog.Progress(None, log=logging.getLogger("pixelgate.workflows.test"), log_event="ingest.progress",
                                log_interval_s=30.0, clock=clock)
    for i in range(1, 61):
        clock.now = 100.0 + i
        progress.update(i * 10)
    docs = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [(d["event"], d["done"], d["per_s"]) for d in docs] == [
        ("ingest.progress", 300, 10.0), ("ingest.progress", 600, 10.0),
    ]
