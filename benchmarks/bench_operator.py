"""Operator load: N DatasetFamilies applied at once; apply -> Workflow-created latency.

On a fresh real control plane (etcd + kube-apiserver from tests/cluster, our CRDs and Argo's):

* baseline: the client creates the N rendered Workflows itself, with the same concurrency; the
  latency is create-call start -> the Workflow seen on a watch (the apiserver + watch floor);
* ours: the client creates N DatasetFamilies and the real operator (``pixelgate operator``, its own
  process, as in a pod) creates their Workflows; latency is family create-call start -> its
  Workflow seen on the watch. Afterwards every workflow is finished (we play Argo) and every
  family must show its own figures.

Usage: .venv/bin/python -m benchmarks.bench_operator [--families 500] [--workers 8]
The last line is machine-readable JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from kubernetes import client

from pixelgate.workflows.api import parse_resource
from pixelgate.workflows.render import render_workflow
from tests.cluster import tools
from tests.cluster.kube import start_kube
from tests.operator_support import Cluster, family, install_crds, percentile, run_load, time_to_workflows, wait_until


def baseline(cluster: Cluster, n: int, workers: int) -> dict[str, float]:
    manifests = {
        m["metadata"]["name"]: m
        for m in (
            render_workflow(parse_resource(family(f"base-{i:04d}")), store_uri="s3://bench/store") for i in range(n)
        )
    }
    latencies, _, created_s = time_to_workflows(
        cluster,
        list(manifests),
        lambda name: cluster.custom.create_namespaced_custom_object(
            "argoproj.io", "v1alpha1", cluster.ns, "workflows", manifests[name]
        ),
        lambda wf: wf["metadata"]["name"],
        workers,
    )
    return {
        "n": n,
        "all_workflows_s": created_s,
        "p50_s": percentile(latencies, 0.5),
        "p95_s": percentile(latencies, 0.95),
        "max_s": max(latencies),
    }


def _alive(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=500)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-operator-"))
    kube = start_kube(work / "kube", with_controller_manager=False)
    try:
        with kube.api_client() as api:
            install_crds(api, tools.argo_crds_dir())
            core = client.CoreV1Api(api)
            for ns in ("bench-base", "bench-ours"):
                core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
            base = baseline(Cluster(api, "bench-base", kube.kubeconfig), args.families, args.workers)
            liveness = f"http://127.0.0.1:{tools.free_port()}/healthz"
            operator = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pixelgate.workflows.cli",
                    "operator",
                    "-n",
                    "bench-ours",
                    "--standalone",
                    "--store",
                    str(work / "store"),
                    "--kubeconfig",
                    str(kube.kubeconfig),
                    "--liveness",
                    liveness,
                    "--metrics-port",
                    str(tools.free_port()),
                ],
                stdout=(work / "operator.log").open("w"),
                stderr=subprocess.STDOUT,
            )
            try:
                wait_until(lambda: _alive(liveness), 60, what="operator liveness")
                ours = run_load(Cluster(api, "bench-ours", kube.kubeconfig), args.families, args.workers)
            finally:
                operator.terminate()
                operator.wait(30)
    finally:
        kube.stop()
    for label, fig in (("baseline (client creates Workflows)", base), ("ours (operator reconciles families)", ours)):
        print(f"{label}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in fig.items()))
    print(
        f"p50 ratio ours/baseline: {ours['p50_s'] / base['p50_s']:.1f}x; p95 "
        f"ratio: {ours['p95_s'] / base['p95_s']:.1f}x"
    )
    print(json.dumps({"benchmark": "operator_load", "families": args.families, "baseline": base, "ours": ours}))


if __name__ == "__main__":
    main()
