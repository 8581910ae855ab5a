"""The status fields every workflow-backed resource shares (DatasetFamily, CompileRun, TrainingRun).

The operator writes them from the resource's Argo Workflow; the local runner writes the same model to
``status/<Kind>/<name>.json``. Every field here is in the CRD schema, so the apiserver prunes nothing
the operator writes (``tests/test_crds_apiserver.py`` proves it).
"""

from __future__ import annotations

from pydantic import Field

from .meta import ApiModel, Condition


class NodeFailure(ApiModel):
    """A workflow step that failed or errored."""

    name: str = Field(description="The step's display name in the workflow.")
    phase: str = Field(default="Failed", description="Failed or Error, as Argo reported it.")
    message: str = Field(default="", description="Argo's message for the step (exit code, OOM, deadline).")


class WorkflowStatus(ApiModel):
    """Status common to the resources the operator runs as Argo Workflows."""

    phase: str | None = Field(default=None, description="Summary phase; see the kind's phase list.")
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation this status was computed from."
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Summary and per-stage conditions (Kubernetes API conventions)."
    )
    workflow: str | None = Field(
        default=None, description="Name of the Argo Workflow of the current spec (resource name + spec hash)."
    )
    spec_hash: str | None = Field(
        default=None, description="Hash of the spec the workflow and outputs were made from."
    )
    workflow_phase: str | None = Field(
        default=None, description="The Argo Workflow's own phase: Pending, Running, Succeeded, Failed or Error."
    )
    progress: str | None = Field(
        default=None,
        description="Work done out of all, as Argo reports it: the sum over the steps of what each writes to its "
        "progress file (records for ingest, stage partitions for a compile, optimizer steps for train), else 1/1 "
        "per finished step; e.g. 42/42.",
    )
    message: str | None = Field(default=None, description="The workflow's message, or why the resource waits.")
    failed_nodes: list[NodeFailure] = Field(
        default_factory=list, description="Steps that failed, with Argo's message."
    )
    started_at: str | None = Field(default=None, description="When the workflow started (RFC 3339).")
    finished_at: str | None = Field(default=None, description="When the workflow finished (RFC 3339).")
