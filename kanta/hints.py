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
