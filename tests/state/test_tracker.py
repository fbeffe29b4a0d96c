"""Property tests for kanta.state.tracker: the change tree, its rendered diff, accept and revert.

Every example builds a typed state, mutates the live object in place the way application
code does, and checks the tracker against the reference writer (`kanta.core.diff.diff`) and the
reader (`kanta.core.patch.patch`) on the builtin form of the state (`JsonSerializer.to_state`),
following the commit protocol of `transactions._commit`: `changes`, `render`, then `accept` (or
`revert` for a rollback). No files are involved.

Known, accepted gap (documented by the xfail tests at the end): dicts of more than
`SMALL_DICT` (64) entries are filtered by one C-level `!=` pass over their values, so
below such a dict a change that only alters the *type* of an equal value (`True` -> `1`
-> `1.0`, `0.0` -> `-0.0`, `[1]` -> `[1.0]`, a datetime's zone at the same instant) is
never seen and never written: the state on disk then silently differs from the live
state. The main strategies use small dicts with such "confusable" leaves, and large
("wide") dicts only with leaves of which no two distinct ones are `==` while differing in
type. Non-finite floats are left out (JSON cannot hold them; the unit tests check they
are refused), and so are datetimes outside UTC (see the datetime zone test below).
"""

from __future__ import annotations

import copy
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import msgspec
import pytest
from compat_models import Address, Data, User
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import kanta.state.tracker as tracker_module
from kanta.core.diff import diff, exactly_equal
from kanta.core.jsonlines import JsonSerializer
from kanta.core.patch import patch
from kanta.state.changeencoding import UnstorableChange, render
from kanta.state.clone import clone, shadow_of
from kanta.state.tracker import (
    DELETE,
    REORDER,
    REPLACE,
    SET,
    SMALL_DICT,
    Tracker,
)

ser = JsonSerializer()

# --- helpers --------------------------------------------------------------------------------


def json_roundtrip(value: Any) -> Any:
    """A value as it comes back from the log (the diff as it is on disk)."""
    return msgspec.json.decode(msgspec.json.encode(value))


def builtin(value: Any) -> Any:
    """The on-disk builtin form of a typed state, as a private copy."""
    return copy.deepcopy(ser.to_state(value))


def on_disk(tree: Any, live: Any, root_type: Any) -> Any:
    """Render a change tree (as transactions._commit does) and read it back as it is on disk."""
    return json_roundtrip(render(tree, live, root_type, ser))


def same_diff(written: Any, reference: Any) -> bool:
    """Whether two diffs read the same: exactly equal, but `$delete` lists in any order.

    The tracker lists deleted keys in the shadow's order, which legitimately lags behind
    the live order after a reorder-only change below a large dict (nothing is written for
    those, so the shadow is not told).
    """
    return exactly_equal(_sorted_deletes(written), _sorted_deletes(reference))


def _sorted_deletes(value: Any) -> Any:
    if type(value) is dict:
        return {
            key: sorted(item, key=repr)
            if key == "$delete" and type(item) is list
            else _sorted_deletes(item)
            for key, item in value.items()
        }
    return value


def without_reorder(tree: Any) -> Any:
    """A change tree without its REORDER marks (small dicts always carry one)."""
    if type(tree) is not dict:
        return tree
    return {key: without_reorder(op) for key, op in tree.items() if key is not REORDER}


def mutable_ids(root: Any) -> dict[int, str]:
    """id() -> type name of every list, dict, set, bytearray and Struct reachable from root."""
    found: dict[int, str] = {}
    stack = [root]
    while stack:
        value = stack.pop()
        if isinstance(value, dict | list | set | bytearray | msgspec.Struct):
            if id(value) in found:
                continue
            found[id(value)] = type(value).__name__
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list | tuple | set | frozenset):
            stack.extend(value)
        elif isinstance(value, msgspec.Struct):
            stack.extend(getattr(value, name) for name in value.__struct_fields__)
    return found


def assert_nothing_shared(live: Any, shadow: Any) -> None:
    shared = mutable_ids(live).keys() & mutable_ids(shadow).keys()
    assert not shared, f"live and shadow share {len(shared)} mutable objects"


def start(kind: str, initial: Any) -> tuple[Any, Any, Tracker]:
    """The per-example setup: a live state decoded from disk form, and its tracker."""
    root_type: Any = Data if kind == "data" else dict
    live = ser.from_state(ser.to_state(initial), root_type)
    return root_type, live, Tracker(shadow_of(live))


