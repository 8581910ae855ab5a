"""Declarative mapping: source records -> conversations (role, text) with carried metadata.

Three layouts cover every supported shape (see docs/dataset-family.md):

* ``turns``: one conversation per record, turns in a list (ESConv ``dialog``, OpenAI
  ``messages`` with role/content, ShareGPT ``conversations`` with from/value);
* ``rows``: one turn per row, grouped by a key and ordered by another (AnnoMI); groups must be
  contiguous in the file (they are streamed, one conversation in memory at a time);
* ``pair``: one prompt/response pair per record (CounselChat).

Pure functions: nothing here reads files or repairs text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ...api.dataset_family import Mapping
from .produced import Conversation, Rejected
from .sources import RawItem

_MISSING = object()


@dataclass
class _Group:
    key: Any
    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def get_path(value: Any, path: str) -> Any:
    """``a.b.0.c`` into nested dicts/lists; ``_MISSING`` when any step is absent."""
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _text(value: Any) -> str | None:
    if value is _MISSING or value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _meta(mapping: Mapping, record: Any) -> dict[str, Any]:
    out = {}
    for name, path in mapping.metadata.items():
        value = get_path(record, path)
        out[name] = None if value is _MISSING else value
    return out


def _role(mapping: Mapping, label: Any) -> str | None:
    return mapping.roles.get(str(label).strip()) if label is not None else None


def _finish(
    mapping: Mapping, position: str, turns: list[tuple[str, str]], record: Any, raw: Any
) -> Conversation | Rejected:
    if not any(text.strip() for _, text in turns):
        return Rejected(position, raw, "empty_conversation", "no turn has text")
    name = _text(get_path(record, mapping.id_field)) if mapping.id_field else None
    return Conversation(position, turns, _meta(mapping, record), raw, name)


def map_record(mapping: Mapping, item: RawItem) -> Conversation | Rejected:
    """One source record (turns or pair layout) -> a conversation or the reason it is rejected."""
    record = item.value
    if not isinstance(record, dict):
        return Rejected(item.position, item.raw, "not_an_object", f"expected an object, got {type(record).__name__}")
    if mapping.turns is not None:
        spec = mapping.turns
        turns_value = get_path(record, spec.path)
        if not isinstance(turns_value, list):
            missing = turns_value is _MISSING
            return Rejected(
                item.position,
                item.raw,
                "missing_field" if missing else "bad_field",
                f"{spec.path!r} {'is missing' if missing else 'is not a list'}",
                "mapping.turns.path",
            )
        turns = []
        for i, turn in enumerate(turns_value):
            label = turn.get(spec.role) if isinstance(turn, dict) else None
            text = _text(turn.get(spec.content, _MISSING)) if isinstance(turn, dict) else None
            if label is None or text is None:
                which = "mapping.turns.role" if label is None else "mapping.turns.content"
                key = spec.role if label is None else spec.content
                return Rejected(item.position, item.raw, "missing_field", f"turn {i} has no {key!r}", which)
            role = _role(mapping, label)
            if role is None:
                return Rejected(
                    item.position,
                    item.raw,
                    "unknown_role",
                    f"turn {i} speaker {label!r} is not in mapping.roles",
                    "mapping.roles",
                )
            turns.append((role, text))
        return _finish(mapping, item.position, turns, record, item.raw)
    spec_pair = mapping.pair
    assert spec_pair is not None
    parts = [_text(get_path(record, f)) for f in spec_pair.prompt]
    answer = _text(get_path(record, spec_pair.response))
    if all(p is None for p in parts) or answer is None:
        missing = spec_pair.response if answer is None else ", ".join(spec_pair.prompt)
        which = "mapping.pair.response" if answer is None else "mapping.pair.prompt"
        return Rejected(item.position, item.raw, "missing_field", f"no {missing!r}", which)
    prompt = "\n\n".join(p.strip() for p in parts if p and p.strip())
    return _finish(mapping, item.position, [("user", prompt), ("assistant", answer)], record, item.raw)


def _order_key(value: Any) -> tuple[int, float, str]:
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def _map_group(mapping: Mapping, group: _Group) -> Conversation | Rejected:
    spec = mapping.rows
    assert spec is not None
    position = f"{spec.group_by}={group.key}"
    raw = {"rows": [pos for pos, _ in group.rows]}
    seen: set[Any] = set()
    ordered = sorted(group.rows, key=lambda pr: _order_key(pr[1].get(spec.order_by)))
    turns = []
    for pos, row in ordered:
        if spec.dedupe_turns_by:
            turn_key = row.get(spec.dedupe_turns_by)
            if turn_key in seen:
                continue
            seen.add(turn_key)
        role = _role(mapping, row.get(spec.role))
        if role is None:
            return Rejected(
                position,
                raw,
                "unknown_role",
                f"{pos}: speaker {row.get(spec.role)!r} is not in mapping.roles",
                "mapping.roles",
            )
        turns.append((role, _text(row.get(spec.content)) or ""))
    return _finish(mapping, position, turns, group.rows[0][1], raw)


def map_rows(mapping: Mapping, items: Iterable[RawItem]) -> Iterator[Conversation | Rejected]:
    """Group contiguous rows into conversations; a group that reappears later is rejected
    (reason ``group_not_contiguous``) rather than merged, so memory stays one conversation."""
    spec = mapping.rows
    assert spec is not None
    needed = [spec.group_by, spec.order_by, spec.role, spec.content]
    done: set[str] = set()
    current: _Group | None = None
    for item in items:
        if item.reason is not None:
            yield Rejected(item.position, item.raw, item.reason, item.detail)
            continue
        row = item.value
        if not isinstance(row, dict):
            yield Rejected(item.position, item.raw, "not_an_object", f"expected a row, got {type(row).__name__}")
            continue
        absent = [c for c in needed if row.get(c) is None]
        if absent:
            field_name = {
                spec.group_by: "groupBy",
                spec.order_by: "orderBy",
                spec.role: "role",
                spec.content: "content",
            }[absent[0]]
            yield Rejected(
                item.position, item.raw, "missing_field", f"no column {absent[0]!r}", f"mapping.rows.{field_name}"
            )
            continue
        key = str(row[spec.group_by])
        if current is not None and key != current.key:
            yield _map_group(mapping, current)
            done.add(current.key)
            current = None
        if current is None:
            if key in done:
                yield Rejected(
                    item.position,
                    item.raw,
                    "group_not_contiguous",
                    f"{spec.group_by}={key} appeared earlier; sort the source by it",
                )
                continue
            current = _Group(key)
        current.rows.append((item.position, row))
    if current is not None:
        yield _map_group(mapping, current)


def map_items(mapping: Mapping, items: Iterable[RawItem]) -> Iterator[Conversation | Rejected]:
    """Every source item -> a conversation or a rejection, in source order."""
    if mapping.rows is not None:
        yield from map_rows(mapping, items)
        return
    for item in items:
        if item.reason is not None:
            yield Rejected(item.position, item.raw, item.reason, item.detail)
        else:
            yield map_record(mapping, item)
