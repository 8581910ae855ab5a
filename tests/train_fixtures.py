"""Builds a CompileRun-shaped output in a store from real conversations, for the train and
evaluate tests, until (and besides) the real compile step: ``compiles/<name>/latest.json``,
``<target>/manifest.json`` and ``<target>/shards/{train,val,test}/part-NNNNN.jsonl``.

Two families: ``esconv`` (tier 1, ESConv dialogues, split as the ESConv authors split them)
and ``counselchat`` (tier 2, CounselChat question -> answer pairs, split by its ``split`` column).
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
from pathlib import Path

from pixelgate.workflows import layout
from pixelgate.workflows.records import Message, Provenance, Record, content_hash, record_id
from pixelgate.workflows.store import Store, write_pointer

SPLIT_FILES = {"train": "train.jsonl", "val": "valid.jsonl", "test": "test.jsonl"}
ESCONV_ROLES = {"usr": "user", "sys": "assistant"}


def _provenance(family: str, source: Path, row: str, tier: int, license_: str) -> Provenance:
    return Provenance(
        family=family,
        source_uri=str(source),
        source_sha256=hashlib.sha256(source.name.encode()).hexdigest(),
        source_record=row,
        license=license_,
        allow_training=True,
        tier=tier,
        stage="foundation",
        ingested_at="2026-01-01T00:00:00Z",
        pipeline_version="test",
        spec_hash="fixture",
    )


def esconv_records(datasets: Path, split: str, limit: int) -> list[Record]:
    path = datasets / "esconv" / SPLIT_FILES[split]
    out = []
    with open(path) as fh:
        for line_no, line in enumerate(itertools.islice(fh, limit)):
            dialog = json.loads(line)["dialog"]
            messages = [
                Message(role=ESCONV_ROLES[t["speaker"]], content=t["text"].strip())
                for t in dialog
                if t["text"].strip()
            ]
            source_record = f"{split}:{line_no}"
            out.append(
                Record(
                    id=record_id("esconv", source_record),
                    family="esconv",
                    messages=messages,
                    content_hash=content_hash(messages),
                    provenance=_provenance("esconv", path, source_record, 1, "CC-BY-NC-4.0"),
                    split=split,
                )
            )
    return out


def counselchat_records(datasets: Path, split: str, limit: int) -> list[Record]:
    path = datasets / "counselchat" / "20200325_counsel_chat.csv"
    wanted = {"train": "train", "val": "val", "test": "test"}[split]
    out = []
    with open(path, newline="") as fh:
        for row_no, row in enumerate(csv.DictReader(fh)):
            if row["split"] != wanted or not row["questionText"].strip():
                continue
            messages = [
                Message(role="user", content=row["questionText"].replace("\xa0", " ").strip()),
                Message(role="assistant", content=row["answerText"].replace("\xa0", " ").strip()),
            ]
            out.append(
                Record(
                    id=record_id("counselchat", str(row_no)),
                    family="counselchat",
                    messages=messages,
                    content_hash=content_hash(messages),
                    provenance=_provenance("counselchat", path, str(row_no), 2, "MIT"),
                    split=split,
                )
            )
            if len(out) >= limit:
                break
    return out


def build_compile(
    store: Store,
    datasets: Path,
    name: str = "stage1",
    sizes: dict[str, tuple[int, int]] | None = None,
    shard_size: int = 16,
    spec_hash: str = "fixture0001",
) -> str:
    """Write the compile output; ``sizes`` maps split -> (esconv records, counselchat records)."""
    sizes = sizes or {"train": (24, 24), "val": (6, 6), "test": (6, 6)}
    root = layout.compile_root(name, spec_hash)
    shards: list[dict] = []
    for split, (n_esconv, n_counsel) in sizes.items():
        records = esconv_records(datasets, split, n_esconv) + counselchat_records(datasets, split, n_counsel)
        # interleave the families as a compile would after hashing records into splits
        records.sort(key=lambda r: r.id)
        for index in range(0, max(len(records), 1), shard_size):
            chunk = records[index : index + shard_size]
            key = f"{layout.compile_split_shards(root, split)}/part-{index // shard_size:05d}.jsonl"
            body = "".join(r.model_dump_json() + "\n" for r in chunk).encode()
            store.write_bytes(key, body)
            shards.append(
                {
                    "path": key,
                    "split": split,
                    "sha256": hashlib.sha256(body).hexdigest(),
                    "records": len(chunk),
                    "bytes": len(body),
                }
            )
    # the fields of compile's manifest.json that training reads (steps/compile/manifest.py)
    manifest = {
        "compile": name,
        "spec_hash": spec_hash,
        "families": [{"name": "esconv", "weight": 2.0}, {"name": "counselchat", "weight": 1.0}],
        "shards": shards,
    }
    store.write_json(f"{root}/manifest.json", manifest)
    write_pointer(store, layout.compile_pointer(name), root)
    return root