# --- strategies -----------------------------------------------------------------------------

DOLLAR_TEXT = st.sampled_from(
    [
        *["", "a", "b", "0", "1", "-1", "$", "$$", "$a", "$$a", "$$$a"],
        *["$delete", "$replace", "$insert", "$$delete", "$$replace", "$$insert"],
    ]
)
KEYS = st.one_of(DOLLAR_TEXT, st.text(max_size=3))
TEXT = st.one_of(DOLLAR_TEXT, st.text(max_size=4))

# 0, False, 0.0 and -0.0 are all == to each other; so are 1, 1.0 and True.
CONFUSABLE = st.sampled_from([0, 1, 2, 0.0, -0.0, 1.0, 2.0, True, False])
FINITE = st.floats(allow_nan=False, allow_infinity=False)
LEAVES = st.one_of(st.none(), CONFUSABLE, st.integers(), FINITE, TEXT)
# For large dicts: no two of these are == while differing in type (see the docstring).
SAFE_INTS = st.integers().filter(lambda n: n not in (0, 1))
SAFE_FLOATS = st.one_of(
    st.floats(min_value=-1, max_value=1, exclude_min=True, exclude_max=True).filter(bool),
    st.builds(float.__add__, st.integers(-(10**6), 10**6).map(float), st.sampled_from([0.5, 0.1])),
)
SAFE_LEAVES = st.one_of(st.none(), st.booleans(), SAFE_INTS, SAFE_FLOATS, TEXT)


def json_values(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda kids: st.one_of(
            st.lists(kids, max_size=3),
            st.dictionaries(KEYS, kids, max_size=3),
            # A dict a reader could take for an operator.
            st.fixed_dictionaries({"$replace": kids}, optional={"a": kids}),
        ),
        max_leaves=8,
    )


VALUES = json_values(LEAVES)
SAFE_VALUES = json_values(SAFE_LEAVES)
NAMES = st.one_of(st.sampled_from(["ann", "bob", "cy", "$x", "$$y"]), st.text(max_size=3))
ADDRESSES = st.builds(Address, city=TEXT, zip=st.none() | TEXT)
USERS = st.builds(
    User,
    name=TEXT,
    email=st.none() | TEXT,
    age=st.integers(-(2**63), 2**63),
    tags=st.lists(TEXT, max_size=3),
    address=st.none() | ADDRESSES,
)
WHEN = st.none() | st.datetimes(timezones=st.just(UTC))
DATA = st.builds(
    Data,
    users=st.dictionaries(NAMES, USERS, max_size=4),
    counter=st.integers(-(2**63), 2**64 - 1),
    ratio=FINITE,
    flag=st.booleans(),
    by_int=st.dictionaries(st.integers(-(2**63), 2**63), TEXT, max_size=3),
    by_uuid=st.dictionaries(st.uuids(), st.integers(-5, 5), max_size=3),
    blob=st.binary(max_size=4),
    when=WHEN,
    numbers=st.lists(st.integers(-5, 5), max_size=4),
    meta=st.dictionaries(KEYS, VALUES, max_size=4),
)
DICT_ROOT = st.dictionaries(KEYS, VALUES, max_size=5)
# More than SMALL_DICT entries, so the root takes the aligned (C-level) path.
WIDE = {f"w{i}": [i + 2] if i % 3 else {"n": i + 2, "s": f"{i}"} for i in range(SMALL_DICT + 6)}
WIDE_ROOT = st.builds(
    lambda extra: {**WIDE, **extra}, st.dictionaries(KEYS, SAFE_VALUES, max_size=3)
)

INDEX = st.integers(0, 7)
PATH = st.lists(INDEX, max_size=3).map(tuple)


