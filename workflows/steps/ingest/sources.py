"""Source resolution and streaming readers.

A source ``uri`` is ``s3://bucket/key``, ``rclone://remote:path``, ``https://host/path``,
``file:///path`` or a path (relative to the manifest's folder); all but https may be a glob,
whose matches are read in sorted order. Remote files are fetched to local disk (a temporary
file, or the download cache for https: see docs/sources.md) before they are read. Readers
stream: JSON Lines line by line, JSON arrays element by element (an incremental parser over a
bounded buffer), CSV row by row, Parquet batch by batch. Every item carries its position in the
file (``line:N`` 1-based, ``index:N`` / ``row:N`` 0-based) and either a value or a quarantine
reason.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import fnmatch
import glob
import io
import json
import re
import sys
import tempfile
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any

from ... import source_policy
from ..registry import StepInputError
from . import download, rclone
from .encoding import UndecodableText, decode_bytes

_GLOB_CHARS = re.compile(r"[*?\[]")
_SNIFF_BYTES = 1 << 16
_CHUNK = 1 << 20
MAX_JSON_ELEMENT = 64 << 20  # bytes of one JSON array element held in memory at most
_EPOCH = "1970-01-01T00:00:00Z"  # the modification time of an https file whose server sends none
csv.field_size_limit(sys.maxsize)


class IngestError(StepInputError):
    """A problem with the spec or its source that stops the step; ``field`` names what to fix."""


@dataclass(frozen=True)
class SourceFile:
    uri: str  # as recorded in provenance
    name: str  # file name, part of record ids
    path: Path | None = None  # local file
    bucket: str | None = None  # or an S3 object
    key: str | None = None
    remote: str | None = None  # or an rclone file, ``remote:path``
    url: str | None = None  # or an http(s) URL
    modified: str = ""  # RFC 3339 UTC modification time
    size: int | None = None  # bytes, as listed
    version: str = ""  # what changes with the content, as listed: ETag, exact modification time

    @contextlib.contextmanager
    def fetch(self, expected_sha256: str | None = None) -> Iterator["Fetched"]:
        """The file on local disk with its SHA-256 and size: remote files go to a temporary file
        (never memory), https files to the download cache (resumed, verified against
        ``expected_sha256`` when given, reused when unchanged)."""
        if self.path is not None:
            yield Fetched(self, download.file_sha256(self.path), self.path.stat().st_size)
            return
        if self.url is not None:
            got = _download(self, expected_sha256)
            yield Fetched(dataclasses.replace(self, path=got.path), got.sha256, got.size)
            return
        with tempfile.TemporaryDirectory(prefix="pixelgate-fetch-") as tmp:
            local = Path(tmp) / self.name
            if self.remote is not None:
                try:
                    rclone.copy_to(self.remote, local)
                except rclone.RcloneError as err:
                    raise IngestError("source.uri", f"rclone could not copy {self.uri}: {err}") from None
            else:
                with _s3_errors(f"could not fetch {self.uri}"):
                    _s3_client().download_file(self.bucket, self.key, str(local))
            yield Fetched(dataclasses.replace(self, path=local), download.file_sha256(local), local.stat().st_size)

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """A binary file (remote ones fetched to disk first)."""
        with self.fetch() as fetched, open(fetched.source.path, "rb") as fh:
            yield fh


@dataclass(frozen=True)
class Fetched:
    source: SourceFile  # with ``path`` set to the local copy
    sha256: str
    size: int


def _download(source: SourceFile, expected_sha256: str | None) -> download.Downloaded:
    assert source.url is not None
    try:
        return download.fetch(source.url, expected_sha256, size=source.size, version=source.version)
    except download.ChecksumMismatch as err:
        raise IngestError("source.sha256", str(err)) from None
    except download.DownloadError as err:
        raise IngestError("source.uri", f"could not download {source.uri}: {err}") from None


@contextlib.contextmanager
def _s3_errors(doing: str) -> Iterator[None]:
    """boto3's errors that a retry cannot mend (no such bucket or object, access denied, bad or
    missing credentials: a 4xx answer other than 408/429) as one :class:`IngestError` line naming
    ``source.uri``; the others pass through (connection errors and timeouts are transient for
    ``pixelgate step``; boto3 retries throttling and 5xx itself)."""
    from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as err:
        raise IngestError("source.uri", f"{doing}: {err}") from None
    except ClientError as err:
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if 400 <= status < 500 and status not in (408, 429):
            raise IngestError("source.uri", f"{doing}: {err}") from None
        raise


def _s3_client() -> Any:
    import boto3

    return boto3.client("s3")


def _rfc3339(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _parse_rfc3339(text: str) -> datetime:
    """rclone's times carry nanoseconds, which ``fromisoformat`` does not take."""
    return datetime.fromisoformat(re.sub(r"(\.\d+)", "", text).replace("Z", "+00:00"))


def _matches(name: str, pattern: str) -> bool:
    return name == pattern or (bool(_GLOB_CHARS.search(pattern)) and fnmatch.fnmatchcase(name, pattern))


