"""Reading and writing canonical records as Parquet shards in a store.

A family's output is ``families/<family>/<spec-hash>/records/part-NNNNN.parquet``; each shard
holds at most ``shard_size`` records and is written atomically (temp file + rename, or a
completed S3 upload), so a crash never leaves a partial shard behind. Nested fields are real
Parquet structs, lists and maps (queryable with DuckDB or pandas), except ``meta``, which is
free-form and stored as a JSON string.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .layout import part_key
from .records import Record
from .store import Store

_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
_GENERATOR = pa.struct(
    [
        ("name", pa.string()),
        ("version", pa.string()),
        ("seed", pa.int64()),
        ("category", pa.string()),
        ("prompt_hash", pa.string()),
        ("model", pa.string()),
    ]
)
_PROVENANCE = pa.struct(
    [
        ("family", pa.string()),
        ("source_uri", pa.string()),
        ("source_sha256", pa.string()),
        ("source_record", pa.string()),
        ("license", pa.string()),
        ("license_url", pa.string()),
        ("allow_training", pa.bool_()),
        ("tier", pa.int8()),
        ("stage", pa.string()),
        ("ingested_at", pa.string()),
        ("pipeline_version", pa.string()),
        ("spec_hash", pa.string()),
        ("parents", pa.list_(pa.string())),
        ("generator", _GENERATOR),
    ]
)
_PII = pa.struct(
    [("counts", pa.map_(pa.string(), pa.int32())), ("placeholders", pa.list_(pa.string())), ("flagged", pa.bool_())]
)
_QUALITY = pa.struct(
    [
        ("empathy", pa.float32()),
        ("fidelity", pa.float32()),
        ("harmfulness", pa.float32()),
        ("domain_relevance", pa.float32()),
        ("overall", pa.float32()),
        ("signals", pa.map_(pa.string(), pa.float32())),
    ]
)

RECORD_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("family", pa.string()),
        ("messages", pa.list_(_MESSAGE)),
        ("content_hash", pa.string()),
        ("provenance", _PROVENANCE),
        ("pii", _PII),
        ("quality", _QUALITY),
        ("meta", pa.string()),
        ("tags", pa.map_(pa.string(), pa.float32())),
        ("split", pa.string()),
    ]
)

_MAP_FIELDS = (("pii", "counts"), ("quality", "signals"))


def record_to_row(record: Record) -> dict[str, Any]:
    row = record.model_dump(mode="json")
    row["meta"] = json.dumps(row["meta"], sort_keys=True, ensure_ascii=False)
    return row


def row_to_record(row: dict[str, Any]) -> Record:
    row = dict(row)
    row["meta"] = json.loads(row["meta"]) if row.get("meta") else {}
    row["tags"] = dict(row.get("tags") or [])
    for outer, inner in _MAP_FIELDS:
        if row.get(outer) is not None:
            row[outer] = {**row[outer], inner: dict(row[outer].get(inner) or [])}
    return Record.model_validate(row)


class ShardWriter:
    """Buffers records and writes ``part-NNNNN.parquet`` shards of ``shard_size`` records each."""

    def __init__(self, store: Store, prefix: str, shard_size: int = 10_000):
        self.store, self.prefix, self.shard_size = store, prefix, shard_size
        self.keys: list[str] = []
        self.count = 0
        self._rows: list[dict[str, Any]] = []

    def write(self, record: Record) -> None:
        self._rows.append(record_to_row(record))
        self.count += 1
        if len(self._rows) >= self.shard_size:
            self._flush()

    def _flush(self) -> None:
        if not self._rows and self.keys:
            return
        key = part_key(self.prefix, len(self.keys), "parquet")
        table = pa.Table.from_pylist(self._rows, schema=RECORD_SCHEMA)
        with self.store.writer(key) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        self.keys.append(key)
        self._rows = []

    def close(self) -> list[str]:
        """Flush the last shard (an empty family still gets one empty shard) and return every key."""
        self._flush()
        return self.keys

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.close()


def write_records(store: Store, prefix: str, records: Iterable[Record], shard_size: int = 10_000) -> list[str]:
    with ShardWriter(store, prefix, shard_size) as writer:
        for record in records:
            writer.write(record)
    return writer.keys


def iter_shard(store: Store, key: str, batch_size: int = 2048) -> Iterator[Record]:
    """Stream one shard in record batches; memory is bounded by ``batch_size``."""
    with store.open_read(key) as fh:
        for batch in pq.ParquetFile(fh).iter_batches(batch_size=batch_size):
            for row in batch.to_pylist():
                yield row_to_record(row)


def shard_keys(store: Store, prefix: str) -> list[str]:
    return [k for k in store.list(prefix) if k.endswith(".parquet")]


def iter_records(store: Store, prefix: str) -> Iterator[Record]:
    for key in shard_keys(store, prefix):
        yield from iter_shard(store, key)
