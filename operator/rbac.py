"""The access the operator needs, checked at startup with SelfSubjectAccessReviews.

A missing permission stops the operator before it watches anything, with one error naming every
missing (verb, resource, namespace), instead of a stream of 403s later. The Helm chart grants
exactly these rules (``helm/pixelgate/files/operator-rbac.yaml``; a test keeps the two equal).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from kubernetes import client

from pixelgate.workflows.api import KINDS
from pixelgate.workflows.api.meta import GROUP


@dataclass(frozen=True)
class Access:
    group: str
    resource: str
    verb: str
    namespaced: bool = True

    def __str__(self) -> str:
        return f"{self.verb} {self.resource}" + (f".{self.group}" if self.group else "")


def _all(group: str, resources: list[str], verbs: list[str], namespaced: bool = True) -> list[Access]:
    return [Access(group, r, v, namespaced) for r in resources for v in verbs]


_PLURALS = [k.plural for k in KINDS.values()]

REQUIRED: list[Access] = [
    *_all(GROUP, _PLURALS, ["get", "list", "watch", "patch"]),
    *_all(GROUP, [f"{p}/status" for p in _PLURALS], ["get", "update", "patch"]),
    *_all("argoproj.io", ["workflows"], ["get", "list", "watch", "create"]),
    *_all("", ["events"], ["create"]),
    *_all("events.k8s.io", ["events"], ["create"]),
    *_all("kopf.dev", ["kopfpeerings"], ["get", "list", "watch", "patch"]),
    *_all("kopf.dev", ["clusterkopfpeerings"], ["get", "list", "watch", "patch"], namespaced=False),
    *_all("", ["namespaces"], ["list", "watch"], namespaced=False),
    *_all("apiextensions.k8s.io", ["customresourcedefinitions"], ["list", "watch"], namespaced=False),
]


class MissingPermissions(RuntimeError):
    """The operator's identity lacks rights it needs; the message lists them."""


def _allowed(authz: client.AuthorizationV1Api, access: Access, namespace: str | None) -> bool:
    resource, _, sub = access.resource.partition("/")
    attrs = client.V1ResourceAttributes(
        group=access.group, resource=resource, subresource=sub or None, verb=access.verb, namespace=namespace
    )
    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attrs))
    return bool(authz.create_self_subject_access_review(review).status.allowed)


async def missing(api: client.ApiClient, namespaces: list[str] | None) -> list[str]:
    """Every required access not granted, as 'verb resource in namespace' (namespaces None: cluster-wide)."""
    authz = client.AuthorizationV1Api(api)
    checks = [(access, ns) for access in REQUIRED for ns in ((namespaces or [None]) if access.namespaced else [None])]
    results = await asyncio.gather(*(asyncio.to_thread(_allowed, authz, a, ns) for a, ns in checks))
    return [f"{a} in {ns or 'all namespaces'}" for (a, ns), ok in zip(checks, results) if not ok]


async def check(api: client.ApiClient, namespaces: list[str] | None) -> None:
    gaps = await missing(api, namespaces)
    if gaps:
        raise MissingPermissions(
            f"the operator's identity lacks {len(gaps)} permission(s): "
            + "; ".join(gaps)
            + ". Bind it to the ClusterRole of helm/pixelgate/files/operator-rbac.yaml."
        )