def resolve_source(uri: str, base_dir: Path | None) -> list[SourceFile]:
    """Every file the source uri names, sorted; :class:`IngestError` (field ``source.uri``) if none."""
    if uri.startswith("s3://"):
        files = _resolve_s3(uri)
    elif uri.startswith("rclone://"):
        files = _resolve_rclone(uri)
    elif uri.startswith(("https://", "http://")):
        files = [_resolve_http(uri)]
    else:
        text = uri[len("file://") :] if uri.startswith("file://") else uri
        path = Path(text)
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        source_policy.check_path(path)  # a glob's own folder, before anything in it is listed
        if _GLOB_CHARS.search(str(path)):
            matches = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
        else:
            matches = [path] if path.is_file() else []
        for match in matches:  # each file again: a symlink may point anywhere
            source_policy.check_path(match)
        files = [
            SourceFile(
                uri=p.resolve().as_uri(),
                name=p.name,
                path=p,
                modified=_rfc3339(datetime.fromtimestamp(p.stat().st_mtime, timezone.utc)),
            )
            for p in matches
        ]
    if not files:
        where = f" (resolved against {base_dir})" if base_dir and "://" not in uri and not uri.startswith("/") else ""
        raise IngestError("source.uri", f"no file matches {uri!r}{where}")
    return files


def fingerprint_source(uri: str) -> list[Any]:
    """A cheap listing of a remote source that changes when any of its files does: per file the
    uri, size, modification time and version (ETag or exact time), from one listing (s3
    ``list_objects``, ``rclone lsjson``, an https ``HEAD``) without reading any content. A source
    that cannot be listed fingerprints as its error, so that the run goes on and the step reports it."""
    try:
        return [[f.uri, f.size, f.modified, f.version] for f in resolve_source(uri, None)]
    except StepInputError as err:  # no such source, or one the source policy refuses
        return [uri, f"error: {err}"]


def _resolve_s3(uri: str) -> list[SourceFile]:
    bucket, _, pattern = uri[5:].partition("/")
    client = _s3_client()
    literal = _GLOB_CHARS.split(pattern, maxsplit=1)[0]
    out = []
    with _s3_errors(f"could not list s3://{bucket}/{literal}"):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=literal):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if _matches(key, pattern):
                    out.append(
                        SourceFile(
                            uri=f"s3://{bucket}/{key}",
                            name=key.rsplit("/", 1)[-1],
                            bucket=bucket,
                            key=key,
                            modified=_rfc3339(obj["LastModified"]),
                            size=obj.get("Size"),
                            version=obj.get("ETag", ""),
                        )
                    )
    return sorted(out, key=lambda f: f.uri)


def _resolve_rclone(uri: str) -> list[SourceFile]:
    target = uri[len("rclone://") :]
    remote, sep, pattern = target.partition(":")
    if target.startswith(":"):  # an on-the-fly backend, ":s3,provider=...:path"
        source_policy.check_remote(target)
    if not sep or not remote:
        raise IngestError("source.uri", f"expected rclone://<remote>:<path>, got {uri!r}")
    source_policy.check_remote(remote)
    try:
        wildcard = _GLOB_CHARS.search(pattern)
        if wildcard:
            folder = pattern[: pattern.rfind("/", 0, wildcard.start()) + 1]
            listed = [
                f for f in rclone.list_folder(f"{remote}:{folder}") if _matches(f.path.partition(":")[2], pattern)
            ]
        else:
            listed = [f for f in [rclone.stat(target)] if f is not None]
    except rclone.RcloneError as err:
        raise IngestError("source.uri", f"rclone could not list {uri}: {err}") from None
    return sorted(
        (
            SourceFile(
                uri=f"rclone://{f.path}",
                name=f.path.partition(":")[2].rsplit("/", 1)[-1],
                remote=f.path,
                modified=_rfc3339(_parse_rfc3339(f.modtime)),
                size=f.size,
                version=f.modtime,
            )
            for f in listed
        ),
        key=lambda f: f.uri,
    )


def _resolve_http(uri: str) -> SourceFile:
    source_policy.check_url(uri)
    try:
        info = download.head(uri)
    except download.DownloadError as err:
        raise IngestError("source.uri", f"could not reach {uri}: {err}") from None
    name = urllib.parse.unquote(urllib.parse.urlsplit(uri).path.rstrip("/").rsplit("/", 1)[-1]) or "index"
    try:
        modified = _rfc3339(parsedate_to_datetime(info.last_modified)) if info.last_modified else _EPOCH
    except (TypeError, ValueError):
        modified = _EPOCH
    return SourceFile(uri=uri, name=name, url=uri, modified=modified, size=info.size, version=info.version)


@dataclass(frozen=True)
class RawItem:
    """One record read from a source: a value, or the raw text and the reason it is quarantined."""

    position: str
    value: Any = None
    raw: Any = None
    reason: str | None = None
    detail: str = ""


