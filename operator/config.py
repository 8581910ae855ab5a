"""The operator's settings, as given on the command line (``pixelgate operator --help``)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pixelgate.workflows import source_policy
from pixelgate.workflows.render import DEFAULT_IMAGE, DEFAULT_TRAIN_IMAGE, Runtime
from pixelgate.workflows.store import tenant_uri


@dataclass(frozen=True)
class OperatorConfig:
    """Everything one operator process needs; handlers read it, nothing else is global."""

    store_uri: str = "s3://pixelgate/store"
    image: str = DEFAULT_IMAGE
    train_image: str = DEFAULT_TRAIN_IMAGE
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
    workflow_service_account: str | None = None  # the ServiceAccount workflow pods run as
    step_env: tuple[str, ...] = ()  # NAME=VALUE for every step (store endpoint, region)
    store_secret: str | None = None  # Secret with the store's credentials, given to every step
    store_secret_keys: str = "AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY"  # their keys in that Secret
    rclone_secret: str | None = None  # Secret holding rclone.conf, mounted for rclone:// sources
    # The source policy every ingest step gets (workflows/source_policy.py): local
    # folders sources may be read from (none by default) and networks beyond the public internet.
    allowed_source_roots: tuple[str, ...] = ()
    allowed_source_networks: tuple[str, ...] = ()

    def store_for(self, namespace: str) -> str:
        """The store URI of one namespace's resources (``--store`` is the base of every tenant)."""
        return tenant_uri(self.store_uri, namespace)

    def runtime(self) -> Runtime:
        env = tuple(tuple(item.split("=", 1)) for item in self.step_env) + (
            (source_policy.ROOTS_ENV, ":".join(self.allowed_source_roots)),
            (source_policy.NETWORKS_ENV, ",".join(self.allowed_source_networks)),
        )
        keys = tuple(self.store_secret_keys.split(","))
        return Runtime(self.workflow_service_account, env, self.store_secret, keys, self.rclone_secret)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        if self.clusterwide == bool(self.namespaces):
            raise ValueError("give either --all-namespaces or at least one --namespace, not both")
        bad = [item for item in self.step_env if "=" not in item or not item.split("=", 1)[0]]
        if bad:
            raise ValueError(f"--step-env: expected NAME=VALUE, got {', '.join(bad)}")
        bad_roots = [root for root in self.allowed_source_roots if not root.startswith("/") or ":" in root]
        if bad_roots:
            raise ValueError(
                f"--allowed-source-root: expected absolute folders without ':', got {', '.join(bad_roots)}"
            )
        for network in self.allowed_source_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"--allowed-source-network: {network!r} is not a CIDR network") from None
        if len(self.store_secret_keys.split(",")) != 2:
            raise ValueError(
                f"--store-secret-keys: expected ACCESS_KEY_ID_KEY,SECRET_ACCESS_KEY_KEY, "
                f"got {self.store_secret_keys!r}"
            )
