"""The compile's scale-out stages. Each is a plain function of (store, compile name, spec hash,
spec[, partition]) with a small typed result; a pod can run any of them given the store, and the
local runner runs the same functions in a process pool. Intermediate data lives in the store
under ``compiles/<name>/<spec-hash>/work/``:

====================  =========================  ===========================================
stage                 partition                  writes
====================  =========================  ===========================================
plan                  -                          work/plan.json
signatures            one input shard            work/signatures/part-NNNNN.npz
buckets               one band (+1: exact)       work/buckets/band-NNN.npy (candidate pairs)
merge                 -                          work/decisions/part-NNNNN.npy, work/merge.json,
                                                 dedup/removed.parquet
filter                one input shard            shards/<split>/part-NNNNN.jsonl, work/filter/part-NNNNN.json
finalize              -                          compiled/, manifest.json, verification_report.json,
                                                 drift.json, then compiles/<name>/latest.json
====================  =========================  ===========================================

A per-partition stage whose output exists for the same plan is skipped, so a killed compile
resumes where it stopped; a changed plan (different family outputs) clears the folder first.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import zipfile
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO, Literal, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from ... import layout, steplog
from ...api.compile_run import CompileRunSpec
from ...recordio import row_to_record
from ...store import Store
from ..registry import StepInputError
from . import clusters, split
from .inputs import Plan, build_plan, content_keys, id_keys, read_columns, unit_texts
from .lsh import band_hashes, bucket_pairs, params_for, unique_pairs
from .minhash import MinHasher, Shingler, estimate_jaccard, has_shingles, jaccard, text_batches

BATCH = 2048
log = logging.getLogger(__name__)
_Stage = TypeVar("_Stage", bound=Callable[..., Any])


def minhasher(spec: CompileRunSpec, seed: int = 1) -> MinHasher:
    near = spec.dedup.near
    return MinHasher(near.num_perm, seed, Shingler(near.ngram, near.ngram_unit, seed))


def _save_npy(store: Store, key: str, array: np.ndarray) -> None:
    with store.writer(key) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def _load_npy(store: Store, key: str) -> np.ndarray:
    return np.load(io.BytesIO(store.read_bytes(key)), allow_pickle=False)


def load_plan(store: Store, name: str, spec_hash: str) -> Plan:
    return Plan.model_validate(store.read_json(layout.compile_plan(name, spec_hash)))


def _logged(
    stage: str, summary: Callable[[Any], dict[str, Any]], partition: str = "", named: bool = False
) -> Callable[[_Stage], _Stage]:
    """Log the stage as a phase, ``compile.<stage>``: a start line (with the partition, ``shard=3``, or
    when ``named`` the compile and its spec hash), then ``summary(result)`` with the seconds it took, or
    ``compile.<stage>.failed``."""

    def decorate(fn: _Stage) -> _Stage:
        @functools.wraps(fn)
        def run(store: Store, name: str, spec_hash: str, spec: CompileRunSpec, *args: Any) -> Any:
            where = {partition: args[0]} if partition and args else {}
            if named:
                where.update(compile=name, spec_hash=spec_hash)
            with steplog.phase(log, f"compile.{stage}", **where) as current:
                result = fn(store, name, spec_hash, spec, *args)
                current.update(summary(result))
            return result

        return run  # type: ignore[return-value]

    return decorate


# ---------------------------------------------------------------- stage 0: plan
class PlanResult(BaseModel):
    shards: list[int] = Field(description="Input shard indices: the fan-out of signatures and filter.")
    bands: list[int] = Field(description="Band indices: the fan-out of buckets (the last one is the exact-hash band).")
    records: int = Field(description="Input records.")
    families: list[str] = Field(description="Families found.")
    missing: list[str] = Field(description="Declared families without output.")


def _plan_summary(r: PlanResult) -> dict[str, Any]:
    return {
        "records": r.records,
        "shards": len(r.shards),
        "bands": len(r.bands),
        "families": len(r.families),
        "missing": r.missing,
    }


@_logged("plan", _plan_summary, named=True)
def plan_stage(store: Store, name: str, spec_hash: str, spec: CompileRunSpec, inputs: Mapping[str, str]) -> PlanResult:
    """Fix the families (at the identities in ``inputs``) and shards every later stage reads."""
    bands, rows = params_for(spec.dedup.near)
    plan = build_plan(store, name, spec_hash, spec, bands, rows, inputs)
    key = layout.compile_plan(name, spec_hash)
    if store.exists(key) and load_plan(store, name, spec_hash).fingerprint() != plan.fingerprint():
        # inputs moved on: start clean, and first withdraw a pointer naming the folder being rebuilt
        pointer = layout.compile_pointer(name)
        if store.exists(pointer) and store.read_json(pointer).get("target") == layout.compile_root(name, spec_hash):
            store.delete_prefix(pointer)
        store.delete_prefix(layout.compile_root(name, spec_hash))
    if not store.exists(key):
        store.write_json(key, plan.model_dump(mode="json"))
    return PlanResult(
        shards=[s.index for s in plan.shards],
        bands=list(range(bands + 1)),
        records=plan.total,
        families=[f.name for f in plan.families],
        missing=plan.missing,
    )


# ---------------------------------------------------------------- stage 1: signatures
class SignaturesResult(BaseModel):
    shard: int
    records: int
    key: str
    skipped: bool = Field(default=False, description="Output already present for this plan.")


@_logged("signatures", lambda r: {"records": r.records, "skipped": r.skipped}, partition="shard")
def signatures_stage(store: Store, name: str, spec_hash: str, spec: CompileRunSpec, shard: int) -> SignaturesResult:
    plan = load_plan(store, name, spec_hash)
    info = plan.shards[shard]
    key = layout.compile_signatures(name, spec_hash, shard)
    if store.exists(key):
        return SignaturesResult(shard=shard, records=info.rows, key=key, skipped=True)
    table = read_columns(store, info.key, ["id", "messages", "content_hash", "provenance", "quality"])
    hasher = minhasher(spec, plan.minhash_seed)
    texts = unit_texts(table.column("messages"), spec.dedup.unit)
    sig = np.concatenate(
        [hasher.signatures(texts[b]) for b in text_batches(texts)] or [np.zeros((0, plan.num_perm), np.uint32)]
    )
    quality = table.column("quality").combine_chunks()
    overall = pc.fill_null(pc.struct_field(quality, "overall"), -1.0).to_numpy(zero_copy_only=False).astype(np.float32)
    overall[np.asarray(quality.is_null().to_numpy(zero_copy_only=False))] = -1.0  # no scores: ranks last
    family = plan.family(info.family)
    parents = pc.struct_field(table.column("provenance").combine_chunks(), "parents")
    arrays = {
        "bands": band_hashes(sig, plan.bands, plan.rows),
        "exact": content_keys(table.column("content_hash").to_pylist()),
        "signature": sig,
        "shingled": has_shingles(sig),
        "tier": pc.struct_field(table.column("provenance").combine_chunks(), "tier")
        .to_numpy(zero_copy_only=False)
        .astype(np.int8),
        "weight": np.full(len(sig), family.weight, dtype=np.float32),
        "length": np.asarray(pc.utf8_length(texts).to_numpy(zero_copy_only=False), dtype=np.int64),
        "quality": overall,
        "holdout": np.full(len(sig), family.holdout, dtype=bool),
        # lineage: each record's id key, and (row, parent id key) per provenance.parents entry
        "id": id_keys(table.column("id").to_pylist()),
        "parent_row": pc.list_parent_indices(parents).to_numpy(zero_copy_only=False).astype(np.int64),
        "parent_key": id_keys(pc.list_flatten(parents).to_pylist()),
    }
    with store.writer(key) as tmp, open(tmp, "wb") as fh:
        write_npz(fh, arrays)
    return SignaturesResult(shard=shard, records=len(sig), key=key)


def write_npz(fh: BinaryIO, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez``'s format (a zip of ``<name>.npy`` members, read by ``np.load``), in bytes that
    depend on nothing but the arrays. np.savez streams each member with ``force_zip64``, whose
    headers differ between Python releases (3.11.2 and 3.11.7 write different bytes), so the steps
    image and a ``pixelgate run`` elsewhere would not agree; members of known size do."""
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), member.getvalue())


