"""The reader of the log's diff format: apply a diff to a state tree.

Besides what ``kanta.diff`` writes, this reads the "jsondiff compact marshaled"
syntax of older files, including its list edits (``$insert``, ``$delete`` by
position, and edits keyed by position).
"""

from __future__ import annotations

from typing import Any, Final

from .diff import unescape_key

__all__ = ["PatchError", "apply_in_place", "deleted_keys", "patch"]

_MISSING: Final = object()
_LIST_OPERATORS: Final = frozenset({"$insert", "$delete", "$replace"})


class PatchError(ValueError):
    """A diff does not apply to the tree it was given; ``path`` leads to the problem."""

    # str() is the message alone: callers render ``path``, which grows while the error
    # travels up through the levels of the diff.
    def __init__(self, message: str, path: list[object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[object] = [] if path is None else path

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message, self.path))


def patch(state: object, diff: object) -> Any:
    """Return the tree ``diff`` turns ``state`` into, leaving both inputs untouched."""
    # Unchanged subtrees and assigned values are shared with the inputs, not copied.
    return _patch_root(state, diff, True)


def apply_in_place(state: object, diff: object) -> Any:
    """Apply ``diff`` to ``state`` by mutating it where possible; return the resulting root."""
    # Log replay owns each decoded diff, so its values are adopted into the state as-is.
    if type(state) is dict and type(diff) is dict and "$replace" not in diff:
        _apply_dict(state, diff)  # replay's usual case, without the general dispatch
        return state
    return _patch_root(state, diff, False)


def _patch_root(state: object, diff: object, copy: bool) -> object:
    if not isinstance(diff, dict):
        return diff
    if "$replace" in diff:
        return diff["$replace"]
    if isinstance(state, dict):
        return _patch_dict(state, diff, copy)
    if isinstance(state, list) and is_list_edit(diff):
        return _patch_list(state, diff, copy)
    raise PatchError(f"a dict diff does not apply to a root of type {type(state).__name__}")


def _patch_value(old: object, diff: dict[Any, Any], copy: bool) -> object:
    # A dict diff under a key or position; ``old`` is _MISSING for a new key.
    if "$replace" in diff:
        return diff["$replace"]
    if isinstance(old, dict):
        return _patch_dict(old, diff, copy)
    if isinstance(old, list) and is_list_edit(diff):
        return _patch_list(old, diff, copy)
    # Anything else is a plain dict assigned over a new key, None, a scalar, or a list.
    return diff


def _patch_dict(target: dict[Any, Any], diff: dict[Any, Any], copy: bool) -> dict[Any, Any]:
    if copy:
        target = dict(target)
    for key, value in diff.items():
        if isinstance(key, str) and key.startswith("$"):
            if key == "$delete":
                _delete_keys(target, value)
                continue
            if not key.startswith("$$"):
                raise _bad_dict_operator(key)
            key = key[1:]
        if isinstance(value, dict):
            try:
                value = _patch_value(target.get(key, _MISSING), value, copy)
            except PatchError as error:
                error.path.insert(0, key)
                raise
        target[key] = value
    return target


def _apply_dict(target: dict[Any, Any], diff: dict[Any, Any]) -> None:
    # _patch_dict(target, diff, copy=False) for a plain dict, with a shortcut for a dict diff
    # over a plain dict: replaying a log spends most of its time here.
    for key, value in diff.items():
        # `"$" <= key < "%"` is `key.startswith("$")` for a str, at half the cost.
        if ("$" <= key < "%") if key.__class__ is str else _is_operator(key):
            if key == "$delete":
                _delete_keys(target, value)
                continue
            if not key.startswith("$$"):
                raise _bad_dict_operator(key)
            key = key[1:]
        if isinstance(value, dict):
            old = target.get(key, _MISSING)
            try:
                if old.__class__ is dict and "$replace" not in value:
                    # Patched where it stands: storing it again under its key changes nothing.
                    _apply_dict(old, value)
                    continue
                value = _patch_value(old, value, False)
            except PatchError as error:
                error.path.insert(0, key)
                raise
        target[key] = value


def _is_operator(key: object) -> bool:
    return isinstance(key, str) and key.startswith("$")


def _bad_dict_operator(key: str) -> PatchError:
    if key in _LIST_OPERATORS:
        return PatchError(f"list edit {key!r} on a dict", [key])
    return PatchError(f"unknown operator {key!r} in a diff of a dict", [key])


def deleted_keys(value: object) -> list[Any] | tuple[Any, ...]:
    """The keys a dict edit's `$delete` names: a list, or one scalar key (as 0.9.x reads it)."""
    if isinstance(value, list | tuple):
        return value
    # Hand-made and foreign files write `"$delete": "key"`; 0.9.x deletes that one key.
    if value is None or isinstance(value, str | int | float | bool):
        return [value]
    raise PatchError(f"$delete needs a list of keys, not {value!r}")


def _delete_keys(target: dict[Any, Any], keys: object) -> None:
    for escaped in deleted_keys(keys):
        key = unescape_key(escaped)
        try:
            del target[key]
        except (KeyError, TypeError):
            raise PatchError(f"$delete of missing key {key!r}", [key]) from None


def is_list_edit(diff: dict[Any, Any]) -> bool:
    """Whether a dict diff edits a list (positions, `$insert`, `$delete`), as jsondiff writes."""
    for key in diff:
        if key.__class__ is int or key in _LIST_OPERATORS:
            continue
        if key.__class__ is not str:
            return False
        digits = key[1:] if key.startswith("-") else key
        if not (digits.isascii() and digits.isdigit()):
            return False
    return True


def _patch_list(target: list[Any], diff: dict[Any, Any], copy: bool) -> list[Any]:
    if copy:
        target = list(target)
    # jsondiff's order: positions in $delete refer to the old list, those in $insert
    # and the edits to the list as it stands after the steps before them.
    if "$delete" in diff:
        _pop_positions(target, diff["$delete"])
    if "$insert" in diff:
        _insert_items(target, diff["$insert"])
    for key, value in diff.items():
        if isinstance(key, str) and key.startswith("$"):
            continue
        position = int(key)
        if not -len(target) <= position < len(target):
            raise PatchError(f"edit of position {position} in a list of {len(target)}", [position])
        if isinstance(value, dict):
            try:
                value = _patch_value(target[position], value, copy)
            except PatchError as error:
                error.path.insert(0, position)
                raise
        target[position] = value
    return target


def _pop_positions(target: list[Any], positions: object) -> None:
    if not isinstance(positions, list | tuple):
        raise PatchError(f"$delete needs a list of positions, not {positions!r}")
    for position in positions:
        if position.__class__ is not int or not -len(target) <= position < len(target):
            raise PatchError(
                f"$delete of position {position!r} in a list of {len(target)}", [position]
            )
        target.pop(position)


def _insert_items(target: list[Any], items: object) -> None:
    if not isinstance(items, list | tuple):
        raise PatchError(f"$insert needs a list of [position, value] pairs, not {items!r}")
    for item in items:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise PatchError(f"$insert needs [position, value] pairs, not {item!r}")
        position, value = item
        # list.insert would clamp a bad position and hide a corrupt diff.
        if position.__class__ is not int or not -len(target) <= position <= len(target):
            raise PatchError(
                f"$insert at position {position!r} in a list of {len(target)}", [position]
            )
        target.insert(position, value)
