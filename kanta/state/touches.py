"""Flat transactions: the paths they declare, and the changes along those paths only.

`db.transaction(..., touches=[("users", key)])` states what a transaction changes. Its
commit compares the live state with the tracker's copy along those paths alone, so its
cost depends on what lies there, not on the size of the state. Whatever changed anywhere
else stays different from the tracker's copy, where the audit (`kanta.audit`), the next
default transaction or `close()` finds it; it is never written as part of this one.
"""

from __future__ import annotations

from typing import Any

from .clone import DICT, LEAF, kind_of
from .tracker import DELETE, MISSING, Tracker, Tree, diff_entry, new_entry

Paths = tuple[tuple[Any, ...], ...]


def flat_paths(touches: Any) -> Paths:
    """Check and tidy the paths a flat transaction declares: tuples of keys and field names.

    A path inside another declared path is dropped (the outer one covers it). A path may
    end at, or pass, a key that does not exist yet; the Struct fields it names are checked
    when the transaction compares them (at its start).
    """
    declared = None if isinstance(touches, (str, bytes)) else list(touches)
    if declared is None or not all(isinstance(path, (tuple, list)) for path in declared):
        raise TypeError(
            "touches takes a list of paths, each a tuple of keys and field names, "
            f"e.g. touches=[('users', key)]; got {touches!r}"
        )
    if len(declared) == 1:
        return (tuple(declared[0]),)
    # Declared order is kept (it is the order of the keys in the record); outer paths first.
    paths = sorted(dict.fromkeys(map(tuple, declared)), key=len)
    kept: list[tuple[Any, ...]] = []
    for path in paths:
        if not any(path[: len(outer)] == outer for outer in kept):
            kept.append(path)
    return tuple(kept)


def _diff_path(live: Any, shadow: Any, path: tuple[Any, ...]) -> Tree | None:
    """The change tree (rooted at `live`) of what lies at a non-empty `path` and below."""
    key, rest = path[0], path[1:]
    new = live.get(key, MISSING) if kind_of(live) == DICT else getattr(live, key)
    old = shadow.get(key, MISSING) if kind_of(shadow) == DICT else getattr(shadow, key)
    if new is MISSING:
        return None if old is MISSING else {key: DELETE}
    if old is MISSING:
        return {key: new_entry(new)}
    kind = kind_of(new)
    walk = rest and kind != LEAF and (type(new) is type(old) or kind == DICT == kind_of(old))
    change = _diff_path(new, old, rest) if walk else diff_entry(new, old)
    return None if change is None else {key: change}


def _merge(tree: Tree, change: Tree) -> None:
    """Add one path's change tree to `tree` (declared paths never nest, so no conflicts)."""
    for key, op in change.items():
        mine = tree.get(key)
        if type(mine) is dict and type(op) is dict:
            _merge(mine, op)
        elif mine is None:
            tree[key] = op


def changes_at(tracker: Tracker, live: Any, paths: Paths) -> Tree | None:
    """The change tree along `paths` only (see `flat_paths`), or None."""
    if () in paths:
        return tracker.changes(live)  # the root: a whole comparison
    tree: Tree = {}
    for path in paths:
        try:
            change = _diff_path(live, tracker.shadow, path)
        except (AttributeError, TypeError) as exc:  # TypeError: a field name not a str
            where = ".".join(map(str, path))
            raise ValueError(f"touches: no such field on the path {where} ({exc})") from exc
        if change is not None:
            _merge(tree, change)
    return tree or None
