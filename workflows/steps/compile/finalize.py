"""The compile's last stage: exports, the verification gates, the manifest, drift, the pointer."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import shutil
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor

from pydantic import BaseModel, Field

from ... import PIPELINE_VERSION, layout, steplog
from ...api.compile_run import CompileRunSpec, FeatureDrift, GateResult
from ...api.kinds import COMPILE_RUN
from ...api.meta import canonical_json
from ...recordio import write_records
from ...records import Record
from ...store import Store, open_store, write_pointer
from ..inputs import input_root
from . import drift, gates
from .inputs import Plan
from .manifest import DedupSummary, FamilyEntry, Manifest
from .stages import OutputShard, iter_output_lines, load_merge, load_outputs, load_plan
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
    output_duplicate_rate: float = Field(
        description="Share of output records the verification pass still finds to be duplicates."
    )
    gates_passed: str = Field(description="Passed gates out of all, e.g. 8/8.")
    passed: bool = Field(description="Every gate passed and the output duplicate rate is within its threshold.")
    gates: list[GateResult] = Field(description="Per-gate verdicts.")
    drift_level: str | None = Field(default=None, description="ok, warn or alert, when a baseline was set.")
    drift: list[FeatureDrift] = Field(
        default_factory=list, description="PSI and JS per feature, when a baseline was set."
    )


def _keys(name: str, sh: str) -> dict[str, str]:
    root = layout.compile_root(name, sh)
    return {
        "root": root,
        "jsonl": layout.compile_jsonl_export(root),
        "parquet": layout.compile_parquet_export(root),
        "manifest": layout.compile_manifest(root),
        "report": layout.compile_report(root),
        "drift": layout.compile_drift(root),
        "removed": layout.compile_removed_log(root),
    }


def _baseline_distribution(store: Store, baseline: str, inputs: Mapping[str, str]) -> tuple[str, Distribution]:
    root = input_root(store, COMPILE_RUN, baseline, dict(inputs), "baseline")
    manifest = Manifest.model_validate(store.read_json(layout.compile_manifest(root)))
    return manifest.spec_hash, manifest.distribution


def _scan_group(args: tuple[str, CompileRunSpec, Plan, list[OutputShard]]) -> gates._Scan:
    store_uri, spec, plan, shards = args
    store = open_store(store_uri)
    return gates.scan(spec, plan, (json.loads(line) for _, line in iter_output_lines(store, shards)))


def _scan_outputs(
    store: Store, spec: CompileRunSpec, plan: Plan, outputs: list[OutputShard], workers: int
) -> gates._Scan:
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


def finalize_stage(
    store: Store, name: str, sh: str, spec: CompileRunSpec, inputs: Mapping[str, str], workers: int = 1
) -> CompileResult:
    """Exports, gates, manifest and drift (against the baseline at its identity in ``inputs``);
    then ``compiles/<name>/latest.json``, last. The gates' pass over the output runs in ``workers``
    processes."""
    keys = _keys(name, sh)
    current = steplog.Phase(log, "compile.finalize", compile=name, spec_hash=sh)
    plan, merge = load_plan(store, name, sh), load_merge(store, name, sh)
    baseline = _baseline_distribution(store, spec.baseline, inputs) if spec.baseline else None
    outputs = load_outputs(store, name, sh, plan)
    with store.writer(keys["jsonl"]) as tmp, open(tmp, "wb") as out:
        for shard in outputs:
            with store.open_read(shard.path) as fh:
                shutil.copyfileobj(fh, out)
    exports = {"jsonl": keys["jsonl"]}
    if "parquet" in spec.exports:
        store.delete_prefix(keys["parquet"])
        write_records(
            store,
            keys["parquet"],
            (Record.model_validate_json(line) for _, line in iter_output_lines(store, outputs)),
            spec.shard_size,
        )
        exports["parquet"] = keys["parquet"]
    current.lap("export", shards=len(outputs), records=sum(o.records for o in outputs), exports=sorted(exports))

    scan = _scan_outputs(store, spec, plan, outputs, workers)
    seen = {
        f.name: scan.sources.get(f.name, {"licenses": set(), "sources": set(), "allow": True}) for f in plan.families
    }

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
        compile=name,
        spec_hash=sh,
        config_hash=hashlib.sha256(canonical_json(spec.to_wire())).hexdigest(),
        seed=spec.split.seed,
        pipeline_version=PIPELINE_VERSION,
        records_in=m.records_in,
        records=m.records_out,
        splits=m.splits,
        shards=outputs,
        exports=exports,
        missing_families=plan.missing,
        families=[
            FamilyEntry(
                name=f.name,
                input=f.target,
                input_spec_hash=f.spec_hash,
                records_in=merge.families[f.name]["records_in"],
                records_out=merge.families[f.name]["records_out"],
                removed_exact=merge.families[f.name]["removed_exact"],
                removed_near=merge.families[f.name]["removed_near"],
                holdout=f.holdout,
                weight=f.weight,
                licenses=sorted(seen[f.name]["licenses"]),
                allow_training=seen[f.name]["allow"],
                sources=sorted(seen[f.name]["sources"]),
            )
            for f in plan.families
        ],
        dedup=DedupSummary(
            exact=spec.dedup.exact,
            near=spec.dedup.near.enabled,
            threshold=spec.dedup.near.threshold,
            num_perm=plan.num_perm,
            bands=plan.bands,
            rows=plan.rows,
            candidates=m.candidates,
            verified=m.verified,
            removed_exact=m.removed_exact,
            removed_near=m.removed_near,
            duplicate_rate=round(m.duplicate_rate, 6),
            removed_log=keys["removed"],
        ),
        distribution=dist,
    )
    store.write_json(keys["manifest"], manifest.model_dump(mode="json"))
    store.write_json(keys["report"], report.model_dump(mode="json"))
    level, features = None, []
    if baseline is not None:
        features = drift.compare(dist, baseline[1])
        level = drift.worst(features)
        report_drift = drift.DriftReport(
            compile=name,
            spec_hash=sh,
            baseline=spec.baseline or "",
            baseline_spec_hash=baseline[0],
            features=features,
            level=level,
        )
        store.write_json(keys["drift"], report_drift.model_dump(mode="json"))
    write_pointer(
        store,
        layout.compile_pointer(name),
        keys["root"],
        spec_hash=sh,
        manifest=keys["manifest"],
        report=keys["report"],
        passed=report.passed,
    )
    current.done(records=m.records_out, gates_passed=report.gates_passed, passed=report.passed, drift_level=level)
    return CompileResult(
        spec_hash=sh,
        output_uri=store.url(keys["root"]),
        manifest_uri=store.url(keys["manifest"]),
        report_uri=store.url(keys["report"]),
        drift_uri=store.url(keys["drift"]) if baseline is not None else None,
        records=m.records_out,
        duplicate_rate=round(m.duplicate_rate, 6),
        output_duplicate_rate=report.duplicate_rate.observed,
        gates_passed=report.gates_passed,
        passed=report.passed,
        gates=[g.summary() for g in report.gates],
        drift_level=level,
        drift=features,
    )
