"""The compile step: cross-family dedup, leakage-free splits, shards, manifest, gates and drift.

:func:`compile_run` runs every stage in this process (the per-shard and per-band stages in a
process pool); the ``compile-*`` steps run one stage each, for an Argo fan-out:

=====================  ==================  ==============================================
step                   --param             result
=====================  ==================  ==============================================
compile                workers=<n>         :class:`CompileResult` (all stages)
compile-plan           -                   :class:`~.stages.PlanResult` (``shards``, ``bands`` lists for withParam)
compile-signatures     shard=<i>           :class:`~.stages.SignaturesResult`
compile-buckets        band=<j>            :class:`~.stages.BucketsResult`
compile-merge          -                   :class:`~.stages.MergeResult`
compile-filter         shard=<i>           :class:`~.stages.FilterResult`
compile-finalize       -                   :class:`CompileResult`
=====================  ==================  ==============================================
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

from pydantic import BaseModel, Field

from ... import PIPELINE_VERSION, layout, steplog
from ...api.compile_run import CompileRunSpec, GateResult
from ...api.meta import canonical_json, spec_hash as compute_spec_hash
from ...recordio import write_records
from ...records import Record
from ...store import Store, open_store, write_pointer
from . import drift, gates
from .manifest import DedupSummary, FamilyEntry, Manifest
from .stages import (
    BucketsResult, FilterResult, MergeResult, OutputShard, PlanResult, SignaturesResult, buckets_stage, filter_stage,
    iter_output_lines, load_merge, load_outputs, load_plan, merge_stage, plan_stage, signatures_stage,
)
from .inputs import Plan
from .stats import Distribution

log = logging.getLogger(__name__)


class CompileResult(BaseModel):
    """The compile's small JSON result; the operator copies it into CompileRun status."""

    spec_hash: str = Field(description="Hash of the spec the outputs were made from.")
    output_uri: str = Field(description="Store folder of the compile.")
    manifest_uri: str = Field(description="The manifest.json.")
    report_uri: str = Field(description="The verification_report.json.")
    drift_uri: str | None = Field(default=None, description="The drift.json, when a baseline was set.")
    records: int = Field(description="Records in the final dataset.")
    duplicate_rate: float = Field(description="Share of input records removed as duplicates.")
    output_duplicate_rate: float = Field(description="Share of output records the verification pass still finds to be duplicates.")
    gates_passed: str = Field(description="Passed gates out of all, e.g. 8/8.")
    passed: bool = Field(description="Every gate passed and the output duplicate rate is within its threshold.")
    gates: list[GateResult] = Field(description="Per-gate verdicts.")
    drift_level: str | None = Field(default=None, description="ok, warn or alert, when a baseline was set.")


def _keys(name: str, sh: str) -> dict[str, str]:
    root = layout.compile_root(name, sh)
    return {
        "root": root, "jsonl": f"{root}/compiled/final_training_dataset.jsonl", "parquet": f"{root}/compiled/parquet",
        "manifest": f"{root}/manifest.json", "report": f"{root}/verification_report.json", "drift": f"{root}/drift.json",
        "removed": f"{root}/dedup/removed.parquet",
    }


def _baseline_distribution(store: Store, baseline: str) -> tuple[str, Distribution]:
    pointer_key = layout.compile_pointer(baseline)
    if not store.exists(pointer_key):
        raise ValueError(f"baseline CompileRun {baseline!r} has no output yet ({pointer_key} is missing)")
    pointer = store.read_json(pointer_key)
    manifest = Manifest.model_validate(store.read_json(f"{pointer['target']}/manifest.json"))
    return manifest.spec_hash, manifest.distribution


def _scan_group(args: tuple[str, CompileRunSpec, Plan, list[OutputShard]]) -> gates._Scan:
    store_uri, spec, plan, shards = args
    store = open_store(store_uri)
    return gates.scan(spec, plan, (json.loads(line) for _, line in iter_output_lines(store, shards)))


def _scan_outputs(store: Store, spec: CompileRunSpec, plan: Plan, outputs: list[OutputShard], workers: int) -> gates._Scan:
    """The gates' pass over the output: consecutive runs of output shards (about equal in records)
    scanned by ``workers`` processes, then merged in output order: the same as one pass."""
    total = sum(o.records for o in outputs)
    groups: list[list[OutputShard]] = [[]]
    done = 0
    for o in outputs:
        if groups[-1] and len(groups) < workers and done >= total * len(groups) / workers:
            groups.append([])
        groups[-1].append(o)
        done += o.records
    if workers <= 1 or len(groups) <= 1:
        return _scan_group((store.uri, spec, plan, outputs))
    with ProcessPoolExecutor(max_workers=len(groups), mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(_scan_group, [(store.uri, spec, plan, g) for g in groups]))
    for part in parts[1:]:
        parts[0].merge(part)
    return parts[0]


