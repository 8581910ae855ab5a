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
from pydantic import ValidationError

from pixelgate.workflows.api import KINDS
from pixelgate.workflows.api.compile_run import CompileRunSpec, CompileRunStatus
from pixelgate.workflows.api.dataset_family import DatasetFamilyStatus
from pixelgate.workflows.api.gate_review import GateReviewSpec, GateReviewStatus
from pixelgate.workflows.api.training_run import TrainingRunSpec, TrainingRunStatus

log = logging.getLogger(__name__)

RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def _rate(part: Any, whole: Any) -> float | None:
    return (
        float(part) / float(whole)
        if isinstance(part, (int, float)) and isinstance(whole, (int, float)) and whole
        else None
    )


def _family_gauges() -> dict[str, GaugeMetricFamily]:
    """Per-family figures: records, quarantine and PII rates, quality."""
    return {
        "records": GaugeMetricFamily(
            "pixelgate_family_records", "Records written by the family's ingest.", labels=["namespace", "family"]
        ),
        "quarantine": GaugeMetricFamily(
            "pixelgate_family_quarantine_rate", "Quarantined records / records read.", labels=["namespace", "family"]
        ),
        "pii": GaugeMetricFamily(
            "pixelgate_family_pii_rate", "PII entities found per record read.", labels=["namespace", "family"]
        ),
        "quality": GaugeMetricFamily(
            "pixelgate_family_quality_mean", "Mean overall quality score.", labels=["namespace", "family"]
        ),
    }


def _compile_gauges() -> dict[str, GaugeMetricFamily]:
    """Per-compile figures: duplicate rates, records, gates, drift, the duplicate threshold."""
    return {
        "dup": GaugeMetricFamily(
            "pixelgate_compile_duplicate_rate",
            "Share of input records removed as duplicates.",
            labels=["namespace", "compile"],
        ),
        "out_dup": GaugeMetricFamily(
            "pixelgate_compile_output_duplicate_rate",
            "Share of the compile's output records the verification pass still finds to be duplicates.",
            labels=["namespace", "compile"],
        ),
        "records": GaugeMetricFamily(
            "pixelgate_compile_records", "Records in the compiled dataset.", labels=["namespace", "compile"]
        ),
        "gate": GaugeMetricFamily(
            "pixelgate_compile_gate_passed",
            "1 when the verification gate passed, else 0.",
            labels=["namespace", "compile", "gate"],
        ),
        "psi": GaugeMetricFamily(
            "pixelgate_compile_drift_psi",
            "Population stability index against the baseline, per feature.",
            labels=["namespace", "compile", "feature"],
        ),
        "js": GaugeMetricFamily(
            "pixelgate_compile_drift_js",
            "Jensen-Shannon divergence against the baseline, per feature.",
            labels=["namespace", "compile", "feature"],
        ),
        "max_dup": GaugeMetricFamily(
            "pixelgate_compile_max_duplicate_rate",
            "The compile's spec.gates.maxDuplicateRate.",
            labels=["namespace", "compile"],
        ),
    }


def _training_gauges() -> dict[str, GaugeMetricFamily]:
    """Per-training figures: scores, best eval loss, GPUs held, last progress."""
    return {
        "metric": GaugeMetricFamily(
            "pixelgate_training_metric",
            "Evaluation score of the training run, per metric.",
            labels=["namespace", "training", "metric"],
        ),
        "best": GaugeMetricFamily(
            "pixelgate_training_best_eval_loss",
            "Best eval_loss of the training run.",
            labels=["namespace", "training"],
        ),
        "gpus": GaugeMetricFamily(
            "pixelgate_training_gpus",
            "GPUs the running training workflow holds (nodes x gpusPerNode).",
            labels=["namespace", "training"],
        ),
        "progress": GaugeMetricFamily(
            "pixelgate_training_last_progress_timestamp_seconds",
            "Unix time the running training last advanced (its train step started, or its "
            "self-reported step count changed).",
            labels=["namespace", "training"],
        ),
    }


def _family(m: dict[str, GaugeMetricFamily], labels: list[str], status: DatasetFamilyStatus) -> None:
    for key, value in (
        ("records", status.records_out),
        ("quarantine", _rate(status.quarantined, status.records_in)),
        ("pii", _rate(status.pii_entities, status.records_in)),
        ("quality", status.quality_mean),
    ):
        if value is not None:
            m[key].add_metric(labels, float(value))


