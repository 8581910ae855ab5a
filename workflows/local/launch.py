"""Run one container's argv as a local subprocess, as its pod would.

* ``pixelgate`` (the step image's entry point) is this interpreter's own CLI:
  ``python -m pixelgate.workflows.cli`` with the same arguments;
* a container's private ``/tmp`` becomes a private scratch folder per attempt, so parallel
  nodes never share ``/tmp/result.json``; output files are read back from there;
* ``activeDeadlineSeconds`` is a wall-clock limit: the process is killed when it passes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

_LIVE: set[subprocess.Popen[bytes]] = set()
_LOCK = threading.Lock()


@dataclass
class ContainerCall:
    """One attempt of a container. ``private`` are the container-local paths the template
    declares (its output files and their folders); they map into ``scratch``. Every other
    argument, such as a store that happens to live under /tmp, is passed as it is."""

    argv: list[str]
    log: Path
    timeout: float | None = None
    private: tuple[str, ...] = ()
    scratch: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pixelgate-node-")))

    def local_path(self, path: str) -> Path:
        """Where the container path ``path`` (one of ``private``) lives on this machine."""
        return self.scratch / path.lstrip("/")

    def _is_private(self, arg: str) -> bool:
        return any(arg == p or arg.startswith(p.rstrip("/") + "/") for p in self.private)

    def local_argv(self) -> list[str]:
        for path in self.private:  # the folders a container image would have (its /tmp)
            self.local_path(path).parent.mkdir(parents=True, exist_ok=True)
        mapped = [str(self.local_path(a)) if self._is_private(a) else a for a in self.argv]
        # -P (and PYTHONSAFEPATH for torchrun's workers, see launch_one): never put the working
        # directory on sys.path, where a checkout's operator/ folder would shadow the standard
        # library's operator module
        if mapped[0] == "pixelgate":
            mapped = [sys.executable, "-P", "-m", "pixelgate.workflows.cli", *mapped[1:]]
        elif mapped[0] == "torchrun":
            mapped = [sys.executable, "-P", "-m", "torch.distributed.run", *mapped[1:]]
        return mapped

    def cleanup(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


@dataclass(frozen=True)
class LaunchOutcome:
    exit_code: int | None
    status: str  # Succeeded | Failed (non-zero exit) | Error (killed, could not start)
    detail: str = ""

    def describe(self) -> str:
        return f"{self.status} (exit code {self.exit_code}){': ' + self.detail if self.detail else ''}"


def _tail(path: Path, lines: int = 1) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def launch_subprocess(call: ContainerCall) -> LaunchOutcome:
    """Run the container's command; a failure's detail is its termination message (what a
    kubelet reports, see ``render.container.write_termination_message``), else its last log line."""
    call.log.parent.mkdir(parents=True, exist_ok=True)
    termination = call.scratch / "termination-log"
    env = os.environ | {"PYTHONSAFEPATH": "1", "PIXELGATE_TERMINATION_LOG": str(termination)}
    with open(call.log, "wb") as log:
        try:
            proc = subprocess.Popen(
                call.local_argv(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        except OSError as err:
            return LaunchOutcome(None, "Error", f"could not start: {err}")
        with _LOCK:
            _LIVE.add(proc)
        try:
            code = proc.wait(timeout=call.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return LaunchOutcome(None, "Failed", f"activeDeadlineSeconds ({call.timeout:g}s) exceeded; log {call.log}")
        finally:
            with _LOCK:
                _LIVE.discard(proc)
    if code == 0:
        return LaunchOutcome(0, "Succeeded")
    if code < 0:
        return LaunchOutcome(code, "Error", f"killed by signal {-code}; log {call.log}")
    said = termination.read_text(errors="replace").strip() if termination.is_file() else ""
    return LaunchOutcome(code, "Failed", f"{said or _tail(call.log)} (log {call.log})")


def terminate_all() -> None:
    """Stop every step process this runner started (Ctrl-C, or the run is abandoned)."""
    with _LOCK:
        procs = list(_LIVE)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
