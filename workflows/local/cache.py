"""Step cache of the local runner: one small JSON record per finished node in the store.

A node's key hashes the pipeline version, the image, its substituted argv (the spec, the
store, its parameters), the keys and outputs of the tasks it depends on, and the resource's
context (its input files, the upstream resources' results). A record is reused only when its
key matches and every store location named in its outputs still exists; anything missing,
unreadable or different is a miss, never an error.
"""

from __future__ import annotations

import json
from typing import Any

from ..layout import run_node_key
from ..store import Store


def _store_refs(value: Any, prefix: str) -> list[str]:
    """Store keys named (as full URIs under the store) anywhere in a JSON value."""
    if isinstance(value, str):
        if value.startswith(prefix):
            return [value[len(prefix) :]]
        try:
            parsed = json.loads(value)
        except (json.JSONDecodeError, ValueError):
            return []
        return _store_refs(parsed, prefix) if isinstance(parsed, (dict, list)) else []
    if isinstance(value, dict):
        return [k for v in value.values() for k in _store_refs(v, prefix)]
    if isinstance(value, list):
        return [k for v in value for k in _store_refs(v, prefix)]
    return []


class NodeCache:
    def __init__(self, store: Store | None, enabled: bool = True):
        self.store = store
        self.enabled = enabled and store is not None

    def _present(self, key: str) -> bool:
        assert self.store is not None
        key = key.strip("/")
        return bool(key) and (self.store.exists(key) or bool(self.store.list(key + "/")))

    def lookup(self, workflow: str, node: str, key: str) -> dict[str, str] | None:
        if not self.enabled:
            return None
        assert self.store is not None
        try:
            record = self.store.read_json(run_node_key(workflow, node))
            if record.get("key") != key or not isinstance(record.get("outputs"), dict):
                return None
            outputs = {str(k): str(v) for k, v in record["outputs"].items()}
        except Exception:  # missing or corrupt: a miss
            return None
        prefix = self.store.uri.rstrip("/") + "/"
        if not all(self._present(ref) for ref in _store_refs(outputs, prefix)):
            return None
        return outputs

    def record(self, workflow: str, node: str, key: str, outputs: dict[str, str]) -> None:
        if self.store is not None:
            self.store.write_json(run_node_key(workflow, node), {"key": key, "outputs": outputs})
