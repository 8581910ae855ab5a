"""Hera builders: one validated resource -> one Argo Workflow manifest (a plain dict).

The operator submits exactly what :func:`render_workflow` returns, and ``pixelgate run``
interprets exactly the same dict on one machine. :func:`dump_manifest` gives its bytes.
"""

from __future__ import annotations

from .builders import RenderError, render_workflow
from .common import DEFAULT_IMAGE, DEFAULT_TRAIN_IMAGE, Runtime, dump_manifest, workflow_name
from .status import status_from_runs

__all__ = [
    "DEFAULT_IMAGE",
    "DEFAULT_TRAIN_IMAGE",
    "RenderError",
    "Runtime",
    "dump_manifest",
    "render_workflow",
    "status_from_runs",
    "workflow_name",
]
