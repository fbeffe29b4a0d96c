"""Change tracking: what the live typed state changed since the last commit.

The tracker keeps a private copy (the shadow) of the committed state that never shares a
mutable object with the live state. A commit compares the two: large dicts are compared
with C-level `!=` over their (key, value) pairs in one pass, and only the entries that
differ are walked in Python, so the cost follows what changed, not a deep copy of
everything. The
result is a change tree keyed by native keys and attribute names; `kanta.render` turns it
into the on-disk diff, `accept` brings the shadow up to date, `revert` restores the live
state.
"""

from __future__ import annotations

import copy
from itertools import compress, filterfalse, islice, repeat
from operator import itemgetter, ne
from typing import Any

import msgspec
from msgspec.structs import force_setattr

from ..core.diff import exactly_equal
from .clone import DICT, LEAF, STRUCT, clone, kind_of
from .tracked import BUILTIN_OF, TrackedDict

# Change-tree operations; a nested change is a dict (the subtree).
SET = 1  # assign the live value
REPLACE = 2  # assign, wrapped in `$replace` because a plain assignment would be read as a diff
DELETE = 3  # remove the key
# Marks a dict node whose key order may differ between live and shadow.
REORDER: Any = object()
MISSING: Any = object()  # no such key

Tree = dict[Any, Any]

# Dicts up to this size are compared entry by entry, exactly (1, 1.0 and True differ);
# larger ones are filtered first by one C-level `!=` pass over their values.
SMALL_DICT = 64


class Tracker:
    """Compares the live state with a private copy of the last committed state."""

    def __init__(self, shadow: Any) -> None:
        self.shadow = shadow
        # ids of the shadow's large dicts whose entries a frozen copy shares; None: no copy.
        self._shared: set[int] | None = None
        self._frozen = 0

    def freeze(self) -> Any:
        """A copy of the committed state that commits leave alone until `thaw`.

        For a snapshot encoded in another thread. Containers are copied down to the entries
        of large dicts, which are shared (a dict copy in C); meanwhile a commit copies such
        an entry before changing anything inside it.
        """
        shared = self._shared if self._shared is not None else set()
        copy = _spine(self.shadow, shared)
        self._shared = shared
        self._frozen += 1
        return copy

    def thaw(self) -> None:
        """The copy `freeze` gave is no longer used."""
        self._frozen -= 1
        if not self._frozen:
            self._shared = None

    def changes(self, live: Any) -> Tree | None:
        """The change tree from the shadow to `live`, or None when nothing changed."""
        return _diff_container(live, self.shadow)

    def accept(self, tree: Tree, live: Any) -> None:
        """Make the shadow equal to `live` along the paths of `tree`."""
        _accept(tree, live, self.shadow, self._shared)

    def revert(self, tree: Tree, live: Any) -> None:
        """Restore `live` to the shadow along the paths of `tree`, in place."""
        _revert(tree, live, self.shadow)


def _diff_container(live: Any, shadow: Any) -> Tree | None:
    if kind_of(live) == DICT:
        return _diff_dict(live, shadow)
    return _diff_struct(live, shadow)


def diff_entry(new: Any, old: Any) -> Any:
    """The change for one entry: None, an operation, or a subtree."""
    if new is old:
        return None
    kind = kind_of(new)
    if kind != LEAF and (type(new) is type(old) or kind == DICT == kind_of(old)):
        # A dict subclass (OrderedDict) is written as a dict: only its entries count.
        return _diff_container(new, old)
    if _same_leaf(new, old):
        return None
    if kind != LEAF and (kind_of(old) == LEAF or type(old) is not type(new)):
        # Another kind of object, or an object over a non-object: a reader would try to
        # apply the new value as a diff.
        return REPLACE
    return SET


def _same_leaf(new: Any, old: Any) -> bool:
    if type(new) is not type(old) and BUILTIN_OF.get(type(new)) is not type(old):
        return False  # a state's tracked list or set is compared as the built-in one
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


def new_entry(value: Any) -> int:
    """The operation that writes a new key: SET, or REPLACE for a dict holding "$replace"."""
    # A new dict that itself holds "$replace" would be read as a replace operation.
    if (type(value) is dict or type(value) is TrackedDict) and "$replace" in value:
        return REPLACE
    return SET


def _diff_struct(live: Any, shadow: Any) -> Tree | None:
    tree: Tree = {}
    for name in live.__struct_fields__:
        new = getattr(live, name, MISSING)
        if new is MISSING:  # `del obj.field`: refused by render, restored by revert
            tree[name] = SET
            continue
        change = diff_entry(new, getattr(shadow, name))
        if change is not None:
            tree[name] = change
    return tree or None


def _diff_dict(live: dict[Any, Any], shadow: dict[Any, Any]) -> Tree | None:
    if len(shadow) > SMALL_DICT or len(live) > SMALL_DICT:
        return _diff_large(live, shadow)
    return _diff_unaligned(live, shadow)


def _diff_large(live: dict[Any, Any], shadow: dict[Any, Any]) -> Tree | None:
    """One C-level `!=` pass over entries paired by position, when the keys line up."""
    if len(live) >= len(shadow):
        tree = _diff_paired(live, shadow)
        if tree is not None:
            return tree or None
    return _diff_keyed(live, shadow)


def _diff_paired(live: dict[Any, Any], shadow: dict[Any, Any]) -> Tree | None:
    """The changes when the shadow's keys are the first keys of `live`, in order.

    Comparing (key, value) pairs position by position finds changed values and keys out of
    place in the same pass; None when a key is out of place, empty when nothing changed.
    """
    tree: Tree = {}
    pairs = zip(live, shadow, strict=False)  # live may have new keys at the end
    for key, old_key in compress(pairs, map(ne, live.items(), shadow.items())):
        if key is not old_key and key != old_key:
            return None
        change = diff_entry(live[key], shadow[key])
        if change is not None:
            tree[key] = change
    appended = len(live) - len(shadow)
    if appended:
        _add_new_entries(tree, live, len(shadow))
    return tree


