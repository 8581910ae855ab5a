"""Loading manifests: the one place YAML documents become typed resources.

``pixelgate run`` and ``pixelgate render`` read files, folders and stdin (:func:`load_items`);
``pixelgate step --spec`` reads one manifest, a path or the document inline (:func:`load_spec_document`).
Every document goes through :func:`pixelgate.workflows.api.parse_resource`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import ManifestError, parse_resource
from .meta import Resource


@dataclass
class Item:
    """A resource and the folder of the manifest it came from (relative ``source.uri`` resolve there)."""

    resource: Resource[Any]
    base_dir: Path

    @property
    def ref(self) -> tuple[str, str]:
        return (self.resource.kind, self.resource.name)


# The most nodes (mappings, lists, scalars) a manifest may expand to. YAML aliases share one object,
# so a small file can name the same list a billion times ("billion laughs"); everything after the
# loader (validation, JSON, the Workflow) walks the expanded tree.
MAX_EXPANDED_NODES = 200_000


class ManifestTooLarge(ManifestError):
    """A manifest that expands, through YAML aliases, past :data:`MAX_EXPANDED_NODES` (or into itself)."""


def expanded_size(doc: Any, limit: int = MAX_EXPANDED_NODES) -> int:
    """How many nodes ``doc`` has once every alias is expanded; linear in the distinct objects
    (each shared one is sized once). Raises :class:`ManifestTooLarge` past ``limit`` or on a cycle."""
    sizes: dict[int, int] = {}
    open_ids: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_ids:
            raise ManifestTooLarge("the manifest contains itself through a YAML alias")
        open_ids.add(key)
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                raise ManifestTooLarge(
                    f"the manifest expands to more than {limit} nodes through YAML aliases; write it out, smaller"
                )
        open_ids.discard(key)
        sizes[key] = total
        return total

    return size(doc)


def _bounded(doc: Any) -> Any:
    expanded_size(doc)
    return doc


def _load_all(text: str) -> list[Any]:
    try:
        return list(yaml.safe_load_all(text))
    except RecursionError:  # the YAML parser recurses once per nesting level
        raise ManifestTooLarge("the manifest is nested too deeply to read") from None


def _documents(text: str) -> list[dict[str, Any]]:
    return [_bounded(d) for d in _load_all(text) if d]


def load_items(paths: list[str]) -> list[Item]:
    """Resources from files, folders (their *.yaml/*.yml, sorted) or ``-`` (stdin); a resource
    given twice is an error."""
    items: list[Item] = []
    for raw in paths:
        if raw == "-":
            items += [Item(parse_resource(d), Path.cwd()) for d in _documents(sys.stdin.read())]
            continue
        path = Path(raw)
        files = sorted(p for ext in ("*.yaml", "*.yml") for p in path.glob(ext)) if path.is_dir() else [path]
        if not files or not all(f.is_file() for f in files):
            raise FileNotFoundError(f"no manifests at {raw}")
        for f in files:
            items += [Item(parse_resource(d), f.parent.resolve()) for d in _documents(f.read_text())]
    seen: set[tuple[str, str]] = set()
    for item in items:
        if item.ref in seen:
            raise ValueError(f"{item.ref[0]}/{item.ref[1]} is given twice")
        seen.add(item.ref)
    return items


def load_spec_document(spec: str) -> tuple[dict[str, Any], Path | None]:
    """``--spec``: a path to a manifest, or the manifest itself as inline JSON/YAML; with the
    manifest's folder (None inline). :class:`FileNotFoundError` for a path that is no file."""
    text = spec.strip()
    if text.startswith("{"):
        return json.loads(text), None
    if "\n" in text:
        return _single(text), None
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"no such manifest file: {spec}")
    return _single(path.read_text()), path.parent.resolve()


def _single(text: str) -> Any:
    docs = _load_all(text)
    if len(docs) != 1:
        raise ManifestError(f"--spec must hold one manifest, not {len(docs)}")
    return _bounded(docs[0])
