"""The Grafana dashboards (helm/pixelgate/dashboards/*.json) against real data.

1. A real local pipeline run (`pixelgate run`'s runner) of the quickstart on small generated data,
   plus a drift compile against the quickstart compile, a second gate review and a family whose
   source is missing (a real failure).
2. The real operator, against the real kube-apiserver, reconciles the same resources; we play
   Argo's part with the very outputs and node results of that local run, so the operator's
   ``/metrics`` carries the run's real figures, reconcile counters and events.
3. A real Prometheus (Debian's package) scrapes it, with the chart's alert rules loaded.
4. Every dashboard variable query and every panel query runs through the Prometheus HTTP API;
   each must parse and return series. A query that returns nothing after a real run fails here.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml

from pixelgate.operator.config import OperatorConfig
from pixelgate.operator.metrics import Metrics
from pixelgate.workflows.api.manifests import load_items
from pixelgate.workflows.demo import generate
from pixelgate.workflows.local.runner import RunReport, run_resources
from pixelgate.workflows.render.builders import resolve_sources
from pixelgate.workflows.store import LocalStore
from tests.cluster.tools import free_port
from tests.operator_support import Argo, Cluster, RunningOperator, install_crds, wait_until

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "examples" / "quickstart"
DASHBOARDS = sorted((REPO / "helm" / "pixelgate" / "dashboards").glob("*.json"))
ALERTS = REPO / "helm" / "pixelgate" / "files" / "alerts.yaml"
JOB = "pixelgate-operator"  # the scrape job the chart's ServiceMonitor sets and the alerts select


EXTRA = """
apiVersion: pixelgate.dev/v1alpha1
kind: CompileRun
metadata: {name: quickstart-next}
spec:
  families: {names: [counsel-qa, mi-sessions]}
  baseline: quickstart
  split: {train: 0.9, val: 0.05, test: 0.05, seed: 42, tolerance: 0.2}
  shardSize: 200
  workers: 2
---
apiVersion: pixelgate.dev/v1alpha1
kind: GateReview
metadata: {name: quickstart-baseline}
spec: {gate: baseline-metrics, trainingRun: quickstart-tiny}
---
apiVersion: pixelgate.dev/v1alpha1
kind: DatasetFamily
metadata: {name: lost-source}
spec:
  source: {uri: data/no-such-file.jsonl, format: jsonl}
  mapping: {turns: {path: messages}}
  license: {spdx: CC0-1.0, allowTraining: true}