def _signature_column(store: Store, name: str, spec_hash: str, shard: int, field: str) -> np.ndarray:
    with np.load(io.BytesIO(store.read_bytes(layout.compile_signatures(name, spec_hash, shard)))) as npz:
        return npz[field]


# ---------------------------------------------------------------- stage 2: buckets
class BucketsResult(BaseModel):
    band: int
    pairs: int
    key: str
    skipped: bool = False


@_logged("buckets", lambda r: {"pairs": r.pairs, "skipped": r.skipped}, partition="band")
def buckets_stage(store: Store, name: str, spec_hash: str, spec: CompileRunSpec, band: int) -> BucketsResult:
    """Candidate pairs of one band; band ``plan.bands`` is the exact content-hash band."""
    plan = load_plan(store, name, spec_hash)
    if not 0 <= band <= plan.bands:
        raise StepInputError("--param band", f"band {band} out of range 0..{plan.bands}")
    key = layout.compile_band_pairs(name, spec_hash, band)
    if store.exists(key):
        return BucketsResult(band=band, pairs=len(_load_npy(store, key)), key=key, skipped=True)
    exact_band = band == plan.bands
    hashes, ids = [], []
    for info in plan.shards:
        with np.load(io.BytesIO(store.read_bytes(layout.compile_signatures(name, spec_hash, info.index)))) as npz:
            if exact_band:
                h, keep = npz["exact"], np.ones(info.rows, dtype=bool)
            else:
                h, keep = npz["bands"][:, band], npz["shingled"]
        hashes.append(h[keep])
        ids.append(info.offset + np.flatnonzero(keep))
    enabled = spec.dedup.exact if exact_band else spec.dedup.near.enabled
    pairs = (
        bucket_pairs(
            np.concatenate(hashes or [np.zeros(0, np.uint64)]), np.concatenate(ids or [np.zeros(0, np.int64)])
        )
        if enabled
        else np.zeros((0, 2), np.int64)
    )
    _save_npy(store, key, unique_pairs(pairs))
    return BucketsResult(band=band, pairs=len(pairs), key=key)


