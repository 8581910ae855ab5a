"""The ingest step: a DatasetFamily's source -> canonical, Unicode-clean, PII-redacted, scored
records with provenance (docs/dataset-family.md, docs/records.md, docs/storage.md).

``ingest_family`` is the plain typed function; ``run_step`` is the ``pixelgate step ingest``
adapter (registry entry point).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...api.dataset_family import DatasetFamilySpec
from .pipeline import IngestResult, ingest_family
from .sources import IngestError

if TYPE_CHECKING:
    from ..registry import StepInvocation


def run_step(invocation: "StepInvocation") -> IngestResult:
    """``pixelgate step ingest --spec family.yaml --store URI``; params: ``batchSize``, ``shardSize``."""
    resource = invocation.resource
    if not isinstance(resource.spec, DatasetFamilySpec):
        raise IngestError("kind", f"the ingest step needs a DatasetFamily, got {resource.kind}")
    params = invocation.params
    return ingest_family(
        resource.name,
        resource.spec,
        invocation.store,
        invocation.base_dir,
        batch_size=int(params.get("batchSize", 256)),
        shard_size=int(params.get("shardSize", 10_000)),
        labels=resource.metadata.labels,
        inputs=invocation.resolved_inputs,
    )


__all__ = ["IngestError", "IngestResult", "ingest_family", "run_step"]
