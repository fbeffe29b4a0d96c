"""Rendering a change tree as the on-disk diff, checking that every new value reads back.

Each assigned value is encoded once, decoded back through its annotation and compared
with the live value, so nothing is written that would not reopen as it is (a wrong type,
a NaN in JSON, a set in an untyped field). A copy of the live value that shares no
mutable object with it (`values.clone`) becomes the tracker's copy of that value.

A dict node with many plain assignments (a bulk insert) is checked in one pass: its new
values are encoded as one dict, read back through `dict[str, value hint]` and compared in
C. Only when that check fails are they checked one by one, which names the failing path.
"""

from __future__ import annotations

from itertools import compress, islice, repeat
from operator import eq
from types import GenericAlias
from typing import Any, NamedTuple

import msgspec

from ..core.diff import escape_key
from ..core.logformat import ValueCodec
from .clone import clone, nests_within
from .gcpause import gc_paused
from .hints import field_hint, is_open, key_hint, static_depth, value_hint
from .tracked import builtin_type
from .tracker import (
    DELETE,
    REORDER,
    REPLACE,
    SET,
    Tree,
    is_struct,
)

# A dict node with at least this many plain assignments is checked in one pass.
BULK = 32
# How deep a stored value may nest, in containers from the root: far below what every
# reader (msgspec's decoders, patching, comparing, printing) takes, which is about 900.
MAX_DEPTH = 100
_SCALARS = frozenset({str, int, float, bool, type(None), bytes})
_UNSET: Any = object()  # a Struct field with no value
_ENCODE_ERRORS = (msgspec.EncodeError, TypeError, ValueError, OverflowError)
# The encoder `tracker.same_form` compares forms with.
_form = msgspec.json.Encoder(order="deterministic")


