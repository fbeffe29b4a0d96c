"""Registering a state fast: per-Struct-class walkers, and the walk at open fused with the copy.

A large state is mostly many instances of a few Struct classes, so each class gets
functions written out field by field (as `dataclasses` writes `__init__`, and as
`kanta.state.clone` copies): fields holding immutable leaves are passed over inline, and a
list of such leaves is converted and registered without a call.

At open the state was just decoded, so nothing in it is shared or held by anyone: one walk
(`fused`) registers the live objects, converts their containers, and makes the tracker's
copy at the same time, giving the decoded plain list or dict to the copy and a tracked
copy of it to the live state.
"""

from __future__ import annotations

import keyword
import sys
from collections.abc import Callable
from itertools import repeat
from typing import Any

from msgspec.structs import force_setattr

from .clone import ATOMIC, clone
from .kinds import DICT, LIST, SET, SKIP, STRUCT, TUPLE, kind_of_type, place
from .tracked import TrackedDict, TrackedList, TrackedSet, registry

Walker = Callable[..., Any]
# `sys.getrefcount` of a list held only by one Struct field and a walker's local variable.
ONLY_HERE = 3
_adopters: dict[tuple[type, bool], Walker] = {}
_fusers: dict[tuple[type, bool], Walker] = {}


def adopter(cls: type, registered: bool = False) -> Walker:
    """`adopt(value, parent, key, barrier, enter, converted)`: register a new `cls` instance.

    With `registered`, the instance's own entry is already made (in bulk): only its
    fields are walked.
    """
    found = _adopters.get((cls, registered))
    if found is None:
        found = _adopters[cls, registered] = _write(cls, fused=False, registered=registered)
    return found


def fuser(cls: type, registered: bool = False) -> Walker:
    """`fuse(value, parent, key, barrier, fused)`: register a decoded instance, return its copy."""
    found = _fusers.get((cls, registered))
    if found is None:
        found = _fusers[cls, registered] = _write(cls, fused=True, registered=registered)
    return found


def register_all(values: Any, barrier: Any, parent: Any, keys: Any) -> None:
    """Entries for many objects at once, each at `parent[key]`, made in C."""
    entries = zip(values, repeat(barrier), repeat(parent), keys)
    registry.update(zip(map(id, values), entries, strict=True))


def _write(cls: Any, *, fused: bool, registered: bool) -> Walker:
    """The walker of one Struct class, written out field by field."""
    last = "fused" if fused else "enter, converted"
    lines = [f"def walk(value, parent, key, barrier, {last}):"]
    if not registered:
        lines.append("    registry[id(value)] = (value, barrier, parent, key)")
    if fused:
        lines.append("    result = value.__copy__()")
    for name in cls.__struct_fields__:
        # `msgspec.defstruct` allows any string as a field name, keywords included.
        plain = name.isidentifier() and not keyword.iskeyword(name)
        lines += [
            f"    item = value.{name}" if plain else f"    item = getattr(value, {name!r})",
            "    kind = type(item)",
        ]
        if not fused:  # a plain list met twice (`converted`) gets one copy, from `enter`
            lines += [
                "    if kind in atomic:",
                "        pass",
                "    elif (kind is list and id(item) not in converted",
                "            and atomic.issuperset(map(type, item))):",
                "        tracked = tracked_list(item)",
                # Held by the field and `item` alone, it sits nowhere else: no need to
                # remember it for a second place.
                "        if refcount(item) > ONLY_HERE:",
                "            converted[id(item)] = (item, tracked)",
                f"        set_field(value, {name!r}, tracked)",
                f"        tracked._at = (None, barrier, value, {name!r})",
                "    else:",
                f"        enter(item, value, {name!r}, None)",
            ]
            continue
        lines += [
            "    if kind in atomic:",
            "        pass",
            "    elif kind is list and atomic.issuperset(map(type, item)):",
            "        tracked = tracked_list(item)",
            f"        set_field(value, {name!r}, tracked)",
            f"        tracked._at = (None, barrier, value, {name!r})",
            # the decoded list goes to the copy, a tracked copy of it to the state
            f"        set_field(result, {name!r}, item)",
            "    else:",
            f"        set_field(result, {name!r}, fused(item, value, {name!r}, None))",
        ]
    lines.append("    return result" if fused else "    return None")
    scope: dict[str, Any] = {"atomic": ATOMIC, "set_field": force_setattr, "registry": registry}
    scope |= {"refcount": sys.getrefcount, "ONLY_HERE": ONLY_HERE}
    scope["tracked_list"] = TrackedList
    exec("\n".join(lines), scope)  # the names are a Struct's field names: identifiers
    walk: Walker = scope["walk"]
    return walk


def adopt_decoded(state: Any, root: Any) -> Any:
    """Register a just-decoded state and convert its containers; returns the tracker's copy.

    `state` is the barrier's `StateMap` (which imports this module, so not named here).
    """
    barrier = state.barrier
    hook = state.hook

    def fused(value: Any, parent: Any, key: Any, index: int | None) -> Any:
        t = type(value)
        kind = kind_of_type(t)
        if kind == STRUCT:
            hook(t)
            return fuser(t)(value, parent, key, barrier, fused)
        if kind == SKIP:
            return value
        if kind == DICT:
            return _fuse_dict(value, parent, key, index)
        if kind == LIST:
            tracked = TrackedList(value)
            place(parent, key, index, tracked)
            tracked._at = (None, barrier, parent, key)
            if ATOMIC.issuperset(map(type, value)):
                return value
            return [fused(item, tracked, None, i) for i, item in enumerate(value)]
        if kind == SET:
            tracked_set = TrackedSet(value)
            place(parent, key, index, tracked_set)
            tracked_set._at = (None, barrier, parent, key)
            for item in value:
                state.enter(item, tracked_set, None, None)  # hashable: opaque at most
            return value
        if kind == TUPLE and ATOMIC.issuperset(map(type, value)):
            return value
        state.enter(value, parent, key, index)  # opaque (a tuple holding more than leaves)
        return clone(value)

    def _fuse_dict(value: Any, parent: Any, key: Any, index: int | None) -> Any:
        tracked = TrackedDict(value)
        place(parent, key, index, tracked)
        tracked._at = (None, barrier, parent, key)
        types = set(map(type, value.values()))
        if ATOMIC.issuperset(types):
            return value
        if len(types) == 1:
            (only,) = types
            if kind_of_type(only) == STRUCT:
                hook(only)
                # Entries, then copies, each in one pass in C: a large state is mostly
                # such a dict (decoded: no object in it sits twice).
                values = value.values()
                register_all(values, barrier, tracked, value)
                walk = fuser(only, registered=True)
                copies = map(walk, values, repeat(tracked), value, repeat(barrier), repeat(fused))
                return dict(zip(value, copies, strict=True))
        return {k: fused(item, tracked, k, None) for k, item in value.items()}

    state.root = root
    hook(type(root))
    shadow = fuser(type(root))(root, None, None, barrier, fused)
    state.converted()
    return shadow
