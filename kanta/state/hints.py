"""Type annotations along a path of the state: what a field or a dict entry must hold."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, MutableMapping
from typing import Annotated, Any, Union, get_args, get_origin

_MAPPINGS = (dict, Mapping, MutableMapping)
_field_hints: dict[type, dict[str, Any]] = {}


def field_hints(cls: type) -> dict[str, Any]:
    """The annotations of a Struct's fields (Any where they cannot be resolved)."""
    hints = _field_hints.get(cls)
    if hints is None:
        try:
            hints = typing.get_type_hints(cls, include_extras=True)
        except (NameError, TypeError):
            # A class defined inside a function with string annotations: types unknown.
            hints = {}
        _field_hints[cls] = hints
    return hints


def field_hint(cls: type, name: str) -> Any:
    """The annotation of one field, or Any."""
    return field_hints(cls).get(name, Any)


def _strip(hint: Any) -> Any:
    while get_origin(hint) is Annotated:
        hint = get_args(hint)[0]
    return hint


def _mapping_args(hint: Any) -> tuple[Any, Any] | None:
    hint = _strip(hint)
    origin = get_origin(hint)
    if origin in _MAPPINGS:
        args = get_args(hint)
        return (args[0], args[1]) if len(args) == 2 else (Any, Any)
    if hint in _MAPPINGS:
        return (Any, Any)
    if origin is Union or origin is types.UnionType:
        for member in get_args(hint):
            found = _mapping_args(member)
            if found is not None:
                return found
    return None


def value_hint(mapping_hint: Any) -> Any:
    """What the values of a dict annotated `mapping_hint` must be (Any when unknown)."""
    args = _mapping_args(mapping_hint)
    return args[1] if args is not None else Any


def key_hint(mapping_hint: Any) -> Any:
    """What the keys of a dict annotated `mapping_hint` must be (Any when unknown)."""
    args = _mapping_args(mapping_hint)
    return args[0] if args is not None else Any


def is_open(hint: Any) -> bool:
    """Whether a hint admits anything (Any, object): values are kept as they decode."""
    return _strip(hint) in (Any, object)


_SEQUENCES = (list, set, frozenset, tuple)
_static_depths: dict[Any, int | None] = {}


def static_depth(hint: Any) -> int | None:
    """How many containers deep a value of this annotation can nest; None when unbounded.

    Unbounded: Any, object, bare containers and recursive Struct types. A Struct counts
    as a container, as it does on disk.
    """
    try:
        return _static_depths[hint]
    except KeyError:
        depth = _static_depths[hint] = _depth_of(hint, frozenset())
        return depth
    except TypeError:  # an unhashable annotation
        return _depth_of(hint, frozenset())


def _depth_of(hint: Any, seen: frozenset[Any]) -> int | None:
    hint = _strip(hint)
    if hint in (Any, object) or hint in _MAPPINGS or hint in _SEQUENCES:
        return None
    origin = get_origin(hint)
    args = [arg for arg in get_args(hint) if arg is not Ellipsis]
    if origin is Union or origin is types.UnionType:
        return _deepest(args, seen, 0)
    if origin in _MAPPINGS:
        return _deepest(args[1:] or [Any], seen, 1)
    if origin in _SEQUENCES:
        return _deepest(args or [Any], seen, 1)
    if isinstance(hint, type) and hasattr(hint, "__struct_fields__"):
        if hint in seen:
            return None  # a recursive type: as deep as a value makes it
        return _deepest(list(field_hints(hint).values()), seen | {hint}, 1)
    if origin is not None and origin is not typing.Literal:
        return None  # another generic (a TypeVar's bound, a Protocol): not known here
    return 0  # a leaf: str, int, datetime, an enum, a Literal


def _deepest(hints: list[Any], seen: frozenset[Any], own: int) -> int | None:
    depth = 0
    for hint in hints:
        inner = _depth_of(hint, seen)
        if inner is None:
            return None
        depth = max(depth, inner)
    return own + depth