def sniff_encoding(fh: IO[bytes], forced: str | None) -> str:
    """The codec for a text file: ``forced``, else UTF-8 if the first 64 KiB are UTF-8, else detected."""
    if forced:
        return forced
    head = fh.read(_SNIFF_BYTES)
    fh.seek(0)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    try:
        _, codec = decode_bytes(head)
    except UndecodableText:
        return "utf-8-sig"  # undecodable bytes survive as surrogates and are quarantined per record
    return codec


def _text(fh: IO[bytes], encoding: str, newline: str | None = None) -> io.TextIOWrapper:
    # surrogateescape keeps stray bytes so that TextRepair can decode or quarantine them per record
    return io.TextIOWrapper(fh, encoding=encoding, errors="surrogateescape", newline=newline)


def read_jsonl(fh: IO[bytes], encoding: str) -> Iterator[RawItem]:
    for number, line in enumerate(_text(fh, encoding), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            yield RawItem(f"line:{number}", raw=line.rstrip("\n"), reason="malformed_json", detail=str(err))
            continue
        yield RawItem(f"line:{number}", value=value, raw=value)


def read_csv(fh: IO[bytes], encoding: str) -> Iterator[RawItem]:
    reader = csv.reader(_text(fh, encoding, newline=""))
    header = next(reader, None)
    if header is None:
        return
    for index, row in enumerate(reader):
        if len(row) != len(header):
            yield RawItem(
                f"row:{index}", raw=row, reason="malformed_row", detail=f"{len(row)} fields, header has {len(header)}"
            )
            continue
        value = dict(zip(header, row))
        yield RawItem(f"row:{index}", value=value, raw=value)


def read_parquet(fh: IO[bytes], encoding: str) -> Iterator[RawItem]:
    import pyarrow.parquet as pq

    index = 0
    for batch in pq.ParquetFile(fh).iter_batches(batch_size=1024):
        for value in batch.to_pylist():
            yield RawItem(f"row:{index}", value=value, raw=value)
            index += 1


class _JsonArrayStream:
    """Element-by-element reader of a top-level JSON array; memory is one element plus a chunk."""

    _WS = re.compile(r"\s*")
    _RESYNC = re.compile(r",\s*(?=[\[{\"0-9tfn-])")

    def __init__(self, text: IO[str]):
        self.text, self.buf, self.pos, self.eof = text, "", 0, False
        self.decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.text.read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def _peek(self) -> str:
        while True:
            self.pos = self._WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf) or not self._fill():
                return self.buf[self.pos : self.pos + 1]

    def items(self) -> Iterator[RawItem]:
        if self._peek() != "[":
            rest = self.buf[self.pos : self.pos + 200]
            yield RawItem(
                "index:0",
                raw=rest,
                reason="malformed_json",
                detail="not a JSON array (format: json expects a top-level array)",
            )
            return
        self.pos += 1
        index = 0
        while True:
            ch = self._peek()
            if ch in ("]", ""):
                if ch == "":
                    yield RawItem(
                        f"index:{index}", raw="", reason="malformed_json", detail="array not closed before end of file"
                    )
                return
            item = self._element(index)
            yield item
            index += 1
            sep = self._peek()
            if sep == ",":
                self.pos += 1
            elif sep == "]":
                return
            elif sep == "":
                if item.reason is None:  # a truncated last element was already quarantined
                    yield RawItem(
                        f"index:{index}", raw="", reason="malformed_json", detail="array not closed before end of file"
                    )
                return
            else:
                # garbage between elements: quarantine up to the next comma
                yield self._skip(index, "expected ',' or ']' between array elements")
                index += 1

    def _element(self, index: int) -> RawItem:
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
                self.pos = end
                return RawItem(f"index:{index}", value=value, raw=value)
            except json.JSONDecodeError as err:
                if len(self.buf) - self.pos < MAX_JSON_ELEMENT and self._fill():
                    continue
                return self._skip(index, str(err))

    def _skip(self, index: int, detail: str) -> RawItem:
        """Quarantine text up to the next element boundary (a comma followed by a value start);
        the position stays on that comma so that reading goes on with the next element."""
        match = self._RESYNC.search(self.buf, self.pos + 1)
        end = match.start() if match else len(self.buf)
        raw, self.pos = self.buf[self.pos : end], end
        return RawItem(f"index:{index}", raw=raw, reason="malformed_json", detail=detail)


def read_json_array(fh: IO[bytes], encoding: str) -> Iterator[RawItem]:
    yield from _JsonArrayStream(_text(fh, encoding)).items()


READERS = {"jsonl": read_jsonl, "json": read_json_array, "csv": read_csv, "parquet": read_parquet}


def iter_items(
    source: SourceFile, fmt: str, forced_encoding: str | None, counts: Counter[str] | None = None
) -> Iterator[RawItem]:
    """Stream one file's items; a file decoded with a detected (non-UTF-8) charset is counted
    as ``charset_detected`` in ``counts``."""
    with source.open() as fh:
        encoding = "utf-8" if fmt == "parquet" else sniff_encoding(fh, forced_encoding)
        if counts is not None and not forced_encoding and encoding not in ("utf-8", "utf-8-sig"):
            counts["charset_detected"] += 1
        yield from READERS[fmt](fh, encoding)