def finalize_stage(store: Store, name: str, sh: str, spec: CompileRunSpec, workers: int = 1) -> CompileResult:
    """Exports, gates, manifest and drift; then ``compiles/<name>/latest.json``, last. The gates'
    pass over the output runs in ``workers`` processes."""
    keys = _keys(name, sh)
    current = steplog.Phase(log, "compile.finalize", compile=name, spec_hash=sh)
    plan, merge = load_plan(store, name, sh), load_merge(store, name, sh)
    baseline = _baseline_distribution(store, spec.baseline) if spec.baseline else None
    outputs = load_outputs(store, name, sh, plan)
    with store.writer(keys["jsonl"]) as tmp, open(tmp, "wb") as out:
        for shard in outputs:
            with store.open_read(shard.path) as fh:
                shutil.copyfileobj(fh, out)
    exports = {"jsonl": keys["jsonl"]}
    if "parquet" in spec.exports:
        store.delete_prefix(keys["parquet"])
        write_records(store, keys["parquet"], (Record.model_validate_json(line) for _, line in iter_output_lines(store, outputs)), spec.shard_size)
        exports["parquet"] = keys["parquet"]
    current.lap("export", shards=len(outputs), records=sum(o.records for o in outputs), exports=sorted(exports))

    scan = _scan_outputs(store, spec, plan, outputs, workers)
    seen = {f.name: scan.sources.get(f.name, {"licenses": set(), "sources": set(), "allow": True}) for f in plan.families}

    roles = ("assistant",) if spec.dedup.unit == "assistant-turns" else ("system", "user", "assistant")

    def reread(indices) -> dict[int, str]:
        wanted, texts = set(int(i) for i in indices), {}
        for i, (_, line) in enumerate(iter_output_lines(store, outputs)):
            if i in wanted:
                texts[i] = "\n".join(m["content"] for m in json.loads(line)["messages"] if m["role"] in roles)
        return texts

    report, dist = gates.verify_scan(spec, plan, name, sh, scan, reread)
    current.lap("gates", gates_passed=report.gates_passed, passed=report.passed, workers=workers)
    m = merge.result
    manifest = Manifest(
        compile=name, spec_hash=sh, config_hash=hashlib.sha256(canonical_json(spec.to_wire())).hexdigest(),
        seed=spec.split.seed, pipeline_version=PIPELINE_VERSION, records_in=m.records_in, records=m.records_out, splits=m.splits,
        shards=outputs, exports=exports, missing_families=plan.missing,
        families=[
            FamilyEntry(
                name=f.name, input=f.target, input_spec_hash=f.spec_hash, records_in=merge.families[f.name]["records_in"],
                records_out=merge.families[f.name]["records_out"], removed_exact=merge.families[f.name]["removed_exact"],
                removed_near=merge.families[f.name]["removed_near"], holdout=f.holdout, weight=f.weight,
                licenses=sorted(seen[f.name]["licenses"]), allow_training=seen[f.name]["allow"], sources=sorted(seen[f.name]["sources"]),
            )
            for f in plan.families
        ],
        dedup=DedupSummary(
            exact=spec.dedup.exact, near=spec.dedup.near.enabled, threshold=spec.dedup.near.threshold, num_perm=plan.num_perm,
            bands=plan.bands, rows=plan.rows, candidates=m.candidates, verified=m.verified, removed_exact=m.removed_exact,
            removed_near=m.removed_near, duplicate_rate=round(m.duplicate_rate, 6), removed_log=keys["removed"],
        ),
        distribution=dist,
    )
    store.write_json(keys["manifest"], manifest.model_dump(mode="json"))
    store.write_json(keys["report"], report.model_dump(mode="json"))
    level = None
    if baseline is not None:
        features = drift.compare(dist, baseline[1])
        level = drift.worst(features)
        report_drift = drift.DriftReport(compile=name, spec_hash=sh, baseline=spec.baseline or "", baseline_spec_hash=baseline[0], features=features, level=level)
        store.write_json(keys["drift"], report_drift.model_dump(mode="json"))
    write_pointer(store, layout.compile_pointer(name), keys["root"], spec_hash=sh, manifest=keys["manifest"], report=keys["report"], passed=report.passed)
    current.done(records=m.records_out, gates_passed=report.gates_passed, passed=report.passed, drift_level=level)
    return CompileResult(
        spec_hash=sh, output_uri=store.url(keys["root"]), manifest_uri=store.url(keys["manifest"]), report_uri=store.url(keys["report"]),
        drift_uri=store.url(keys["drift"]) if baseline is not None else None, records=m.records_out, duplicate_rate=round(m.duplicate_rate, 6),
        output_duplicate_rate=report.duplicate_rate.observed, gates_passed=report.gates_passed, passed=report.passed, gates=[g.summary() for g in report.gates], drift_level=level,
    )


