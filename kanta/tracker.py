"""Change tracking: what the live typed state changed since the last commit.

The tracker keeps a private copy (the shadow) of the committed state that never shares a
mutable object with the live state. A commit compares the two: large dicts are compared
with C-level `!=` over their values in one pass, and only the entries that differ are
walked in Python, so the cost follows what changed, not a deep copy of everything. The
result is a change tree keyed by native keys and attribute names; `render` turns it into
the on-disk diff, `accept` brings the shadow up to date, `revert` restores the live state.
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import enum
import uuid
from itertools import compress, islice
from operator import ne
from typing import Any, Protocol

import msgspec
from msgspec.structs import force_setattr

from .diff import exactly_equal
from .hints import field_hint, is_open, key_hint, value_hint

# Change-tree operations; a nested change is a dict (the subtree).
SET = 1  # assign the live value
REPLACE = 2  # assign, wrapped in `$replace` because a plain assignment would be read as a diff
DELETE = 3  # remove the key
# Marks a dict node whose key order may differ between live and shadow.
REORDER: Any = object()
_MISSING: Any = object()

Tree = dict[Any, Any]

# Dicts up to this size are compared entry by entry, exactly (1, 1.0 and True differ);
# larger ones are filtered first by one C-level `!=` pass over their values.
SMALL_DICT = 64

_LEAF, _DICT, _STRUCT = 0, 1, 2
_kinds: dict[type, int] = {}
_ATOMIC = frozenset(
    {str, int, float, bool, type(None), bytes, dt.datetime, dt.date, dt.time, dt.timedelta}
    | {uuid.UUID, decimal.Decimal, frozenset}
)


def _kind(value: Any) -> int:
    t = type(value)
    kind = _kinds.get(t)
    if kind is None:
        if issubclass(t, dict):
            kind = _DICT
        elif issubclass(t, msgspec.Struct) and not t.__struct_config__.array_like:
            kind = _STRUCT
        else:
            kind = _LEAF
        _kinds[t] = kind
    return kind


def _object_like(value: Any) -> bool:
    """Whether a value is written as a JSON object (so a reader could take it for a diff)."""
    return _kind(value) != _LEAF


class Tracker:
    """Compares the live state with a private copy of the last committed state."""

    def __init__(self, shadow: Any) -> None:
        self.shadow = shadow

    def changes(self, live: Any) -> Tree | None:
        """The change tree from the shadow to `live`, or None when nothing changed."""
        return _diff_container(live, self.shadow)

    def accept(self, tree: Tree, live: Any) -> None:
        """Make the shadow equal to `live` along the paths of `tree`."""
        _accept(tree, live, self.shadow)

    def revert(self, tree: Tree, live: Any) -> None:
        """Restore `live` to the shadow along the paths of `tree`, in place."""
        _revert(tree, live, self.shadow)


def _diff_container(live: Any, shadow: Any) -> Tree | None:
    if _kind(live) == _DICT:
        return _diff_dict(live, shadow)
    return _diff_struct(live, shadow)


def _diff_child(new: Any, old: Any) -> Any:
    """The change for one entry: None, an operation, or a subtree."""
    if new is old:
        return None
    kind = _kind(new)
    if kind != _LEAF and type(new) is type(old):
        return _diff_container(new, old)
    if _same_leaf(new, old):
        return None
    if kind != _LEAF and (_kind(old) == _LEAF or type(old) is not type(new)):
        # Another kind of object, or an object over a non-object: a reader would try to
        # apply the new value as a diff.
        return REPLACE
    return SET


def _same_leaf(new: Any, old: Any) -> bool:
    if type(new) is not type(old):
        return False
    if new == old:
        return type(new) in _PLAIN or same_form(new, old)
    return type(new) is float and new != new and old != old  # NaN is NaN


_PLAIN = frozenset({str, int, bool, type(None), bytes})
_form = msgspec.json.Encoder(order="deterministic")  # dict order is no change


def same_form(a: Any, b: Any) -> bool:
    """Whether two values that are `==` would also be written alike.

    `==` says 1, 1.0 and True are equal, and so are the same instant in two time zones;
    their encodings tell them apart. Values JSON cannot encode fall back to an exact walk.
    """
    try:
        return _form.encode(a) == _form.encode(b)
    except (msgspec.EncodeError, TypeError, ValueError, OverflowError):
        return exactly_equal(a, b)


def _new_entry(value: Any) -> int:
    # A new dict that itself holds "$replace" would be read as a replace operation.
    if type(value) is dict and "$replace" in value:
        return REPLACE
    return SET


def _diff_struct(live: Any, shadow: Any) -> Tree | None:
    tree: Tree = {}
    for name in live.__struct_fields__:
        change = _diff_child(getattr(live, name), getattr(shadow, name))
        if change is not None:
            tree[name] = change
    return tree or None


def _diff_dict(live: dict[Any, Any], shadow: dict[Any, Any]) -> Tree | None:
    count = len(shadow)
    if count > SMALL_DICT and len(live) >= count:
        old_keys = list(shadow)
        if list(islice(live, count)) == old_keys:
            return _diff_aligned(live, shadow, old_keys)
    return _diff_unaligned(live, shadow)


def _diff_aligned(live: dict[Any, Any], shadow: dict[Any, Any], keys: list[Any]) -> Tree | None:
    """Same keys in the same order, perhaps with new keys appended: one C-level pass."""
    tree: Tree = {}
    for key in compress(keys, map(ne, live.values(), shadow.values())):
        change = _diff_child(live[key], shadow[key])
        if change is not None:
            tree[key] = change
    for key in islice(live, len(keys), None):
        tree[key] = _new_entry(live[key])
    return tree or None


def _diff_unaligned(live: dict[Any, Any], shadow: dict[Any, Any]) -> Tree | None:
    tree: Tree = {key: DELETE for key in shadow if key not in live}
    for key, value in live.items():
        old = shadow.get(key, _MISSING)
        if old is _MISSING:
            tree[key] = _new_entry(value)
            continue
        change = _diff_child(value, old)
        if change is not None:
            tree[key] = change
    if not tree:
        # Same entries in another order: bring the shadow's order in line so that later
        # commits take the aligned path again.
        _reorder(shadow, live)
        return None
    tree[REORDER] = True
    return tree


def _reorder(target: dict[Any, Any], order: dict[Any, Any]) -> None:
    items = [(key, target[key]) for key in order if key in target]
    items.extend((key, value) for key, value in target.items() if key not in order)
    target.clear()
    target.update(items)


def _get(container: Any, key: Any) -> Any:
    if _kind(container) == _DICT:
        return container[key]
    return getattr(container, key)


def _has(container: Any, key: Any) -> bool:
    if _kind(container) == _DICT:
        return key in container
    return True


def _set(container: Any, key: Any, value: Any) -> None:
    if _kind(container) == _DICT:
        container[key] = value
    else:
        force_setattr(container, key, value)


def _accept(tree: Tree, live: Any, shadow: Any) -> None:
    for key, op in tree.items():
        if key is REORDER:
            continue
        if type(op) is dict:
            _accept(op, _get(live, key), _get(shadow, key))
        elif op == DELETE:
            del shadow[key]
        elif type(op) is tuple:
            _set(shadow, key, op[1])
        else:
            _set(shadow, key, clone(_get(live, key)))
    if REORDER in tree:
        _reorder(shadow, live)


def _revert(tree: Tree, live: Any, shadow: Any) -> None:
    for key, op in tree.items():
        if key is REORDER:
            continue
        if type(op) is dict:
            _revert(op, _get(live, key), _get(shadow, key))
        elif _has(shadow, key):
            _set(live, key, clone(_get(shadow, key)))
        else:
            # pop: the same dict may sit at two paths and have lost the key already.
            live.pop(key, None)
    if REORDER in tree:
        _reorder(live, shadow)


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
    struct = _kind(live) == _STRUCT
    for key, op in tree.items():
        if op == DELETE or key is REORDER:
            continue
        wire_key = _escape(names.get(key, key) if names else key)
        child_hint = field_hint(type(live), key) if struct else value_hint(hint)
        value = _get(live, key)
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
    if not (copy == value or _equal_with_nan(copy, value)):
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


def _equal_with_nan(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN, for values that `==` says differ."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return a == b or (a != a and b != b)
    if type(a) is dict:
        return a.keys() == b.keys() and all(_equal_with_nan(a[k], b[k]) for k in a)
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(map(_equal_with_nan, a, b))
    if isinstance(a, msgspec.Struct):
        return all(
            _equal_with_nan(getattr(a, name), getattr(b, name)) for name in a.__struct_fields__
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
    if _kind(container) == _STRUCT:
        pairs = zip(t.__struct_fields__, t.__struct_encode_fields__, strict=True)
        renamed = {name: wire for name, wire in pairs if name != wire}
        names = renamed or None
    _names[t] = names
    return names


def clone(value: Any) -> Any:
    """A deep copy of a typed value that shares no mutable object with the original."""
    t = type(value)
    if t in _ATOMIC:
        return value
    if t is dict:
        return {key: clone(item) for key, item in value.items()}
    if t is list:
        return [clone(item) for item in value]
    kind = _kind(value)
    if kind == _STRUCT or isinstance(value, msgspec.Struct):
        return _clone_struct(value)
    if t is set:
        return set(value)
    if t is tuple:
        return tuple(clone(item) for item in value)
    if isinstance(value, enum.Enum):
        return value
    return copy.deepcopy(value)


def _clone_struct(value: Any) -> Any:
    result = copy.copy(value)
    for name in value.__struct_fields__:
        item = getattr(value, name)
        if type(item) not in _ATOMIC:
            force_setattr(result, name, clone(item))
    return result


def fresh_copy(root: Any, root_type: Any) -> Any:
    """A copy of a whole state for the shadow that shares nothing mutable with it.

    Decoded anew (fast, in C) when that gives back exactly the same form; otherwise (time
    zones, which MessagePack keeps only as instants; huge ints) copied in Python.
    """
    try:
        copy = msgspec.msgpack.decode(msgspec.msgpack.encode(root), type=root_type)
    except (msgspec.EncodeError, msgspec.ValidationError, TypeError, OverflowError):
        return clone(root)
    return copy if same_form(copy, root) else clone(root)
