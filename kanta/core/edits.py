"""Reading the diff format: the edits a record makes, for display, grep and log events.

One reader, walking the levels the way a replay applies them (`patch` does the applying).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

from .diff import unescape_key
from .patch import deleted_keys, is_list_edit


class _Unknown:
    """The previous state when the caller does not have it."""


UNKNOWN: Final = _Unknown()
"""Pass as `previous` when the state before a record is not known: every dict is a level."""


@dataclass(frozen=True)
class Edit:
    """One thing a diff does at a path: assign a value, delete a key, or insert into a list.

    A delete's `value` is what it removed, where the state before the record was given.
    """

    path: tuple[Any, ...]
    kind: Literal["set", "delete", "insert"]
    value: Any = None


def edits(diff: Any, previous: Any = UNKNOWN, path: tuple[Any, ...] = ()) -> Iterator[Edit]:
    """The edits a diff makes to `previous`, walking the levels the way a replay applies them.

    A dict under a key whose previous value is a dict is a level (its keys are edits of
    their own); any other dict value is assigned whole. With `previous` UNKNOWN every
    dict that is not a `$replace` is taken for a level.
    """
    if not isinstance(diff, dict):
        yield Edit(path, "set", diff)
        return
    if "$replace" in diff:
        yield Edit(path, "set", diff["$replace"])
        return
    if isinstance(previous, list) or (previous is UNKNOWN and "$insert" in diff):
        yield from _list_edits(diff, previous, path)
        return
    for key in deleted_keys(diff.get("$delete", [])):
        name = unescape_key(key)
        yield Edit((*path, name), "delete", _child(previous, name, None))
    for key, value in diff.items():
        if key in ("$delete", "$insert"):
            continue
        name = unescape_key(key)
        yield from _edits_at(value, _child(previous, name), (*path, name))


def _edits_at(value: Any, old: Any, path: tuple[Any, ...]) -> Iterator[Edit]:
    if _is_level(value, old):
        yield from edits(value, old, path)
    elif isinstance(value, dict) and "$replace" in value:
        yield Edit(path, "set", value["$replace"])
    else:
        yield Edit(path, "set", value)


def _list_edits(diff: dict[Any, Any], previous: Any, path: tuple[Any, ...]) -> Iterator[Edit]:
    # jsondiff's list edit: positions deleted from the old list, then inserted, then edited.
    for position in diff.get("$delete", []):
        yield Edit((*path, position), "delete", _item(previous, position))
    for position, value in diff.get("$insert", []):
        yield Edit((*path, position), "insert", value)
    for key, value in diff.items():
        if isinstance(key, str) and key.startswith("$"):
            continue
        position = int(key)
        yield from _edits_at(value, _item(previous, position, UNKNOWN), (*path, position))


def _child(previous: Any, name: Any, unknown: Any = UNKNOWN) -> Any:
    if previous is UNKNOWN:
        return unknown
    return previous.get(name) if isinstance(previous, dict) else None


def _item(previous: Any, position: Any, unknown: Any = None) -> Any:
    if previous is UNKNOWN:
        return unknown
    if isinstance(previous, list) and isinstance(position, int):
        return previous[position] if -len(previous) <= position < len(previous) else None
    return None


def _is_level(value: Any, old: Any) -> bool:
    if not isinstance(value, dict) or "$replace" in value:
        return False
    if old is UNKNOWN:
        return bool(value)
    return isinstance(old, dict) or (isinstance(old, list) and is_list_edit(value))