def _run_partition(args: tuple[Callable[..., BaseModel], str, str, str, CompileRunSpec, int]) -> BaseModel:
    stage, store_uri, name, sh, spec, part = args
    steplog.inherit()
    return stage(open_store(store_uri), name, sh, spec, part)


def _fan_out(
    stage: Callable[..., BaseModel], store: Store, name: str, sh: str, spec: CompileRunSpec, parts: list[int],
    workers: int, progress: steplog.Progress | None = None,
) -> list[BaseModel]:
    def finished(result: BaseModel) -> BaseModel:
        if progress is not None:
            progress.advance()
        return result

    if workers <= 1 or len(parts) <= 1:
        return [finished(stage(store, name, sh, spec, p)) for p in parts]
    with ProcessPoolExecutor(max_workers=min(workers, len(parts)), mp_context=multiprocessing.get_context("spawn")) as pool:
        calls = [(stage, store.uri, name, sh, spec, p) for p in parts]
        return [finished(r) for r in pool.map(_run_partition, calls)]


def compile_run(name: str, spec: CompileRunSpec, store: Store, workers: int | None = None, timings: dict[str, float] | None = None) -> CompileResult:
    """Every stage, in order, in this process (fan-out stages over ``workers`` processes);
    ``timings``, when given, receives each stage's wall seconds. Progress: stage partitions done of all."""
    sh = compute_spec_hash(spec)
    workers = workers if workers is not None else min(spec.workers, os.cpu_count() or 1)
    clock = {} if timings is None else timings

    def timed(stage: str, fn: Callable[..., Any], *args: Any) -> Any:
        t0 = time.perf_counter()
        out = fn(*args)
        clock[stage] = time.perf_counter() - t0
        return out

    planned = timed("plan", plan_stage, store, name, sh, spec)
    units = 3 + 2 * len(planned.shards) + len(planned.bands)  # plan, signatures and filter per shard, a bucket
    progress = steplog.Progress(units, log=log, log_event="compile.progress")  # per band, merge, finalize
    progress.advance()
    timed("signatures", _fan_out, signatures_stage, store, name, sh, spec, planned.shards, workers, progress)
    timed("buckets", _fan_out, buckets_stage, store, name, sh, spec, planned.bands, workers, progress)
    timed("merge", merge_stage, store, name, sh, spec)
    progress.advance()
    timed("filter", _fan_out, filter_stage, store, name, sh, spec, planned.shards, workers, progress)
    result = timed("finalize", finalize_stage, store, name, sh, spec, workers)
    progress.advance()
    steplog.event(log, "compile", compile=name, spec_hash=sh, workers=workers, records=result.records,
                  passed=result.passed, **{f"{stage}_s": round(seconds, 3) for stage, seconds in clock.items()})
    return result


# ---------------------------------------------------------------- registry adapters
def _unpack(inv: Any) -> tuple[Store, str, str, CompileRunSpec]:
    spec = inv.resource.spec
    if not isinstance(spec, CompileRunSpec):
        raise TypeError(f"compile steps need a CompileRun, got {inv.resource.kind}")
    return inv.store, inv.resource.name, compute_spec_hash(spec), spec


def _int_param(inv: Any, key: str) -> int:
    value = inv.params.get(key)
    if value is None or not value.lstrip("-").isdigit():
        raise ValueError(f"this step needs --param {key}=<integer> (got {value!r})")
    return int(value)


def run_step(inv: Any) -> CompileResult:
    store, name, _, spec = _unpack(inv)
    workers = _int_param(inv, "workers") if "workers" in inv.params else None
    return compile_run(name, spec, store, workers)


def plan_step(inv: Any) -> PlanResult:
    return plan_stage(*_unpack(inv))


def signatures_step(inv: Any) -> SignaturesResult:
    return signatures_stage(*_unpack(inv), _int_param(inv, "shard"))


def buckets_step(inv: Any) -> BucketsResult:
    return buckets_stage(*_unpack(inv), _int_param(inv, "band"))


def merge_step(inv: Any) -> MergeResult:
    return merge_stage(*_unpack(inv))


def filter_step(inv: Any) -> FilterResult:
    return filter_stage(*_unpack(inv), _int_param(inv, "shard"))


def finalize_step(inv: Any) -> CompileResult:
    return finalize_stage(*_unpack(inv))