def tree_ops(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A mutation of an untyped JSON tree: (action, path, index, key, value).

    The path picks a container by position among the containers below the current node;
    the index picks an entry by position (modulo the size), so every op applies to
    whatever state it meets.
    """
    actions = st.sampled_from(["put", "del", "set", "reinsert", "clear", "copy"])
    return st.tuples(actions, PATH, st.integers(0, SMALL_DICT + 10), KEYS, values)


DICT_FIELDS = st.sampled_from(["users", "by_int", "by_uuid", "meta"])
DATA_OPS = st.one_of(
    st.tuples(st.just("set"), st.just("counter"), st.integers(-(2**63), 2**64 - 1)),
    st.tuples(st.just("set"), st.just("ratio"), FINITE),
    st.tuples(st.just("set"), st.just("flag"), st.booleans()),
    st.tuples(st.just("set"), st.just("blob"), st.binary(max_size=4)),
    st.tuples(st.just("set"), st.just("when"), WHEN),
    st.tuples(st.just("set"), st.just("numbers"), st.lists(st.integers(-5, 5), max_size=3)),
    st.tuples(st.just("set"), st.just("meta"), st.dictionaries(KEYS, VALUES, max_size=3)),
    st.tuples(st.just("set"), st.just("users"), st.dictionaries(NAMES, USERS, max_size=2)),
    st.tuples(st.just("numbers"), st.sampled_from(["append", "pop", "set"]), INDEX),
    st.tuples(st.just("user_put"), NAMES, USERS),
    st.tuples(st.just("user_del"), INDEX),
    st.tuples(st.just("user_set"), INDEX, st.just("name"), TEXT),
    st.tuples(st.just("user_set"), INDEX, st.just("email"), st.none() | TEXT),
    st.tuples(st.just("user_set"), INDEX, st.just("age"), st.integers(-3, 3)),
    st.tuples(st.just("user_set"), INDEX, st.just("tags"), st.lists(TEXT, max_size=2)),
    st.tuples(st.just("user_set"), INDEX, st.just("address"), st.none() | ADDRESSES),
    st.tuples(st.just("user_tag"), INDEX, st.none() | TEXT),
    st.tuples(st.just("user_city"), INDEX, TEXT),
    st.tuples(st.just("user_same"), INDEX),
    st.tuples(st.just("entry_put"), st.just("by_int"), st.integers(-3, 3), TEXT),
    st.tuples(st.just("entry_put"), st.just("by_uuid"), st.uuids(), st.integers(-5, 5)),
    st.tuples(st.just("entry_del"), DICT_FIELDS, INDEX),
    st.tuples(st.just("reinsert"), DICT_FIELDS, INDEX),
    st.tuples(st.just("recopy"), DICT_FIELDS),
    st.tuples(st.just("meta"), tree_ops(VALUES)),
)
DICT_OPS = st.tuples(st.just("tree"), tree_ops(VALUES))
WIDE_OPS = st.tuples(st.just("tree"), tree_ops(SAFE_VALUES))


class Case(NamedTuple):
    """A root kind, its initial state, and rounds of (mutations, "commit" | "revert")."""

    kind: str
    initial: Any
    rounds: list[tuple[list[Any], str]]


def cases(max_rounds: int = 1) -> st.SearchStrategy[Case]:
    def rounds(ops: st.SearchStrategy[Any]) -> st.SearchStrategy[list[tuple[list[Any], str]]]:
        step = st.tuples(st.lists(ops, max_size=6), st.sampled_from(["commit", "revert"]))
        return st.lists(step, min_size=1, max_size=max_rounds)

    return st.one_of(
        st.builds(Case, st.just("data"), DATA, rounds(DATA_OPS)),
        st.builds(Case, st.just("dict"), DICT_ROOT, rounds(DICT_OPS)),
        st.builds(Case, st.just("dict"), WIDE_ROOT, rounds(WIDE_OPS)),
    )


# --- applying mutations ---------------------------------------------------------------------


def _pick(container: dict[Any, Any] | list[Any], index: int) -> Any:
    """The key (dict) or position (list) at `index` modulo the size; None when empty."""
    if not container:
        return None
    if isinstance(container, dict):
        return list(container)[index % len(container)]
    return index % len(container)


def apply_tree_op(root: dict[Any, Any], op: tuple[Any, ...]) -> None:
    action, path, index, key, value = op
    value = copy.deepcopy(value)
    node: Any = root
    for step in path:
        items = node.values() if isinstance(node, dict) else node
        kids = [kid for kid in items if isinstance(kid, dict | list)]
        if not kids:
            break
        node = kids[step % len(kids)]
    at = _pick(node, index)
    if action == "put":
        if isinstance(node, dict):
            node[key] = value
        else:
            node.insert(index % (len(node) + 1), value)
    elif action == "clear":
        node.clear()
    elif at is None:
        return
    elif action == "del":
        del node[at]
    elif action == "set":
        node[at] = value
    elif action == "reinsert":
        # Delete and reinsert: same content, the entry moves to the end.
        item = node.pop(at)
        if isinstance(node, dict):
            node[at] = item
        else:
            node.append(item)
    elif action == "copy":
        # The same value under a fresh object (equal, so no change at all).
        node[at] = copy.deepcopy(node[at])


def apply_data_op(live: Data, op: tuple[Any, ...]) -> None:
    name = op[0]
    if name == "set":
        setattr(live, op[1], copy.deepcopy(op[2]))
    elif name == "numbers":
        at = _pick(live.numbers, op[2])
        if op[1] == "append":
            live.numbers.append(op[2])
        elif at is not None and op[1] == "pop":
            live.numbers.pop(at)
        elif at is not None:
            live.numbers[at] = -live.numbers[at] - 1
    elif name == "user_put":
        live.users[op[1]] = copy.deepcopy(op[2])
    elif name == "entry_put":
        getattr(live, op[1])[op[2]] = op[3]
    elif name == "meta":
        apply_tree_op(live.meta, op[1])
    elif name in ("entry_del", "reinsert", "recopy"):
        target: dict[Any, Any] = getattr(live, op[1])
        if name == "recopy":
            # A new dict object with equal content, in reverse order.
            setattr(live, op[1], dict(reversed(copy.deepcopy(target).items())))
            return
        key = _pick(target, op[2])
        if key is None:
            return
        item = target.pop(key)
        if name == "reinsert":
            target[key] = item
    else:
        key = _pick(live.users, op[1])
        if key is None:
            return
        user = live.users[key]
        if name == "user_del":
            del live.users[key]
        elif name == "user_set":
            setattr(user, op[2], copy.deepcopy(op[3]))
        elif name == "user_tag":
            if op[2] is None:
                if user.tags:
                    user.tags.pop()
            else:
                user.tags.append(op[2])
        elif name == "user_city":
            if user.address is not None:
                user.address.city = op[2]
        elif name == "user_same":
            live.users[key] = msgspec.convert(msgspec.to_builtins(user), User)
        else:  # pragma: no cover
            raise AssertionError(f"unknown op {op!r}")


def mutate(live: Any, ops: list[Any]) -> None:
    for op in ops:
        if op[0] == "tree":
            apply_tree_op(live, op[1])
        else:
            apply_data_op(live, op)


# --- checks ---------------------------------------------------------------------------------


def check_round(root_type: Any, tracker: Tracker, live: Any, ops: list[Any], action: str) -> None:
    """Mutate, then check properties 1-5 for this round; commit or revert at the end."""
    before = builtin(live)
    assert exactly_equal(builtin(tracker.shadow), before)
    root = live
    mutate(live, ops)
    after = builtin(live)
    unchanged = exactly_equal(after, before)

    # 1. A change tree exactly when the state changed.
    tree = tracker.changes(live)
    event(f"{action} " + ("unchanged" if tree is None else "changed"))
    assert (tree is None) == unchanged, (tree, before, after)

    # 2. The rendered diff, as it is on disk, turns the state before into the state after.
    reference = diff(before, after)
    if tree is None:
        assert reference is None
        assert_nothing_shared(live, tracker.shadow)
        return
    written = on_disk(tree, live, root_type)
    assert exactly_equal(patch(before, written), after)

    # 3. It is the diff the reference writer produces.
    assert reference is not None
    assert same_diff(written, json_roundtrip(reference)), (written, reference)

    if action == "commit":
        # 4. Accept: nothing left to write, the shadow equals the live state, nothing shared.
        tracker.accept(tree, live)
        assert tracker.changes(live) is None
        assert exactly_equal(builtin(tracker.shadow), after)
    else:
        # 5. Revert: the live state is back where it was, in the same root object.
        tracker.revert(tree, live)
        assert live is root
        assert exactly_equal(builtin(live), before)
        assert tracker.changes(live) is None
    assert_nothing_shared(live, tracker.shadow)


def run_case(case: Case) -> None:
    root_type, live, tracker = start(case.kind, case.initial)
    assert tracker.changes(live) is None
    assert_nothing_shared(live, tracker.shadow)
    for ops, action in case.rounds:
        check_round(root_type, tracker, live, ops, action)


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pinned examples: the transitions a writer most easily gets wrong.
ADDRESS_OVER_NONE = Case(
    "data",
    Data(users={"ann": User()}),
    [
        ([("user_set", 0, "address", Address("x"))], "commit"),
        ([("user_set", 0, "address", None)], "revert"),
    ],
)
REPLACE_KEY_DICT = Case(
    "dict",
    {"a": None, "$b": [2]},
    [
        ([("tree", ("put", (), 0, "a", {"$replace": 2}))], "commit"),
        ([("tree", ("put", (), 0, "$b", {"$replace": None}))], "revert"),
    ],
)
REINSERT = Case(
    "data",
    Data(meta={"a": 2, "b": {"c": []}}),
    [([("meta", ("reinsert", (), 0, "", None)), ("meta", ("put", (), 0, "b", 3))], "revert")],
)
TYPE_ONLY = Case(
    "data",
    Data(ratio=0.0, meta={"x": True, "l": [1]}),
    [
        ([("set", "ratio", -0.0), ("meta", ("set", (), 0, "", 1))], "commit"),
        ([("meta", ("set", (0,), 0, "", 1.0))], "revert"),
    ],
)
# Found by hypothesis: `$delete` lists the keys in the shadow's (older) order.
STALE_ORDER = Case(
    "dict",
    dict(WIDE),
    [
        ([("tree", ("reinsert", (0,), 0, "", None))], "commit"),
        ([("tree", ("clear", (0,), 0, "", None))], "commit"),
    ],
)
WIDE_REINSERT = Case(
    "dict",
    dict(WIDE),
    [
        ([("tree", ("reinsert", (), 0, "", None))], "commit"),
        ([("tree", ("put", (), 0, "new", [3]))], "commit"),
        ([("tree", ("reinsert", (), 1, "", None)), ("tree", ("set", (), 5, "", 2.5))], "revert"),
    ],
)


def single_round(case: Case) -> tuple[Any, Any, Tracker, Any, Any]:
    root_type, live, tracker = start(case.kind, case.initial)
    before = builtin(live)
    mutate(live, case.rounds[0][0])
    return root_type, live, tracker, before, tracker.changes(live)


@PROPERTY
@given(cases())
@example(ADDRESS_OVER_NONE)
@example(REPLACE_KEY_DICT)
@example(TYPE_ONLY)
def test_change_tree_exactly_when_state_changed(case: Case) -> None:
    _, live, _, before, tree = single_round(case)
    assert (tree is None) == exactly_equal(builtin(live), before)


@PROPERTY
@given(cases())
@example(ADDRESS_OVER_NONE)
@example(REPLACE_KEY_DICT)
@example(TYPE_ONLY)
def test_rendered_diff_patches_before_into_after(case: Case) -> None:
    root_type, live, _, before, tree = single_round(case)
    if tree is not None:
        written = on_disk(tree, live, root_type)
        assert exactly_equal(patch(before, written), ser.to_state(live))


@PROPERTY
@given(cases())
@example(ADDRESS_OVER_NONE)
@example(REPLACE_KEY_DICT)
@example(REINSERT)
@example(TYPE_ONLY)
def test_rendered_diff_equals_reference_diff(case: Case) -> None:
    root_type, live, _, before, tree = single_round(case)
    reference = diff(before, builtin(live))
    if tree is None:
        assert reference is None
        return
    # Byte for byte would also compare key order; the decoded dicts are what a reader sees.
    assert same_diff(on_disk(tree, live, root_type), json_roundtrip(reference))


@PROPERTY
@given(cases())
@example(ADDRESS_OVER_NONE)
@example(TYPE_ONLY)
def test_accept_leaves_nothing_to_write_and_nothing_shared(case: Case) -> None:
    root_type, live, tracker, _, tree = single_round(case)
    if tree is not None:
        render(tree, live, root_type, ser)
        tracker.accept(tree, live)
    assert tracker.changes(live) is None
    assert exactly_equal(builtin(tracker.shadow), builtin(live))
    assert_nothing_shared(live, tracker.shadow)


@PROPERTY
@given(cases())
@example(ADDRESS_OVER_NONE)
@example(REINSERT)
@example(TYPE_ONLY)
def test_revert_restores_the_state_in_place(case: Case) -> None:
    _, live, tracker, before, tree = single_round(case)
    root = live
    if tree is not None:
        tracker.revert(tree, live)
    assert live is root
    assert exactly_equal(builtin(live), before)
    assert tracker.changes(live) is None
    assert_nothing_shared(live, tracker.shadow)


@PROPERTY
@given(cases(max_rounds=5))
@example(ADDRESS_OVER_NONE)
@example(REPLACE_KEY_DICT)
@example(REINSERT)
@example(TYPE_ONLY)
@example(WIDE_REINSERT)
@example(STALE_ORDER)
def test_rounds_of_commits_and_reverts(case: Case) -> None:
    run_case(case)


# --- unit tests -----------------------------------------------------------------------------


def only_small_unaligned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the entry-by-entry path refuse large dicts (they must take the aligned path)."""
    unaligned = tracker_module._diff_unaligned

    def checked(live: dict[Any, Any], shadow: dict[Any, Any]) -> Any:
        assert len(shadow) <= SMALL_DICT, "a large dict took the unaligned (slow) path"
        return unaligned(live, shadow)

    monkeypatch.setattr(tracker_module, "_diff_unaligned", checked)


def test_large_dict_one_nested_change_gives_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    initial = Data(users={f"u{i}": User(name=f"n{i}", age=i) for i in range(10_000)})
    _, live, tracker = start("data", initial)
    live.users["u5000"].age = -1
    live.users["u7777"].address = Address("Oslo")
    only_small_unaligned(monkeypatch)
    tree = tracker.changes(live)
    assert tree == {"users": {"u5000": {"age": SET}, "u7777": {"address": REPLACE}}}
    assert on_disk(tree, live, Data) == {
        "users": {
            "u5000": {"age": -1},
            "u7777": {"address": {"$replace": {"city": "Oslo", "zip": None}}},
        }
    }
    tracker.accept(tree, live)
    assert tracker.changes(live) is None
    assert_nothing_shared(live.users["u7777"], tracker.shadow.users["u7777"])
    # An entry appended at the end keeps the aligned path too.
    live.users["new"] = User("x")
    assert tracker.changes(live) == {"users": {"new": SET}}


def test_large_plain_dict_root_one_nested_change(monkeypatch: pytest.MonkeyPatch) -> None:
    _, live, tracker = start("dict", {f"k{i}": {"v": [i], "n": {"x": i}} for i in range(10_000)})
    live["k9999"]["n"]["x"] = "changed"
    only_small_unaligned(monkeypatch)
    tree = tracker.changes(live)
    assert without_reorder(tree) == {"k9999": {"n": {"x": SET}}}
    tracker.revert(tree, live)
    assert live["k9999"]["n"]["x"] == 9999


def test_delete_and_reinsert_reorders(monkeypatch: pytest.MonkeyPatch) -> None:
    _, live, tracker = start("dict", {"a": 1.5, "b": 2.5, "c": 3.5})
    # Same value reinserted: no change at all.
    live["a"] = live.pop("a")
    assert tracker.changes(live) is None
    # Deleted and reinserted with a new value, another key deleted.
    del live["b"]
    live["b"] = "new"
    del live["c"]
    tree = tracker.changes(live)
    assert tree == {"c": DELETE, "b": SET, REORDER: True}
    assert on_disk(tree, live, dict) == {"$delete": ["c"], "b": "new"}
    # Revert restores values and the order of the last commit.
    tracker.revert(tree, live)
    assert list(live.items()) == [("a", 1.5), ("b", 2.5), ("c", 3.5)]


def test_large_dict_removed_and_reordered_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Removed and reinserted keys of a large dict are found without a walk in Python."""
    _, live, tracker = start("dict", {f"k{i}": i for i in range(SMALL_DICT * 2)})
    only_small_unaligned(monkeypatch)
    del live["k0"]
    live["k0"] = "new"
    del live["k5"]
    live["z"] = None  # a new None is not mistaken for a missing entry
    tree = tracker.changes(live)
    assert tree == {"k0": SET, "z": SET, "k5": DELETE, REORDER: True}
    assert on_disk(tree, live, dict) == {"$delete": ["k5"], "k0": "new", "z": None}
    tracker.accept(tree, live)
    assert list(tracker.shadow.items()) == list(live.items())
    monkeypatch.setattr(tracker_module, "_diff_keyed", None)  # paired by position again
    live["k2"] = -1
    live["y"] = 0
    tree = tracker.changes(live)
    assert tree == {"k2": SET, "y": SET}
    tracker.accept(tree, live)
    monkeypatch.undo()
    # A reorder alone is no change (order is not written); the shadow's order follows
    # with the next change to that dict.
    live["k1"] = live.pop("k1")
    assert tracker.changes(live) is None
    assert list(tracker.shadow) != list(live)


def test_clone_shares_nothing() -> None:
    value = Data(
        users={"a": User("a", tags=["x"], address=Address("c")), "b": User("b")},
        by_int={1: "x"},
        by_uuid={uuid.UUID(int=1): 2},
        numbers=[1, 2],
        when=datetime(2027, 1, 1, tzinfo=UTC),
        meta={"l": [[1], {"d": {"e": [2]}}], "s": [{"x"}], "t": ([1], {"z": 1})},
    )
    copied = clone(value)
    assert copied == value
    assert type(copied) is Data
    assert_nothing_shared(value, copied)
    # Not what the annotation says (list[str]), but nothing stops it at run time.
    odd = User("c", tags=[["nested"], "x"])  # type: ignore[list-item]
    assert_nothing_shared(odd, clone(odd))
    plain = {"a": [{"b": [1]}], "c": {"d": set()}, "e": (["f"],)}
    copied_plain = clone(plain)
    assert copied_plain == plain
    assert_nothing_shared(plain, copied_plain)


def test_the_shadow_holds_huge_ints() -> None:
    _, live, tracker = start("data", Data(meta={"big": 2**70, "l": [2**70]}))
    assert tracker.shadow == live
    assert tracker.changes(live) is None
    assert_nothing_shared(live, tracker.shadow)
    live.meta["l"].append(3)
    tree = tracker.changes(live)
    assert without_reorder(tree) == {"meta": {"l": SET}}


class Inner(msgspec.Struct, rename="camel"):
    some_value: int = 0


class Outer(msgspec.Struct, rename="camel"):
    inner_part: Inner = msgspec.field(default_factory=Inner)
    other_field: dict[str, int] = {}


def test_renamed_fields_render_their_encoded_names() -> None:
    live = Outer()
    tracker = Tracker(shadow_of(live))
    before = ser.to_state(live)
    live.inner_part.some_value = 5
    live.other_field["$k"] = 2
    tree = tracker.changes(live)
    assert tree is not None
    written = on_disk(tree, live, Outer)
    assert written == {"innerPart": {"someValue": 5}, "otherField": {"$$k": 2}}
    assert written == diff(before, ser.to_state(live))


@pytest.mark.parametrize(
    ("initial", "change"),
    [
        pytest.param(Data(meta={"x": True}), lambda d: d.meta.update(x=1), id="bool-to-int"),
        pytest.param(Data(meta={"x": 1}), lambda d: d.meta.update(x=1.0), id="int-to-float"),
        pytest.param(Data(meta={"x": [1]}), lambda d: d.meta["x"].__setitem__(0, 1.0), id="list"),
        pytest.param(Data(meta={"x": {"y": 0}}), lambda d: d.meta["x"].update(y=False), id="deep"),
        pytest.param(Data(ratio=0.0), lambda d: setattr(d, "ratio", -0.0), id="negative-zero"),
    ],
)
def test_type_only_changes_in_small_dicts_are_written(initial: Data, change: Any) -> None:
    _check_written(initial, change)


def _check_written(initial: Data, change: Any) -> None:
    """Assert that `change` (applied to the live state) is found and written correctly."""
    _, live, tracker = start("data", initial)
    assert tracker.changes(live) is None
    before = builtin(live)
    change(live)
    assert not exactly_equal(builtin(live), before)
    tree = tracker.changes(live)
    assert tree is not None, "the change is not seen"
    assert exactly_equal(patch(before, on_disk(tree, live, Data)), builtin(live))
    tracker.accept(tree, live)
    assert tracker.changes(live) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ratio", math.nan),
        ("ratio", math.inf),
        ("meta", {"x": -math.inf}),
        ("meta", {"x": [math.nan]}),
    ],
)
def test_non_finite_floats_are_refused(field: str, value: Any) -> None:
    # JSON writes them as null: a float field would no longer decode, meta would read None.
    _, live, tracker = start("data", Data())
    setattr(live, field, value)
    tree = tracker.changes(live)
    assert tree is not None
    with pytest.raises(UnstorableChange):
        render(tree, live, Data, ser)
    tracker.revert(tree, live)
    assert live == Data()


# --- known gaps and bugs --------------------------------------------------------------------

WIDE_META = {f"k{i}": f"v{i}" for i in range(SMALL_DICT + 1)}


@pytest.mark.xfail(
    reason="GAP: below a dict of more than SMALL_DICT entries, changed entries are found "
    "with C-level !=, so a change of type only (True -> 1 -> 1.0, 0.0 -> -0.0, zone) is "
    "never written and the file silently differs from the live state",
    strict=True,
)
@pytest.mark.parametrize(
    ("extra", "change"),
    [
        pytest.param({"x": True}, lambda d: d.meta.update(x=1), id="bool-to-int"),
        pytest.param({"x": 1}, lambda d: d.meta.update(x=1.0), id="int-to-float"),
        pytest.param({"x": [0.0]}, lambda d: d.meta["x"].__setitem__(0, -0.0), id="list"),
        pytest.param({"x": {"y": 0}}, lambda d: d.meta["x"].update(y=False), id="deep"),
    ],
)
def test_type_only_changes_in_large_dicts_are_written(extra: Any, change: Any) -> None:
    _check_written(Data(meta={**WIDE_META, **extra}), change)


@pytest.mark.xfail(
    reason="GAP: as above, found by the full strategy on a dict of more than SMALL_DICT "
    "entries with confusable leaves",
    strict=True,
)
@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(KEYS, json_values(LEAVES), max_size=3),
    st.lists(st.tuples(st.just("tree"), tree_ops(VALUES)), min_size=1, max_size=4),
)
@example({"x": True}, [("tree", ("set", (), len(WIDE_META), "", 1))])
def test_confusable_leaves_in_a_large_dict(extra: dict[str, Any], ops: list[Any]) -> None:
    run_case(Case("dict", {**WIDE_META, **extra}, [(ops, "commit")]))


@pytest.mark.parametrize(
    "zone", [timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
)
def test_the_shadow_keeps_datetime_zones(zone: timezone) -> None:
    _, live, tracker = start("data", Data(when=datetime(2027, 1, 1, 12, tzinfo=zone)))
    assert live.when is not None and live.when.utcoffset() == zone.utcoffset(None)
    assert tracker.changes(live) is None


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: setattr(d, "ratio", 1), id="int-in-float-field"),
        pytest.param(
            lambda d: setattr(d, "when", datetime(2027, 1, 1, tzinfo=ZoneInfo("Europe/Oslo"))),
            id="zoneinfo",
        ),
    ],
)
def test_accepted_values_leave_nothing_to_write(change: Any) -> None:
    _, live, tracker = start("data", Data())
    change(live)
    tree = tracker.changes(live)
    assert tree is not None
    render(tree, live, Data, ser)  # accepted: no UnstorableChange
    tracker.accept(tree, live)
    assert tracker.changes(live) is None


def test_revert_with_an_aliased_dict() -> None:
    _, live, tracker = start("data", Data(meta={"x": {}, "y": {}}))
    shared: dict[str, Any] = {}
    live.meta["x"] = shared
    live.meta["y"] = shared
    assert tracker.changes(live) is None  # equal content: nothing to write
    shared["k"] = 2
    tree = tracker.changes(live)
    assert without_reorder(tree) == {"meta": {"x": {"k": SET}, "y": {"k": SET}}}
    tracker.revert(tree, live)  # KeyError: 'k'
    assert live.meta == {"x": {}, "y": {}}


def test_a_struct_with_keyword_field_names_is_cloned() -> None:
    odd = msgspec.defstruct("Odd", [("class", int), ("from", list[int])])
    value = odd(1, [2])
    copied = clone(value)
    assert copied == value and copied is not value
    assert getattr(copied, "from") is not getattr(value, "from")


def test_a_dict_subclass_is_compared_by_its_entries() -> None:
    from collections import OrderedDict

    _, live, tracker = start("dict", {"d": {"a": 1}})
    live["d"] = OrderedDict(a=1)
    assert tracker.changes(live) is None  # written alike: no change
    live["d"]["b"] = 2
    assert without_reorder(tracker.changes(live)) == {"d": {"b": SET}}
