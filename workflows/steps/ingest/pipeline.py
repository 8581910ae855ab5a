"""The ingest step: read and map -> repair encoding -> PII -> quality -> hash, provenance, write.

Streaming throughout: conversations flow in batches of ``batch_size`` (the unit of NER
batching) and records go straight into Parquet shards; quarantine and audit lines are spooled
to local temporary files and committed to the store at the end. ``latest.json`` is the last
write. Records carry no wall-clock time: ``provenance.ingested_at`` is the source file's
modification time, so a rerun with the same spec and input writes identical record bytes
(the run's own duration and throughput live in ``stats.json``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel

from ... import PIPELINE_VERSION, layout, steplog
from ...api.dataset_family import DatasetFamilySpec, License
from ...api.kinds import DATASET_FAMILY, INGEST, identity
from ...recordio import ShardWriter
from ...records import GeneratorInfo, Message, PiiSummary, Provenance, QualityScores, Record, content_hash, record_id
from ...store import Store, write_pointer
from ..inputs import store_inputs
from . import quality
from .encoding import TextRepair, UndecodableText
from .mapping import map_items
from .pii import PiiDetector, Span, redact
from .produced import Conversation, Origin, Produced, Rejected
from .sources import IngestError, SourceFile, iter_items, resolve_source
from .stats import QUALITY_AXES, IngestStats, IngestTiming, SourceEntry, counter_dict

log = logging.getLogger(__name__)


class IngestResult(BaseModel):
    """The step's small JSON result; the operator and the local runner copy it into the status."""

    family: str
    spec_hash: str
    output_uri: str
    records_in: int
    records_out: int
    quarantined: int
    quarantined_by_reason: dict[str, int]
    pii_entities: int
    quality_mean: float | None


