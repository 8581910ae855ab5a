"""Load: 500 DatasetFamilies applied at once all reconcile, each with exactly one workflow and its
own figures in status (no lost update). The latency figures go to docs/benchmarks.md."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pixelgate.operator.config import OperatorConfig
from tests.operator_support import Cluster, RunningOperator, run_load

N = int(os.environ.get("PIXELGATE_LOAD_FAMILIES", "500"))


@pytest.mark.slow
def test_500_families_at_once(kube, kube_namespace, crds, tmp_path: Path):
    cfg = OperatorConfig(
        store_uri=str(tmp_path / "store"),
        namespaces=(kube_namespace,),
        kubeconfig=str(kube.kubeconfig),
        standalone=True,
    )
    with kube.api_client() as api, RunningOperator(cfg):
        figures = run_load(Cluster(api, kube_namespace, kube.kubeconfig), N)
    print(
        f"\noperator load ({N} DatasetFamilies): "
        + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
    )
    assert figures["n"] == N
