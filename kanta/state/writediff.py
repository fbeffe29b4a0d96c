"""The change tree along the paths a transaction wrote, exactly as a full comparison builds it.

The barrier hands over a trie of written paths (`None` marks a whole entry). Each dict and
Struct on the way is compared at those keys only, and the tree is built in the order a
full comparison (`Tracker.changes`) would give it: a Struct's fields in field order; a
dict's deleted keys in the shadow's order, then its changed keys in the live order. The
records written from it are then the same bytes, at a cost that follows what was written.

Ordering several keys of one dict needs their positions. Keys inserted by this
transaction sit at the live dict's end, so they are read from its tail; only two or more
changed keys that stayed in place (or two deletions) cost one pass over the dict in C.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from .clone import DICT, LEAF, kind_of
from .tracked import TrackedDict, entry_of
from .tracker import DELETE, MISSING, REORDER, SET, Tree, diff_entry, new_entry

Trie = dict[Any, Any]  # key -> Trie, or None for the whole entry


def add_path(trie: Trie, path: tuple[Any, ...]) -> bool:
    """Add a non-empty path to the trie; False when the root itself is named (compare all)."""
    if not path:
        return False
    level = trie
    for key in path[:-1]:
        below = level.get(key, MISSING)
        if below is None:
            return True  # an outer entry is compared whole already
        if below is MISSING:
            below = level[key] = {}
        level = below
    level[path[-1]] = None
    return True


def level_at(trie: Trie, path: tuple[Any, ...]) -> Trie | None:
    """The trie's level at `path` (made as needed); None when an outer entry is whole."""
    level = trie
    for key in path:
        below = level.get(key, MISSING)
        if below is None:
            return None
        if below is MISSING:
            below = level[key] = {}
        level = below
    return level


class Ordering:
    """What a diff along written paths learns about dict order, for `settle` to keep."""

    def __init__(self, inserted: dict[int, set[Any]], misordered: set[int]) -> None:
        self.inserted = inserted  # id(dict) -> its keys that were absent when written
        self.misordered = misordered  # ids of dicts whose shadow keeps an older key order
        self.moved: list[Any] = []  # dicts with a key put back at the end, tree empty
        self.realigned: list[Any] = []  # dicts whose shadow takes the live order


def diff_along(trie: Trie, live: Any, shadow: Any, ordering: Ordering) -> Tree | None:
    """The change tree from `shadow` to `live` at the trie's paths, or None."""
    if kind_of(live) == DICT:
        return _diff_dict(trie, live, shadow, ordering)
    tree: Tree = {}
    for name in _field_order(type(live), trie):
        new = getattr(live, name, MISSING)
        if new is MISSING:
            if name not in live.__struct_fields__:  # a declared path naming no field
                raise AttributeError(f"{type(live).__name__} has no field {name!r}")
            tree[name] = SET  # `del obj.field`, as the full comparison: render refuses it
            continue
        _diff_key(tree, trie[name], name, new, getattr(shadow, name), ordering)
    return tree or None


def _diff_dict(trie: Trie, live: Any, shadow: Any, ordering: Ordering) -> Tree | None:
    keys, ends, moved = _dict_order(trie, live, shadow, ordering.inserted)
    tree: Tree = {}
    bulk = not moved and len(ends) > 1 and _no_dicts(map(live.__getitem__, ends))
    for key in keys if bulk else [*keys, *ends]:
        _diff_key(tree, trie[key], key, live.get(key, MISSING), shadow.get(key, MISSING), ordering)
    if bulk:  # keys new to the shadow, all at the end: a bulk insert, in C
        tree.update(dict.fromkeys(ends, SET))
    if entry_of(live) is not None:
        if tree and (moved or id(live) in ordering.misordered):
            tree[REORDER] = True  # as a full comparison, which finds the keys unaligned
            ordering.realigned.append(live)
        elif moved:
            ordering.moved.append(live)
    return tree or None


def _no_dicts(values: Any) -> bool:
    """Whether none of the values is a dict (which could hold "$replace": not a plain SET)."""
    types = set(map(type, values))
    return dict not in types and TrackedDict not in types


def _diff_key(
    tree: Tree, below: Trie | None, key: Any, new: Any, old: Any, ordering: Ordering
) -> None:
    if new is MISSING:
        if old is not MISSING:
            tree[key] = DELETE
        return
    if old is MISSING:
        tree[key] = new_entry(new)
        return
    kind = kind_of(new)
    walk = kind != LEAF and (type(new) is type(old) or kind == DICT == kind_of(old))
    if below is not None and walk:
        change = diff_along(below, new, old, ordering)
    else:
        change = diff_entry(new, old)
    if change is not None:
        tree[key] = change


_field_index: dict[type, dict[str, int]] = {}


def _field_order(cls: type, trie: Trie) -> list[str]:
    names = list(trie)
    if len(names) > 1:
        index = _field_index.get(cls)
        if index is None:
            fields = cls.__struct_fields__  # type: ignore[attr-defined]
            index = _field_index[cls] = {name: i for i, name in enumerate(fields)}
        names.sort(key=index.__getitem__)
    return names


def _dict_order(
    trie: Trie, live: dict[Any, Any], shadow: dict[Any, Any], inserted: dict[int, set[Any]]
) -> tuple[list[Any], list[Any], bool]:
    """The written keys in a full comparison's order, as (the others, the ones at the end).

    Also whether a key the shadow has went back to the end (popped and put back).
    """
    if len(trie) == 1:
        (key,) = trie
        back = key in inserted.get(id(live), ()) and key in live
        return [key], [], back and key in shadow
    keys = trie.keys()
    present = keys & live.keys()
    appended = present & inserted.get(id(live), set())
    moved = not appended.isdisjoint(shadow.keys())
    deleted: Any = (keys - present) & shadow.keys()
    if len(deleted) > 1:
        deleted = filter(deleted.__contains__, shadow)
    kept: Any = present - appended
    ends = list(islice(reversed(live), len(appended)))
    ends.reverse()
    if len(ends) != len(appended) or not appended.issuperset(ends):
        kept, ends = present, []  # not at the end after all: place every key by a pass
    if len(kept) > 1:
        kept = filter(kept.__contains__, live)
    return [*deleted, *kept], ends, moved
