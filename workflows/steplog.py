"""What a step process says while it works: one log line per event on stderr, and Argo's progress file.

``pixelgate step`` calls :func:`configure` first. Library code logs events through the ``pixelgate``
logger tree (``logging.getLogger(__name__)``) with :func:`event`, :func:`phase` or :class:`Phase`; when
nothing configured the logger (a test, a notebook) INFO events go nowhere. A line is an event name and
``key=value`` fields::

    2026-12-03T18:40:27Z INFO ingest.read file=train.jsonl rows=1200 records=1197 quarantined=3 elapsed_s=4.1

With ``PIXELGATE_LOG_FORMAT=json`` each line is one JSON object instead (keys ``ts``, ``level``,
``logger``, ``event``, then the fields). stdout stays the step's JSON result alone.

:class:`Progress` writes ``done/total`` to the file Argo names in ``ARGO_PROGRESS_FILE``: throttled,
and atomically (a temporary file renamed over the target).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

FORMAT_ENV = "PIXELGATE_LOG_FORMAT"  # "json" for one JSON object per line; anything else: text
LEVEL_ENV = "PIXELGATE_LOG_LEVEL"  # DEBUG, INFO (default), WARNING, ...
PROGRESS_ENV = "ARGO_PROGRESS_FILE"  # set by Argo in every step container
ROOT = "pixelgate"
# Set by configure(), so a step's worker processes (spawned: they inherit the environment) log alike.
_CONFIGURED_ENV = "PIXELGATE_STEPLOG"
_RESERVED = ("ts", "level", "logger", "event")


# ---------------------------------------------------------------- formats
def _timestamp(created: float, millis: bool) -> str:
    text = datetime.fromtimestamp(created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{int(created % 1 * 1000):03d}Z" if millis else f"{text}Z"


def _plain(value: Any) -> Any:
    """JSON for what json does not know: numpy scalars and arrays, paths, sets."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        plain = value and not any(c.isspace() or c in '="' for c in value)
        return value if plain else json.dumps(value, ensure_ascii=False)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, default=_plain, ensure_ascii=False, separators=(",", ":"))


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return getattr(record, "fields", None) or {}


