"""A real S3 server on loopback: the Versity S3 gateway (versitygw) over a temp directory.

Requests are signed with AWS SigV4 and checked by the server; buckets are
directories under ``<workdir>/s3-root`` and object metadata lives in a sidecar
directory (so no extended-attribute support is needed from the filesystem).
"""

from __future__ import annotations

import secrets
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .tools import ServerProcess, free_port, start_with_retries, tool_path, tool_version

REGION = "us-east-1"


@dataclass
class S3Server:
    workdir: Path
    endpoint_url: str = ""
    access_key: str = field(default_factory=lambda: "PGTEST" + secrets.token_hex(7).upper())
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    region: str = REGION
    bucket: str = ""
    process: ServerProcess | None = None
    version: str = ""

    def start(self, bucket: str | None = None, timeout: float = 60.0) -> "S3Server":
        self.workdir = Path(self.workdir)
        self.version = tool_version("versitygw")
        binary = tool_path("versitygw")
        root = self.workdir / "s3-root"
        sidecar = self.workdir / "s3-meta"
        root.mkdir(parents=True, exist_ok=True)
        sidecar.mkdir(parents=True, exist_ok=True)

        def attempt() -> None:
            port = free_port()
            self.endpoint_url = f"http://127.0.0.1:{port}"
            self.process = ServerProcess(
                "versitygw",
                [
                    binary,
                    f"--port=127.0.0.1:{port}",
                    f"--region={self.region}",
                    "--health=/health",
                    "--quiet",
                    "posix",
                    f"--sidecar={sidecar}",
                    root,
                ],
                self.workdir / "versitygw.log",
                # credentials go through the environment, not argv (ps shows argv)
                env={"ROOT_ACCESS_KEY_ID": self.access_key, "ROOT_SECRET_ACCESS_KEY": self.secret_key},
            )
            self.process.wait_ready(lambda: self._listening(port) and self._list_ok(), timeout=timeout)

        try:
            start_with_retries(attempt)
            self.bucket = bucket or f"pixelgate-test-{uuid.uuid4().hex[:10]}"
            self.client().create_bucket(Bucket=self.bucket)
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _listening(port: int) -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    def _list_ok(self) -> bool:
        self.client().list_buckets()
        return True

    def client(self, **kwargs):
        """A boto3 S3 client for this server (path-style addressing, SigV4)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                retries={"max_attempts": 2, "mode": "standard"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
            **kwargs,
        )

    def new_bucket(self, prefix: str = "pixelgate-test") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.client().create_bucket(Bucket=name)
        return name

    def env(self) -> dict[str, str]:
        """The standard AWS environment variables pointing at this server."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def info(self) -> dict[str, str]:
        return {
            "endpoint_url": self.endpoint_url,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "region": self.region,
            "bucket": self.bucket,
            "server": f"versitygw {self.version}",
            "data": str(self.workdir / "s3-root"),
            "log": str(self.workdir / "versitygw.log"),
        }

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def __enter__(self) -> "S3Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_s3(workdir: Path, bucket: str | None = None) -> S3Server:
    return S3Server(Path(workdir)).start(bucket=bucket)
