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

from . import parse_resource
from .meta import Resource


@dataclass
class Item:
    """A resource and the folder of the manifest it came from (relative ``source.uri`` resolve there)."""

    resource: Resource[Any]
    base_dir: Path

    @property
    def ref(self) -> tuple[str, str]:
        return (self.resource.kind, self.resource.name)


def _documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


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
        return yaml.safe_load(text), None
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"no such manifest file: {spec}")
    return yaml.safe_load(path.read_text()), path.parent.resolve()
