"""A derived family's parents: the families ``source.derive.from`` selects, each read at the
identity the workflow was rendered with (their ``families/<name>/latest.json`` pointers must
still name it). The union is read in name order. A family never derives from itself, even when
its own labels match; the selection itself is :func:`pixelgate.workflows.api.selection.select`,
over the labels the ingest step wrote into each pointer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from .... import layout
from ....api.kinds import DATASET_FAMILY
from ....api.selection import Selection
from ....store import Store
from ...inputs import input_root
from ..sources import IngestError


@dataclass(frozen=True)
class Parent:
    name: str
    root: str  # the family output folder the pointer names
    spec_hash: str  # its identity
    stats_sha256: str  # sha256 of its stats.json: recorded as the input's checksum


def resolve_parents(store: Store, selection: Selection, family: str, inputs: Mapping[str, str]) -> list[Parent]:
    """The parents, in name order, each read at its identity in ``inputs`` (``DatasetFamily/<name>``;
    see :func:`pixelgate.workflows.steps.inputs.store_inputs` for a step run by hand).
    :class:`IngestError` naming ``source.derive.from`` when one is missing or nothing matches."""
    if family in selection.names:
        raise IngestError("source.derive.from.names", f"{family!r} cannot derive from itself")
    names = sorted(n for kind, _, n in (key.partition("/") for key in inputs) if kind == DATASET_FAMILY)
    missing = [n for n in selection.names if n not in names]
    if missing:
        raise IngestError(
            "source.derive.from.names",
            f"parent famil{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)} "
            f"ha{'s' if len(missing) == 1 else 've'} no output in the store "
            f"({layout.family_pointer(missing[0])} is missing): ingest {'it' if len(missing) == 1 else 'them'} first",
        )
    if not names:
        labels = selection.selector.match_labels if selection.selector else {}
        raise IngestError("source.derive.from.selector", f"no family in the store has labels matching {labels}")
    parents = []
    for name in names:
        root = input_root(store, DATASET_FAMILY, name, dict(inputs), "source.derive.from")
        stats_key = layout.family_stats(root)
        if not store.exists(stats_key):
            raise IngestError(
                "source.derive.from", f"parent {name!r} output {root} has no stats.json: not a finished ingest"
            )
        parents.append(
            Parent(
                name, root, inputs[f"{DATASET_FAMILY}/{name}"], hashlib.sha256(store.read_bytes(stats_key)).hexdigest()
            )
        )
    return parents
