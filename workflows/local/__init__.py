"""The local runner: ``pixelgate run`` interprets the rendered Argo manifests on one machine.

It reads the compiled manifest, not the Python that built it (like ``kfp.local``), so what
runs here is exactly what the operator submits to Argo.
"""

from .interpreter import ManifestFeatureError, WorkflowFailed, run_workflow
from .runner import RunReport, run_resources

__all__ = ["ManifestFeatureError", "RunReport", "WorkflowFailed", "run_resources", "run_workflow"]
