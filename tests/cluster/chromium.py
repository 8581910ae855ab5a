"""Headless Chromium (Debian's package), driven through the Chrome DevTools protocol, and a PNG reader.

The protocol runs over a pipe (``--remote-debugging-pipe``: the browser reads JSON commands on its
fd 3 and writes replies and events on fd 4, each message ended by a NUL byte), so there is no
debugging port and no client library. Name resolution is limited to loopback
(``--host-resolver-rules``): a page can reach only servers on 127.0.0.1.

    with Chromium(tmp_path / "chromium").start() as browser:
        page = browser.new_page()
        page.navigate("http://127.0.0.1:2746/workflows/ns")
        page.wait_for("document.querySelector('.workflows-list__row-container') !== null")
        png = page.screenshot(tmp_path / "list.png")

:func:`read_png` decodes a screenshot (8-bit RGB/RGBA, as Chromium writes them) with the standard
library only, so a test can check it is a real picture and not a blank page.
"""

from __future__ import annotations

import base64
import collections
import fcntl
import itertools
import json
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .tools import ServerProcess, ServerStartError, system_tool

# The browser's fd 3 and 4 are the pipe's ends; bash moves them there from wherever they are (dash
# takes single-digit fd numbers only).
_PIPE_SHIM = 'eval "exec 3<&$1 4>&$2 $1<&- $2>&-"; shift 2; exec "$@"'


class DevToolsError(RuntimeError):
    """A DevTools command failed, timed out, or the browser went away."""


