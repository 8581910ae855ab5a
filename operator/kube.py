"""The operator's few Kubernetes calls, made with the official client in worker threads.

kopf owns the watches and the handler bookkeeping; this module does the writes that must be
exact: creating a workflow exactly once (its deterministic name makes a second create a 409),
and replacing a resource's ``status`` with optimistic concurrency (a 409 re-reads and recomputes,
so no update is ever lost).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import kopf
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from pixelgate.workflows.api import KINDS
from pixelgate.workflows.api.meta import GROUP, VERSION

from .config import OperatorConfig
from .status import ARGO_GROUP, ARGO_VERSION

log = logging.getLogger(__name__)

WORKFLOWS = "workflows"
MAX_CONFLICT_RETRIES = 20
T = TypeVar("T")


POOL_SIZE = 32  # keep-alive connections: without them a burst of reconciles pays a TLS handshake each


def api_client(cfg: OperatorConfig) -> client.ApiClient:
    """A client from ``--kubeconfig`` (or the default kubeconfig), or in-cluster credentials."""
    configuration = client.Configuration()
    configuration.connection_pool_maxsize = POOL_SIZE
    if cfg.kubeconfig is None:
        try:
            config.load_incluster_config(client_configuration=configuration)
            return client.ApiClient(configuration)
        except config.ConfigException:
            pass
    config.load_kube_config(config_file=cfg.kubeconfig, context=cfg.context, client_configuration=configuration)
    return client.ApiClient(configuration)


def plural(kind: str) -> str:
    return KINDS[kind].plural


class Kube:
    """Async facade over ``CustomObjectsApi`` for our kinds and Argo Workflows."""

    def __init__(self, api: client.ApiClient):
        self.api = api
        self.custom = client.CustomObjectsApi(api)

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await asyncio.to_thread(
                self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, plural(kind), name
            )
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    async def ensure_workflow(self, namespace: str, manifest: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create the workflow, or return the one of that name that exists. True when created now."""
        try:
            created = await asyncio.to_thread(
                self.custom.create_namespaced_custom_object, ARGO_GROUP, ARGO_VERSION, namespace, WORKFLOWS, manifest
            )
            return created, True
        except ApiException as err:
            if err.status != 409:
                raise
        existing = await asyncio.to_thread(
            self.custom.get_namespaced_custom_object,
            ARGO_GROUP,
            ARGO_VERSION,
            namespace,
            WORKFLOWS,
            manifest["metadata"]["name"],
        )
        return existing, False

    async def update_status(
        self,
        kind: str,
        namespace: str,
        name: str,
        compute: Callable[[dict[str, Any]], tuple[dict[str, Any], list[T]] | None],
        body: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any] | None, list[T]]:
        """Replace ``status`` with what ``compute(body)`` returns (None: leave it), retrying on conflicts.

        ``compute`` sees the freshest body each time, so a concurrent write is never overwritten
        with a stale view. Returns the body written (None when nothing was) and the transitions
        ``compute`` reported for the write that succeeded. ``body``, when given, is a fresh copy
        to try first (it saves a GET; a conflict re-reads).
        """
        for _ in range(MAX_CONFLICT_RETRIES):
            if body is None:
                body = await self.get(kind, namespace, name)
            if body is None:
                return None, []
            result = compute(body)
            if result is None or result[0] == body.get("status"):
                return None, []
            new_status, transitions = result
            try:
                written = await asyncio.to_thread(
                    self.custom.replace_namespaced_custom_object_status,
                    GROUP,
                    VERSION,
                    namespace,
                    plural(kind),
                    name,
                    {**body, "status": new_status},
                )
                return written, transitions
            except ApiException as err:
                if err.status == 404:
                    return None, []
                if err.status != 409:
                    raise
                body = None
                log.debug("status of %s %s/%s changed meanwhile; recomputing", kind, namespace, name)
        raise RuntimeError(
            f"status of {kind} {namespace}/{name}: still conflicting after {MAX_CONFLICT_RETRIES} tries"
        )


def connection_info(api: client.ApiClient) -> kopf.ConnectionInfo:
    """kopf's credentials, taken from the same client configuration the operator's own calls use."""

    cfg = api.configuration
    # kubeconfig tokens land under "BearerToken" (kubernetes >= 30), hand-made configs under "authorization"
    header = cfg.get_api_key_with_prefix("BearerToken") or cfg.get_api_key_with_prefix("authorization") or ""
    scheme, _, token_value = header.partition(" ")
    if not token_value:
        scheme, token_value = "Bearer", scheme
    return kopf.ConnectionInfo(
        server=cfg.host,
        ca_path=cfg.ssl_ca_cert,
        insecure=not cfg.verify_ssl,
        certificate_path=cfg.cert_file,
        private_key_path=cfg.key_file,
        scheme=scheme if token_value else None,
        token=token_value or None,
    )
