"""Locate the real test tools and run them as well-behaved child processes.

Binaries are built by ``bash tools/testcluster/build.sh`` into
``${PIXELGATE_TOOLS:-$HOME/.cache/pixelgate/bin}/<name>-<version>``; the
versions come from ``tools/testcluster/versions.env``.

A missing tool makes a test *skip* on a developer machine, but *fail* under
CI (``CI`` set to anything but ``false``/``0``) or with ``PIXELGATE_REQUIRE_TOOLS=1``.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

REPO = Path(__file__).resolve().parents[2]
TESTCLUSTER = REPO / "tools" / "testcluster"
VERSIONS_FILE = TESTCLUSTER / "versions.env"
BUILD_COMMAND = "bash tools/testcluster/build.sh"


class ToolMissing(RuntimeError):
    """A tool the tests need is not installed or not built."""


class ServerStartError(RuntimeError):
    """A server did not become ready; the message carries the tail of its log."""


# --------------------------------------------------------------------------- versions / paths


@functools.lru_cache(maxsize=None)
def versions() -> dict[str, str]:
    """KEY=VALUE pairs of tools/testcluster/versions.env (comments ignored)."""
    out: dict[str, str] = {}
    for raw in VERSIONS_FILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        out[key.strip()] = value.strip().strip('"').strip("'")
    return out


# binary name -> key in versions.env
_VERSION_KEYS = {
    "kube-apiserver": "KUBERNETES_VERSION",
    "kube-controller-manager": "KUBERNETES_VERSION",
    "kube-scheduler": "KUBERNETES_VERSION",
    "kubelet": "KUBERNETES_VERSION",
    "etcd": "ETCD_VERSION",
    "helm": "HELM_VERSION",
    "argo": "ARGO_VERSION",
    "workflow-controller": "ARGO_VERSION",
    "argoexec": "ARGO_VERSION",
    "argo-ui": "ARGO_VERSION",
    "versitygw": "VERSITYGW_VERSION",
    "grafana-check": "GRAFANA_SDK_VERSION",
}


TOOL_NAMES = tuple(_VERSION_KEYS)  # every binary build.sh caches


def tools_dir() -> Path:
    return Path(os.environ.get("PIXELGATE_TOOLS") or Path.home() / ".cache" / "pixelgate" / "bin")


def tool_version(name: str) -> str:
    return versions()[_VERSION_KEYS[name]]


def tool_path(name: str) -> Path:
    """Path of the cached binary ``<name>-<version>``; raises ToolMissing if absent."""
    path = tools_dir() / f"{name}-{tool_version(name)}"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ToolMissing(f"{name} {tool_version(name)} is not built: expected {path}; run `{BUILD_COMMAND}`")
    return path


def system_tool(name: str) -> Path:
    """A tool installed on PATH (prometheus, promtool, rclone, chromium come from Debian's packages)."""
    found = shutil.which(name)
    if not found:
        raise ToolMissing(
            f"{name} is not on PATH; run `{BUILD_COMMAND}` "
            "(installs Debian's prometheus, rclone and chromium packages)"
        )
    return Path(found)


def go_binary() -> Path:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None)
    if not found:
        raise ToolMissing("no Go toolchain on PATH or at /usr/local/go/bin/go")
    return Path(found)


@functools.lru_cache(maxsize=None)
def gomodcache() -> Path:
    if os.environ.get("GOMODCACHE"):
        return Path(os.environ["GOMODCACHE"])
    try:
        out = subprocess.run(
            [str(go_binary()), "env", "GOMODCACHE"], capture_output=True, text=True, check=True, timeout=60
        )
        if out.stdout.strip():
            return Path(out.stdout.strip())
    except (ToolMissing, subprocess.SubprocessError, OSError):
        pass
    gopath = os.environ.get("GOPATH") or str(Path.home() / "go")
    return Path(gopath.split(os.pathsep)[0]) / "pkg" / "mod"