def _compile(
    m: dict[str, GaugeMetricFamily], labels: list[str], status: CompileRunStatus, spec: CompileRunSpec | None
) -> None:
    for key, value in (
        ("dup", status.duplicate_rate),
        ("out_dup", status.output_duplicate_rate),
        ("records", status.records),
    ):
        if value is not None:
            m[key].add_metric(labels, float(value))
    if spec is not None:
        m["max_dup"].add_metric(labels, float(spec.gates.max_duplicate_rate))
    for gate in status.gates:
        m["gate"].add_metric([*labels, gate.name], 1.0 if gate.passed else 0.0)
    for feature in sorted(status.drift, key=lambda f: f.feature):
        m["psi"].add_metric([*labels, feature.feature], feature.psi)
        m["js"].add_metric([*labels, feature.feature], feature.js)


def _training(
    m: dict[str, GaugeMetricFamily],
    labels: list[str],
    status: TrainingRunStatus,
    spec: TrainingRunSpec | None,
    trained: Any,
) -> None:
    for metric, value in sorted(status.scores.items()):
        m["metric"].add_metric([*labels, metric], float(value))
    if status.best_metric is not None:
        m["best"].add_metric(labels, float(status.best_metric))
    running = status.phase == "Running"
    gpus = spec.resources.nodes * spec.resources.gpus_per_node if spec is not None else 0
    m["gpus"].add_metric(labels, float(gpus) if running else 0.0)
    if running and trained is not None:
        m["progress"].add_metric(labels, float(trained[1]))


def _review(
    decision: GaugeMetricFamily, labels: list[str], status: GateReviewStatus, spec: GateReviewSpec | None
) -> None:
    current = status.decision if status.phase in ("Passed", "Failed") else status.phase
    for option in ("Pass", "Fail", "AwaitingApproval", "Waiting"):
        decision.add_metric([*labels, spec.gate if spec else "", option], 1.0 if current == option else 0.0)


def _spec(kind: str, spec: Mapping[str, Any]) -> Any:
    try:
        return KINDS[kind].spec.model_validate(spec)
    except ValidationError:
        return None


class _StatusCollector(Collector):
    """Gauges derived from the resource snapshot at scrape time; each status is read through its model."""

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

        fam, comp, train = _family_gauges(), _compile_gauges(), _training_gauges()
        progress = GaugeMetricFamily(
            "pixelgate_workflow_last_progress_timestamp_seconds",
            "Unix time of the last step phase change of the resource's workflow, while it is Pending or Running.",
            labels=["namespace", "kind", "name"],
        )
        decision = GaugeMetricFamily(
            "pixelgate_gate_decision",
            "1 for the GateReview's current decision (Pass, Fail, AwaitingApproval, Waiting).",
            labels=["namespace", "review", "gate", "decision"],
        )
        for (kind, ns, name), (raw, extra) in sorted(snap.items()):
            try:
                status = KINDS[kind].status.model_validate(raw)
            except ValidationError as err:  # a status someone else wrote: skip its figures, say so
                log.warning("metrics: %s %s/%s has an unreadable status: %s", kind, ns, name, err)
                continue
            spec = _spec(kind, extra.get("spec") or {})
            if status.phase in ("Pending", "Running") and extra.get("last_progress") is not None:
                progress.add_metric([ns, kind, name], float(extra["last_progress"]))
            if isinstance(status, DatasetFamilyStatus):
                _family(fam, [ns, name], status)
            elif isinstance(status, CompileRunStatus):
                _compile(comp, [ns, name], status, spec)
            elif isinstance(status, TrainingRunStatus):
                _training(train, [ns, name], status, spec, extra.get("training_progress"))
            elif isinstance(status, GateReviewStatus):
                _review(decision, [ns, name], status, spec)
        yield from fam.values()
        yield from comp.values()
        yield from train.values()
        yield decision
        yield progress


class Metrics:
    """The operator's metrics, in their own registry (several operators may share a test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "pixelgate_reconcile", "Reconciles by kind and outcome.", ["kind", "outcome"], registry=self.registry
        )
        self.errors = Counter(
            "pixelgate_reconcile_errors",
            "Reconcile errors by kind and reason.",
            ["kind", "reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pixelgate_reconcile_duration_seconds",
            "Reconcile latency by kind.",
            ["kind"],
            buckets=RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self.workflows_created = Counter(
            "pixelgate_workflows_created", "Argo Workflows created, by kind.", ["kind"], registry=self.registry
        )
        self.events = Counter(
            "pixelgate_events",
            "Kubernetes Events emitted, by kind and reason.",
            ["kind", "reason"],
            registry=self.registry,
        )
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
