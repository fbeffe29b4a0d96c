"""The write barrier: the state's own objects report each write, so a commit compares only those.

While a transaction's block runs (`accepting`), every write to a registered object is
logged with the value it replaces: `(container, key)` for a dict key or Struct field, and a
copy of a list or set at its first write. A commit resolves the log to paths through the
registry (`kanta.state.registry`), as the state was at the last commit, and compares the
live state with the shadow along those paths alone (`kanta.state.writediff`), so its cost
follows what the block wrote. Outside a block a write is refused before it happens.

After the commit the registry follows the change (`settle`): what left the state is
unregistered, what came in is registered and its plain containers converted. A rollback
puts the logged values back (`undo`), so the state's objects keep their identity and the
registry stays as it was.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from msgspec.structs import force_setattr

from ..errors import DataIntegrityError
from .adoption import adopt_decoded
from .gcpause import gc_paused
from .kinds import DICT, SKIP, category, keyed, kind_of_type
from .registry import StateMap
from .tracked import MISSING, entry_of
from .tracker import Tracker, Tree, reorder
from .writediff import Ordering, Trie, add_path, diff_along, level_at

Paths = tuple[tuple[Any, ...], ...]
# A commit that wrote more entries than this registers with the cycle collector held.
LARGE = 256


class Barrier:
    """One open database's write barrier over its live state."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.map = StateMap(self, db_path)
        self.accepting = False  # a transaction's block is running
        self.reading: str | None = None  # who runs now that may only read: named in refusals
        self.compare_all = False  # the root was replaced: the next commit compares everything
        # id(container) -> (the dict or Struct, {key: its value before the first write})
        self._log: dict[int, tuple[Any, dict[Any, Any]]] = {}
        # id(list or set) -> (it, a copy of its items before the first write)
        self._whole: dict[int, tuple[Any, Any]] = {}
        self._inserted: dict[int, set[Any]] = {}  # id(dict) -> keys written while absent
        self._writes = 0  # entries logged
        self._no_ordering = Ordering(self._inserted, self.map.misordered)  # never changed
        self._ordering = self._no_ordering
        self._broken = False

    @property
    def root(self) -> Any:
        """The root object the registry was built from."""
        return self.map.root

    # -- the hooks report here ----------------------------------------------------------

    def write_key(self, container: Any, key: Any) -> None:
        """A dict's `key` is about to change."""
        if not self.accepting:
            raise self._refusal(container, key)
        logged = self._log.get(id(container))
        if logged is None:
            logged = self._log[id(container)] = (container, {})
        if key not in logged[1]:
            logged[1][key] = dict.get(container, key, MISSING)
            self._writes += 1
        if key not in container:
            inserted = self._inserted.get(id(container))
            if inserted is None:
                inserted = self._inserted[id(container)] = set()
            inserted.add(key)

    def write_keys(self, container: Any, keys: dict[Any, Any]) -> None:
        """Many keys of a dict are about to change (`update`): `write_key` in bulk."""
        if not self.accepting:
            raise self._refusal(container, next(iter(keys), None))
        logged = self._log.get(id(container))
        if logged is None:
            logged = self._log[id(container)] = (container, {})
        olds = logged[1]
        fresh = keys.keys() - olds.keys()
        absent = fresh - container.keys()
        olds.update(dict.fromkeys(absent, MISSING))
        olds.update({key: dict.__getitem__(container, key) for key in fresh - absent})
        self._writes += len(fresh)
        absent = keys.keys() - container.keys()
        if absent:
            inserted = self._inserted.get(id(container))
            if inserted is None:
                inserted = self._inserted[id(container)] = set()
            inserted.update(absent)

    def write_field(self, obj: Any, name: str) -> None:
        """A Struct's field `name` is about to change (or be deleted)."""
        if not self.accepting:
            raise self._refusal(obj, name)
        if name not in obj.__struct_fields__:
            return  # not a field: the class's own method refuses it
        logged = self._log.get(id(obj))
        if logged is None:
            logged = self._log[id(obj)] = (obj, {})
        if name not in logged[1]:
            logged[1][name] = getattr(obj, name, MISSING)
            self._writes += 1

    def write_whole(self, container: Any) -> None:
        """A list or set is about to change."""
        if not self.accepting:
            raise self._refusal(container, None)
        if id(container) not in self._whole:
            saved = list(container) if isinstance(container, list) else set(container)
            self._whole[id(container)] = (container, saved)
            self._writes += 1

    def _refusal(self, container: Any, key: Any) -> DataIntegrityError:
        paths = self.map.paths_of(container, {}) or [("?",)]
        path = (*paths[0], key) if key is not None and keyed(container) else paths[0]
        where = ".".join(map(str, path)) or "the root"
        if self.reading is not None:
            message = (
                f"{self.reading} changed the data, at {where}; it may only read it, so the "
                "change was refused and the transaction rolled back"
            )
        else:
            message = (
                f"the state was changed outside a transaction, at {where}: change it inside "
                "`with db.transaction(...)`; nothing was changed"
            )
        return DataIntegrityError(message, db_path=self.db_path, paths=(where,))

    # -- commit -------------------------------------------------------------------------

    def changes(self, tracker: Tracker, live: Any, declared: Paths | None) -> Tree | None:
        """The change tree along what was written (and `declared`), or None."""
        if self.compare_all or live is not self.map.root:
            return tracker.changes(live)
        if not (self._log or self._whole or self.map.opaque or declared):
            return None  # nothing written (a transaction's start, a no-op)
        trie: Trie = {}
        memo: dict[int, list[tuple[Any, ...]]] = {}
        paths_of = self.map.paths_of
        for container, olds in self._log.values():
            with_key = keyed(container)
            for path in paths_of(container, memo):
                if not with_key:
                    if not add_path(trie, path):
                        return tracker.changes(live)
                    continue
                level = level_at(trie, path)
                if level is None:
                    continue
                if len(olds) == 1:
                    level[next(iter(olds))] = None  # the written entry, whole
                else:
                    level.update(dict.fromkeys(olds))
        if self._whole or self.map.opaque:
            wholes = [entry[0] for entry in self._whole.values()]
            for container in wholes + list(self.map.opaque.values()):
                for path in paths_of(container, memo):
                    if not add_path(trie, path):
                        return tracker.changes(live)
        for path in declared or ():
            if not add_path(trie, path):
                return tracker.changes(live)
        if not trie:
            return None
        self._ordering = Ordering(self._inserted, self.map.misordered)
        try:
            return diff_along(trie, live, tracker.shadow, self._ordering)
        except (AttributeError, TypeError) as exc:  # a declared path naming no field
            raise ValueError(f"touches: no such field on a declared path ({exc})") from exc

    def settle(self) -> None:
        """After a commit: the registry follows what came into the state and what left it.

        Raises DataIntegrityError for an object of another open database's state; the
        transaction then rolls back (`undo`), which registers the state afresh.
        """
        try:
            if self._writes > LARGE:
                with gc_paused():  # many objects registered at once, all long-lived
                    self._settle()
            else:
                self._settle()
        except BaseException:
            self._broken = True
            raise

    def _settle(self) -> None:
        state = self.map
        leaving: list[tuple[Any, Any, Any]] = []
        for container, olds in self._log.values():
            is_dict = kind_of_type(type(container)) == DICT
            if is_dict and len(olds) > LARGE:  # a bulk insert, most likely
                keys = [
                    key for key, old in olds.items() if dict.get(container, key, MISSING) is not old
                ]
                present = [key for key in keys if key in container]
                state.enter_many(container, present, [container[key] for key in present])
                leaving.extend(
                    (olds[key], container, key) for key in keys if olds[key] is not MISSING
                )
                continue
            for key, old in olds.items():
                if is_dict:
                    new = dict.get(container, key, MISSING)
                else:
                    new = getattr(container, key, MISSING)
                if new is old:
                    continue
                if new is not MISSING and kind_of_type(type(new)) != SKIP:
                    state.enter(new, container, key, None)
                if old is not MISSING and kind_of_type(type(old)) != SKIP:
                    leaving.append((old, container, key))
        for container, saved in self._whole.values():
            leaving.extend(self._settle_items(container, saved))
        for old, container, key in leaving:
            state.leave(old, container, key)
        ordering = self._ordering
        if ordering.moved or ordering.realigned:
            state.misordered.update(map(id, ordering.moved))
            state.misordered.difference_update(map(id, ordering.realigned))
        state.converted()
        self.compare_all = False
        self._forget()

    def _settle_items(self, container: Any, saved: Any) -> list[tuple[Any, Any, Any]]:
        """Register the items a list or set gained; the ones it lost, to unregister."""
        before = Counter(id(item) for item in saved if category(item) != SKIP)
        is_list = isinstance(container, list)
        for position, item in enumerate(list(container)):
            if category(item) == SKIP:
                continue
            if before[id(item)] > 0:
                before[id(item)] -= 1
            else:
                self.map.enter(item, container, None, position if is_list else None)
        lost = []
        for item in saved:
            if category(item) != SKIP and before[id(item)] > 0:
                before[id(item)] -= 1
                lost.append((item, container, None))
        return lost

    # -- rollback -----------------------------------------------------------------------

    def undo(self, tracker: Tracker) -> None:
        """Put back every logged value, with the built-in methods the hooks do not see."""
        unaligned: dict[int, Any] = {}
        for container, olds in self._log.values():
            if kind_of_type(type(container)) != DICT:
                for key, old in olds.items():
                    if old is not MISSING:
                        force_setattr(container, key, old)
                continue
            inserted = self._inserted.get(id(container), ())
            if id(container) in self.map.misordered and any(
                dict.get(container, key, MISSING) is not old for key, old in olds.items()
            ):
                # A full comparison's rollback realigns it with the shadow: so does this.
                unaligned[id(container)] = container
            for key, old in olds.items():
                if old is MISSING:
                    dict.pop(container, key, None)
                    continue
                if key not in container or key in inserted:
                    unaligned[id(container)] = container  # back at the end, out of place
                dict.__setitem__(container, key, old)
        for container, saved in self._whole.values():
            if isinstance(container, list):
                list.__setitem__(container, slice(None), saved)
            else:
                set.clear(container)
                set.update(container, saved)
        for container in unaligned.values():
            shadow = self._counterpart(container, tracker.shadow)
            if shadow is not None:
                reorder(container, shadow)
                self.map.misordered.discard(id(container))
        self._forget()
        if self._broken:  # a settle failed half-way: the registry is not to be trusted
            self._broken = False
            self.rebuild(self.map.root)

    def _counterpart(self, container: Any, shadow_root: Any) -> Any:
        """The shadow's object at the container's first path, if it is a dict."""
        paths = self.map.paths_of(container, {})
        if not paths:
            return None
        value = shadow_root
        for key in paths[0]:
            if isinstance(value, dict):
                value = value.get(key, MISSING)
            else:
                value = getattr(value, key, MISSING)
            if value is MISSING:
                return None
        return value if isinstance(value, dict) else None

    # -- the whole state ----------------------------------------------------------------

    def adopt_decoded(self, root: Any) -> Any:
        """Register a state just decoded (at open); returns the tracker's copy of it."""
        return adopt_decoded(self.map, root)

    def rebuild(self, root: Any) -> None:
        """Register `root` afresh: after a new root, or after the tracker restored values."""
        self.map.release()
        self.map.adopt_root(root)
        self._forget()

    def replace_root(self, root: Any) -> None:
        """`db.data = root`: register it now; the next commit compares everything."""
        self.rebuild(root)
        self.compare_all = True

    def release(self) -> None:
        """At close: unregister the state and give back the class hooks."""
        self.accepting = False
        self.map.release()
        self.map.unhook()
        self._forget()

    def _forget(self) -> None:
        self._log.clear()
        self._whole.clear()
        self._inserted.clear()
        self._writes = 0
        self._ordering = self._no_ordering  # until the next comparison makes one


def owner_of(value: Any) -> Barrier | None:
    """The barrier whose state holds `value`, if any (for tests and diagnostics)."""
    entry = entry_of(value)
    return None if entry is None else entry[1]
