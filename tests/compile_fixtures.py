"""Test fixtures for compile: families written straight into a store as ingest would write them
(records as Parquet shards, ``stats.json``, ``latest.json`` last), built from real CSV/JSON rows."""

from __future__ import annotations

import csv
import hashlib
import html
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pixelgate.workflows import layout
from pixelgate.workflows.api import parse_resource
from pixelgate.workflows.api.meta import Resource
from pixelgate.workflows.recordio import write_records
from pixelgate.workflows.records import Message, Provenance, QualityScores, Record, content_hash, record_id
from pixelgate.workflows.store import Store, write_pointer

_TAG = re.compile(r"<[^>]+>")
csv.field_size_limit(1 << 24)  # some scraped answers exceed the default 128 KiB


def make_record(
    family: str,
    idx: int | str,
    messages: list[tuple[str, str]],
    *,
    tier: int = 2,
    license: str = "MIT",
    allow_training: bool = True,
    quality: float | None = 0.7,
    meta: dict[str, Any] | None = None,
) -> Record:
    msgs = [Message(role=r, content=c) for r, c in messages]
    return Record(
        id=record_id(family, str(idx)),
        family=family,
        messages=msgs,
        content_hash=content_hash(msgs),
        provenance=Provenance(
            family=family,
            source_uri=f"file:///fixtures/{family}",
            source_sha256="0" * 64,
            source_record=str(idx),
            license=license,
            allow_training=allow_training,
            tier=tier,
            stage="foundation",
            ingested_at="2026-01-01T00:00:00Z",
            pipeline_version="0.1.0",
            spec_hash="fixture",
        ),
        quality=None
        if quality is None
        else QualityScores(
            empathy=quality, fidelity=quality, harmfulness=0.0, domain_relevance=quality, overall=quality
        ),
        meta=meta or {},
    )


def write_family(
    store: Store,
    family: str,
    records: Iterable[Record],
    *,
    shard_size: int = 500,
    weight: float = 1.0,
    holdout: bool = False,
    labels: dict[str, str] | None = None,
) -> str:
    target = layout.family_root(family, "fx" + hashlib.sha256(family.encode()).hexdigest()[:8])
    keys = write_records(store, f"{target}/records", records, shard_size)
    store.write_json(f"{target}/stats.json", {"weight": weight, "holdout": holdout, "labels": labels or {}})
    write_pointer(
        store,
        layout.family_pointer(family),
        target,
        spec_hash=target.rsplit("/", 1)[-1],
        weight=weight,
        holdout=holdout,
        labels=labels or {},
    )
    return keys[0]


def compile_resource(name: str, families: list[str], **spec: Any) -> Resource:
    return parse_resource(
        {
            "apiVersion": "pixelgate.dev/v1alpha1",
            "kind": "CompileRun",
            "metadata": {"name": name},
            "spec": {"families": {"names": families}, **spec},
        }
    )


def strip_html(text: str) -> str:
    return html.unescape(_TAG.sub(" ", text))


def counselchat_2020(datasets: Path, limit: int | None = None) -> list[dict[str, str]]:
    with open(datasets / "counselchat" / "20200325_counsel_chat.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return rows[:limit] if limit else rows


def counselchat_html(datasets: Path) -> list[dict[str, str]]:
    with open(datasets / "counselchat" / "counselchat-data.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def counsel_record(family: str, idx: int, row: dict[str, str], **kw: Any) -> Record:
    question = "\n\n".join(
        x for x in (row.get("questionTitle", ""), strip_html(row.get("questionText") or "")) if x.strip()
    )
    return make_record(
        family, idx, [("user", question or "(no question)"), ("assistant", strip_html(row["answerText"]))], **kw
    )


def esconv(datasets: Path, limit: int | None = None) -> list[list[tuple[str, str]]]:
    convs = []
    with open(datasets / "esconv" / "train.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            convs.append([("user" if t["speaker"] == "usr" else "assistant", t["text"]) for t in d["dialog"]])
            if limit and len(convs) >= limit:
                break
    return convs


def mrpc_pairs(datasets: Path) -> list[tuple[int, str, str]]:
    out = []
    with open(datasets / "mrpc" / "msr_paraphrase_train.txt", encoding="utf-8-sig", newline="") as fh:
        for row in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row and row[0] in {"0", "1"}:
                out.append((int(row[0]), row[3], row[4]))
    return out
