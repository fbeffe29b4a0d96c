"""What kind of value the tracker sees, and copies of values that share nothing mutable.

A copy made here shares the immutable leaves (strings, numbers, datetimes...) with the
original and copies every container: the tracker's copy of the state is made this way,
which keeps it small and quick to compare with the live state.
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import enum
import keyword
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from msgspec.structs import force_setattr

from .gcpause import gc_paused
from .tracked import BUILTIN_OF, TrackedList

# What the tracker does with a value: compare it whole, or walk a dict's or Struct's entries.
LEAF, DICT, STRUCT = 0, 1, 2
_kinds: dict[type, int] = {}
_ATOMIC = frozenset(
    {str, int, float, bool, type(None), bytes, dt.datetime, dt.date, dt.time, dt.timedelta}
    | {uuid.UUID, decimal.Decimal, frozenset}
)
ATOMIC = _ATOMIC  # values kanta never copies or watches: immutable leaves


def kind_of(value: Any) -> int:
    """LEAF, DICT or STRUCT (a Struct that is not array-like)."""
    t = type(value)
    kind = _kinds.get(t)
    if kind is None:
        if issubclass(t, dict):
            kind = DICT
        elif issubclass(t, msgspec.Struct) and not t.__struct_config__.array_like:
            kind = STRUCT
        else:
            kind = LEAF
        _kinds[t] = kind
    return kind


def clone(value: Any) -> Any:
    """A deep copy of a typed value that shares no mutable object with the original."""
    t = type(value)
    if t in _ATOMIC:
        return value
    t = BUILTIN_OF.get(t, t)  # a state's tracked container: a plain one, never registered
    if t is dict:
        kinds = set(map(type, value.values()))
        if _ATOMIC.issuperset(kinds):
            return dict(value)  # keys are hashable, so immutable too
        if len(kinds) == 1 and kind_of(next(iter(value.values()))) == STRUCT:
            cloner = _cloner_for(kinds.pop())  # looked up once for all the entries
            return dict(zip(value, map(cloner, value.values()), strict=True))
        return {key: clone(item) for key, item in value.items()}
    if t is list:
        if _ATOMIC.issuperset(map(type, value)):
            return list(value)
        return list(map(clone, value))
    kind = kind_of(value)
    if kind == STRUCT or isinstance(value, msgspec.Struct):
        return _clone_struct(value)
    if t is set:
        return set(value)
    if t is tuple:
        return tuple(clone(item) for item in value)
    if isinstance(value, enum.Enum):
        return value
    return copy.deepcopy(value)


def _clone_struct(value: Any) -> Any:
    return _cloner_for(type(value))(value)


def _cloner_for(struct_type: Any) -> Callable[[Any], Any]:
    cloner = _struct_cloners.get(struct_type)
    if cloner is None:
        cloner = _struct_cloners[struct_type] = _struct_cloner(struct_type)
    return cloner


_struct_cloners: dict[type, Callable[[Any], Any]] = {}


def _struct_cloner(struct_type: Any) -> Callable[[Any], Any]:
    """A function copying one Struct type: a shallow copy in C, then its mutable fields.

    Written out field by field, as `dataclasses` writes `__init__`: a large state holds
    many such objects, and attribute access by name beats a loop of `getattr` calls.
    """
    lines = ["def clone_struct(value):", "    result = value.__copy__()"]
    for name in struct_type.__struct_fields__:
        # `msgspec.defstruct` allows any string as a field name, keywords included.
        plain = name.isidentifier() and not keyword.iskeyword(name)
        # A list of atomic items (tags, ids) is common enough to copy without a call.
        lines += [
            f"    item = value.{name}" if plain else f"    item = getattr(value, {name!r})",
            "    kind = type(item)",
            "    if (kind is list or kind is tracked_list) and atomic.issuperset(map(type, item)):",
            f"        set_field(result, {name!r}, list(item))",
            "    elif kind not in atomic:",
            f"        set_field(result, {name!r}, clone(item))",
        ]
    lines.append("    return result")
    scope: dict[str, Any] = {"atomic": _ATOMIC, "set_field": force_setattr, "clone": clone}
    scope["tracked_list"] = TrackedList
    exec("\n".join(lines), scope)  # the names are a Struct's field names: identifiers
    cloner: Callable[[Any], Any] = scope["clone_struct"]
    return cloner


def shadow_of(live: Any) -> Any:
    """The tracker's copy of a whole state: new containers, the same immutable leaves.

    Sharing strings, numbers and datetimes with the live state halves the copy's memory,
    and comparing identical leaves is quicker (an equality pass takes about half as long).
    """
    with gc_paused():
        return clone(live)


def nests_within(value: Any, levels: int) -> bool:
    """Whether `value` holds containers at most `levels` deep (a walk that never recurses).

    A Struct counts as a container; leaves are not looked into. Stops at the first
    container past the limit.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        t = type(item)
        if t in _ATOMIC:
            continue
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple | set | frozenset):
            children = item
        elif isinstance(item, msgspec.Struct):
            children = [getattr(item, name) for name in item.__struct_fields__]
        else:
            continue
        if depth == levels:
            return False
        for child in children:
            if type(child) not in _ATOMIC:
                push((child, depth + 1))
    return True