"""


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunReport, Path, list]:
    root = tmp_path_factory.mktemp("observed")
    for manifest in QUICKSTART.glob("*.yaml"):
        shutil.copy(manifest, root / manifest.name)
    (root / "observability.yaml").write_text(EXTRA)
    generate(root / "data", seed=11, size=24)
    items = load_items([str(root)])
    store = LocalStore(root / "store")
    report = run_resources(items, store, workers=2, logs_dir=root / "logs")
    phases = {(o.kind, o.name): o.phase for o in report.outcomes}
    # The run is real: the quickstart succeeds, the lost source fails.
    assert phases[("CompileRun", "quickstart-next")] == "Succeeded", phases
    assert phases[("TrainingRun", "quickstart-tiny")] == "Succeeded", phases
    assert phases[("DatasetFamily", "lost-source")] == "Failed", phases
    return report, store.root, items


def _replay(result) -> dict[str, Any]:
    """The local run's nodes as arguments of :meth:`Argo.set`: each task's phase, pods and the
    result of its first pod (the operator's workflow has the same DAG)."""
    tasks: dict[str, str] = {}
    items: dict[str, int] = {}
    results: dict[str, Any] = {}
    messages: dict[str, str] = {}
    for n in sorted(result.nodes, key=lambda n: n.node):
        failed = not n.ok
        tasks[n.task] = "Failed" if failed or tasks.get(n.task) == "Failed" else "Succeeded"
        items[n.task] = items.get(n.task, 0) + 1
        if n.ok and "result" in n.outputs:
            results.setdefault(n.task, json.loads(n.outputs["result"]))
        if failed:
            messages[n.task] = n.message
    return {"tasks": tasks, "items": items, "results": results, "messages": messages}


@pytest.fixture(scope="module")
def operator_metrics(local_run, kube, argo_crds_dir) -> str:
    """The real operator's /metrics address after it reconciled the run's resources."""
    report, store_root, items = local_run
    from kubernetes import client

    ns = f"obs-{int(time.time())}"
    with kube.api_client() as api:
        install_crds(api, argo_crds_dir)
        client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
        cluster = Cluster(api, ns, kube.kubeconfig)
        argo = Argo(cluster)
        port = free_port()
        cfg = OperatorConfig(
            store_uri=str(store_root),
            namespaces=(ns,),
            kubeconfig=str(kube.kubeconfig),
            standalone=True,
            metrics_port=port,
            metrics_host="127.0.0.1",
        )
        op = RunningOperator(cfg).start()
        try:
            for item in items:
                body = {
                    "apiVersion": item.resource.api_version,
                    "kind": item.resource.kind,
                    "metadata": {"name": item.resource.name, "labels": dict(item.resource.metadata.labels)},
                    "spec": resolve_sources(item.resource, item.base_dir).spec.to_wire(),
                }
                cluster.create(body)
            by_ref = {(i.resource.kind, i.resource.name): i for i in items}
            todo = {(o.kind, o.name): o for o in report.outcomes if o.workflow is not None}
            deadline = time.monotonic() + 180
            while todo and time.monotonic() < deadline:
                for ref, outcome in list(todo.items()):
                    wf = cluster.workflow_of(*ref)
                    if wf is None:
                        continue
                    result = outcome.workflow
                    argo.set(wf["metadata"]["name"], result.phase, message=result.message or None, **_replay(result))
                    del todo[ref]
                time.sleep(0.3)
            assert not todo, f"the operator created no workflow for {sorted(todo)}"
            for ref in by_ref:
                final = "Ready" if ref[0] == "DatasetFamily" else None
                if ref == ("DatasetFamily", "lost-source"):
                    final = "Failed"
                wanted = (final,) if final else ("Succeeded", "Passed", "Failed", "AwaitingApproval")
                wait_until(
                    lambda ref=ref, wanted=wanted: cluster.status(*ref).get("phase") in wanted,
                    timeout=60,
                    what=f"{ref} settled",
                )
            yield f"127.0.0.1:{port}"
        finally:
            op.stop()
            client.CoreV1Api(api).delete_namespace(ns)


@pytest.fixture(scope="module")
def prom(operator_metrics, tmp_path_factory):
    from tests.cluster.prometheus import PrometheusServer

    server = PrometheusServer(
        tmp_path_factory.mktemp("prom"), [operator_metrics], job=JOB, rule_files=[ALERTS]
    ).start()
    try:
        server.wait_for_series("pixelgate_compile_drift_psi")
        # rate()/increase() need two samples of each series inside their window.
        server.wait_for_series("count_over_time(pixelgate_reconcile_total[1m]) > 2")
        yield server
    finally:
        server.stop()


# ----------------------------------------------------------------------------- Grafana's side

ALL = ".*"  # every variable's allValue; dashboards open on "All"
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>[a-zA-Z_]\w*)\)$")


def expand(expr: str, variables: dict[str, str]) -> str:
    """Substitute Grafana variables the way Grafana does before it sends a query."""
    builtins = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}

    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        if name in builtins:
            return builtins[name]
        assert name in variables, f"query uses ${name}, which the dashboard does not define"
        return variables[name]

    return _VAR.sub(sub, expr)


