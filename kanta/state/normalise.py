"""What re-encoding a stored state through the root type changes: new defaults, dropped
fields, native forms. Opening writes it as one record, so the file matches the code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from ..core.diff import diff
from ..core.logformat import ValueCodec


def normalisation(codec: ValueCodec, state: Any, live: Any) -> dict[Any, Any] | None:
    """The diff that re-encoding through the root type makes (new defaults, dropped fields)."""
    if _encodes_alike(codec, state, live):
        # Nothing on disk would change. Settled first, by encoding: a tuple (a list once
        # written) or a NaN (not equal to itself) differs in memory, and made a record
        # that changed nothing at every open.
        return None
    canonical = codec.to_state(live)
    if canonical == state:
        # The usual case, settled by one C-level comparison. Values that only compare
        # equal (1 stored for a float field, 1.0) decode the same, so they are no change.
        return None
    change = diff(state, canonical)
    if change is None:
        return None
    return _drop_set_reorders(change, state, live, codec.key_form)


def _encodes_alike(codec: ValueCodec, state: Any, live: Any) -> bool:
    try:
        return codec.encode_value(state) == codec.encode_value(live)
    except (msgspec.EncodeError, TypeError, ValueError, OverflowError):
        return False  # a migration put something in the state that does not encode


def _drop_set_reorders(
    change: dict[Any, Any], stored: Any, typed: Any, key_form: Callable[[Any], Any]
) -> dict[Any, Any] | None:
    # A set comes back from encoding in its own iteration order; the same members in
    # another order are not a change.
    out: dict[Any, Any] = {}
    for key, value in change.items():
        name = key[1:] if isinstance(key, str) and key.startswith("$$") else key
        old = stored.get(name) if isinstance(stored, dict) else None
        child = _typed_child(typed, name, key_form)
        if isinstance(child, set | frozenset) and _same_members(old, value):
            continue
        if isinstance(value, dict) and isinstance(old, dict) and "$replace" not in value:
            value = _drop_set_reorders(value, old, child, key_form)
            if value is None:
                continue
        out[key] = value
    return out or None


def _typed_child(typed: Any, name: Any, key_form: Callable[[Any], Any]) -> Any:
    if isinstance(typed, dict):
        if name in typed:
            return typed[name]
        # Keys that are not strings in memory (int, UUID) are strings on disk in JSON.
        return next((value for key, value in typed.items() if key_form(key) == name), None)
    if isinstance(typed, msgspec.Struct):
        cls = type(typed)
        wire = dict(zip(cls.__struct_encode_fields__, cls.__struct_fields__, strict=True))
        return getattr(typed, wire.get(name, ""), None)
    return None


def _same_members(old: Any, new: Any) -> bool:
    if not (isinstance(old, list) and isinstance(new, list)) or len(old) != len(new):
        return False
    try:
        return set(old) == set(new)
    except TypeError:
        return False