def _add_new_entries(tree: Tree, live: dict[Any, Any], start: int) -> None:
    """The keys of `live` from position `start` on, all new: SET, in C when none is a dict."""
    types = set(map(type, islice(live.values(), start, None)))
    if dict in types or TrackedDict in types:
        for key in islice(live, start, None):
            tree[key] = new_entry(live[key])
    else:
        tree.update(dict.fromkeys(islice(live, start, None), SET))


def _diff_keyed(live: dict[Any, Any], shadow: dict[Any, Any]) -> Tree | None:
    """The changes when keys were removed or reordered: entries looked up by key.

    Slower than pairing (lookups jump around memory), so the shadow then takes the live
    order (REORDER) and the next commit pairs again.
    """
    tree: Tree = dict.fromkeys(filterfalse(live.__contains__, shadow), DELETE)
    flagged = map(ne, live.values(), map(shadow.get, live, repeat(MISSING)))
    for key in compress(live, flagged):
        old = shadow.get(key, MISSING)
        change = new_entry(live[key]) if old is MISSING else diff_entry(live[key], old)
        if change is not None:
            tree[key] = change
    return _unordered(tree, live, shadow)


def _diff_unaligned(live: dict[Any, Any], shadow: dict[Any, Any]) -> Tree | None:
    tree: Tree = {key: DELETE for key in shadow if key not in live}
    for key, value in live.items():
        old = shadow.get(key, MISSING)
        if old is MISSING:
            tree[key] = new_entry(value)
            continue
        change = diff_entry(value, old)
        if change is not None:
            tree[key] = change
    return _unordered(tree, live, shadow)


def _unordered(tree: Tree, live: dict[Any, Any], shadow: dict[Any, Any]) -> Tree | None:
    """A dict's changes when its key order may differ, marked REORDER for `accept`.

    Only `accept` realigns the shadow's order (so that later commits pair entries by
    position again): it copies entries a frozen copy shares before changing them, which a
    comparison must not do. Same entries in another order alone are no change.
    """
    if not tree:
        return None
    tree[REORDER] = True
    return tree


def reorder(target: dict[Any, Any], order: dict[Any, Any]) -> None:
    """Put `target`'s keys in `order`'s order (its others after), unseen by the barrier."""
    items = [(key, target[key]) for key in order if key in target]
    items.extend((key, value) for key, value in target.items() if key not in order)
    dict.clear(target)
    dict.update(target, items)


def is_struct(value: Any) -> bool:
    """Whether a value is a Struct whose fields the tracker walks (not array-like)."""
    return kind_of(value) == STRUCT


def container_get(container: Any, key: Any) -> Any:
    """An entry of a dict or a field of a Struct."""
    if kind_of(container) == DICT:
        return container[key]
    return getattr(container, key)


def container_has(container: Any, key: Any) -> bool:
    """Whether a dict has the key (a Struct has all its fields)."""
    if kind_of(container) == DICT:
        return key in container
    return True


def _set(container: Any, key: Any, value: Any) -> None:
    # The built-in methods: the write barrier does not take a restore for a write.
    if kind_of(container) == DICT:
        dict.__setitem__(container, key, value)
    else:
        force_setattr(container, key, value)


def _accept(tree: Tree, live: Any, shadow: Any, shared: set[int] | None) -> None:
    if kind_of(shadow) == DICT and _only_copies(tree):
        shadow.update(zip(tree, map(itemgetter(1), tree.values()), strict=True))
        return
    for key, op in tree.items():
        if key is REORDER:
            continue
        if type(op) is dict:
            inner = container_get(shadow, key)
            if shared is not None and id(shadow) in shared:
                inner = clone(inner)  # a frozen copy holds this entry: change a new one
                _set(shadow, key, inner)
            _accept(op, container_get(live, key), inner, shared)
        elif op == DELETE:
            del shadow[key]
        elif type(op) is tuple:
            _set(shadow, key, op[1])
        else:
            _set(shadow, key, clone(container_get(live, key)))
    if REORDER in tree:
        reorder(shadow, live)


def _only_copies(tree: Tree) -> bool:
    """Whether every entry is an assignment with its read-back copy (a bulk insert)."""
    return len(tree) > SMALL_DICT and set(map(type, tree.values())) == {tuple}


def _spine(value: Any, shared: set[int]) -> Any:
    """Copies of the containers of `value`, sharing leaves and the entries of large dicts.

    Commits replace leaves rather than change them, so only containers need copies.
    """
    kind = kind_of(value)
    if kind == DICT:
        if len(value) > SMALL_DICT:
            shared.add(id(value))
            return dict(value)
        return {key: _spine(item, shared) for key, item in value.items()}
    if kind == STRUCT:
        result = copy.copy(value)
        for name in value.__struct_fields__:
            item = getattr(value, name)
            if kind_of(item) != LEAF:
                force_setattr(result, name, _spine(item, shared))
        return result
    return value


def _revert(tree: Tree, live: Any, shadow: Any) -> None:
    for key, op in tree.items():
        if key is REORDER:
            continue
        if type(op) is dict:
            _revert(op, container_get(live, key), container_get(shadow, key))
        elif container_has(shadow, key):
            _set(live, key, clone(container_get(shadow, key)))
        else:
            # pop: the same dict may sit at two paths and have lost the key already.
            dict.pop(live, key, None)
    if REORDER in tree:
        reorder(live, shadow)
