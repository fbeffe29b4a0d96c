"""The writer of the log's diff format: what changed between two state trees.

A diff mirrors the dicts of the tree it applies to. At each of those levels a key
names a changed entry, ``"$delete"`` lists removed keys, and a user key that starts
with ``$`` carries one extra ``$`` so it cannot be mistaken for an operator.
Everything below an assigned value is written verbatim.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime, time
from math import copysign
from typing import Any, Final, TypeVar, cast

__all__ = ["diff", "escape_key", "exactly_equal", "unescape_key"]

_K = TypeVar("_K", bound=Hashable)

_MISSING: Final = object()

# For these, equal values of the same class are interchangeable in every respect,
# so a type check is all exactness needs beyond ``==``.
_PLAIN_LEAVES: Final = frozenset({str, int, bool, type(None), bytes})


def escape_key(key: _K) -> _K:
    """Return ``key`` as written at a diff level: a str starting with ``$`` gains one ``$``."""
    if isinstance(key, str) and key.startswith("$"):
        return cast(_K, "$" + key)
    return key


def unescape_key(key: _K) -> _K:
    """Return the user key a diff-level key stands for: a str starting with ``$$`` loses one."""
    if isinstance(key, str) and key.startswith("$$"):
        return cast(_K, key[1:])
    return key


def exactly_equal(a: object, b: object) -> bool:
    """Tell whether two trees are equal down to the type of every value (``1 != 1.0 != True``)."""
    # ``==`` settles every inequality in C; only an equality needs the type walk.
    return a is b or (a == b and _same_kind(a, b))


def _same_kind(a: object, b: object) -> bool:
    # Precondition: a == b, which for containers means every pair of items is equal too.
    cls = a.__class__
    if cls is not b.__class__:
        base = _container_base(cls)
        if base is None or base is not _container_base(b.__class__):
            return False  # only a dict, list or set subclass is written as its built-in type
    if isinstance(a, dict):
        return _same_kind_dicts(a, cast(dict[Any, Any], b))
    if isinstance(a, list | tuple):
        return _same_kind_items(a, cast(list[Any] | tuple[Any, ...], b))
    if isinstance(a, float):
        # 0.0 == -0.0, yet they are written differently.
        return a != 0.0 or copysign(1.0, a) == copysign(1.0, cast(float, b))
    if isinstance(a, datetime | time):
        # Aware values compare by instant; the zone is still part of the state.
        return a.tzinfo == cast(datetime | time, b).tzinfo
    return True


def _container_base(cls: type) -> type | None:
    for base in (dict, list, set):
        if issubclass(cls, base):
            return base
    return None


def _same_kind_items(a: list[Any] | tuple[Any, ...], b: list[Any] | tuple[Any, ...]) -> bool:
    for x, y in zip(a, b, strict=True):
        cls = x.__class__
        # A class that differs is still the same kind for a dict, list or set subclass.
        checked = cls is not y.__class__ or cls not in _PLAIN_LEAVES
        if checked and x is not y and not _same_kind(x, y):
            return False
    return True


def _same_kind_dicts(a: dict[Any, Any], b: dict[Any, Any]) -> bool:
    loose_keys = False
    for key, x in a.items():
        if key.__class__ is not str:
            loose_keys = True
        y = b[key]
        if x is not y and not _same_kind(x, y):
            return False
    # Only non-str keys can be equal across types (1, 1.0, True); str keys need no check.
    return not loose_keys or {(k.__class__, k) for k in a} == {(k.__class__, k) for k in b}


def diff(previous: object, current: object) -> dict[Any, Any] | None:
    """Return the diff that turns ``previous`` into ``current``, or None if nothing changed."""
    if isinstance(previous, dict) and isinstance(current, dict):
        return _diff_dicts(previous, current) or None
    if exactly_equal(previous, current):
        return None
    return {"$replace": current}


def _diff_dicts(previous: dict[Any, Any], current: dict[Any, Any]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    removed = [escape_key(key) for key in previous if key not in current]
    if removed:
        out["$delete"] = removed
    for key, new in current.items():
        old = previous.get(key, _MISSING)
        # Unchanged subtrees are often shared between states; skip them without a walk.
        if old is new:
            continue
        if isinstance(new, dict):
            if isinstance(old, dict):
                nested = _diff_dicts(old, new)
                if nested:
                    out[escape_key(key)] = nested
            elif old is _MISSING and "$replace" not in new:
                out[escape_key(key)] = new
            else:
                # A plain dict over a list reads as a list edit, and over None an old
                # reader sees "no change"; a user "$replace" key reads as the operator.
                out[escape_key(key)] = {"$replace": new}
        elif old is _MISSING or not exactly_equal(old, new):
            out[escape_key(key)] = new
    return out
