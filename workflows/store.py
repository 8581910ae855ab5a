"""Object stores: a local directory or an S3 bucket, behind one small interface.

Every write is atomic: a local write goes to a temporary file in the same folder and is
renamed into place; an S3 object only becomes visible once its upload completes. Readers
therefore never see a partial object. ``latest.json`` pointers are written last, so a
pointer always names a complete output.

S3 endpoints and credentials come from the usual AWS environment (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``), never from a spec.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

DEFAULT_LOCAL_STORE = ".pixelgate/store"


class Store(ABC):
    """Keys are '/'-separated relative paths such as ``families/esconv/latest.json``."""

    uri: str

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def read_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        """A seekable binary file for ``key`` (S3 objects are spooled to a temporary file)."""

    @abstractmethod
    @contextlib.contextmanager
    def writer(self, key: str) -> Iterator[Path]:
        """Yield a local temporary path; on clean exit its content becomes ``key`` atomically."""

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, sorted."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix``; return how many were deleted."""

    def url(self, key: str) -> str:
        return f"{self.uri.rstrip('/')}/{key}"

    def write_bytes(self, key: str, data: bytes) -> None:
        with self.writer(key) as tmp:
            tmp.write_bytes(data)

    def read_json(self, key: str) -> Any:
        return json.loads(self.read_bytes(key))

    def write_json(self, key: str, value: Any) -> None:
        self.write_bytes(key, (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode())


class LocalStore(Store):
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).resolve()
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents and path != self.root:
            raise ValueError(f"store key escapes the store root: {key!r}")
        return path

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        with open(self._path(key), "rb") as fh:
            yield fh

    @contextlib.contextmanager
    def writer(self, key: str) -> Iterator[Path]:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            yield tmp
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if base.is_file():
            return [prefix]
        if not base.is_dir():
            return []
        keys = (p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())
        return sorted(k for k in keys if not Path(k).name.endswith(".tmp"))

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(prefix)
        base = self._path(prefix)
        if base.is_dir():
            shutil.rmtree(base)
        elif base.is_file():
            base.unlink()
        return len(keys)


class S3Store(Store):
    def __init__(self, uri: str, client: Any | None = None):
        import boto3

        if not uri.startswith("s3://"):
            raise ValueError(f"not an s3:// URI: {uri!r}")
        bucket, _, prefix = uri[5:].partition("/")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.uri = f"s3://{bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self.client = client or boto3.client("s3")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise

    def read_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        with tempfile.TemporaryFile() as fh:
            self.client.download_fileobj(self.bucket, self._key(key), fh)
            fh.seek(0)
            yield fh

    @contextlib.contextmanager
    def writer(self, key: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="pixelgate-s3-") as tmpdir:
            tmp = Path(tmpdir) / "object"
            tmp.touch()
            yield tmp
            self.client.upload_file(str(tmp), self.bucket, self._key(key))

    def list(self, prefix: str) -> list[str]:
        full = self._key(prefix)
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            for obj in page.get("Contents", []):
                keys.append(obj["Key"][len(self.prefix) + 1 :] if self.prefix else obj["Key"])
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(prefix)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": self._key(k)} for k in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        return len(keys)


def open_store(uri: str | os.PathLike[str] | None) -> Store:
    """``s3://bucket/prefix`` -> :class:`S3Store`; ``file://path`` or a path -> :class:`LocalStore`."""
    text = str(uri or DEFAULT_LOCAL_STORE)
    if text.startswith("s3://"):
        return S3Store(text)
    if text.startswith("file://"):
        text = text[len("file://") :]
    return LocalStore(text)


def tenant_uri(base: str, namespace: str) -> str:
    """The store of one namespace on a cluster: ``<base>/namespaces/<namespace>``. Every key of a
    namespace's resources lives below it, so two namespaces' families of one name never meet, and
    ``retention: Delete`` in one never reaches the other. ``pixelgate run`` is one tenant: its
    ``--store`` is used as it is."""
    return f"{base.rstrip('/')}/namespaces/{namespace}"


def write_pointer(store: Store, key: str, target: str, **extra: Any) -> None:
    """Write a ``latest.json``-style pointer naming ``target`` (a key prefix); always the last write."""
    store.write_json(key, {"target": target, **extra})


def read_pointer(store: Store, key: str) -> dict[str, Any]:
    return store.read_json(key)