class _Spool:
    """Local temporary jsonl files, one per store key, committed to the store at the end."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pixelgate-ingest-"))
        self.files: dict[str, IO[bytes]] = {}

    def write(self, key: str, entry: dict[str, Any]) -> None:
        if key not in self.files:
            self.files[key] = open(self._path(key), "wb")
        try:
            line = json.dumps(entry, ensure_ascii=False, sort_keys=True, default=str).encode()
        except UnicodeEncodeError:  # lone surrogates from undecodable bytes
            line = json.dumps(entry, ensure_ascii=True, sort_keys=True, default=str).encode()
        self.files[key].write(line + b"\n")

    def _path(self, key: str) -> Path:
        return self.dir / f"{len(key)}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.jsonl"

    def commit(self, store: Store) -> None:
        for key, fh in self.files.items():
            fh.close()
            with store.writer(key) as tmp:
                shutil.copyfile(self._path(key), tmp)

    def close(self) -> None:
        for fh in self.files.values():
            fh.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def file_origin(source: SourceFile, checksum: str, license: License) -> Origin:
    return Origin(
        source.uri, source.name, checksum, source.modified, license.spdx, license.url, license.allow_training
    )


def _quarantine_entry(origin: Origin, position: str, raw: Any, reason: str, detail: str) -> dict[str, Any]:
    return {"reason": reason, "detail": detail, "source_uri": origin.source_uri, "source_record": position, "raw": raw}


def _audit_sampled(rid: str, index: int, span: Span, rate: float) -> bool:
    if rate <= 0:
        return False
    h = hashlib.sha256(f"{rid}\x00{index}\x00{span.start}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64 < rate


class _Ingest:
    def __init__(
        self, family: str, spec: DatasetFamilySpec, store: Store, spec_hash: str, batch_size: int, shard_size: int
    ):
        self.family, self.spec, self.store, self.spec_hash = family, spec, store, spec_hash
        self.batch_size = batch_size
        self.root = layout.family_root(family, spec_hash)
        self.writer = ShardWriter(store, layout.family_records(self.root), shard_size)
        self.spool = _Spool()
        self.repair = TextRepair(strip_html=spec.mapping.strip_html if spec.mapping else False)
        pii = spec.pii
        self.detector = PiiDetector(pii.entities, pii.threshold, pii.ner_model) if pii.entities else None
        self.quarantined: Counter[str] = Counter()
        self.fields_failed: Counter[str] = Counter()
        self.pii_counts: Counter[str] = Counter()
        self.empty_turns = 0
        self.turns_out = 0
        self.rows_read = 0
        self.pii_texts = 0
        self.histograms = IngestStats.new_histograms()
        self.quality_sums: Counter[str] = Counter()
        self.categories: Counter[str] = Counter()  # generated families: written records per category
        self.mapped = 0  # conversations the mapping (or the producer) made
        self.seconds: Counter[str] = Counter()  # time in PII detection and in quality scoring
        self.progress = steplog.Progress(None, log=log, log_event="ingest.progress")  # records written + quarantined
        self.phase = steplog.Phase(log, INGEST.name, family=family, spec_hash=spec_hash)

    # -- logs --------------------------------------------------------------------------------
    def _counts(self) -> dict[str, int]:
        return {
            "rows": self.rows_read,
            "mapped": self.mapped,
            "records": self.writer.count,
            "quarantined": sum(self.quarantined.values()),
        }

    def log_processed(self) -> None:
        """Every record read and judged: the totals, then what PII detection and quality scoring found and took."""
        self.phase.lap("records", **self._counts())
        steplog.event(
            log,
            "ingest.pii",
            mode=self.spec.pii.mode,
            texts=self.pii_texts,
            ner_texts=self.detector.ner_texts if self.detector else 0,
            entities=sum(self.pii_counts.values()),
            by_entity=counter_dict(self.pii_counts),
            quarantined=self.quarantined["pii"],
            elapsed_s=round(self.seconds["pii"], 3),
        )
        written = self.writer.count
        steplog.event(
            log,
            "ingest.quality",
            scored=written + self.quarantined["low_quality"],
            low_quality=self.quarantined["low_quality"],
            min_overall=self.spec.quality.min_overall,
            mean=round(self.quality_sums["overall"] / written, 4) if written else None,
            elapsed_s=round(self.seconds["quality"], 3),
        )

    def log_written(self, records_out: int, quarantined: int) -> None:
        """Shards, quarantine, stats and the pointer are in the store: the write, the whole ingest, progress N/N."""
        reasons = sum(key != layout.family_pii_audit(self.root) for key in self.spool.files)
        self.phase.lap("write", shards=len(self.writer.keys), quarantine_files=reasons)
        self.progress.finish()
        self.phase.done(
            records_in=records_out + quarantined,
            records_out=records_out,
            quarantined=quarantined,
            by_reason=counter_dict(self.quarantined),
        )

    # -- quarantine -------------------------------------------------------------------------
    def reject(self, origin: Origin, position: str, raw: Any, reason: str, detail: str, field: str = "") -> None:
        self.quarantined[reason] += 1
        if field:
            self.fields_failed[field] += 1
        self.spool.write(
            layout.family_quarantine(self.root, reason), _quarantine_entry(origin, position, raw, reason, detail)
        )
        self.progress.advance()

    # -- one source file ---------------------------------------------------------------------
    def run_file(self, source: SourceFile, checksum: str) -> None:
        assert self.spec.mapping is not None and self.spec.license is not None and self.spec.source.format is not None
        mapping, source_spec = self.spec.mapping, self.spec.source

        def counted() -> Iterator[Any]:
            for item in iter_items(source, source_spec.format, source_spec.encoding, self.repair.counts):
                self.rows_read += 1
                yield item

        before = self._counts()
        with steplog.phase(log, "ingest.read", file=source.uri) as counts:
            self.run_conversations(file_origin(source, checksum, self.spec.license), map_items(mapping, counted()))
            counts.update({key: value - before[key] for key, value in self._counts().items()})

    def run_conversations(self, origin: Origin, conversations: Iterable[Conversation | Rejected]) -> None:
        """Batch conversations through repair, PII and quality; ``origin`` applies to those without their own."""
        batch: list[Conversation] = []
        for mapped in conversations:
            if isinstance(mapped, Rejected):
                self.reject(origin, mapped.position, mapped.raw, mapped.reason, mapped.detail, mapped.field)
                continue
            self.mapped += 1
            batch.append(mapped)
            if len(batch) >= self.batch_size:
                self.process(origin, batch)
                batch = []
        if batch:
            self.process(origin, batch)

    def process(self, default_origin: Origin, batch: list[Conversation]) -> None:
        repaired: list[tuple[Conversation, list[tuple[str, str]]]] = []
        pair_layout = self.spec.mapping is not None and self.spec.mapping.pair is not None
        for conv in batch:
            origin = conv.origin or default_origin
            try:
                turns = [(role, self.repair.fix(text).strip()) for role, text in conv.turns]
            except UndecodableText as err:
                self.reject(origin, conv.position, conv.raw, "undecodable", str(err))
                continue
            kept = [(r, t) for r, t in turns if t]
            if pair_layout and len(kept) < 2:
                side = "prompt" if not turns[0][1] else "response"
                self.reject(origin, conv.position, conv.raw, "empty_turn", f"the {side} is empty after repair")
                continue
            self.empty_turns += len(turns) - len(kept)
            repaired.append((conv, kept))
        texts = [t for _, turns in repaired for _, t in turns]
        started = time.perf_counter()
        spans = self.detector.detect(texts) if self.detector else [[] for _ in texts]
        self.seconds["pii"] += time.perf_counter() - started
        self.pii_texts += len(texts)
        cursor = 0
        for conv, turns in repaired:
            conv_spans = spans[cursor : cursor + len(turns)]
            cursor += len(turns)
            self.emit(conv.origin or default_origin, conv, turns, conv_spans)

    def emit(self, origin: Origin, conv: Conversation, turns: list[tuple[str, str]], spans: list[list[Span]]) -> None:
        spec = self.spec
        rid = record_id(self.family, f"{origin.name}#{conv.name if conv.name is not None else conv.position}")
        counts = Counter(s.entity for ss in spans for s in ss)
        self.pii_counts.update(counts)
        for index, ss in enumerate(spans):
            for span in ss:
                if _audit_sampled(rid, index, span, spec.pii.audit_sample_rate):
                    original = turns[index][1][span.start : span.end]
                    self.spool.write(
                        layout.family_pii_audit(self.root),
                        {
                            "record_id": rid,
                            "message": index,
                            "entity": span.entity,
                            "start": span.start,
                            "end": span.end,
                            "score": span.score,
                            "recognizer": span.recognizer,
                            "mode": spec.pii.mode,
                            "span_sha256": hashlib.sha256(f"{self.spec_hash}\x00{original}".encode()).hexdigest(),
                        },
                    )
        if counts and spec.pii.mode == "drop-record":
            self.reject(origin, conv.position, conv.raw, "pii", f"PII found: {dict(sorted(counts.items()))}")
            return
        if spec.pii.mode == "redact":
            turns = [(r, redact(t, ss)) for (r, t), ss in zip(turns, spans)]
        system_prompt = conv.system_prompt or (spec.mapping.system_prompt if spec.mapping else None)
        messages = ([Message(role="system", content=system_prompt)] if system_prompt else []) + [
            Message(role=r, content=t) for r, t in turns
        ]
        started = time.perf_counter()
        scores: QualityScores = quality.score(turns)
        self.seconds["quality"] += time.perf_counter() - started
        if scores.overall < spec.quality.min_overall:
            self.reject(
                origin,
                conv.position,
                conv.raw,
                "low_quality",
                f"overall {scores.overall} < quality.minOverall {spec.quality.min_overall}",
            )
            return
        placeholders = sorted({f"<{e}>" for e in counts}) if spec.pii.mode == "redact" else []
        record = Record(
            id=rid,
            family=self.family,
            messages=messages,
            content_hash=content_hash(messages),
            provenance=Provenance(
                family=self.family,
                source_uri=origin.source_uri,
                source_sha256=origin.source_sha256,
                source_record=conv.position,
                license=origin.license,
                license_url=origin.license_url,
                allow_training=origin.allow_training,
                tier=spec.tier,
                stage=spec.stage,
                ingested_at=origin.modified,
                pipeline_version=PIPELINE_VERSION,
                spec_hash=self.spec_hash,
                parents=list(origin.parents),
                generator=GeneratorInfo.model_validate(origin.generator) if origin.generator else None,
            ),
            pii=PiiSummary(
                counts=dict(sorted(counts.items())),
                placeholders=placeholders,
                flagged=bool(counts) and spec.pii.mode == "flag",
            ),
            quality=scores,
            meta=conv.meta,
            tags=dict(sorted(conv.tags.items())),
            split="test" if spec.holdout else None,
        )
        self.writer.write(record)
        self.progress.advance()
        if origin.generator:
            self.categories[origin.generator["category"]] += 1
        self.turns_out += len(turns)
        self.histograms["turns"].add(len(turns))
        self.histograms["length"].add(sum(len(t) for _, t in turns))
        for axis in QUALITY_AXES:
            value = getattr(scores, axis)
            self.histograms[axis].add(value)
            self.quality_sums[axis] += value


def produce_conversations(family: str, spec: DatasetFamilySpec, store: Store, inputs: Mapping[str, str]) -> Produced:
    """The conversations of a derived (parents at their identities in ``inputs``) or generated family."""
    if spec.source.derive is not None:
        from .derive import derive_conversations

        return derive_conversations(family, spec, store, inputs)
    from .generate import generate_conversations

    return generate_conversations(family, spec, store)


def _read_files(job: _Ingest, spec: DatasetFamilySpec, base_dir: Path | None) -> tuple[list[SourceEntry], int]:
    """Every file ``source.uri`` matches, fetched to local disk one at a time and read; with the
    checksum checks. Returns the files read and their bytes."""
    assert spec.source.uri is not None
    files = resolve_source(spec.source.uri, base_dir)
    if spec.source.sha256 and len(files) != 1:
        raise IngestError("source.sha256", f"a checksum needs a single file, but source.uri matched {len(files)}")
    sources: list[SourceEntry] = []
    for source in files:
        with source.fetch(spec.source.sha256) as fetched:
            if spec.source.sha256 and fetched.sha256 != spec.source.sha256:
                raise IngestError(
                    "source.sha256", f"expected {spec.source.sha256}, but {source.uri} has {fetched.sha256}"
                )
            job.run_file(fetched.source, fetched.sha256)
        sources.append(SourceEntry(uri=source.uri, sha256=fetched.sha256, size=fetched.size))
    return sources, sum(entry.size or 0 for entry in sources)


def _read_produced(job: _Ingest, produced: Produced) -> tuple[list[SourceEntry], int]:
    """A derived or generated family's conversations; its inputs as the sources read."""
    job.run_conversations(produced.origin, produced.conversations)
    job.rows_read = produced.rows_read
    return [SourceEntry.model_validate(entry) for entry in produced.sources], 0