# ---------------------------------------------------------------- stage 3: merge
class MergeResult(BaseModel):
    records_in: int
    records_out: int
    removed_exact: int
    removed_near: int
    candidates: int = Field(description="Distinct near-duplicate candidate pairs from LSH.")
    verified: int = Field(description="Candidates confirmed at or above the threshold.")
    duplicate_rate: float
    splits: dict[str, int]


class _ShardSplit(BaseModel):
    counts: dict[str, int]
    bases: dict[str, int]


class MergeSummary(BaseModel):
    result: MergeResult
    shards: list[_ShardSplit]
    families: dict[str, dict[str, int]] = Field(
        description="family -> records_in, records_out, removed_exact, removed_near"
    )


def _per_record(store: Store, name: str, spec_hash: str, plan: Plan, field: str) -> np.ndarray:
    parts = [_signature_column(store, name, spec_hash, s.index, field) for s in plan.shards]
    return np.concatenate(parts) if parts else np.zeros(0)


def _lineage(store: Store, name: str, spec_hash: str, plan: Plan) -> np.ndarray:
    """(child, parent) global index pairs: a derived record and its parent, when both are inputs."""
    child = [s.offset + _signature_column(store, name, spec_hash, s.index, "parent_row") for s in plan.shards]
    keys = [_signature_column(store, name, spec_hash, s.index, "parent_key") for s in plan.shards]
    return clusters.lineage_pairs(
        _per_record(store, name, spec_hash, plan, "id").astype(np.uint64),
        np.concatenate(child or [np.zeros(0, np.int64)]),
        np.concatenate(keys or [np.zeros(0, np.uint64)]).astype(np.uint64),
    )


def load_texts(
    store: Store, plan: Plan, gids: np.ndarray, unit: str, columns: tuple[str, ...] = ()
) -> tuple[dict[int, str], dict[str, dict[int, object]]]:
    """Texts (and other columns) of selected records, reading only the shards that hold them."""
    texts: dict[int, str] = {}
    extra: dict[str, dict[int, object]] = {c: {} for c in columns}
    gids = np.unique(gids)
    owner = plan.shard_of(gids)
    for shard in np.unique(owner):
        info = plan.shards[int(shard)]
        mine = gids[owner == shard]
        table = read_columns(store, info.key, ["messages", *columns]).take(pa.array(mine - info.offset))
        for gid, text in zip(mine.tolist(), unit_texts(table.column("messages"), unit).to_pylist()):
            texts[gid] = text
        for c in columns:
            extra[c].update(zip(mine.tolist(), table.column(c).to_pylist()))
    return texts, extra


def _similarities(pairs: np.ndarray, sets: dict[int, np.ndarray]) -> np.ndarray:
    return np.array([jaccard(sets[a], sets[b]) for a, b in pairs.tolist()], dtype=np.float64)


