"""The audit: changes made outside any transaction, found a slice at a time.

Flat transactions compare only the paths they declare, so a change made anywhere else
(outside any transaction, or outside what a flat transaction declared) is not seen by
them. The audit compares the whole live state with the tracker's copy in slices of a few
thousand entries, so that the caller can let other code run between two slices. Every
slice looks its containers up again from the root: between two slices, transactions may
commit, replace containers, add and remove keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import compress, filterfalse, repeat
from operator import ne
from typing import Any

from .clone import DICT, LEAF, kind_of
from .tracked import builtin_type
from .tracker import (
    DELETE,
    MISSING,
    SMALL_DICT,
    Tree,
    container_get,
    container_has,
    diff_entry,
    new_entry,
)

# Entries compared per slice: about a millisecond of C-level comparison for small objects.
SLICE = 5_000


def audit(live: Any, shadow: Any, size: int = SLICE) -> Iterator[Tree]:
    """Compare `live` with `shadow` in slices; each step yields what that slice found.

    A found change is a tree rooted at the root (as `Tracker.changes` gives), empty when
    the slice found nothing. Run it to the end for a whole pass.
    """
    yield from _audit_node(live, shadow, (), size)


def _resolve(root: Any, path: tuple[Any, ...]) -> Any:
    node = root
    for key in path:
        if kind_of(node) == LEAF or not container_has(node, key):
            return MISSING
        node = container_get(node, key)
    return node


def _pair(live_root: Any, shadow_root: Any, path: tuple[Any, ...]) -> tuple[Any, Any] | None:
    """The live and shadow containers at `path`, if both are there and of one type."""
    live, shadow = _resolve(live_root, path), _resolve(shadow_root, path)
    if live is MISSING or kind_of(live) == LEAF or builtin_type(live) is not type(shadow):
        return None  # what is there now was compared whole one level up
    return live, shadow


def _audit_node(
    live_root: Any, shadow_root: Any, path: tuple[Any, ...], size: int
) -> Iterator[Tree]:
    pair = _pair(live_root, shadow_root, path)
    if pair is None:
        return
    live, shadow = pair
    if kind_of(live) == DICT and max(len(live), len(shadow)) > SMALL_DICT:
        yield from _audit_large(live_root, shadow_root, path, size)
        return
    found, below = _shallow(live, shadow)
    yield _rooted(path, found)
    for key in below:
        yield from _audit_node(live_root, shadow_root, (*path, key), size)


def _shallow(live: Any, shadow: Any) -> tuple[Tree, list[Any]]:
    """Changes among one container's own entries; entries holding containers come later."""
    if kind_of(live) == DICT:
        found: Tree = dict.fromkeys(filterfalse(live.__contains__, shadow), DELETE)
        names = list(live)
    else:
        found, names = {}, list(live.__struct_fields__)
    below = []
    for key in names:
        new = container_get(live, key)
        old = container_get(shadow, key) if container_has(shadow, key) else MISSING
        if old is MISSING:
            found[key] = new_entry(new)
        elif kind_of(new) != LEAF and builtin_type(new) is type(old):
            below.append(key)
        else:
            change = diff_entry(new, old)
            if change is not None:
                found[key] = change
    return found, below


def _audit_large(
    live_root: Any, shadow_root: Any, path: tuple[Any, ...], size: int
) -> Iterator[Tree]:
    """A large dict: its keys are listed once, then compared a slice at a time."""
    pair = _pair(live_root, shadow_root, path)
    if pair is None:
        return
    live_keys, shadow_keys = list(pair[0]), list(pair[1])
    for start in range(0, len(live_keys), size):
        pair = _pair(live_root, shadow_root, path)
        if pair is None:
            return
        yield _rooted(path, _compare_keys(*pair, live_keys[start : start + size]))
    for start in range(0, len(shadow_keys), size):
        pair = _pair(live_root, shadow_root, path)
        if pair is None:
            return
        live, shadow = pair
        chunk = filter(shadow.__contains__, shadow_keys[start : start + size])
        yield _rooted(path, dict.fromkeys(filterfalse(live.__contains__, chunk), DELETE))


def _compare_keys(live: dict[Any, Any], shadow: dict[Any, Any], keys: list[Any]) -> Tree:
    """The changed entries among `keys` of `live` (one C-level pass, then exact checks)."""
    found: Tree = {}
    new_values = map(live.get, keys, repeat(MISSING))
    old_values = map(shadow.get, keys, repeat(MISSING))
    for key in compress(keys, map(ne, new_values, old_values)):
        new, old = live.get(key, MISSING), shadow.get(key, MISSING)
        if new is MISSING:
            continue  # removed since the keys were listed: the removal pass sees it
        change = new_entry(new) if old is MISSING else diff_entry(new, old)
        if change is not None:
            found[key] = change
    return found


def _rooted(path: tuple[Any, ...], found: Tree) -> Tree:
    if not found:
        return found
    for key in reversed(path):
        found = {key: found}
    return found
