"""Compile inputs: which families and shards a CompileRun reads, and the columns it reads from them.

Families are found through ``families/<name>/latest.json``. The pointer's ``target`` names the
family's output folder; ``weight``, ``holdout``, ``labels``, ``license`` and ``tier`` are read from
the pointer when the ingest step wrote them there, else from the family's ``stats.json``, else
defaulted (weight 1, not holdout); a record's own ``provenance.tier`` always wins for its tier.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from ... import layout
from ...api.compile_run import CompileRunSpec
from ...api.kinds import DATASET_FAMILY
from ...api.meta import canonical_json
from ...recordio import shard_keys
from ...store import Store
from ..inputs import input_root


class FamilyInput(BaseModel):
    name: str = Field(description="DatasetFamily name.")
    target: str = Field(description="Store folder of the family output the compile read.")
    spec_hash: str = Field(description="Spec hash of that family output.")
    weight: float = Field(default=1.0, description="Mixing weight; wins dedup ties within a tier.")
    holdout: bool = Field(default=False, description="Sent to test only.")
    records_in: int = Field(default=0, description="Records in the family's shards.")


class ShardInput(BaseModel):
    index: int = Field(description="Position of the shard in the compile's global shard order.")
    family: str = Field(description="Family the shard belongs to.")
    key: str = Field(description="Store key of the Parquet shard.")
    rows: int = Field(description="Records in the shard.")
    offset: int = Field(description="Global index of the shard's first record.")
    footer: str = Field(
        description="SHA-256 of the shard's Parquet metadata (sizes and column statistics): a "
        "rewritten shard changes the plan."
    )


class Plan(BaseModel):
    """Everything the fan-out stages need, fixed before any of them runs (``work/plan.json``)."""

    compile: str
    spec_hash: str
    families: list[FamilyInput]
    missing: list[str] = Field(default_factory=list, description="Declared families without a latest.json.")
    shards: list[ShardInput]
    total: int
    num_perm: int
    bands: int
    rows: int
    minhash_seed: int = 1

    def fingerprint(self) -> str:
        return hashlib.sha256(canonical_json(self.model_dump(mode="json"))).hexdigest()[:16]

    def shard_of(self, gids: np.ndarray) -> np.ndarray:
        offsets = np.array([s.offset for s in self.shards], dtype=np.int64)
        return np.searchsorted(offsets, gids, side="right") - 1

    def family(self, name: str) -> FamilyInput:
        return next(f for f in self.families if f.name == name)


def _family_meta(store: Store, pointer: dict[str, Any]) -> dict[str, Any]:
    stats_key = layout.family_stats(pointer["target"])
    stats = store.read_json(stats_key) if store.exists(stats_key) else {}
    return {k: pointer.get(k, stats.get(k)) for k in ("weight", "holdout", "labels")}


def build_plan(
    store: Store, name: str, spec_hash: str, spec: CompileRunSpec, bands: int, rows: int, inputs: Mapping[str, str]
) -> Plan:
    """The plan over the families in ``inputs`` (``DatasetFamily/<name>`` -> identity), each read
    at that identity; named families without an output are listed as missing."""
    found = sorted(n for kind, _, n in (key.partition("/") for key in inputs) if kind == DATASET_FAMILY)
    missing = sorted(set(spec.families.names) - set(found))
    families, shards, offset = [], [], 0
    for fam in found:
        target = input_root(store, DATASET_FAMILY, fam, dict(inputs), "families")
        pointer = store.read_json(layout.family_pointer(fam))
        meta = _family_meta(store, pointer)
        fam_rows = 0
        for key in shard_keys(store, layout.family_records(target)):
            with store.open_read(key) as fh:
                parquet_meta = pq.ParquetFile(fh).metadata
            n = parquet_meta.num_rows
            footer = hashlib.sha256(canonical_json(parquet_meta.to_dict())).hexdigest()
            shards.append(ShardInput(index=len(shards), family=fam, key=key, rows=n, offset=offset, footer=footer))
            offset += n
            fam_rows += n
        families.append(
            FamilyInput(
                name=fam,
                target=target,
                spec_hash=str(pointer.get("spec_hash", target.rsplit("/", 1)[-1])),
                weight=float(meta.get("weight") or 1.0),
                holdout=bool(meta.get("holdout")) or fam in spec.holdout_families,
                records_in=fam_rows,
            )
        )
    return Plan(
        compile=name,
        spec_hash=spec_hash,
        families=families,
        missing=missing,
        shards=shards,
        total=offset,
        num_perm=spec.dedup.near.num_perm,
        bands=bands,
        rows=rows,
    )


def read_columns(store: Store, key: str, columns: list[str]) -> pa.Table:
    with store.open_read(key) as fh:
        return pq.read_table(fh, columns=columns)


def unit_texts(messages: pa.Array, unit: Literal["conversation", "assistant-turns"]) -> pa.Array:
    """One text per record: its message contents (or only the assistant's) joined by newlines."""
    if isinstance(messages, pa.ChunkedArray):
        messages = messages.combine_chunks()
    flat = messages.flatten()
    content = pc.struct_field(flat, "content")
    parent = pc.list_parent_indices(messages).to_numpy(zero_copy_only=False)
    if unit == "assistant-turns":
        mask = pc.equal(pc.struct_field(flat, "role"), "assistant")
        content = content.filter(mask)
        parent = parent[mask.to_numpy(zero_copy_only=False)]
    counts = np.bincount(parent, minlength=len(messages))
    offsets = pa.array(np.concatenate(([0], np.cumsum(counts))).astype(np.int64))
    return pc.binary_join(
        pa.LargeListArray.from_arrays(offsets, content.cast(pa.large_string())), pa.scalar("\n", pa.large_string())
    )


def id_keys(ids: list[str]) -> np.ndarray:
    """A 64-bit key per record id (the first 8 bytes of its SHA-256), as uint64: how lineage
    edges (``provenance.parents``) find their parent among the compile's records."""
    return np.array([int.from_bytes(hashlib.sha256(i.encode()).digest()[:8], "big") for i in ids], dtype=np.uint64)


def content_keys(hashes: list[str]) -> np.ndarray:
    """The first 64 bits of each ``sha256:<hex>`` content hash, as uint64."""
    return np.array([int(h.partition(":")[2][:16] or "0", 16) for h in hashes], dtype=np.uint64)