class UnstorableChange(ValueError):
    """A changed value that would not read back as it is (wrong type, NaN in JSON, ...)."""

    def __init__(self, path: tuple[Any, ...], reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{'.'.join(map(str, path)) or '.'}: {reason}")


def render(tree: Tree, live: Any, hint: Any, codec: ValueCodec, path: tuple[Any, ...] = ()) -> Any:
    """The on-disk diff for a change tree, each new value encoded and checked.

    Every assigned value is encoded once, read back through its annotation and compared
    with the live value, so nothing is written that would not reopen as it is; a copy
    sharing no mutable object with the live state (for a bulk insert, the read-back one)
    is kept in the tree for `accept`. A dict node below the root whose entries are all
    plain assignments checked in one pass comes back as one `msgspec.Raw`, the same bytes
    as its entries written one by one. Raises UnstorableChange.
    """
    struct = is_struct(live)
    bulk = None if struct else _check_bulk(tree, live, hint, codec, len(path))
    if bulk is not None and path and bulk.size == len(tree) - (REORDER in tree):
        return msgspec.Raw(bulk.encoded)
    out: dict[Any, Any] = {}
    deleted = [escape_key(codec.key_form(key)) for key, op in tree.items() if op == DELETE]
    if deleted:
        out["$delete"] = deleted
    names = _encode_names(live)
    dict_hint = None if struct else value_hint(hint)
    for key, op in tree.items():
        if op == DELETE or key is REORDER:
            continue
        wire_key = escape_key(names.get(key, key) if names else key)
        child_hint = field_hint(type(live), key) if struct else dict_hint
        value = getattr(live, key, _UNSET) if struct else live[key]
        if value is _UNSET:
            # `del obj.field`: a state's field must hold a value (its revert restores it).
            raise UnstorableChange((*path, key), "the field was deleted (`del`)")
        if type(op) is dict:
            out[wire_key] = render(op, value, child_hint, codec, (*path, key))
            continue
        if type(op) is tuple:  # checked in bulk: only the encoding is left
            out[wire_key] = msgspec.Raw(codec.encode_value(value))
            continue
        if not struct:
            _check_key(key, key_hint(hint), codec, (*path, key))
        encoded, copy = _store(value, child_hint, codec, (*path, key))
        tree[key] = (op, copy)
        raw = msgspec.Raw(encoded)
        out[wire_key] = {"$replace": raw} if op == REPLACE else raw
    return out


class _Bulk(NamedTuple):
    encoded: bytes  # the assigned entries, encoded as one dict
    size: int  # how many


def _check_bulk(
    tree: Tree, live: dict[Any, Any], hint: Any, codec: ValueCodec, depth: int
) -> _Bulk | None:
    """Check the plain assignments of a dict node in one pass and keep their copies.

    None when there are few of them, or when any one fails a check or reads back in
    another form: then the per-entry path decides, and names the entry that fails.
    """
    keys = _bulk_keys(tree)
    if keys is None:
        return None
    values = _appended(live, keys)
    if values is None:
        values = {key: live[key] for key in keys}
    # The entries sit one level below this dict, which is `depth` levels down.
    levels = MAX_DEPTH - depth - 1
    bound = static_depth(value_hint(hint))
    if (bound is None or bound > levels) and not all(
        nests_within(value, levels) for value in values.values()
    ):
        return None  # one nests too deep: checked one by one, which names the path
    try:
        encoded = codec.encode_value(values)
    except _ENCODE_ERRORS:
        return None
    with gc_paused():
        copies = _read_back(encoded, values, value_hint(hint), codec)
        if copies is None:
            return None
        # `(SET, copy)` for each, as `_store` leaves it (the copies come in the same order).
        tree.update(zip(keys, zip(repeat(SET), copies.values()), strict=False))
    return _Bulk(encoded, len(keys))


def _appended(live: dict[Any, Any], keys: list[str]) -> dict[Any, Any] | None:
    """The entries of `keys` taken in C, when they are the last ones of `live` in order.

    As they are after a bulk insert (`update`) into a dict: the whole dict when it was
    empty before.
    """
    start = len(live) - len(keys)
    if start == 0:
        return live if keys == list(live) else None
    if keys != list(islice(live, start, None)):
        return None
    return dict(islice(live.items(), start, None))


def _read_back(
    encoded: bytes, values: dict[str, Any], hint: Any, codec: ValueCodec
) -> dict[str, Any] | None:
    """The copies of `values` decoded from `encoded`, if each is equal and in the same form."""
    try:
        copies: dict[str, Any] = codec.decode_value(encoded, GenericAlias(dict, (str, hint)))
    except (msgspec.DecodeError, TypeError):  # TypeError: a hint msgspec cannot decode
        return None
    # `==` on the dicts compares each copy with its live value, copy first, as `_store`.
    if copies != values:
        return None
    if codec.name == "json":
        # JSON keeps every form apart (1 and 1.0, time zones): same bytes, same forms.
        same = codec.encode_value(copies) == encoded
    else:
        same = _same_forms(copies, values)
    return copies if same else None


def _bulk_keys(tree: Tree) -> list[str] | None:
    """The keys a dict node assigns plainly, when there are enough to check in bulk.

    Only plain string keys: they need no key check, and `$`-prefixed ones (escaped when
    written) are left to the per-entry path.
    """
    if len(tree) < BULK:
        return None
    keys = list(compress(tree, map(eq, tree.values(), repeat(SET))))
    if REORDER in tree:
        keys.remove(REORDER)  # its value, True, equals SET
    if len(keys) < BULK or set(map(type, keys)) != {str}:
        return None
    if any(map(str.startswith, keys, repeat("$"))):
        return None
    return keys


def _same_forms(copies: dict[str, Any], values: dict[str, Any]) -> bool:
    """Whether `same_form` holds for every copy and its value (False: ask each one)."""
    try:
        return _form.encode(list(copies.values())) == _form.encode(list(values.values()))
    except _ENCODE_ERRORS:
        return False


def _store(value: Any, hint: Any, codec: ValueCodec, path: tuple[Any, ...]) -> tuple[bytes, Any]:
    _check_depth(value, hint, path)
    try:
        encoded = codec.encode_value(value)
    except _ENCODE_ERRORS as exc:
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
    # The tracker keeps a copy of the live value itself, not the read-back one: it is in
    # exactly the live form (an int in a float field reads back as a float) and shares
    # the immutable leaves, which keeps the shadow small and quick to compare.
    return encoded, clone(value)


def _check_depth(value: Any, hint: Any, path: tuple[Any, ...]) -> None:
    """Refuse a value nested deeper than MAX_DEPTH: no reader could take it back.

    Settled by the annotation where it bounds the nesting (a typed state: no walk, so a
    bulk insert pays nothing); walked otherwise, which an untyped value's encoding costs
    anyway.
    """
    if type(value) in _SCALARS:
        return  # the usual single-field change, settled without a lookup
    levels = MAX_DEPTH - len(path)
    bound = static_depth(hint)
    if (bound is not None and bound <= levels) or nests_within(value, levels):
        return
    raise UnstorableChange(
        path, f"nested more than {MAX_DEPTH} containers deep (counting from the root)"
    )


def _check_key(key: Any, hint: Any, codec: ValueCodec, path: tuple[Any, ...]) -> None:
    if type(key) is str:
        return
    try:
        form = codec.key_form(key)
    except (TypeError, ValueError, msgspec.EncodeError) as exc:
        raise UnstorableChange(path, f"key {key!r} cannot be encoded: {exc}") from exc
    try:
        back = msgspec.convert(form, Any if is_open(hint) else hint, strict=False)
    except msgspec.ValidationError as exc:
        raise UnstorableChange(path, f"key does not match its type: {exc}") from exc
    if type(back) is not type(key) or back != key:
        raise UnstorableChange(path, f"key {key!r} would read back as {back!r}")


def equal_with_nan(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN, for values that `==` says differ."""
    kind = builtin_type(a)  # a state's tracked container compares as the built-in one
    if kind is not builtin_type(b):
        return False
    if kind is float:
        return bool(a == b or (a != a and b != b))
    if kind is dict:
        return a.keys() == b.keys() and all(equal_with_nan(a[k], b[k]) for k in a)
    if kind in (list, tuple):
        return len(a) == len(b) and all(map(equal_with_nan, a, b))
    if isinstance(a, msgspec.Struct):
        return all(
            equal_with_nan(getattr(a, name), getattr(b, name)) for name in a.__struct_fields__
        )
    return bool(a == b)


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


def same_change(rendered: Tree, after: Tree | None, live: Any) -> bool:
    """Whether the live state still holds exactly the change `render` encoded.

    `rendered` is a change tree after `tracker.render` (each assigned value replaced by
    `(operation, read-back copy)`); `after` is the tree computed again after the
    validators ran. Both must name the same paths, with the same values.
    """
    if after is None or rendered.keys() != after.keys():
        return False
    for key, op in rendered.items():
        if key is REORDER:
            continue
        again = after[key]
        if type(op) is dict:
            if type(again) is not dict or not same_change(op, again, _child(live, key)):
                return False
        elif type(op) is tuple:
            value = _child(live, key)
            if again != op[0] or not (value == op[1] or equal_with_nan(value, op[1])):
                return False
        elif again != op:
            return False
    return True


def _child(container: Any, key: Any) -> Any:
    return container[key] if isinstance(container, dict) else getattr(container, key)
