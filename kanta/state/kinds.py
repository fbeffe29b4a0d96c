"""What the write barrier does with a value, by its type, and how it puts one in place."""

from __future__ import annotations

import enum
from typing import Any

import msgspec
from msgspec.structs import force_setattr

from .clone import ATOMIC
from .tracked import TrackedDict, TrackedList, TrackedSet

# What the barrier does with a value, by its type.
SKIP, DICT, LIST, SET, STRUCT, TUPLE, OPAQUE = range(7)
_kinds: dict[type, int] = {}
_keyed: dict[type, bool] = {}


def kind_of_type(t: type) -> int:
    """SKIP, DICT, LIST, SET, STRUCT, TUPLE or OPAQUE for values of type `t`."""
    kind = _kinds.get(t)
    if kind is None:
        kind = _kinds[t] = _kind_of(t)
    return kind


def _kind_of(t: type) -> int:
    if t in ATOMIC or issubclass(t, enum.Enum) or t is type(msgspec.UNSET):
        return SKIP
    if t is dict or t is TrackedDict:
        return DICT
    if t is list or t is TrackedList:
        return LIST
    if t is set or t is TrackedSet:
        return SET
    if issubclass(t, msgspec.Struct):
        return STRUCT
    if t is tuple:
        return TUPLE
    return OPAQUE  # compared whole at each commit: its writes cannot be seen


def category(value: Any) -> int:
    """What the barrier does with `value` (a tuple of immutable leaves is skipped)."""
    kind = _kinds.get(type(value))
    if kind is None:
        kind = kind_of_type(type(value))
    if kind == TUPLE:
        return SKIP if all(category(item) == SKIP for item in value) else OPAQUE
    return kind


def keyed(container: Any) -> bool:
    """Whether a container's keys extend a path (a dict, a Struct that is not array_like)."""
    t = type(container)
    found = _keyed.get(t)
    if found is None:
        kind = kind_of_type(t)
        struct = kind == STRUCT and not t.__struct_config__.array_like
        found = _keyed[t] = kind == DICT or struct
    return found


def place(parent: Any, key: Any, index: int | None, value: Any) -> None:
    """Put `value` at `parent[key]` (a list: `parent[index]`), unseen by the barrier."""
    kind = kind_of_type(type(parent))
    if kind == DICT:
        dict.__setitem__(parent, key, value)
    elif kind == LIST:
        assert index is not None
        list.__setitem__(parent, index, value)
    else:
        force_setattr(parent, key, value)
