"""What producers hand the ingest pipeline: conversations, their origin, and the items rejected.

The declarative mapping of file sources (:mod:`.mapping`), the producers of derived and generated
families (:mod:`.derive`, :mod:`.generate`) and the pipeline (:mod:`.pipeline`) share these types.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Origin:
    """Where a conversation came from and under which terms: the record's provenance fields that
    are not the step's own. A file source gives one per file; derived and generated
    conversations carry their own."""

    source_uri: str
    name: str  # part of record ids: the file name, or what a producer chooses
    source_sha256: str
    modified: str  # RFC 3339; becomes provenance.ingested_at, so reruns write identical bytes
    license: str
    license_url: str | None
    allow_training: bool
    parents: tuple[str, ...] = ()
    generator: dict[str, Any] | None = None


@dataclass
class Conversation:
    position: str
    turns: list[tuple[str, str]]  # (canonical role, text as read)
    meta: dict[str, Any]
    raw: Any
    name: str | None = None  # the id_field value, when the mapping names one
    origin: Origin | None = None  # overrides the source file's origin (derived and generated families)
    tags: dict[str, float] = field(default_factory=dict)
    system_prompt: str | None = None  # a system message already part of the conversation


@dataclass
class Produced:
    """What a derived or generated family's producer hands the ingest pipeline."""

    origin: Origin  # applies to conversations without their own, and to rejected items
    conversations: Iterable["Conversation | Rejected"]
    sources: list[dict[str, str]]  # uri and sha256 of every input, for stats.json
    rows_read: int = 0  # input items read, counted by the producer while ``conversations`` is consumed
    filtered: Counter[str] = field(default_factory=Counter)  # inputs left out on purpose (not quarantine), by filter


@dataclass
class Rejected:
    position: str
    raw: Any
    reason: str
    detail: str
    field: str = ""  # the spec field involved, for "mapping matches nothing" errors
