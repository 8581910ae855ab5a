"""Prometheus metrics on ``/metrics``; every name starts with ``pixelgate_``.

Two sources:

* counters and histograms the reconciler updates as it works (reconciles, latency, errors);
* gauges computed at scrape time from a snapshot of every resource's status, which the watch
  handlers keep current (so a deleted resource's series disappear with it).

Labels are bounded: kind, phase, reason (an exception class or a CamelCase reason), namespace and
resource name, gate name (the 8 verification gates), feature (drift features), metric (evaluation
suites). No record ids, no free text.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def _rate(part: Any, whole: Any) -> float | None:
    return float(part) / float(whole) if isinstance(part, (int, float)) and isinstance(whole, (int, float)) and whole else None


class _StatusCollector(Collector):
    """Gauges derived from the resource snapshot at scrape time."""

    def __init__(self, metrics: "Metrics"):
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self.metrics.snapshot()
        phases = GaugeMetricFamily("pixelgate_resources", "Resources by kind and phase.", labels=["kind", "phase"])
        counts: dict[tuple[str, str], int] = {}
        for (kind, _, _), (status, _) in snap.items():
            key = (kind, status.get("phase") or "Unknown")
            counts[key] = counts.get(key, 0) + 1
        for (kind, phase), n in sorted(counts.items()):
            phases.add_metric([kind, phase], n)
        yield phases

        fam = {
            "records": GaugeMetricFamily("pixelgate_family_records", "Records written by the family's ingest.", labels=["namespace", "family"]),
            "quarantine": GaugeMetricFamily("pixelgate_family_quarantine_rate", "Quarantined records / records read.", labels=["namespace", "family"]),
            "pii": GaugeMetricFamily("pixelgate_family_pii_rate", "PII entities found per record read.", labels=["namespace", "family"]),
            "quality": GaugeMetricFamily("pixelgate_family_quality_mean", "Mean overall quality score.", labels=["namespace", "family"]),
        }
        comp = {
            "dup": GaugeMetricFamily("pixelgate_compile_duplicate_rate", "Share of input records removed as duplicates.", labels=["namespace", "compile"]),
            "out_dup": GaugeMetricFamily(
                "pixelgate_compile_output_duplicate_rate",
                "Share of the compile's output records the verification pass still finds to be duplicates.",
                labels=["namespace", "compile"],
            ),
            "records": GaugeMetricFamily("pixelgate_compile_records", "Records in the compiled dataset.", labels=["namespace", "compile"]),
            "gate": GaugeMetricFamily("pixelgate_compile_gate_passed", "1 when the verification gate passed, else 0.", labels=["namespace", "compile", "gate"]),
            "psi": GaugeMetricFamily("pixelgate_compile_drift_psi", "Population stability index against the baseline, per feature.", labels=["namespace", "compile", "feature"]),
            "js": GaugeMetricFamily("pixelgate_compile_drift_js", "Jensen-Shannon divergence against the baseline, per feature.", labels=["namespace", "compile", "feature"]),
            "max_dup": GaugeMetricFamily("pixelgate_compile_max_duplicate_rate", "The compile's spec.gates.maxDuplicateRate.", labels=["namespace", "compile"]),
        }
        train = {
            "metric": GaugeMetricFamily("pixelgate_training_metric", "Evaluation score of the training run, per metric.", labels=["namespace", "training", "metric"]),
            "best": GaugeMetricFamily("pixelgate_training_best_eval_loss", "Best eval_loss of the training run.", labels=["namespace", "training"]),
            "gpus": GaugeMetricFamily("pixelgate_training_gpus", "GPUs the running training workflow holds (nodes x gpusPerNode).", labels=["namespace", "training"]),
            "progress": GaugeMetricFamily(
                "pixelgate_training_last_progress_timestamp_seconds",
                "Unix time the running training last advanced (its train step started, or its self-reported step count changed).",
                labels=["namespace", "training"],
            ),
        }
        progress = GaugeMetricFamily(
            "pixelgate_workflow_last_progress_timestamp_seconds",
            "Unix time of the last step phase change of the resource's workflow, while it is Pending or Running.",
            labels=["namespace", "kind", "name"],
        )
        decision = GaugeMetricFamily(
            "pixelgate_gate_decision", "1 for the GateReview's current decision (Pass, Fail, AwaitingApproval, Waiting).", labels=["namespace", "review", "gate", "decision"]
        )
        for (kind, ns, name), (status, extra) in sorted(snap.items()):
            spec = extra.get("spec") or {}
            if status.get("phase") in ("Pending", "Running") and extra.get("last_progress") is not None:
                progress.add_metric([ns, kind, name], float(extra["last_progress"]))
            if kind == "DatasetFamily":
                for key, value in (
                    ("records", status.get("recordsOut")),
                    ("quarantine", _rate(status.get("quarantined"), status.get("recordsIn"))),
                    ("pii", _rate(status.get("piiEntities"), status.get("recordsIn"))),
                    ("quality", status.get("qualityMean")),
                ):
                    if value is not None:
                        fam[key].add_metric([ns, name], float(value))
            elif kind == "CompileRun":
                for key, field in (("dup", "duplicateRate"), ("out_dup", "outputDuplicateRate")):
                    if status.get(field) is not None:
                        comp[key].add_metric([ns, name], float(status[field]))
                if status.get("records") is not None:
                    comp["records"].add_metric([ns, name], float(status["records"]))
                if (spec.get("gates") or {}).get("maxDuplicateRate") is not None:
                    comp["max_dup"].add_metric([ns, name], float(spec["gates"]["maxDuplicateRate"]))
                for gate in status.get("gates") or []:
                    comp["gate"].add_metric([ns, name, str(gate.get("name"))], 1.0 if gate.get("passed") else 0.0)
                for feature, values in sorted((extra.get("drift") or {}).items()):
                    for key in ("psi", "js"):
                        if isinstance(values.get(key), (int, float)):
                            comp[key].add_metric([ns, name, feature], float(values[key]))
            elif kind == "TrainingRun":
                for metric, value in sorted((status.get("scores") or {}).items()):
                    train["metric"].add_metric([ns, name, metric], float(value))
                if status.get("bestMetric") is not None:
                    train["best"].add_metric([ns, name], float(status["bestMetric"]))
                resources = spec.get("resources") or {}
                running = status.get("phase") == "Running"
                train["gpus"].add_metric([ns, name], float(resources.get("nodes", 1) * resources.get("gpusPerNode", 1)) if running else 0.0)
                trained = extra.get("training_progress")
                if running and trained is not None:
                    train["progress"].add_metric([ns, name], float(trained[1]))
            elif kind == "GateReview":
                phase = status.get("phase")
                current = status.get("decision") if phase in ("Passed", "Failed") else phase
                for option in ("Pass", "Fail", "AwaitingApproval", "Waiting"):
                    decision.add_metric([ns, name, str(spec.get("gate", "")), option], 1.0 if current == option else 0.0)
        yield from fam.values()
        yield from comp.values()
        yield from train.values()
        yield decision
        yield progress


class Metrics:
    """The operator's metrics, in their own registry (several operators may share a test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter("pixelgate_reconcile", "Reconciles by kind and outcome.", ["kind", "outcome"], registry=self.registry)
        self.errors = Counter("pixelgate_reconcile_errors", "Reconcile errors by kind and reason.", ["kind", "reason"], registry=self.registry)
        self.latency = Histogram(
            "pixelgate_reconcile_duration_seconds", "Reconcile latency by kind.", ["kind"], buckets=RECONCILE_BUCKETS, registry=self.registry
        )
        self.workflows_created = Counter("pixelgate_workflows_created", "Argo Workflows created, by kind.", ["kind"], registry=self.registry)
        self.events = Counter("pixelgate_events", "Kubernetes Events emitted, by kind and reason.", ["kind", "reason"], registry=self.registry)
        self._lock = threading.Lock()
        self._snapshot: dict[tuple[str, str, str], tuple[Mapping[str, Any], Mapping[str, Any]]] = {}
        self.registry.register(_StatusCollector(self))
        self._server: Any = None
        self.port: int | None = None

    def observe(self, kind: str, namespace: str, name: str, status: Mapping[str, Any] | None, **extra: Any) -> None:
        """Record a resource's latest status (None: it is gone) and facts beside it (spec, drift,
        last workflow progress), which update the ones recorded before."""
        with self._lock:
            key = (kind, namespace, name)
            if status is None:
                self._snapshot.pop(key, None)
                return
            before = self._snapshot.get(key, ({}, {}))[1]
            self._snapshot[key] = (dict(status), {**before, **extra})

    def fact(self, kind: str, namespace: str, name: str, key: str) -> Any:
        """A fact recorded beside a resource's status (None when there is none)."""
        with self._lock:
            return self._snapshot.get((kind, namespace, name), ({}, {}))[1].get(key)

    def snapshot(self) -> dict[tuple[str, str, str], tuple[Mapping[str, Any], Mapping[str, Any]]]:
        with self._lock:
            return dict(self._snapshot)

    def serve(self, port: int, host: str = "0.0.0.0") -> int:
        """Serve ``/metrics``; returns the bound port (pass 0 for a free one)."""
        self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        self.port = int(self._server.server_port)
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

