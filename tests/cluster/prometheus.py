"""A real Prometheus server (Debian's package) scraping given loopback targets, and promtool."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import yaml

from .tools import ServerProcess, free_port, run_tool, start_with_retries, system_tool


def scrape_config(
    targets: Sequence[str], job: str = "target", interval: str = "1s", rule_files: Sequence[str | Path] = ()
) -> dict:
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}],
    }


def promtool(*args: str | Path, timeout: float = 60.0):
    """Run Debian's promtool; returns the CompletedProcess (check ``returncode``/``stdout``/``stderr``)."""
    return run_tool([system_tool("promtool"), *args], timeout=timeout)


def prometheus_version() -> str:
    out = run_tool([system_tool("prometheus"), "--version"], timeout=30)
    first = (out.stdout or out.stderr).splitlines()
    return first[0] if first else "unknown"


@dataclass
class PrometheusServer:
    workdir: Path
    targets: Sequence[str]
    job: str = "target"
    interval: str = "1s"
    rule_files: Sequence[str | Path] = ()
    url: str = ""
    config_path: Path = field(default=Path())
    process: ServerProcess | None = None

    def start(self, timeout: float = 60.0) -> "PrometheusServer":
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        binary = system_tool("prometheus")
        self.config_path = self.workdir / "prometheus.yml"
        self.config_path.write_text(
            yaml.safe_dump(scrape_config(self.targets, self.job, self.interval, self.rule_files), sort_keys=False)
        )

        def attempt() -> None:
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            self.process = ServerProcess(
                "prometheus",
                [
                    binary,
                    f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={self.workdir / f'tsdb-{port}'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--web.enable-lifecycle",
                    "--log.level=warn",
                ],
                self.workdir / "prometheus.log",
            )
            self.process.wait_ready(self._ready, timeout=timeout)

        start_with_retries(attempt)
        return self

    def _ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
            return resp.status == 200

    def api(self, path: str, **params: str) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as resp:
            return json.loads(resp.read())

    def query(self, expr: str) -> list[dict]:
        """Instant query via /api/v1/query; returns ``data.result``."""
        body = self.api("/api/v1/query", query=expr)
        if body.get("status") != "success":
            raise RuntimeError(f"query {expr!r} failed: {body}")
        return body["data"]["result"]

    def wait_for_series(self, expr: str, timeout: float = 30.0) -> list[dict]:
        """Poll ``query(expr)`` until it returns at least one series."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.query(expr)
            if result:
                return result
            time.sleep(0.5)
        raise TimeoutError(f"no series for {expr!r} after {timeout:.0f}s; targets: {self.api('/api/v1/targets')}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def __enter__(self) -> "PrometheusServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_prometheus(workdir: Path, targets: Iterable[str], **kwargs) -> PrometheusServer:
    return PrometheusServer(Path(workdir), list(targets), **kwargs).start()
