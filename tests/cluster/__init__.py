"""Real test servers for pixelgate: a Kubernetes control plane (etcd + kube-apiserver +
kube-controller-manager), an S3 server (versitygw), Prometheus/promtool, helm, the argo CLI, Argo's
web UI (``argo server`` of argo-ui) and headless Chromium (``tests.cluster.chromium``).

Build the binaries with ``bash tools/testcluster/build.sh``; see docs/testing.md.
Use them from pytest through the fixtures in ``tests.cluster.fixtures`` or by hand with
``python -m tests.cluster up kube|s3|prometheus``.
"""

from .tools import ServerStartError, ToolMissing, skip_or_fail, tool_path, tools_required, versions

__all__ = ["ServerStartError", "ToolMissing", "skip_or_fail", "tool_path", "tools_required", "versions"]
