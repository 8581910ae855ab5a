"""A derived family's parents, found through the store's ``families/<name>/latest.json`` pointers.

``from.names`` are taken as given (each must have a pointer); ``from.selector`` is matchLabels
over the labels the ingest step wrote into each pointer (the DatasetFamily's labels). The union
is read in name order. A family never derives from itself, even when its own labels match.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ... import layout
from ...api.dataset_family import FamilyRefs
from ...store import Store, read_pointer
from ..ingest.sources import IngestError


@dataclass(frozen=True)
class Parent:
    name: str
    root: str  # the family output folder the pointer names
    spec_hash: str
    stats_sha256: str  # sha256 of its stats.json: recorded as the input's checksum


def _pointer_names(store: Store) -> list[str]:
    names = []
    for key in store.list("families/"):
        parts = key.split("/")
        if len(parts) == 3 and parts[2] == "latest.json":
            names.append(parts[1])
    return sorted(names)


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def resolve_parents(store: Store, refs: FamilyRefs, family: str) -> list[Parent]:
    """The parents, in name order; :class:`IngestError` naming ``source.derive.from`` when one is
    missing from the store or nothing matches."""
    if family in refs.names:
        raise IngestError("source.derive.from.names", f"{family!r} cannot derive from itself")
    missing = [n for n in refs.names if not store.exists(layout.family_pointer(n))]
    if missing:
        raise IngestError(
            "source.derive.from.names",
            f"parent famil{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)} ha{'s' if len(missing) == 1 else 've'} no output in the store "
            f"({layout.family_pointer(missing[0])} is missing): ingest {'it' if len(missing) == 1 else 'them'} first",
        )
    names = set(refs.names)
    if refs.selector:
        selected = [
            n for n in _pointer_names(store)
            if n != family and matches(refs.selector, read_pointer(store, layout.family_pointer(n)).get("labels") or {})
        ]
        if not selected and not names:
            raise IngestError("source.derive.from.selector", f"no family in the store has labels matching {refs.selector}")
        names.update(selected)
    parents = []
    for name in sorted(names):
        pointer = read_pointer(store, layout.family_pointer(name))
        root = pointer["target"]
        stats_key = layout.family_stats(root)
        if not store.exists(stats_key):
            raise IngestError("source.derive.from", f"parent {name!r} output {root} has no stats.json: not a finished ingest")
        parents.append(Parent(name, root, str(pointer.get("spec_hash") or root.rsplit("/", 1)[-1]), hashlib.sha256(store.read_bytes(stats_key)).hexdigest()))
    return parents


def input_digest(parents: list[Parent], extra: list[str]) -> str:
    """What a derived output depends on besides its spec: each parent's name, spec hash and
    stats.json checksum (which changes with the parent's source files even when its spec does
    not), and the term lists it uses (``extra``). Folded into the family's spec hash by the
    ingest pipeline."""
    payload = {"parents": [[p.name, p.spec_hash, p.stats_sha256] for p in parents], "lexicons": sorted(extra)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