def variable_values(prom, query: str, variables: dict[str, str]) -> list[str]:
    """Grafana's Prometheus variable query: label_values(selector, label) via the label values API."""
    m = _LABEL_VALUES.match(query.strip())
    assert m, f"unsupported variable query {query!r}"
    params: dict[str, str] = {}
    if m.group("selector"):
        params["match[]"] = expand(m.group("selector"), variables)
    body = prom.api(f"/api/v1/label/{urllib.parse.quote(m.group('label'))}/values", **params)
    assert body["status"] == "success", body
    return body["data"]


def range_query(prom, expr: str) -> list[dict]:
    end = time.time()
    body = prom.api("/api/v1/query_range", query=expr, start=f"{end - 60:.3f}", end=f"{end:.3f}", step="2")
    assert body["status"] == "success", body
    return body["data"]["result"]


def dashboard_ids() -> list[str]:
    return [p.stem for p in DASHBOARDS]


@pytest.mark.parametrize("name", dashboard_ids())
def test_dashboard_queries_return_series(prom, name):
    board = json.loads((REPO / "helm" / "pixelgate" / "dashboards" / f"{name}.json").read_text())
    variables: dict[str, str] = {}
    for var in board["templating"]["list"]:
        if var["type"] == "datasource":
            assert var["query"] == "prometheus"
            continue
        assert var["type"] == "query" and var["includeAll"] and var["allValue"] == ALL, var["name"]
        values = variable_values(prom, var["query"]["query"], variables)
        assert values, f"{name}: variable ${var['name']} ({var['query']['query']}) has no values after a real run"
        variables[var["name"]] = ALL
    assert board["panels"], name
    for panel in board["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expr = expand(target["expr"], variables)
            result = prom.query(expr) if target.get("instant") else range_query(prom, expr)
            assert result, f"{name} / {panel['title']}: {expr} returned no series after a real run"


def test_run_figures_reach_prometheus(prom, local_run):
    """Spot checks that the series carry this run's figures, not just any numbers."""
    report, _, _ = local_run
    records = {
        o.name: o.status.records_out for o in report.outcomes if o.kind == "DatasetFamily" and o.phase == "Ready"
    }
    got = {s["metric"]["family"]: float(s["value"][1]) for s in prom.query("pixelgate_family_records")}
    assert got == {k: float(v) for k, v in records.items()}
    psi = prom.query('pixelgate_compile_drift_psi{compile="quickstart-next"}')
    assert psi and all(float(s["value"][1]) >= 0 for s in psi)
    failed = prom.query('pixelgate_resources{kind="DatasetFamily",phase="Failed"}')
    assert [float(s["value"][1]) for s in failed] == [1.0]


def test_alert_rules_load_and_evaluate_on_real_data(prom):
    """The chart's rules in a real Prometheus: all healthy; the failed family drives an alert."""
    groups = prom.api("/api/v1/rules")["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) == sum(len(g["rules"]) for g in yaml.safe_load(ALERTS.read_text())["groups"])
    wait_until(
        lambda: all(r.get("health") == "ok" for r in prom.api("/api/v1/rules")["data"]["groups"][0]["rules"]),
        timeout=30,
        what="rules evaluated",
    )
    bad = [
        (r["name"], r.get("lastError"))
        for g in prom.api("/api/v1/rules")["data"]["groups"]
        for r in g["rules"]
        if r.get("health") != "ok"
    ]
    assert not bad, bad
    alerts = prom.wait_for_series('ALERTS{alertname="PixelgateWorkflowFailed", kind="DatasetFamily"}')
    assert alerts[0]["metric"]["alertstate"] in ("pending", "firing")


def test_alert_metrics_are_declared_by_the_operator():
    """Every metric an alert reads is one the operator declares.

    Declarations, not series: after a healthy run an error counter has no samples and a progress
    gauge of a finished workflow none either, which is exactly when those alerts must stay quiet."""
    declared = {family.name for family in Metrics().registry.collect()}
    used = {
        re.sub(r"_(total|bucket|sum|count)$", "", m)
        for m in re.findall(r"\b(pixelgate_[a-z0-9_]+)\b", ALERTS.read_text())
    }
    assert used - declared == set()
