"""Resumable, verified HTTP(S) downloads into an on-disk cache.

Each URL owns a folder ``<cache>/<sha256(url)>/`` (the cache is ``$PIXELGATE_CACHE/downloads``,
default ``~/.cache/pixelgate/downloads``):

* ``data`` + ``meta.json``: the last complete copy, verified, with what the server said about
  it (size, ETag, Last-Modified) and its SHA-256. A later fetch with the same expected
  checksum, or the same validators, reuses it without downloading.
* ``data.part`` + ``part.json``: an interrupted download and the validator it was fetched
  under. The next attempt, in this process or a later one, asks only for the missing bytes
  (``Range`` with ``If-Range``); a server that ignores ranges, or whose file changed
  meanwhile, answers 200 and the download starts over.

A body whose SHA-256 differs from the expected one is deleted, never kept.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import source_policy

_CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class DownloadError(Exception):
    """The server refused, or the transfer failed more often than allowed."""


class ChecksumMismatch(DownloadError):
    """The downloaded bytes do not have the expected SHA-256 (the file was deleted)."""


@dataclass(frozen=True)
class RemoteInfo:
    """What a ``HEAD`` tells about a URL: cheap validators that change when the file does."""

    size: int | None
    etag: str
    last_modified: str

    @property
    def version(self) -> str:
        """What changes with the content: the ETag, else the Last-Modified date."""
        return self.etag or self.last_modified


@dataclass(frozen=True)
class Downloaded:
    path: Path
    sha256: str
    size: int


def cache_root() -> Path:
    base = os.environ.get("PIXELGATE_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "pixelgate") / "downloads"


def _http_error(err: urllib.error.HTTPError) -> DownloadError:
    return DownloadError(f"HTTP {err.code} {err.reason}")


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to where the source policy would let the URL itself go."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # urllib's signature
        source_policy.check_url(urllib.parse.urljoin(req.full_url, newurl))
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_CheckedRedirects)


def head(url: str, timeout: float = 60) -> RemoteInfo:
    """Size, ETag and Last-Modified of ``url``; empty when the server does not answer HEAD."""
    try:
        with _OPENER.open(urllib.request.Request(url, method="HEAD"), timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            return RemoteInfo(
                int(length) if length and length.isdigit() else None,
                resp.headers.get("ETag", ""),
                resp.headers.get("Last-Modified", ""),
            )
    except urllib.error.HTTPError as err:
        if err.code in (405, 501):  # HEAD not allowed: nothing known until the download
            return RemoteInfo(None, "", "")
        raise _http_error(err) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        raise DownloadError(str(getattr(err, "reason", err))) from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, sort_keys=True))
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One download of a URL at a time on this machine (parallel steps share the cache)."""
    with open(folder / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _unchanged(size: int | None, version: str, meta: dict[str, Any]) -> bool:
    """The server still describes the cached copy: same version (ETag, else Last-Modified) and size."""
    cached = RemoteInfo(meta.get("size"), meta.get("etag", ""), meta.get("last_modified", ""))
    return bool(version) and version == cached.version and (size is None or size == cached.size)


def _validator(etag: str, last_modified: str) -> str:
    """What ``If-Range`` may carry: a strong ETag, else the Last-Modified date, else nothing."""
    return etag if etag and not etag.startswith("W/") else last_modified


def _transfer(url: str, part: Path, part_meta: Path, timeout: float) -> None:
    """One request: append the missing bytes to ``part`` (or rewrite it); raises when cut short."""
    offset = part.stat().st_size if part.exists() else 0
    validator = _read_json(part_meta).get("validator", "") if offset else ""
    headers = {"Range": f"bytes={offset}-", "If-Range": validator} if offset and validator else {}
    with _OPENER.open(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
        ranged = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", "")) if resp.status == 206 else None
        if ranged and int(ranged.group(1)) == offset:
            mode, total = "ab", None if ranged.group(3) == "*" else int(ranged.group(3))
        else:  # the whole body: no range support, or the file changed since the part was fetched
            length = resp.headers.get("Content-Length")
            mode, total = "wb", int(length) if length and length.isdigit() else None
            _write_json(
                part_meta,
                {
                    "validator": _validator(resp.headers.get("ETag", ""), resp.headers.get("Last-Modified", "")),
                    "etag": resp.headers.get("ETag", ""),
                    "last_modified": resp.headers.get("Last-Modified", ""),
                },
            )
        with open(part, mode) as out:
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
    if total is not None and part.stat().st_size != total:
        raise http.client.IncompleteRead(b"", total - part.stat().st_size)


def fetch(
    url: str,
    expected_sha256: str | None = None,
    *,
    size: int | None = None,
    version: str = "",
    attempts: int = 5,
    timeout: float = 60,
) -> Downloaded:
    """The bytes of ``url`` in a local file, downloaded (resumed after interruptions, up to
    ``attempts`` requests) and verified; from the cache, without a request, when it holds the
    expected checksum or, without one, the ``version`` (see :class:`RemoteInfo`) and ``size``
    that a ``HEAD`` just reported."""
    folder = cache_root() / hashlib.sha256(url.encode()).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    data, meta_path, part, part_meta = (
        folder / "data",
        folder / "meta.json",
        folder / "data.part",
        folder / "part.json",
    )
    with _locked(folder):
        meta = _read_json(meta_path)
        if data.is_file() and meta.get("url") == url and data.stat().st_size == meta.get("size"):
            if (expected_sha256 and meta.get("sha256") == expected_sha256) or (
                not expected_sha256 and _unchanged(size, version, meta)
            ):
                return Downloaded(data, meta["sha256"], meta["size"])
        last: BaseException | None = None
        for attempt in range(attempts):
            try:
                _transfer(url, part, part_meta, timeout)
                break
            except urllib.error.HTTPError as err:
                if err.code == 416:  # the part is not a prefix of the current file: start over
                    part.unlink(missing_ok=True)
                elif err.code < 500 and err.code != 429:
                    raise _http_error(err) from None
                last = err
            except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
                last = err
            if attempt + 1 < attempts:
                time.sleep(min(0.1 * 2**attempt, 5))
        else:
            raise DownloadError(
                f"interrupted {attempts} times, last: {last!r};"
                f" {part.stat().st_size if part.exists() else 0} bytes kept for a resume"
            )
        sha, length = file_sha256(part), part.stat().st_size
        if expected_sha256 and sha != expected_sha256:
            part.unlink()
            part_meta.unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"expected {expected_sha256}, but {url} has {sha} ({length} bytes); the download was deleted"
            )
        validators = _read_json(part_meta)
        meta_path.unlink(missing_ok=True)
        os.replace(part, data)
        _write_json(
            meta_path,
            {
                "url": url,
                "size": length,
                "sha256": sha,
                "etag": validators.get("etag", ""),
                "last_modified": validators.get("last_modified", ""),
            },
        )
        part_meta.unlink(missing_ok=True)
        return Downloaded(data, sha, length)
