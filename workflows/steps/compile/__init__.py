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

import logging
import multiprocessing
import os
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

from pydantic import BaseModel

from ... import steplog
from ...api.compile_run import CompileRunSpec
from ...api.kinds import COMPILE_RUN, identity
from ...store import Store, open_store
from ..inputs import store_inputs
from ..registry import StepInputError, StepInvocation
from .finalize import CompileResult, finalize_stage
from .stages import (
    BucketsResult,
    FilterResult,
    MergeResult,
    PlanResult,
    SignaturesResult,
    buckets_stage,
    filter_stage,
    merge_stage,
    plan_stage,
    signatures_stage,
)

log = logging.getLogger(__name__)


def _run_partition(args: tuple[Callable[..., BaseModel], str, str, str, CompileRunSpec, int]) -> BaseModel:
    stage, store_uri, name, sh, spec, part = args
    steplog.inherit()
    return stage(open_store(store_uri), name, sh, spec, part)


def _fan_out(
    stage: Callable[..., BaseModel],
    store: Store,
    name: str,
    sh: str,
    spec: CompileRunSpec,
    parts: list[int],
    workers: int,
    progress: steplog.Progress | None = None,
) -> list[BaseModel]:
    def finished(result: BaseModel) -> BaseModel:
        if progress is not None:
            progress.advance()
        return result

    if workers <= 1 or len(parts) <= 1:
        return [finished(stage(store, name, sh, spec, p)) for p in parts]
    with ProcessPoolExecutor(
        max_workers=min(workers, len(parts)), mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        calls = [(stage, store.uri, name, sh, spec, p) for p in parts]
        return [finished(r) for r in pool.map(_run_partition, calls)]


def compile_run(
    name: str,
    spec: CompileRunSpec,
    store: Store,
    workers: int | None = None,
    timings: dict[str, float] | None = None,
    inputs: Mapping[str, str] | None = None,
) -> CompileResult:
    """Every stage, in order, in this process (fan-out stages over ``workers`` processes);
    ``timings``, when given, receives each stage's wall seconds. Progress: stage partitions done of all.
    ``inputs`` are the identities of the families (and baseline) read; default: their current
    outputs in the store."""
    inputs = dict(inputs) if inputs is not None else store_inputs(COMPILE_RUN, name, spec, store)
    sh = identity(spec, inputs)
    workers = workers if workers is not None else min(spec.workers, os.cpu_count() or 1)
    clock = {} if timings is None else timings

    def timed(stage: str, fn: Callable[..., Any], *args: Any) -> Any:
        t0 = time.perf_counter()
        out = fn(*args)
        clock[stage] = time.perf_counter() - t0
        return out

    planned = timed("plan", plan_stage, store, name, sh, spec, inputs)
    units = 3 + 2 * len(planned.shards) + len(planned.bands)  # plan, signatures and filter per shard, a bucket
    progress = steplog.Progress(units, log=log, log_event="compile.progress")  # per band, merge, finalize
    progress.advance()
    timed("signatures", _fan_out, signatures_stage, store, name, sh, spec, planned.shards, workers, progress)
    timed("buckets", _fan_out, buckets_stage, store, name, sh, spec, planned.bands, workers, progress)
    timed("merge", merge_stage, store, name, sh, spec)
    progress.advance()
    timed("filter", _fan_out, filter_stage, store, name, sh, spec, planned.shards, workers, progress)
    result = timed("finalize", finalize_stage, store, name, sh, spec, inputs, workers)
    progress.advance()
    steplog.event(
        log,
        "compile",
        compile=name,
        spec_hash=sh,
        workers=workers,
        records=result.records,
        passed=result.passed,
        **{f"{stage}_s": round(seconds, 3) for stage, seconds in clock.items()},
    )
    return result


# ---------------------------------------------------------------- registry adapters
def _unpack(inv: StepInvocation) -> tuple[Store, str, str, CompileRunSpec]:
    spec = inv.resource.spec
    if not isinstance(spec, CompileRunSpec):
        raise StepInputError("kind", f"compile steps need a CompileRun, got {inv.resource.kind}")
    return inv.store, inv.resource.name, inv.identity, spec


def _int_param(inv: StepInvocation, key: str) -> int:
    value = inv.params.get(key)
    if value is None or not value.lstrip("-").isdigit():
        raise StepInputError(f"--param {key}", f"this step needs --param {key}=<integer> (got {value!r})")
    return int(value)


def run_step(inv: StepInvocation) -> CompileResult:
    store, name, _, spec = _unpack(inv)
    workers = _int_param(inv, "workers") if "workers" in inv.params else None
    return compile_run(name, spec, store, workers, inputs=inv.resolved_inputs)


def plan_step(inv: StepInvocation) -> PlanResult:
    return plan_stage(*_unpack(inv), inv.resolved_inputs)


def signatures_step(inv: StepInvocation) -> SignaturesResult:
    return signatures_stage(*_unpack(inv), _int_param(inv, "shard"))


def buckets_step(inv: StepInvocation) -> BucketsResult:
    return buckets_stage(*_unpack(inv), _int_param(inv, "band"))


def merge_step(inv: StepInvocation) -> MergeResult:
    return merge_stage(*_unpack(inv))


def filter_step(inv: StepInvocation) -> FilterResult:
    return filter_stage(*_unpack(inv), _int_param(inv, "shard"))


def finalize_step(inv: StepInvocation) -> CompileResult:
    return finalize_stage(*_unpack(inv), inv.resolved_inputs)


__all__ = ["CompileResult", "compile_run", "finalize_stage"]