def _shingle_sets(store: Store, plan: Plan, spec: CompileRunSpec, gids: np.ndarray) -> dict[int, np.ndarray]:
    texts, _ = load_texts(store, plan, gids, spec.dedup.unit)
    keys = list(texts)
    shingler = minhasher(spec, plan.minhash_seed).shingler
    out: dict[int, np.ndarray] = {}
    for i in range(0, len(keys), BATCH):
        chunk = keys[i : i + BATCH]
        out.update(zip(chunk, shingler.sets([texts[k] for k in chunk])))
    return out


def _estimated(store: Store, name: str, spec_hash: str, plan: Plan, pairs: np.ndarray) -> np.ndarray:
    gids = np.unique(pairs)
    owner = plan.shard_of(gids)
    sig = np.zeros((len(gids), plan.num_perm), dtype=np.uint32)
    for shard in np.unique(owner):
        rows = gids[owner == shard] - plan.shards[int(shard)].offset
        sig[owner == shard] = _signature_column(store, name, spec_hash, int(shard), "signature")[rows]
    pos = np.searchsorted(gids, pairs)
    return estimate_jaccard(sig[pos[:, 0]], sig[pos[:, 1]])


# Candidate pairs this far below the dedup threshold (by exact Jaccard with verify, else the
# signature estimate) still share a split: near twins that survive dedup never straddle splits.
SPLIT_GROUP_MARGIN = 0.1


