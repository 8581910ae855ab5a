"""The operator's settings, as given on the command line (``pixelgate operator --help``)."""

from __future__ import annotations

from dataclasses import dataclass

from pixelgate.workflows.render import DEFAULT_IMAGE


@dataclass(frozen=True)
class OperatorConfig:
    """Everything one operator process needs; handlers read it, nothing else is global."""

    store_uri: str = "s3://pixelgate/store"
    image: str = DEFAULT_IMAGE
    namespaces: tuple[str, ...] = ()
    clusterwide: bool = False
    kubeconfig: str | None = None  # None: in-cluster credentials, else the default kubeconfig
    context: str | None = None
    standalone: bool = False  # True: no peering (tests, a single replica)
    peering_name: str = "pixelgate"
    priority: int = 0
    liveness_endpoint: str | None = None  # e.g. http://0.0.0.0:8080/healthz
    metrics_port: int | None = None  # prometheus /metrics; None: not served
    metrics_host: str = "0.0.0.0"

    def __post_init__(self) -> None:
        if self.clusterwide == bool(self.namespaces):
            raise ValueError("give either --all-namespaces or at least one --namespace, not both")
