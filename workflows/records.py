"""The canonical conversation record: one line of a family's output, and the unit every later
step (compile, train, evaluate) reads.

Records are stored snake_case, exactly as these models dump them. ``content_hash`` is
``sha256:`` over :func:`normalize_for_hash` of the messages, so two records with the same
conversation modulo case, Unicode form and whitespace share a hash.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant"]
Stage = Literal["foundation", "therapeutic-expertise", "edge-stress-test"]

_WHITESPACE = re.compile(r"\s+")


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str


class GeneratorInfo(BaseModel):
    """How a generated record was made (generated families only)."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["template", "llm"]
    version: str = Field(description="Generator version (template grammar version, or prompt version for llm).")
    seed: int
    category: str = Field(description="Difficulty category.")
    prompt_hash: str = Field(description="sha256 of the templates or prompts that produced the record.")
    model: str | None = Field(default=None, description="Model name (llm only).")


class Provenance(BaseModel):
    """Where a record came from and under which terms; every record carries one."""

    model_config = ConfigDict(extra="forbid")

    family: str
    source_uri: str
    source_sha256: str
    source_record: str = Field(description="Line number, row number, array index or group key in the source.")
    license: str = Field(description="SPDX id of the source's licence.")
    license_url: str | None = None
    allow_training: bool
    tier: int
    stage: Stage
    ingested_at: str
    pipeline_version: str
    spec_hash: str
    parents: list[str] = Field(default_factory=list, description="Ids of the records this one was derived from.")
    generator: GeneratorInfo | None = Field(default=None, description="Set on generated records.")


class PiiSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    counts: dict[str, int] = Field(default_factory=dict, description="Detected entities per type.")
    placeholders: list[str] = Field(default_factory=list, description="Redaction placeholders present in the text.")
    flagged: bool = Field(default=False, description="True when mode=flag left detected PII in place for review.")


class QualityScores(BaseModel):
    model_config = ConfigDict(extra="forbid")

    empathy: float = Field(ge=0, le=1)
    fidelity: float = Field(ge=0, le=1)
    harmfulness: float = Field(ge=0, le=1)
    domain_relevance: float = Field(ge=0, le=1)
    overall: float = Field(ge=0, le=1)
    signals: dict[str, float] = Field(default_factory=dict)


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    family: str
    messages: list[Message] = Field(min_length=1)
    content_hash: str
    provenance: Provenance
    pii: PiiSummary = Field(default_factory=PiiSummary)
    quality: QualityScores | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, float] = Field(default_factory=dict, description="Tag -> confidence, from taggers.")
    split: Literal["train", "val", "test"] | None = Field(default=None, description="Set by compile.")


def normalize_for_hash(text: str) -> str:
    """NFKC, casefold, collapse every run of whitespace to one space, strip."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def content_hash(messages: list[Message] | list[dict[str, str]]) -> str:
    """``sha256:<hex>`` over ``role \\x1f normalized content`` of each message, joined by ``\\x1e``."""
    parts = []
    for m in messages:
        role, content = (m.role, m.content) if isinstance(m, Message) else (m["role"], m["content"])
        parts.append(f"{role}\x1f{normalize_for_hash(content)}")
    return "sha256:" + hashlib.sha256("\x1e".join(parts).encode()).hexdigest()


def record_id(family: str, source_record: str) -> str:
    """A stable id from the family and the record's position in its source."""
    return f"{family}-" + hashlib.sha256(f"{family}\x00{source_record}".encode()).hexdigest()[:16]
