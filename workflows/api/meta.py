"""Shared building blocks of every custom resource: the camelCase base model, Kubernetes-style
conditions, and the envelope (apiVersion, kind, metadata, spec) that manifests arrive in.

Conventions (they are what the CRD generator in :mod:`pixelgate.workflows.api.crd` relies on):

* every field has a ``description``; it becomes the CRD's field description;
* Python names are snake_case and serialize as camelCase (``allow_training`` -> ``allowTraining``);
* unknown fields are errors (``extra="forbid"``), mirroring the structural schema;
* CEL rules go into ``json_schema_extra={"x-kubernetes-validations": [...]}``;
* nothing in a spec is unbounded: every string, list and map is typed with one of the bounded
  aliases below (:data:`Identifier`, :data:`Uri`, :data:`Text`, :data:`LongText`, :data:`LabelKey`,
  :data:`LabelValue`, :data:`ResourceName`, :data:`Map`) or carries ``max_length``; the same bound
  is enforced by pydantic and, through the generated CRD, by the apiserver.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "pixelgate.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


class ApiModel(BaseModel):
    """Base of every spec and status model: camelCase on the wire, strict about unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_default=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The object as it appears in a manifest or a status patch (camelCase, no nulls)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no whitespace, UTF-8. Hashes are taken over this."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def spec_hash(spec: ApiModel, length: int = 10) -> str:
    """A short, stable hash of a spec with its defaults applied: it names workflows and store folders."""
    return hashlib.sha256(canonical_json(spec.to_wire())).hexdigest()[:length]


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ApiModel):
    """One observation of an aspect of a resource, following the Kubernetes API conventions."""

    type: str = Field(description="The aspect observed, e.g. Ready, Succeeded, FamiliesReady.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(description="A CamelCase machine-readable reason for the last transition.")
    message: str = Field(default="", description="A human-readable explanation of the reason.")
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation of the spec this condition was computed from."
    )
    last_transition_time: str | None = Field(
        default=None, description="RFC 3339 time when status last changed from one value to another."
    )


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def set_condition(conditions: list[Condition], new: Condition) -> list[Condition]:
    """Insert or update ``new`` by type. ``lastTransitionTime`` only moves when ``status`` changes."""
    out: list[Condition] = []
    replaced = False
    for cond in conditions:
        if cond.type != new.type:
            out.append(cond)
            continue
        replaced = True
        keep_time = cond.status == new.status and cond.last_transition_time
        out.append(
            new.model_copy(
                update={
                    "last_transition_time": cond.last_transition_time
                    if keep_time
                    else (new.last_transition_time or now_rfc3339())
                }
            )
        )
    if not replaced:
        out.append(new.model_copy(update={"last_transition_time": new.last_transition_time or now_rfc3339()}))
    return out


def get_condition(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


# A Kubernetes object name as a DNS label (RFC 1123): what every resource name, and so every
# reference to one, must be. A reference such as "../compiles/x" can never reach the store layout.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
ResourceName = Annotated[str, Field(pattern=DNS_LABEL, min_length=1, max_length=63)]

# Bounds of every spec field (docs/resources.md, "Limits"): generous for a real user, small
# enough that no manifest can carry megabytes of text into the workflows and the store.
IDENTIFIER_MAX = 253  # a name, key, column, dotted path, tag, model name: a DNS subdomain's length
URI_MAX = 2048  # a URI, URL or path
TEXT_MAX = 4096  # a regular expression, a model given inline as 'config:<json>'
LONG_TEXT_MAX = 16384  # a system prompt or a chat template (16 KiB)
LABEL_KEY_MAX = 317  # a Kubernetes label key: a 253-character prefix, '/', a 63-character name
LABEL_VALUE_MAX = 63  # a Kubernetes label value
MAX_ITEMS = 256  # entries of any list
MAX_ENTRIES = 256  # entries of any map

Identifier = Annotated[str, Field(max_length=IDENTIFIER_MAX)]
Uri = Annotated[str, Field(max_length=URI_MAX)]
Text = Annotated[str, Field(max_length=TEXT_MAX)]
LongText = Annotated[str, Field(max_length=LONG_TEXT_MAX)]
LabelKey = Annotated[str, Field(max_length=LABEL_KEY_MAX)]
LabelValue = Annotated[str, Field(max_length=LABEL_VALUE_MAX)]

MapValueT = TypeVar("MapValueT")
# A map with at most MAX_ENTRIES entries whose keys are Identifiers: ``Map[float]``. In the CRD
# this is ``maxProperties`` plus a CEL rule bounding the key length (crd.py turns pydantic's
# ``propertyNames`` into it); pydantic checks both itself.
Map = Annotated[dict[Identifier, MapValueT], Field(max_length=MAX_ENTRIES)]
LabelMap = Annotated[dict[LabelKey, LabelValue], Field(max_length=MAX_ENTRIES)]

Phase = Literal["Pending", "Waiting", "Running", "Succeeded", "Failed", "Ready", "AwaitingApproval", "Passed"]


class ObjectMeta(ApiModel):
    """The part of Kubernetes' ObjectMeta that pixelgate reads. Other keys are kept, not validated."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    name: ResourceName = Field(description="Resource name (DNS label).")
    namespace: str | None = Field(default=None, description="Namespace; the local runner ignores it.")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels, used by selectors.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations.")
    generation: int | None = Field(default=None, description="Set by the apiserver.")
    uid: str | None = Field(default=None, description="Set by the apiserver.")


SpecT = TypeVar("SpecT", bound=ApiModel)


class Resource(ApiModel, Generic[SpecT]):
    """A manifest: ``apiVersion``, ``kind``, ``metadata`` and a typed ``spec``."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    api_version: Literal["pixelgate.dev/v1alpha1"] = Field(description="Always pixelgate.dev/v1alpha1.")
    kind: str = Field(description="The resource kind.")
    metadata: ObjectMeta = Field(description="Name, labels and annotations.")
    spec: SpecT = Field(description="The desired state.")

    @property
    def name(self) -> str:
        return self.metadata.name

    def spec_hash(self) -> str:
        return spec_hash(self.spec)
