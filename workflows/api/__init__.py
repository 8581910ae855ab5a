"""Pydantic models of every custom resource's spec and status: the single source of truth
from which ``crds/`` is generated (``pixelgate crds``), and what manifests are parsed into."""

from __future__ import annotations

from typing import Any

from .kinds import KINDS, Kind
from .meta import API_VERSION, GROUP, VERSION, Resource


class ManifestError(ValueError):
    """A manifest that is not a valid pixelgate resource; the message says what to fix."""


def parse_resource(doc: dict[str, Any]) -> Resource[Any]:
    """Validate one manifest document into a typed :class:`Resource`."""
    from pydantic import ValidationError

    kind_name = doc.get("kind")
    if doc.get("apiVersion") != API_VERSION:
        raise ManifestError(f"apiVersion must be {API_VERSION} (got {doc.get('apiVersion')!r})")
    if kind_name not in KINDS:
        raise ManifestError(f"kind must be one of {', '.join(KINDS)} (got {kind_name!r})")
    model = Resource[KINDS[kind_name].spec]  # type: ignore[name-defined]
    try:
        return model.model_validate(doc)
    except ValidationError as err:
        name = (doc.get("metadata") or {}).get("name", "?")
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise ManifestError(f"{kind_name}/{name}: {problems}") from None


__all__ = ["API_VERSION", "GROUP", "KINDS", "VERSION", "Kind", "ManifestError", "Resource", "parse_resource"]