class TextFormatter(logging.Formatter):
    """``<ts> <LEVEL> <event> key=value ...``: values with spaces or quotes, and containers, as JSON."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record.created, millis=False), record.levelname, record.getMessage()]
        parts += [f"{key}={_text_value(value)}" for key, value in _fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC, milliseconds), ``level``, ``logger``, ``event``, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": _timestamp(record.created, millis=True),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in _fields(record).items():
            doc.setdefault(key, value)  # a field never overwrites the four keys above
        if record.exc_info:
            doc.setdefault("exception", self.formatException(record.exc_info))
        return json.dumps(doc, default=_plain, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------- setup
def _level(level: str | int | None) -> int:
    if isinstance(level, int):
        return level
    name = (level or os.environ.get(LEVEL_ENV) or "").strip().upper()
    if not name:  # under a launcher (torchrun: one process per GPU) the other ranks say only what is wrong
        return logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING
    value = logging.getLevelName(name)
    return value if isinstance(value, int) else logging.INFO


def configure(stream: IO[str] | None = None, fmt: str | None = None, level: str | int | None = None) -> logging.Logger:
    """Set up the ``pixelgate`` logger for a step process; calling it again replaces its handler.

    ``stream`` defaults to the process's own stderr (``sys.__stderr__``): a redirected ``sys.stderr``
    (click's CliRunner in tests) never gets log lines mixed into a command's output. ``fmt`` defaults
    to ``$PIXELGATE_LOG_FORMAT`` (``json``, else text) and ``level`` to ``$PIXELGATE_LOG_LEVEL`` (INFO).
    """
    fmt = (fmt or os.environ.get(FORMAT_ENV) or "text").strip().lower()
    logger = logging.getLogger(ROOT)
    for old in [h for h in logger.handlers if getattr(h, "pixelgate_steplog", False)]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.__stderr__ or sys.stderr)
    handler.pixelgate_steplog = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(_level(level))
    logger.propagate = False  # a root handler (a library's basicConfig) must not print each line twice
    os.environ[_CONFIGURED_ENV] = "json" if fmt == "json" else "text"
    return logger


def inherit() -> None:
    """In a step's worker process: log like the step when the step configured logging."""
    fmt = os.environ.get(_CONFIGURED_ENV)
    if fmt and not any(getattr(h, "pixelgate_steplog", False) for h in logging.getLogger(ROOT).handlers):
        configure(fmt=fmt)


# ---------------------------------------------------------------- events and phases
def event(log: logging.Logger, name: str, /, level: int = logging.INFO, **fields: Any) -> None:
    """One line: the event ``name`` and its fields, in order (``level`` is the line's logging level)."""
    log.log(level, name, extra={"fields": fields})


def _seconds(start: float) -> float:
    return round(time.perf_counter() - start, 3)


def _error(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


class Phase:
    """A phase of work and its counts: ``<name>.start`` (with ``fields``) at once; :meth:`lap` logs
    ``<name>.<lap>`` with the seconds since the previous lap (or the start), for consecutive parts of
    one function without nesting its code; :meth:`done` logs ``<name>`` with the fields, the counts
    (:meth:`update`, or ``phase["key"] = value``) and the total ``elapsed_s``."""

    def __init__(self, log: logging.Logger, name: str, /, **fields: Any):
        self.log, self.name, self.counts = log, name, dict(fields)
        self.start = self.mark = time.perf_counter()
        event(log, f"{name}.start", **fields)

    def __setitem__(self, key: str, value: Any) -> None:
        self.counts[key] = value

    def update(self, counts: dict[str, Any] | None = None, /, **more: Any) -> None:
        self.counts.update(counts or {}, **more)

    def lap(self, name: str, /, **counts: Any) -> None:
        event(self.log, f"{self.name}.{name}", **{**counts, "elapsed_s": _seconds(self.mark)})
        self.mark = time.perf_counter()

    def done(self, **counts: Any) -> None:
        self.update(counts)
        event(self.log, self.name, **{**self.counts, "elapsed_s": _seconds(self.start)})

    def failed(self, err: BaseException) -> None:
        fields = {**self.counts, "error": _error(err), "elapsed_s": _seconds(self.start)}
        event(self.log, f"{self.name}.failed", logging.ERROR, **fields)


@contextmanager
def phase(log: logging.Logger, name: str, /, **fields: Any) -> Iterator[Phase]:
    """The body as a :class:`Phase`: ``<name>.start``, then ``<name>`` with the counts the body added and
    ``elapsed_s``; when the body raises, ``<name>.failed`` (ERROR, with the error and the counts so far)
    and the exception goes on."""
    current = Phase(log, name, **fields)
    try:
        yield current
    except BaseException as err:
        current.failed(err)
        raise
    current.done()


# ---------------------------------------------------------------- Argo's progress file
def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` through a temporary file and a rename: a reader never sees half a value."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Progress:
    """A step's self-reported progress, ``done/total``, in the file named by ``$ARGO_PROGRESS_FILE`` (or
    ``path``); the Argo executor copies it into the node's ``progress`` (for training, the operator
    dates each change: the GPUs-idle alert).

    Writes are throttled to one per ``interval_s``; the first, one that reaches ``total`` and
    :meth:`flush` always go out. Without a path (the variable unset: a laptop, a test) nothing is
    written. ``total=None`` (a count not known ahead, like an ingest's records) reports
    ``done/done+1`` until :meth:`finish` writes ``done/done``. With ``log``, a ``log_event`` line
    (done, total, rate) at most every ``log_interval_s``, for long loops in ``kubectl logs``.
    A write that fails (a read-only folder) is logged once and the file left alone: progress never
    fails a step.
    """

    def __init__(
        self,
        total: int | None,
        path: str | os.PathLike[str] | None = None,
        *,
        interval_s: float = 3.0,
        log: logging.Logger | None = None,
        log_event: str = "progress",
        log_interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        target = path if path is not None else os.environ.get(PROGRESS_ENV)
        self.path = Path(target) if target else None
        self.total, self.done = total, 0
        self.interval_s, self.log, self.log_event, self.log_interval_s = interval_s, log, log_event, log_interval_s
        self.clock = clock
        self.started = self._logged_at = clock()
        self._written_at: float | None = None
        self._written: str | None = None

    def value(self) -> str:
        total = self.total if self.total is not None else self.done + 1
        return f"{min(self.done, total)}/{max(total, 1)}"

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        now = self.clock()
        reached = self.total is not None and self.done >= self.total
        if self._written_at is None or reached or now - self._written_at >= self.interval_s:
            self._write(now)
        if self.log is not None and now - self._logged_at >= self.log_interval_s:
            self._logged_at = now
            elapsed = now - self.started
            rate = round(self.done / elapsed, 1) if elapsed > 0 else None
            event(self.log, self.log_event, done=self.done, total=self.total, per_s=rate)

    def flush(self) -> None:
        """Write the current value now, whatever the throttle."""
        self._write(self.clock())

    def finish(self) -> None:
        """The work is done: an unknown total becomes ``done``; then :meth:`flush`."""
        if self.total is None:
            self.total = self.done
        self.flush()

    def _write(self, now: float) -> None:
        self._written_at = now
        value = self.value()
        if self.path is None or value == self._written:
            return
        try:
            write_atomic(self.path, value)
        except OSError as err:
            log = logging.getLogger(__name__)
            event(log, "progress.unwritable", logging.WARNING, path=str(self.path), error=_error(err))
            self.path = None
            return
        self._written = value