def _refuse_empty(
    job: _Ingest, spec: DatasetFamilySpec, sources: list[SourceEntry], produced: Produced | None
) -> None:
    """A family that wrote no record fails, naming the likely cause, rather than end Ready and empty."""
    if job.writer.count:
        return
    if sum(job.quarantined.values()) == 0:
        if spec.source.uri is not None:
            raise IngestError("source.uri", f"{len(sources)} file(s) matched {spec.source.uri!r} but held no records")
        filtered = (
            f" (every input was filtered out: {counter_dict(produced.filtered)})"
            if produced and produced.filtered
            else ""
        )
        raise IngestError("source", f"the family's derivation or generator produced no conversation{filtered}")
    if job.fields_failed:
        field, n = job.fields_failed.most_common(1)[0]
        raise IngestError(
            field,
            f"the mapping matched no record ({n} rejected for this field; see quarantine "
            f"reasons {dict(job.quarantined)})",
        )


def _commit_side_files(job: _Ingest, store: Store) -> None:
    """The spooled quarantine files and the PII audit sample (written empty when nothing was sampled)."""
    job.spool.commit(store)
    if layout.family_pii_audit(job.root) not in job.spool.files:
        store.write_bytes(layout.family_pii_audit(job.root), b"")


def _stats(
    job: _Ingest, family: str, identity_hash: str, sources: list[SourceEntry], produced: Produced | None
) -> IngestStats:
    records_out = job.writer.count
    return IngestStats(
        family=family,
        spec_hash=identity_hash,
        pipeline_version=PIPELINE_VERSION,
        sources=sources,
        rows_read=job.rows_read,
        records_in=records_out + sum(job.quarantined.values()),
        records_out=records_out,
        quarantined=counter_dict(job.quarantined),
        turns_out=job.turns_out,
        empty_turns_dropped=job.empty_turns,
        encoding_fixes=counter_dict(job.repair.counts),
        pii_entities=counter_dict(job.pii_counts),
        pii_ner_texts=job.detector.ner_texts if job.detector else 0,
        pii_texts=job.pii_texts,
        histograms=job.histograms,
        quality_mean={a: round(job.quality_sums[a] / records_out, 4) if records_out else 0.0 for a in QUALITY_AXES},
        filtered=counter_dict(produced.filtered) if produced else {},
        categories=counter_dict(job.categories),
    )


