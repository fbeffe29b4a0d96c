"""Rendering a change tree as the on-disk diff, checking that every new value reads back.

Each assigned value is encoded once, decoded back through its annotation and compared
with the live value, so nothing is written that would not reopen as it is (a wrong type,
a NaN in JSON, a set in an untyped field). The decoded copy, which shares nothing with
the live state, becomes the tracker's copy of that value.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from .hints import field_hint, is_open, key_hint, value_hint
from .tracker import DELETE, REORDER, REPLACE, Tree, clone, container_get, is_struct, same_form


class UnstorableChange(ValueError):
    """A changed value that would not read back as it is (wrong type, NaN in JSON, ...)."""

    def __init__(self, path: tuple[Any, ...], reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{'.'.join(map(str, path)) or '.'}: {reason}")


class ValueCodec(Protocol):
    """What rendering needs from a log format."""

    def key_form(self, key: Any) -> Any:
        """A dict key as written."""
        ...

    def encode_value(self, value: Any) -> bytes:
        """A value as written."""
        ...

    def decode_value(self, data: bytes, hint: Any) -> Any:
        """A written value read back as `hint`."""
        ...


def render(
    tree: Tree, live: Any, hint: Any, codec: ValueCodec, path: tuple[Any, ...] = ()
) -> dict[Any, Any]:
    """The on-disk diff for a change tree, each new value encoded and checked.

    Every assigned value is encoded once, read back through its annotation and compared
    with the live value, so nothing is written that would not reopen as it is; the
    read-back copy (which shares nothing with the live state) is kept in the tree for
    `accept`. Raises UnstorableChange.
    """
    out: dict[Any, Any] = {}
    deleted = [_escape(codec.key_form(key)) for key, op in tree.items() if op == DELETE]
    if deleted:
        out["$delete"] = deleted
    names = _encode_names(live)
    struct = is_struct(live)
    for key, op in tree.items():
        if op == DELETE or key is REORDER:
            continue
        wire_key = _escape(names.get(key, key) if names else key)
        child_hint = field_hint(type(live), key) if struct else value_hint(hint)
        value = container_get(live, key)
        if type(op) is dict:
            out[wire_key] = render(op, value, child_hint, codec, (*path, key))
            continue
        if not struct:
            _check_key(key, key_hint(hint), codec, (*path, key))
        encoded, copy = _store(value, child_hint, codec, (*path, key))
        tree[key] = (op, copy)
        raw = msgspec.Raw(encoded)
        out[wire_key] = {"$replace": raw} if op == REPLACE else raw
    return out


def _store(value: Any, hint: Any, codec: ValueCodec, path: tuple[Any, ...]) -> tuple[bytes, Any]:
    try:
        encoded = codec.encode_value(value)
    except (msgspec.EncodeError, TypeError, ValueError, OverflowError) as exc:
        raise UnstorableChange(path, f"cannot be encoded: {exc}") from exc
    try:
        copy = codec.decode_value(encoded, hint)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise UnstorableChange(path, f"does not match its type: {exc}") from exc
    if not (copy == value or equal_with_nan(copy, value)):
        raise UnstorableChange(
            path,
            f"would read back as {copy!r}, not {value!r} "
            "(a non-finite float in JSON, a set or tuple or Struct in an untyped field, "
            "or a non-string key in JSON?)",
        )
    if not same_form(copy, value):
        # Reads back equal but in another form (an int in a float field, a datetime in
        # another zone): the shadow must match the live value exactly.
        copy = clone(value)
    return encoded, copy


def _check_key(key: Any, hint: Any, codec: ValueCodec, path: tuple[Any, ...]) -> None:
    if type(key) is str:
        return
    form = codec.key_form(key)
    try:
        back = msgspec.convert(form, Any if is_open(hint) else hint, strict=False)
    except msgspec.ValidationError as exc:
        raise UnstorableChange(path, f"key does not match its type: {exc}") from exc
    if type(back) is not type(key) or back != key:
        raise UnstorableChange(path, f"key {key!r} would read back as {back!r}")


def equal_with_nan(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN, for values that `==` says differ."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return a == b or (a != a and b != b)
    if type(a) is dict:
        return a.keys() == b.keys() and all(equal_with_nan(a[k], b[k]) for k in a)
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(map(equal_with_nan, a, b))
    if isinstance(a, msgspec.Struct):
        return all(
            equal_with_nan(getattr(a, name), getattr(b, name)) for name in a.__struct_fields__
        )
    return bool(a == b)


def _escape(key: Any) -> Any:
    if type(key) is str and key.startswith("$"):
        return "$" + key
    return key


_names: dict[type, dict[str, str] | None] = {}


def _encode_names(container: Any) -> dict[str, str] | None:
    """Attribute name -> encoded field name for renamed Struct fields; None when identical."""
    t = type(container)
    if t in _names:
        return _names[t]
    names = None
    if is_struct(container):
        pairs = zip(t.__struct_fields__, t.__struct_encode_fields__, strict=True)
        renamed = {name: wire for name, wire in pairs if name != wire}
        names = renamed or None
    _names[t] = names
    return names