def _high_fd(fd: int) -> int:
    """``fd`` moved to a number >= 10 (close-on-exec), so that the shim's ``3<&`` / ``4>&`` never clash."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class Chromium:
    """One headless browser process; :meth:`new_page` opens a tab (a flattened DevTools session)."""

    def __init__(self, workdir: Path, width: int = 1440, height: int = 900):
        self.workdir = Path(workdir)
        self.width, self.height = width, height
        self.process: ServerProcess | None = None
        self._ids = itertools.count(1)
        self._replies: dict[int, dict[str, Any]] = {}
        self._events: collections.deque[dict[str, Any]] = collections.deque(maxlen=1000)
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._closed = False
        self._to_browser = self._from_browser = -1
        self._reader: threading.Thread | None = None
        self.version: dict[str, Any] = {}  # Browser.getVersion, once started

    def start(self, timeout: float = 60.0) -> "Chromium":
        binary = system_tool("chromium")
        self.workdir.mkdir(parents=True, exist_ok=True)
        cmd_read, self._to_browser = (_high_fd(fd) for fd in os.pipe())
        self._from_browser, reply_write = (_high_fd(fd) for fd in os.pipe())
        argv = [
            "/bin/bash",
            "-c",
            _PIPE_SHIM,
            "bash",
            str(cmd_read),
            str(reply_write),
            binary,
            "--headless=new",
            "--remote-debugging-pipe",
            f"--user-data-dir={self.workdir / 'profile'}",
            f"--window-size={self.width},{self.height}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-gpu",
            "--hide-scrollbars",
            "--mute-audio",
            *(["--no-sandbox"] if os.geteuid() == 0 else []),  # Chromium refuses root without it
            "about:blank",
        ]
        try:
            self.process = ServerProcess(
                "chromium", argv, self.workdir / "chromium.log", pass_fds=(cmd_read, reply_write)
            )
        finally:
            os.close(cmd_read)
            os.close(reply_write)
        self._reader = threading.Thread(target=self._read, name="chromium-devtools", daemon=True)
        self._reader.start()
        try:
            self.version = self.call("Browser.getVersion", timeout=timeout)
        except DevToolsError as exc:
            self.stop()
            raise ServerStartError(f"chromium did not answer on its DevTools pipe: {exc}") from exc
        return self

    # ------------------------------------------------------------------ protocol

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._cond:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self._events.append(message)
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None, timeout=30.0):
        """Send one command and return its ``result``; raise DevToolsError on an error reply."""
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        with self._write_lock:
            try:
                while data:
                    data = data[os.write(self._to_browser, data) :]
            except OSError as exc:
                raise DevToolsError(f"{method}: the browser's pipe is closed ({exc}); log:\n{self._log()}") from exc
        deadline = time.monotonic() + timeout
        with self._cond:
            while ident not in self._replies:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    why = "the browser exited" if self._closed else f"no reply after {timeout:.0f}s"
                    raise DevToolsError(f"{method}: {why}; log:\n{self._log()}")
                self._cond.wait(left)
            reply = self._replies.pop(ident)
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def events(self, method: str) -> list[dict[str, Any]]:
        """The ``params`` of the (most recent 1000) events named ``method`` seen so far."""
        with self._cond:
            return [e.get("params", {}) for e in self._events if e.get("method") == method]

    def _log(self) -> str:
        return self.process.log_tail() if self.process else "<not started>"

    # ------------------------------------------------------------------ pages

    def new_page(self) -> "Page":
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, target)
        page.call("Page.enable")
        page.call("Runtime.enable")
        page.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
        )
        return page

    def stop(self) -> None:
        if self.process and self.process.alive():
            try:
                self.call("Browser.close", timeout=5)
            except DevToolsError:
                pass
            deadline = time.monotonic() + 10
            while self.process.alive() and time.monotonic() < deadline:
                time.sleep(0.1)
        if self.process:
            self.process.stop()
        for fd in (self._to_browser, self._from_browser):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._to_browser = self._from_browser = -1

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Page:
    """A tab: commands go to its session."""

    def __init__(self, browser: Chromium, session: str, target: str):
        self.browser = browser
        self.session = session
        self.target = target

    def close(self) -> None:
        """Close the tab, and with it every connection its documents still hold (a browser keeps
        six per host: pages that stream, as Argo's UI does, would exhaust them)."""
        self.browser.call("Target.closeTarget", {"targetId": self.target})

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0) -> dict[str, Any]:
        return self.browser.call(method, params, session=self.session, timeout=timeout)

    def on_new_document(self, source: str) -> None:
        """Run ``source`` in every document this page loads, before the page's own scripts."""
        self.call("Page.addScriptToEvaluateOnNewDocument", {"source": source})

    def navigate(self, url: str) -> None:
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise DevToolsError(f"navigating to {url}: {result['errorText']}")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` in the page (promises awaited); raise on a JS exception."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise DevToolsError(f"evaluating {expression[:200]!r}: {text}")
        return result["result"].get("value")

    def wait_for(
        self,
        expression: str,
        until: Callable[[Any], Any] = bool,
        *,
        timeout: float = 60.0,
        what: str = "",
        interval: float = 0.25,
    ) -> Any:
        """Poll ``expression`` until ``until(value)`` is true and return the value; on timeout, raise
        with the last value and the page's text."""
        deadline = time.monotonic() + timeout
        value: Any = None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if until(value):
                return value
            time.sleep(interval)
        text = self.evaluate("document.body ? document.body.innerText : ''") or ""
        raise AssertionError(
            f"timed out after {timeout:.0f}s waiting for {what or expression} (last value {value!r}); "
            f"page {self.evaluate('location.href')!r} reads:\n{text[:3000]}"
        )

    def screenshot(self, path: Path) -> bytes:
        """A PNG of the viewport, also written to ``path``."""
        data = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"}, timeout=60)["data"])
        Path(path).write_bytes(data)
        return data


# ---------------------------------------------------------------------------------------- PNG


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    channels: int  # 3 (RGB) or 4 (RGBA)
    rows: list[bytes]  # unfiltered scanlines, width * channels bytes each

    def pixel_counts(self) -> collections.Counter[bytes]:
        """How many pixels have each colour (the pixel's bytes)."""
        step = self.channels
        counts: collections.Counter[bytes] = collections.Counter()
        for row in self.rows:
            counts.update(row[i : i + step] for i in range(0, len(row), step))
        return counts


def read_png(data: bytes) -> Png:
    """Decode an 8-bit, non-interlaced RGB or RGBA PNG; raise ValueError for anything else or a
    damaged file (bad signature, chunk CRC, missing IHDR/IDAT/IEND, wrong data length)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG (bad signature)")
    pos, header, idat, ended = 8, None, bytearray(), False
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"PNG chunk {kind!r} at byte {pos} has a bad CRC")
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            ended = True
            break
    if header is None or not idat or not ended:
        raise ValueError("PNG without IHDR, IDAT or IEND")
    width, height, depth, colour, _compression, _filter, interlace = header
    channels = {2: 3, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"unsupported PNG: bit depth {depth}, colour type {colour}, interlace {interlace}")
    raw = zlib.decompress(bytes(idat))
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise ValueError(f"PNG data is {len(raw)} bytes, not {height} rows of {stride + 1}")
    rows: list[bytes] = []
    prev = bytes(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if kind == 1:  # Sub
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b = prev[i]
                c = prev[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        elif kind != 0:
            raise ValueError(f"PNG row {y} has unknown filter type {kind}")
        prev = bytes(line)
        rows.append(prev)
    return Png(width, height, channels, rows)
