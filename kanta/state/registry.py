"""The write barrier's map of a live state: which objects are in it, and where each sits.

Every container of the state and every value the barrier cannot watch (a `bytearray`, a
dataclass: "opaque", compared at each commit) has an entry: a tuple `(object, barrier,
parent, key)`, or `(object, barrier, MANY, [(parent, key), ...])` for an object
reachable at several paths. A Struct's or an opaque value's entry is in the process-wide
registry (`kanta.state.tracked.registry`), keyed by `id`, and holds the object, so that
its id cannot be reused by a stranger while it is registered; a tracked dict, list or
set keeps its entry in its own slot (`_at`, with None for the object), which is cheaper.
A dict key or Struct field extends a path; an item of a list or set, or a field of an
`array_like` Struct, sits at its container's own path (such containers are compared
whole). Tuples keep the entries cheap: a large state holds one per container.

Adopting a value registers it and converts the plain dicts, lists and sets in it to
their tracked subclasses in place (`kanta.state.adoption` does it per Struct class,
fast).
"""

from __future__ import annotations

from collections import deque
from itertools import repeat
from typing import Any

from ..errors import DataIntegrityError
from . import hooks
from .adoption import adopter, register_all
from .clone import ATOMIC
from .kinds import (
    DICT,
    LIST,
    OPAQUE,
    SET,
    SKIP,
    STRUCT,
    TUPLE,
    category,
    keyed,
    kind_of_type,
    place,
)
from .tracked import MISSING, TRACKED_OF, drop_entry, entry_of, registry, set_entry

PATHS_KEPT = 4096  # paths remembered between commits, at most
MANY: Any = object()  # an entry's parent slot when the object sits at several places
Entry = tuple[Any, Any, Any, Any]


def locations(entry: Entry) -> list[tuple[Any, Any]]:
    """The (parent object, key) pairs an entry's object sits at (parent None: the root)."""
    if entry[2] is MANY:
        return list(entry[3])
    return [(entry[2], entry[3])]


def children(obj: Any) -> list[tuple[Any, Any]]:
    """(key, value) of what a registered container holds (key None inside lists and sets)."""
    kind = kind_of_type(type(obj))
    if kind == DICT:
        return list(obj.items())
    if kind in (LIST, SET):
        return [(None, item) for item in obj]
    if kind == STRUCT:
        return [(name, getattr(obj, name, MISSING)) for name in obj.__struct_fields__]
    return []