def _candidate_pairs(
    store: Store, name: str, spec_hash: str, plan: Plan, exact_key: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The exact band's pairs, and the near bands' distinct candidates of unequal content (equal
    content: the exact band has them)."""
    exact_pairs = _load_npy(store, layout.compile_band_pairs(name, spec_hash, plan.bands))
    bands = [_load_npy(store, layout.compile_band_pairs(name, spec_hash, b)) for b in range(plan.bands)]
    near = unique_pairs(np.concatenate(bands or [np.zeros((0, 2), np.int64)]))
    if len(near):
        near = near[exact_key[near[:, 0]] != exact_key[near[:, 1]]]
    return exact_pairs, near


def _pair_similarities(
    store: Store,
    name: str,
    spec_hash: str,
    plan: Plan,
    spec: CompileRunSpec,
    pairs: np.ndarray,
    sets: dict[int, np.ndarray],
) -> np.ndarray:
    """Jaccard similarity per pair: exact, over shingle sets, with ``dedup.near.verify`` (``sets`` caches
    them across calls and gets the missing ones), else the signatures' estimate."""
    if not len(pairs):
        return np.zeros(0)
    if not spec.dedup.near.verify:
        return _estimated(store, name, spec_hash, plan, pairs)
    missing = np.setdiff1d(np.unique(pairs), np.fromiter(sets, dtype=np.int64, count=len(sets)))
    sets.update(_shingle_sets(store, plan, spec, missing) if len(missing) else {})
    return _similarities(pairs, sets)


def _decisions(
    spec: CompileRunSpec,
    keys: tuple[np.ndarray, ...],
    exact_key: np.ndarray,
    holdout: np.ndarray,
    exact_pairs: np.ndarray,
    verified: np.ndarray,
    similar: np.ndarray,
    lineage: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, decision): the record kept in each record's duplicate cluster, and each record's split
    code (-1: removed). Split groups: duplicates (kept or not), near duplicates just below the threshold,
    and lineage, so a surviving near twin or a derived record shares its counterpart's split."""
    n = len(exact_key)
    kept = clusters.keepers(clusters.components(n, np.concatenate([exact_pairs, verified])), keys)
    group_labels = clusters.components(n, np.concatenate([exact_pairs, similar, lineage]))
    representatives = split.group_representatives(group_labels, exact_key)
    codes = split.assign(representatives, spec.split.seed, spec.split.train, spec.split.val)
    decision = split.force_holdout(group_labels, holdout, codes).copy()
    decision[np.flatnonzero(kept != np.arange(n))] = -1
    return kept, decision


def _write_removal_log(
    store: Store,
    name: str,
    spec_hash: str,
    plan: Plan,
    spec: CompileRunSpec,
    exact_key: np.ndarray,
    kept: np.ndarray,
    sets: dict[int, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """``dedup/removed.parquet``: each removed record, the record kept in its place, their similarity and
    families. Returns (removed, is_exact): the removed records' indices and which were exact duplicates."""
    removed = np.flatnonzero(kept != np.arange(len(kept)))
    winners = kept[removed]
    is_exact = exact_key[removed] == exact_key[winners]
    near_removed = np.stack([removed[~is_exact], winners[~is_exact]], axis=1)
    similarity = np.ones(len(removed))
    if len(near_removed):
        similarity[~is_exact] = _pair_similarities(store, name, spec_hash, plan, spec, near_removed, sets)
    _, ids = load_texts(store, plan, np.concatenate([removed, winners]), spec.dedup.unit, ("id",))
    shard_family = [s.family for s in plan.shards]

    def fam_of(gids: np.ndarray) -> list[str]:
        return [shard_family[s] for s in plan.shard_of(gids)]

    table = pa.table(
        {
            "removed_id": [ids["id"][g] for g in removed.tolist()],
            "kept_id": [ids["id"][g] for g in winners.tolist()],
            "similarity": pa.array(similarity, pa.float64()),
            "reason": ["exact" if e else "near" for e in is_exact.tolist()],
            "removed_family": fam_of(removed),
            "kept_family": fam_of(winners),
        }
    )
    with store.writer(layout.compile_removed_log(layout.compile_root(name, spec_hash))) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return removed, is_exact


def _write_shard_decisions(
    store: Store, name: str, spec_hash: str, plan: Plan, spec: CompileRunSpec, decision: np.ndarray
) -> list[_ShardSplit]:
    """``work/decisions/part-NNNNN.npy`` per input shard; per shard, its records per split and the
    first output part number of each split (the filter stage's parts never collide)."""
    shards: list[_ShardSplit] = []
    next_part = {s: 0 for s in split.SPLITS}
    for info in plan.shards:
        d = decision[info.offset : info.offset + info.rows]
        _save_npy(store, layout.compile_decisions(name, spec_hash, info.index), d)
        counts = {s: int((d == code).sum()) for code, s in enumerate(split.SPLITS)}
        shards.append(_ShardSplit(counts=counts, bases=dict(next_part)))
        for s, c in counts.items():
            next_part[s] += -(-c // spec.shard_size)
    return shards


def _family_counts(
    plan: Plan, decision: np.ndarray, removed: np.ndarray, is_exact: np.ndarray
) -> dict[str, dict[str, int]]:
    """family -> records_in, records_out, removed_exact, removed_near."""
    n = len(decision)
    families: dict[str, dict[str, int]] = {}
    fam_idx = plan.shard_of(np.arange(n)) if n else np.zeros(0, np.int64)
    for fam in plan.families:
        in_fam = np.isin(fam_idx, [s.index for s in plan.shards if s.family == fam.name])
        families[fam.name] = {
            "records_in": int(in_fam.sum()),
            "records_out": int((in_fam & (decision >= 0)).sum()),
            "removed_exact": int(in_fam[removed][is_exact].sum()),
            "removed_near": int(in_fam[removed][~is_exact].sum()),
        }
    return families


def merge_stage(store: Store, name: str, spec_hash: str, spec: CompileRunSpec) -> MergeResult:
    """Verify the candidate pairs, keep one record per duplicate cluster, assign splits by group; write the
    removal log, the per-shard decisions and ``work/merge.json``."""
    with steplog.phase(log, "compile.merge") as current:
        plan = load_plan(store, name, spec_hash)
        n = plan.total

        def column(field: str) -> np.ndarray:
            return _per_record(store, name, spec_hash, plan, field)

        exact_key = column("exact").astype(np.uint64)
        exact_pairs, near = _candidate_pairs(store, name, spec_hash, plan, exact_key)
        current.lap("candidates", records=n, exact_pairs=len(exact_pairs), near_candidates=len(near))
        threshold = spec.dedup.near.threshold
        sets: dict[int, np.ndarray] = {}
        sims = _pair_similarities(store, name, spec_hash, plan, spec, near, sets)
        verified = near[sims >= threshold]
        current.lap("similarities", verify=spec.dedup.near.verify, verified=len(verified), threshold=threshold)
        keys = clusters.keep_order(
            spec.dedup.keep, column("tier"), column("weight"), column("length"), column("quality")
        )
        kept, decision = _decisions(
            spec,
            keys,
            exact_key,
            column("holdout").astype(bool),
            exact_pairs,
            verified,
            near[sims >= threshold - SPLIT_GROUP_MARGIN],
            _lineage(store, name, spec_hash, plan),
        )
        current.lap("decisions", keep=spec.dedup.keep, removed=int((decision < 0).sum()))
        removed, is_exact = _write_removal_log(store, name, spec_hash, plan, spec, exact_key, kept, sets)
        shards = _write_shard_decisions(store, name, spec_hash, plan, spec, decision)
        result = MergeResult(
            records_in=n,
            records_out=int((decision >= 0).sum()),
            removed_exact=int(is_exact.sum()),
            removed_near=int((~is_exact).sum()),
            candidates=len(near),
            verified=len(verified),
            duplicate_rate=(len(removed) / n) if n else 0.0,
            splits={s: int((decision == code).sum()) for code, s in enumerate(split.SPLITS)},
        )
        families = _family_counts(plan, decision, removed, is_exact)
        summary = MergeSummary(result=result, shards=shards, families=families)
        store.write_json(layout.compile_merge(name, spec_hash), summary.model_dump(mode="json"))
        current.lap("write", removed_log=len(removed), shards=len(shards))
        current.update(result.model_dump(), duplicate_rate=round(result.duplicate_rate, 6))
        return result


def load_merge(store: Store, name: str, spec_hash: str) -> MergeSummary:
    return MergeSummary.model_validate(store.read_json(layout.compile_merge(name, spec_hash)))


# ---------------------------------------------------------------- stage 4: filter
class OutputShard(BaseModel):
    path: str = Field(description="Store key of the shard.")
    split: Literal["train", "val", "test"] = Field(description="Split of every record in it.")
    sha256: str = Field(description="SHA-256 of the shard's bytes.")
    records: int = Field(description="Records in the shard.")
    bytes: int = Field(description="Size in bytes.")


class FilterResult(BaseModel):
    shard: int
    outputs: list[OutputShard]
    skipped: bool = False


def _filter_summary(r: FilterResult) -> dict[str, Any]:
    splits = {s: sum(o.records for o in r.outputs if o.split == s) for s in split.SPLITS}
    return {
        "records": sum(splits.values()),
        "splits": splits,
        "parts": len(r.outputs),
        "bytes": sum(o.bytes for o in r.outputs),
        "skipped": r.skipped,
    }


@_logged("filter", _filter_summary, partition="shard")
def filter_stage(store: Store, name: str, spec_hash: str, spec: CompileRunSpec, shard: int) -> FilterResult:
    done_key = layout.compile_filter_done(name, spec_hash, shard)
    if store.exists(done_key):
        return FilterResult.model_validate({**store.read_json(done_key), "skipped": True})
    plan, merge = load_plan(store, name, spec_hash), load_merge(store, name, spec_hash)
    info = plan.shards[shard]
    decision = _load_npy(store, layout.compile_decisions(name, spec_hash, shard))
    with store.open_read(info.key) as fh:
        table = pq.read_table(fh)
    outputs: list[OutputShard] = []
    for code, split_name in enumerate(split.SPLITS):
        rows = np.flatnonzero(decision == code)
        for j, start in enumerate(range(0, len(rows), spec.shard_size)):
            chunk = table.take(pa.array(rows[start : start + spec.shard_size])).to_pylist()
            data = "".join(row_to_record({**r, "split": split_name}).model_dump_json() + "\n" for r in chunk).encode()
            key = layout.compile_split_part(
                layout.compile_root(name, spec_hash), split_name, merge.shards[shard].bases[split_name] + j
            )
            store.write_bytes(key, data)
            outputs.append(
                OutputShard(
                    path=key,
                    split=split_name,
                    sha256=hashlib.sha256(data).hexdigest(),
                    records=len(chunk),
                    bytes=len(data),
                )
            )
    result = FilterResult(shard=shard, outputs=outputs)
    store.write_json(done_key, result.model_dump(mode="json"))
    return result


def iter_output_lines(store: Store, shards: list[OutputShard]):
    """(shard, line) for every record of the output, in manifest order."""
    for shard in shards:
        with store.open_read(shard.path) as fh:
            for line in io.TextIOWrapper(fh, encoding="utf-8"):
                if line.strip():
                    yield shard, line


def load_outputs(store: Store, name: str, spec_hash: str, plan: Plan) -> list[OutputShard]:
    """Every output shard, train then val then test, each in part order."""
    outs = [
        OutputShard.model_validate(o)
        for s in plan.shards
        for o in store.read_json(layout.compile_filter_done(name, spec_hash, s.index))["outputs"]
    ]
    return sorted(outs, key=lambda o: (split.SPLITS.index(o.split), o.path))
