"""Selecting resources by name and by labels: the one selector model and the one matcher.

A CompileRun's ``families`` and a derived family's ``source.derive.from`` are both a
:class:`Selection`: ``names`` plus an optional ``selector.matchLabels`` (the union of the two).
Every runtime (operator, local runner, the steps reading store pointers) selects with
:func:`select`, so the same resources are chosen everywhere.

``selector`` also reads the form of the first API release, a bare label map
(``selector: {stage: foundation}``), as ``selector.matchLabels``; it is deprecated for
``v1alpha1`` and warns (:class:`LegacySelectorWarning`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import Field, model_validator

from .meta import MAX_ENTRIES, MAX_ITEMS, ApiModel, LabelMap, ResourceName


class LegacySelectorWarning(DeprecationWarning):
    """A selector written as a bare label map instead of ``matchLabels``."""


class LabelSelector(ApiModel):
    """Kubernetes-style ``matchLabels``: every listed label must be present with that value."""

    # Optional on the wire, so that the bare-map form (no matchLabels key) passes the CRD schema;
    # a selector naming no label is refused (here, and by the CRD rule when matchLabels is given).
    match_labels: LabelMap | None = Field(default=None, description="Labels a resource must carry (all of them).")

    model_config = ApiModel.model_config | {
        # the bare-map form of the first release is kept (and rewritten) rather than pruned away
        "json_schema_extra": {
            "x-kubernetes-preserve-unknown-fields": True,
            "maxProperties": MAX_ENTRIES,  # bounds the bare-map form too
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.matchLabels) || size(self.matchLabels) > 0",
                    "message": "selector.matchLabels: name at least one label (an empty selector would select "
                    "everything)",
                }
            ],
        }
    }

    @model_validator(mode="before")
    @classmethod
    def _bare_label_map(cls, value: Any) -> Any:
        if isinstance(value, Mapping) and value and not {"matchLabels", "match_labels"} & set(value):
            warnings.warn(
                "selector: a bare label map is deprecated; write selector.matchLabels",
                LegacySelectorWarning,
                stacklevel=2,
            )
            return {"matchLabels": dict(value)}
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> "LabelSelector":
        if not self.match_labels:
            raise ValueError(
                "selector.matchLabels: name at least one label (an empty selector would select everything)"
            )
        return self


class Selection(ApiModel):
    """Resources by name, by label selector, or both (the union)."""

    names: list[ResourceName] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="Resource names (DNS labels)."
    )
    selector: LabelSelector | None = Field(default=None, description="A label selector (matchLabels).")

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "size(self.names) > 0 || has(self.selector)", "message": "give names, a selector, or both"}
            ]
        }
    }

    @model_validator(mode="after")
    def _something(self) -> "Selection":
        if not self.names and self.selector is None:
            raise ValueError("give names, a selector, or both")
        return self


def matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """True when ``labels`` carry every label of ``selector`` (a missing selector matches nothing)."""
    return selector is not None and all(labels.get(k) == v for k, v in (selector.match_labels or {}).items())


def select(
    selection: Selection, candidates: Iterable[tuple[str, Mapping[str, str]]], exclude: str | None = None
) -> tuple[list[str], list[str]]:
    """(chosen names in name order, named resources that are not among the candidates).

    ``candidates`` are (name, labels) pairs; ``exclude`` is never chosen (a derived family does
    not select itself even when its own labels match)."""
    labels = {name: dict(lbls) for name, lbls in candidates if name != exclude}
    chosen = {n for n in selection.names if n in labels}
    chosen |= {n for n, lbls in labels.items() if matches(selection.selector, lbls)}
    missing = sorted({n for n in selection.names if n not in labels and n != exclude})
    return sorted(chosen), missing
