"""The ``rclone`` CLI (Debian's package) as a source: list files of a remote, copy one to disk.

Remotes and their credentials live in rclone's own config file, found through ``RCLONE_CONFIG``
(a mounted Secret in the cluster, see docs/sources.md); nothing here reads or passes secrets.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_LOG_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\s+(?:(?:ERROR|NOTICE|INFO|DEBUG|CRITICAL)\s*:\s*)?")
_NOT_FOUND = (3, 4)  # rclone's exit codes for "directory not found" and "file not found"


class RcloneError(Exception):
    """rclone is missing or failed; the message is rclone's own, on one line."""


@dataclass(frozen=True)
class RemoteFile:
    path: str  # remote:path/to/file
    size: int
    modtime: str  # as rclone reports it (RFC 3339, nanoseconds)


def _binary() -> str:
    found = shutil.which("rclone")
    if not found:
        raise RcloneError("rclone is not installed (Debian package 'rclone'); see docs/sources.md")
    return found


def _one_line(stderr: str, returncode: int) -> str:
    lines = [_LOG_PREFIX.sub("", line).strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line and not line.startswith("Config file")]
    return lines[-1] if lines else f"rclone exited with code {returncode}"


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [_binary(), *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise RcloneError(f"rclone {args[0]} did not finish within {timeout:.0f}s") from None


def _listing(args: list[str], timeout: float) -> list[dict]:
    proc = _run(args, timeout)
    if proc.returncode in _NOT_FOUND:
        return []
    if proc.returncode != 0:
        raise RcloneError(_one_line(proc.stderr, proc.returncode))
    listed = json.loads(proc.stdout)
    return [e for e in (listed if isinstance(listed, list) else [listed]) if not e.get("IsDir")]


def stat(target: str, timeout: float = 600) -> RemoteFile | None:
    """The file at ``remote:path``, or None when there is none."""
    found = _listing(["lsjson", "--stat", "--no-mimetype", target], timeout)
    return RemoteFile(target, int(found[0]["Size"]), found[0]["ModTime"]) if found else None


def list_folder(folder: str, timeout: float = 600) -> list[RemoteFile]:
    """Every file under ``remote:folder/`` (recursively); none when the folder does not exist."""
    prefix = folder if folder.endswith((":", "/")) else folder + "/"
    entries = _listing(["lsjson", "--recursive", "--files-only", "--no-mimetype", folder], timeout)
    return [RemoteFile(prefix + e["Path"], int(e["Size"]), e["ModTime"]) for e in entries]


def copy_to(source: str, dest: Path, timeout: float = 6 * 3600) -> None:
    """Copy one remote file to ``dest`` on local disk (rclone checks size and hash as it copies)."""
    proc = _run(["copyto", source, str(dest)], timeout)
    if proc.returncode != 0:
        raise RcloneError(_one_line(proc.stderr, proc.returncode))
