"""pixelgate's data plane: the API models, the step functions (ingest, compile, train,
evaluate), the Hera builders that render them into Argo Workflows, the local runner that
interprets those manifests, and the ``pixelgate`` CLI. It never imports :mod:`pixelgate.operator`.
"""

PIPELINE_VERSION = "0.1.0"