def argo_crds_dir() -> Path:
    """Argo Workflows' minimal CRD manifests, read from the Go module cache (never committed)."""
    version = versions()["ARGO_VERSION"]
    path = (
        gomodcache()
        / "github.com"
        / "argoproj"
        / "argo-workflows"
        / f"v3@{version}"
        / "manifests"
        / "base"
        / "crds"
        / "minimal"
    )
    if not path.is_dir():
        raise ToolMissing(f"Argo CRDs not in the Go module cache: expected {path}; run `{BUILD_COMMAND} argo`")
    return path


# --------------------------------------------------------------------------- skip / fail policy


def tools_required() -> bool:
    """True under CI (CI=true) or PIXELGATE_REQUIRE_TOOLS=1: a missing tool must fail, not skip."""

    def truthy(var: str) -> bool:
        value = os.environ.get(var, "").strip().lower()
        return value not in ("", "0", "false", "no", "off")

    return truthy("CI") or truthy("PIXELGATE_REQUIRE_TOOLS")


def skip_or_fail(reason: str) -> None:
    """pytest.skip(reason) on a developer machine; pytest.fail(reason) under CI / PIXELGATE_REQUIRE_TOOLS."""
    import pytest

    if tools_required():
        pytest.fail(f"{reason} (tools are required here: CI or PIXELGATE_REQUIRE_TOOLS is set)", pytrace=False)
    pytest.skip(reason)


def need(getter: Callable[[], Path]) -> Path:
    """Call a locator (e.g. ``lambda: tool_path("helm")``); skip or fail the test if it raises ToolMissing."""
    try:
        return getter()
    except ToolMissing as exc:
        skip_or_fail(str(exc))
        raise  # unreachable: skip/fail raise


# --------------------------------------------------------------------------- processes


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # pragma: no cover - best effort, non-Linux
        pass


_LIVE: set["ServerProcess"] = set()
_LIVE_LOCK = threading.Lock()


def _kill_all_live() -> None:
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        proc.stop(timeout=5)


atexit.register(_kill_all_live)


class ServerProcess:
    """A server child process: own process group, log file, dies with its parent, always torn down."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str | os.PathLike],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        pass_fds: Sequence[int] = (),
    ):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self._log.write(("$ " + " ".join(self.argv) + "\n").encode())
        self._log.flush()
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=str(cwd) if cwd else None,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            pass_fds=tuple(pass_fds),
        )
        with _LIVE_LOCK:
            _LIVE.add(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return "<no log>"
        return "\n".join(data.decode(errors="replace").splitlines()[-lines:])

    def wait_ready(self, check: Callable[[], bool], timeout: float = 60.0, interval: float = 0.2) -> None:
        """Poll ``check()`` until it returns True; raise ServerStartError (with log tail) on exit or timeout."""
        deadline = time.monotonic() + timeout
        last_exc: BaseException | None = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise ServerStartError(
                    f"{self.name} exited with code {self.proc.returncode} before becoming ready; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                if check():
                    return
            except Exception as exc:  # readiness probes raise while the server is coming up
                last_exc = exc
            time.sleep(interval)
        self.stop()
        raise ServerStartError(
            f"{self.name} not ready after {timeout:.0f}s (last probe error: {last_exc!r}); "
            f"log {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left; idempotent."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # members of the group that outlived the leader
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with _LIVE_LOCK:
            _LIVE.discard(self)
        with contextlib.suppress(Exception):
            self._log.close()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def port_conflict(err: BaseException) -> bool:
    text = str(err).lower()
    return "address already in use" in text or "bind: address" in text


def start_with_retries(start: Callable[[], object], attempts: int = 3):
    """Run ``start()`` again (fresh free ports) when it failed because a port was taken meanwhile."""
    for attempt in range(attempts):
        try:
            return start()
        except ServerStartError as exc:
            if attempt + 1 < attempts and port_conflict(exc):
                continue
            raise


def run_tool(argv: Iterable[str | os.PathLike], timeout: float = 120.0, **kwargs) -> subprocess.CompletedProcess:
    """Run a CLI to completion, capturing text output (never raises on non-zero exit)."""
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, **kwargs)
