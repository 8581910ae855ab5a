"""The resources a step reads, found through the store's ``latest.json`` pointers.

An orchestrated step is told the identities of its inputs (the workflow's ``inputs`` parameter,
from the statuses the operator or the local runner saw). A step run by hand is not: it finds them
here, with the same declaration and the same matcher, so it writes to the same folder.
:func:`check_inputs` makes sure the inputs a step reads are the ones it was rendered for.
"""

from __future__ import annotations

from typing import Any

from .. import layout
from ..api.kinds import KINDS, Observed, input_key, selections
from ..api.selection import select
from ..store import Store, read_pointer
from .registry import StepInputError


def observed_in_store(store: Store, kind: str) -> list[Observed]:
    """Every resource of ``kind`` with an output pointer, as done, with its labels and identity."""
    out = []
    for key in store.list(f"{layout.PREFIX[kind]}/"):
        name = layout.pointer_owner(kind, key)
        if name is None:
            continue
        pointer = read_pointer(store, key)
        out.append(
            Observed(
                kind,
                name,
                dict(pointer.get("labels") or {}),
                KINDS[kind].done_phase,
                True,
                str(pointer.get("spec_hash") or ""),
            )
        )
    return out


def store_inputs(kind: str, name: str, spec: Any, store: Store) -> dict[str, str]:
    """``Kind/name`` -> identity of every input the spec selects that has an output in the store."""
    inputs: dict[str, str] = {}
    for dep, selection in selections(kind, spec):
        if not dep.joins_identity:
            continue
        found = {o.name: o for o in observed_in_store(store, dep.kind)}
        exclude = name if dep.kind == kind else None
        chosen, _ = select(selection, ((o.name, o.labels) for o in found.values()), exclude=exclude)
        inputs.update({input_key(dep.kind, n): str(found[n].identity) for n in chosen})
    return inputs


def input_root(store: Store, kind: str, name: str, inputs: dict[str, str], field: str) -> str:
    """The output folder of input ``kind/name`` with the identity the step was given; a
    :class:`StepInputError` naming ``field`` when the input is missing or has moved on since."""
    expected = inputs.get(input_key(kind, name))
    key = layout.pointer(kind, name)
    if not store.exists(key):
        raise StepInputError(field, f"{kind} {name!r} has no output in the store ({key} is missing): run it first")
    current = str(read_pointer(store, key).get("spec_hash") or "")
    if expected is not None and expected != current:
        raise StepInputError(
            field,
            f"{kind} {name!r} changed since this workflow was made (output {current}, "
            f"expected {expected}): it is re-rendered",
        )
    return layout.output_root(kind, name, current)
