"""The dicts, lists and sets of a state under the write barrier: each write reports itself.

Subclasses of the built-in types with one slot, `_at`: the entry that says what owns
them and where (`kanta.state.registry`), read on each write. A container with no entry
(a copy, one taken out of the state) behaves as the built-in type. Every mutating method
tells its barrier before it changes anything, so that a write outside a transaction is
refused at the guilty line.

They encode, compare and print as the built-in types, and copy and pickle as them: a
copy of one is a plain `dict`/`list`/`set`, never a way to drag the whole state along.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

# id(object) -> its entry (object, barrier, parent, key) for the Structs and opaque values
# of open states; a tracked container keeps its entry in its own `_at` slot instead.
registry: dict[int, Any] = {}
MISSING: Any = object()


def _keyed(container: Any, key: Any) -> None:
    """Report a write to one key of a registered dict (about to change)."""
    try:
        entry = container._at
    except AttributeError:  # made outside kanta: never registered
        return
    if entry is not None:
        entry[1].write_key(container, key)


def _whole(container: Any) -> None:
    """Report a write to a registered list or set (about to change)."""
    try:
        entry = container._at
    except AttributeError:
        return
    if entry is not None:
        entry[1].write_whole(container)


class PlainCopies:
    """Copies and pickles of a tracked container are the built-in type (`plain`): a copy of
    one must never drag the whole state along, nor be registered."""

    __slots__ = ()
    plain: type

    def copy(self) -> Any:
        """A plain container with the same contents."""
        return self.plain(self)

    def __copy__(self) -> Any:
        return self.plain(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return copy.deepcopy(self.plain(self), memo)

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return self.plain, (self.plain(self),)


class TrackedDict(PlainCopies, dict[Any, Any]):
    """A state's dict: a `dict` whose writes the barrier sees."""

    __slots__ = ("_at",)  # its registry entry, or None: see `kanta.state.registry`
    _at: Any
    plain = dict

    def __setitem__(self, key: Any, value: Any) -> None:
        _keyed(self, key)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: Any) -> None:
        if key in self:
            _keyed(self, key)
        dict.__delitem__(self, key)

    def pop(self, key: Any, *default: Any) -> Any:
        """Remove `key` and return its value (or the default)."""
        if key in self:
            _keyed(self, key)
        return dict.pop(self, key, *default)

    def popitem(self) -> tuple[Any, Any]:
        """Remove and return the last entry."""
        if self:
            _keyed(self, next(reversed(self)))
        return dict.popitem(self)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """The value of `key`, set to `default` first if missing."""
        if key not in self:
            _keyed(self, key)
        return dict.setdefault(self, key, default)

    def clear(self) -> None:
        """Remove every entry."""
        for key in list(self):
            _keyed(self, key)
        dict.clear(self)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Set the entries of a mapping or of (key, value) pairs, then of keywords."""
        entries = dict(*args, **kwargs)  # read once: an iterator cannot be walked twice
        entry = getattr(self, "_at", None)
        if entry is not None:
            entry[1].write_keys(self, entries)
        dict.update(self, entries)

    def __ior__(self, other: Any) -> TrackedDict:  # type: ignore[misc]
        self.update(other)
        return self


def _reporting(base: type, name: str) -> Any:
    """`base`'s method `name`, reporting the write to the barrier first."""
    method = getattr(base, name)

    def wrapper(self: Any, *args: Any) -> Any:
        _whole(self)
        return method(self, *args)

    wrapper.__name__ = name
    wrapper.__doc__ = method.__doc__
    return wrapper


class TrackedList(PlainCopies, list[Any]):
    """A state's list: a `list` whose writes the barrier sees."""

    __slots__ = ("_at",)  # its registry entry, or None: see `kanta.state.registry`
    _at: Any
    plain = list

    __setitem__ = _reporting(list, "__setitem__")
    __delitem__ = _reporting(list, "__delitem__")
    __iadd__ = _reporting(list, "__iadd__")
    __imul__ = _reporting(list, "__imul__")
    append = _reporting(list, "append")
    extend = _reporting(list, "extend")
    insert = _reporting(list, "insert")
    pop = _reporting(list, "pop")
    remove = _reporting(list, "remove")
    clear = _reporting(list, "clear")
    reverse = _reporting(list, "reverse")

    def sort(self, *, key: Any = None, reverse: bool = False) -> None:
        """Sort in place."""
        _whole(self)
        list.sort(self, key=key, reverse=reverse)


class TrackedSet(PlainCopies, set[Any]):
    """A state's set: a `set` whose writes the barrier sees."""

    __slots__ = ("_at",)  # its registry entry, or None: see `kanta.state.registry`
    _at: Any
    plain = set

    add = _reporting(set, "add")
    discard = _reporting(set, "discard")
    remove = _reporting(set, "remove")
    pop = _reporting(set, "pop")
    clear = _reporting(set, "clear")
    update = _reporting(set, "update")
    difference_update = _reporting(set, "difference_update")
    intersection_update = _reporting(set, "intersection_update")
    symmetric_difference_update = _reporting(set, "symmetric_difference_update")
    __ior__ = _reporting(set, "__ior__")
    __iand__ = _reporting(set, "__iand__")
    __isub__ = _reporting(set, "__isub__")
    __ixor__ = _reporting(set, "__ixor__")


# A tracked type -> the built-in type it stands for (as the state's encoding sees it).
BUILTIN_OF: dict[type, type] = {TrackedDict: dict, TrackedList: list, TrackedSet: set}
TRACKED_OF: dict[type, type] = {dict: TrackedDict, list: TrackedList, set: TrackedSet}


def entry_of(value: Any) -> Any:
    """The registry entry of a value of some open state, or None."""
    if type(value) in BUILTIN_OF:
        return getattr(value, "_at", None)
    return registry.get(id(value))


def set_entry(value: Any, entry: Any) -> None:
    """Give `value` its entry (a container keeps it, for anything else the registry)."""
    if type(value) in BUILTIN_OF:
        value._at = entry
    else:
        registry[id(value)] = entry


def drop_entry(value: Any) -> None:
    """`value` is no longer in any state."""
    if type(value) in BUILTIN_OF:
        value._at = None
    else:
        del registry[id(value)]


def builtin_type(value: Any) -> type:
    """The type of `value`, with a tracked container's built-in type instead of its own."""
    t = type(value)
    return BUILTIN_OF.get(t, t)