def _timing(records: int, source_bytes: int, duration: float) -> IngestTiming:
    return IngestTiming(
        duration_s=round(duration, 3),
        records_per_s=round(records / duration, 1) if duration else 0.0,
        mb_per_s=round(source_bytes / 1e6 / duration, 3) if duration else 0.0,
        source_bytes=source_bytes,
    )


def _publish(
    store: Store, family: str, spec: DatasetFamilySpec, job: _Ingest, identity_hash: str, labels: dict[str, str]
) -> None:
    """``families/<family>/latest.json``, the last write: it also carries what compile needs to pick
    and rank families without reading records."""
    write_pointer(
        store,
        layout.family_pointer(family),
        job.root,
        spec_hash=identity_hash,
        records_out=job.writer.count,
        quarantined=sum(job.quarantined.values()),
        tier=spec.tier,
        weight=spec.weight,
        stage=spec.stage,
        holdout=spec.holdout,
        labels=labels,
    )


def ingest_family(
    family: str,
    spec: DatasetFamilySpec,
    store: Store,
    base_dir: Path | None = None,
    *,
    batch_size: int = 256,
    shard_size: int = 10_000,
    labels: dict[str, str] | None = None,
    inputs: Mapping[str, str] | None = None,
) -> IngestResult:
    """Ingest one DatasetFamily into ``store`` under ``families/<family>/<identity>/``; a derived
    family's ``inputs`` are its parents' identities (default: their current outputs).

    Raises :class:`IngestError` (its message names the spec field to fix) for a missing source,
    a checksum mismatch, or a mapping that matches no record; everything else that is wrong
    with individual records is quarantined.
    """
    started = time.monotonic()
    inputs = dict(inputs) if inputs is not None else store_inputs(DATASET_FAMILY, family, spec, store)
    sh = identity(spec, inputs)
    produced = produce_conversations(family, spec, store, inputs) if spec.source.uri is None else None
    job = _Ingest(family, spec, store, sh, batch_size, shard_size)
    try:
        sources, source_bytes = _read_files(job, spec, base_dir) if produced is None else _read_produced(job, produced)
        _refuse_empty(job, spec, sources, produced)
        job.log_processed()
        job.writer.close()
        _commit_side_files(job, store)
        stats = _stats(job, family, sh, sources, produced)
        records_out, quarantined = stats.records_out, stats.records_in - stats.records_out
        store.write_json(layout.family_stats(job.root), stats.model_dump(mode="json"))
        timing = _timing(stats.records_in, source_bytes, time.monotonic() - started)
        store.write_json(layout.family_timing(job.root), timing.model_dump(mode="json"))
        _publish(store, family, spec, job, sh, dict(labels or {}))
        job.log_written(records_out, quarantined)
        return IngestResult(
            family=family,
            spec_hash=sh,
            output_uri=store.url(job.root),
            records_in=stats.records_in,
            records_out=records_out,
            quarantined=quarantined,
            quarantined_by_reason=counter_dict(job.quarantined),
            pii_entities=sum(job.pii_counts.values()),
            quality_mean=stats.quality_mean["overall"] if records_out else None,
        )
    finally:
        job.spool.close()
