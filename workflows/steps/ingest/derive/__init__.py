"""Derived families (``source.derive``): records built from other families' records, filtered
and tagged, with provenance naming each parent record (docs/derived-families.md).

:func:`derive_conversations` is the producer the ingest pipeline calls: it resolves the parents
and checks the filters and tagger up front (errors name the spec field), then streams parent
records shard by shard; the kept ones become conversations that go through the same repair,
PII, quality and write path as any other family.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .... import layout
from ....api.dataset_family import DatasetFamilySpec
from ....recordio import iter_records
from ....records import Record
from ....store import Store
from ..produced import Conversation, Origin, Produced
from ..sources import IngestError
from .filters import FilterError, Filters, compile_where, session_turns
from .parents import Parent, resolve_parents
from .tagger import LexiconTagger, TaggingError, make_tagger


def merge_tags(parent: dict[str, float], new: dict[str, float]) -> dict[str, float]:
    """The parent's tags plus the tagger's; a tag in both keeps the higher confidence."""
    merged = dict(parent)
    for tag, confidence in new.items():
        merged[tag] = max(confidence, merged.get(tag, 0.0))
    return merged


def derived_conversation(parent: Parent, record: Record, tags: dict[str, float]) -> Conversation:
    """A kept parent record as a conversation: its session turns, its system message(s) as the
    system prompt, its meta and licence terms, ``tags`` (see :func:`merge_tags`), and its own provenance,
    naming it as the only parent."""
    prov = record.provenance
    system = "\n\n".join(m.content for m in record.messages if m.role == "system") or None
    origin = Origin(
        source_uri=prov.source_uri,
        name=parent.name,
        source_sha256=prov.source_sha256,
        modified=prov.ingested_at,
        license=prov.license,
        license_url=prov.license_url,
        allow_training=prov.allow_training,
        parents=(record.id,),
    )
    return Conversation(
        position=record.id,
        turns=session_turns(record),
        meta=dict(record.meta),
        raw={"parent": record.id, "family": parent.name},
        origin=origin,
        tags=tags,
        system_prompt=system,
    )


def _stream(
    store: Store, parents: list[Parent], filters: Filters, tagger: LexiconTagger | None, produced: Produced
) -> Iterator[Conversation]:
    """Parent records one at a time (memory: one shard batch); counts reads and filter drops into ``produced``."""
    for parent in parents:
        for record in iter_records(store, layout.family_records(parent.root)):
            produced.rows_read += 1
            turns = session_turns(record)
            failed = filters.before_tagging(record, turns)
            tags: dict[str, float] = {}
            if failed is None:
                tags = merge_tags(record.tags, tagger.tag(turns) if tagger is not None else {})
                failed = filters.after_tagging(tags)
            if failed is not None:
                produced.filtered[failed] += 1
                continue
            yield derived_conversation(parent, record, tags)


def derive_conversations(family: str, spec: DatasetFamilySpec, store: Store, inputs: Mapping[str, str]) -> Produced:
    derive = spec.source.derive
    if derive is None:
        raise IngestError("source.derive", "not a derived family")
    try:
        filters = compile_where(derive.where)
        tagger = make_tagger(derive.tag) if derive.tag is not None else None
    except (FilterError, TaggingError) as err:
        raise IngestError(err.field, str(err)) from None
    parents = resolve_parents(store, derive.from_, family, inputs)
    first = parents[0]
    produced = Produced(
        origin=Origin(store.url(first.root), first.name, first.stats_sha256, "", "NOASSERTION", None, False),
        conversations=(),
        sources=[{"uri": store.url(p.root), "sha256": p.stats_sha256} for p in parents],
    )
    produced.conversations = _stream(store, parents, filters, tagger, produced)
    return produced