class StateMap:
    """The registry entries of one barrier's state: adopting, dropping and locating objects."""

    def __init__(self, barrier: Any, db_path: Any) -> None:
        self.barrier = barrier
        self.db_path = db_path
        self.root: Any = None
        self.opaque: dict[int, Any] = {}  # id -> a registered value compared at each commit
        self.misordered: set[int] = set()  # ids of dicts whose shadow keeps an older order
        self._hooked: set[type] = set()
        self._owners: list[type] = []  # one entry per `hooks.hook` call, undone at release
        # id of a plain container converted during one adoption -> (it, its tracked copy).
        self._converted: dict[int, tuple[Any, Any]] = {}
        self._walkers: dict[type, Any] = {}  # Struct class -> its adopter, once hooked
        self._walk_arguments = (repeat(barrier), repeat(self.enter), repeat(self._converted))
        # id -> paths, for objects whose paths were asked: a new object changes no one
        # else's paths, so only a location added or dropped clears it.
        self._paths: dict[int, list[tuple[Any, ...]]] = {}

    # -- adopting -----------------------------------------------------------------------

    def adopt_root(self, root: Any) -> None:
        """Register a whole state (a new root, or afresh), converting its containers."""
        self.root = root
        self.enter(root, None, None, None)
        self._converted.clear()

    def enter(self, value: Any, parent: Any, key: Any, index: int | None) -> None:
        """`value` now sits at `parent[key]` (`parent[index]` in a list): register it there."""
        t = type(value)
        kind = kind_of_type(t)
        if kind == SKIP or (kind == TUPLE and category(value) == SKIP):
            return
        entry = entry_of(value)
        if entry is not None:
            self.add_location(value, entry, parent, key)
            return
        if kind == STRUCT:
            walk = self._walkers.get(t)
            if walk is None:
                self.hook(t)
                walk = self._walkers[t] = adopter(t)
            walk(value, parent, key, self.barrier, self.enter, self._converted)
            return
        if kind == TUPLE:
            kind = OPAQUE
        if t in TRACKED_OF:
            value = self._convert(value, parent, key, index)
            entry = entry_of(value)
            if entry is not None:  # a plain container met twice: one tracked copy for both
                self.add_location(value, entry, parent, key)
                return
        if kind == OPAQUE:
            registry[id(value)] = (value, self.barrier, parent, key)
        else:
            value._at = (None, self.barrier, parent, key)  # the entry, kept by the container
        if kind == OPAQUE:
            self.opaque[id(value)] = value
        elif kind == LIST:
            if not ATOMIC.issuperset(map(type, value)):
                for position, item in enumerate(value):
                    self.enter(item, value, None, position)
        elif kind == DICT:
            if not ATOMIC.issuperset(map(type, value.values())):
                for child_key, item in value.items():
                    self.enter(item, value, child_key, None)
        else:
            for item in value:
                self.enter(item, value, None, None)

    def enter_many(self, container: Any, keys: list[Any], values: list[Any]) -> None:
        """`values` now sit at `keys` of one dict: `enter` each, in bulk when they are new
        instances of one Struct class, each in one place."""
        types = set(map(type, values))
        if len(types) == 1:
            (t,) = types
            ids = list(map(id, values))
            fresh = registry.keys().isdisjoint(ids) and len(set(ids)) == len(ids)
            if fresh and kind_of_type(t) == STRUCT:
                self.hook(t)
                register_all(values, self.barrier, container, keys)
                walk = adopter(t, registered=True)
                deque(map(walk, values, repeat(container), keys, *self._walk_arguments), maxlen=0)
                return
        for key, value in zip(keys, values, strict=True):
            self.enter(value, container, key, None)

    def add_location(self, value: Any, entry: Entry, parent: Any, key: Any) -> None:
        """One more place for a registered object (an alias)."""
        if entry[1] is not self.barrier:
            raise self._foreign(value)
        self._paths.clear()
        if entry[2] is MANY:
            entry[3].append((parent, key))
        else:
            where = [(entry[2], entry[3]), (parent, key)]
            set_entry(value, (entry[0], self.barrier, MANY, where))

    def _convert(self, plain: Any, parent: Any, key: Any, index: int | None) -> Any:
        """Put a tracked copy of a plain dict, list or set where `plain` sits."""
        done = self._converted.get(id(plain))
        tracked = done[1] if done is not None else TRACKED_OF[type(plain)](plain)
        self._converted[id(plain)] = (plain, tracked)
        place(parent, key, index, tracked)
        return tracked

    def hook(self, cls: type) -> None:
        """Make sure this state's writes to instances of `cls` are reported."""
        if cls not in self._hooked:
            self._hooked.add(cls)
            owner = hooks.hook(cls)
            if owner is not None:
                self._owners.append(owner)

    def _foreign(self, value: Any) -> DataIntegrityError:
        return DataIntegrityError(
            f"a {type(value).__name__} object is already in the state of another open "
            "database; one object cannot be in two states: put a copy in this one",
            db_path=self.db_path,
        )

    def converted(self) -> None:
        """Forget the plain containers converted meanwhile (one adoption is over)."""
        if self._converted:
            self._converted.clear()

    # -- dropping -----------------------------------------------------------------------

    def leave(self, value: Any, parent: Any, key: Any) -> None:
        """`value` no longer sits at `parent[key]`; unregistered once it sits nowhere."""
        if category(value) == SKIP:
            return
        entry = entry_of(value)
        if entry is None or entry[1] is not self.barrier:
            return
        self._paths.clear()
        if entry[2] is MANY:
            where = entry[3]
            for position, (at, at_key) in enumerate(where):
                if at is parent and _same_key(at_key, key):
                    del where[position]
                    break
            if len(where) > 1:
                return
            if where:
                set_entry(value, (entry[0], self.barrier, *where[0]))
                return
        elif not (entry[2] is parent and _same_key(entry[3], key)):
            return
        drop_entry(value)
        self.opaque.pop(id(value), None)
        self.misordered.discard(id(value))
        for child_key, item in children(value):
            self.leave(item, value, child_key)

    def release(self) -> None:
        """Unregister the whole state (the next adoption starts afresh)."""
        if self.root is not None:  # containers keep their entries: walk to them
            stack = [self.root]
            while stack:
                value = stack.pop()
                if category(value) == SKIP:
                    continue
                entry = entry_of(value)
                if entry is None or entry[1] is not self.barrier:
                    continue
                drop_entry(value)
                stack.extend(item for _, item in children(value))
        mine = [ident for ident, entry in registry.items() if entry[1] is self.barrier]
        for ident in mine:
            del registry[ident]
        self._paths.clear()
        self.opaque.clear()
        self.misordered.clear()

    def unhook(self) -> None:
        """Give back the class hooks this state took (at close)."""
        for owner in self._owners:
            hooks.unhook(owner)
        self._owners.clear()
        self._hooked.clear()
        self._walkers.clear()

    # -- locating -----------------------------------------------------------------------

    def paths_of(self, obj: Any, memo: dict[int, list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
        """Every path from the root to a registered object (one per place it sits)."""
        found = self._paths.get(id(obj))
        if found is not None:
            return found
        paths = self._locate(obj, memo)
        if paths:  # (an object not registered yet may be later)
            if len(self._paths) > PATHS_KEPT:
                self._paths.clear()
            self._paths[id(obj)] = paths
        return paths

    def _locate(self, obj: Any, memo: dict[int, list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
        found = memo.get(id(obj))
        if found is not None:
            return found
        entry = entry_of(obj)
        if entry is None:
            return []
        memo[id(obj)] = []  # a cycle leads nowhere new
        paths: list[tuple[Any, ...]] = []
        for parent, key in locations(entry):
            if parent is None:
                paths.append(())
            elif keyed(parent):
                paths.extend((*path, key) for path in self._locate(parent, memo))
            else:
                paths.extend(self._locate(parent, memo))
        if len(paths) > 1:
            paths = list(dict.fromkeys(paths))
        memo[id(obj)] = paths
        return paths


def _same_key(a: Any, b: Any) -> bool:
    return a is b or (type(a) is type(b) and bool(a == b))
