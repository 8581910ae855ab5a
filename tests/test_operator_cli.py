"""`pixelgate operator` as a process, the way the Deployment runs it: flags, liveness, /metrics,
reconciling, and a clean stop on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.cluster.tools import free_port
from tests.operator_support import Cluster, family, wait_until


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.read().decode() if resp.status == 200 else None
    except OSError:
        return None


def test_namespace_or_all_namespaces_is_required():
    out = subprocess.run(
        [sys.executable, "-m", "pixelgate.workflows.cli", "operator", "--store", "/tmp/x"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "give either --all-namespaces or at least one --namespace" in out.stderr


def test_operator_process_serves_probes_metrics_and_reconciles(kube, kube_namespace, crds, tmp_path: Path):
    liveness, metrics = f"http://127.0.0.1:{free_port()}/healthz", free_port()
    log = (tmp_path / "operator.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pixelgate.workflows.cli",
            "operator",
            "-n",
            kube_namespace,
            "--standalone",
            "--store",
            str(tmp_path / "store"),
            "--kubeconfig",
            str(kube.kubeconfig),
            "--liveness",
            liveness,
            "--metrics-port",
            str(metrics),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: _get(liveness) is not None or proc.poll() is not None, 60, what="liveness endpoint")
        assert proc.poll() is None, (tmp_path / "operator.log").read_text()
        with kube.api_client() as api:
            cluster = Cluster(api, kube_namespace, kube.kubeconfig)
            cluster.create(family("cli-fam"))
            wait_until(lambda: cluster.workflow_of("DatasetFamily", "cli-fam"), what="workflow from the CLI operator")
        wanted = (
            'pixelgate_workflows_created_total{kind="DatasetFamily"} 1.0',
            'pixelgate_resources{kind="DatasetFamily",phase="Pending"} 1.0',
        )
        wait_until(
            lambda: all(w in (_get(f"http://127.0.0.1:{metrics}/metrics") or "") for w in wanted),
            what="metrics on /metrics",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, (tmp_path / "operator.log").read_text()[-3000:]
