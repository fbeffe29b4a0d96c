"""The audit: a slice-by-slice comparison that finds changes no transaction recorded."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from kanta.state.audit import audit
from kanta.state.tracker import DELETE, REORDER, SET, Tracker, Tree


class User(msgspec.Struct):
    name: str
    age: int = 0


class Group(msgspec.Struct):
    members: dict[str, User] = {}


class Root(msgspec.Struct):
    users: dict[str, User] = {}
    groups: dict[str, Group] = {}
    total: int = 0


def make(size: int = 1_000) -> tuple[Root, Tracker]:
    live = Root(
        users={f"u{i}": User(f"n{i}", i) for i in range(size)},
        groups={"g": Group({f"m{i}": User(f"m{i}") for i in range(size)})},
    )
    return live, Tracker(copy.deepcopy(live))


def merged(steps: list[Tree]) -> Tree:
    out: Tree = {}
    for tree in steps:
        merge(out, tree)
    return out


def merge(out: Tree, tree: Tree) -> None:
    for key, op in tree.items():
        if isinstance(op, dict) and isinstance(out.get(key), dict):
            merge(out[key], op)
        else:
            out[key] = op


def test_an_unchanged_state_gives_empty_slices() -> None:
    live, tracker = make()
    steps = list(audit(live, tracker.shadow, size=100))
    assert not any(steps)
    # Slices are bounded: the two large dicts take about size/100 steps each, twice
    # (their keys, then the keys that might have gone).
    assert len(steps) >= 4 * 1_000 // 100


def test_changes_anywhere_are_found() -> None:
    live, tracker = make()
    live.users["u999"].age = -1
    live.users["new"] = User("x")
    del live.users["u0"]
    live.groups["g"].members["m5"].name = "changed"
    live.total = 3
    found = merged(list(audit(live, tracker.shadow, size=100)))
    assert found == {
        "users": {"u999": {"age": SET}, "new": SET, "u0": DELETE},
        "groups": {"g": {"members": {"m5": {"name": SET}}}},
        "total": SET,
    }
    tracker.revert(found, live)
    assert tracker.changes(live) is None


def test_commits_between_slices_are_not_taken_for_stray_changes() -> None:
    live, tracker = make()
    steps = audit(live, tracker.shadow, size=100)
    assert not next(steps)
    # A transaction commits between two slices: it changes, adds, removes, replaces.
    live.users["u500"].age = 1000
    live.users["late"] = User("late")
    del live.users["u900"]
    live.groups = {"h": Group()}
    tree = tracker.changes(live)
    assert tree is not None
    tracker.accept(tree, live)
    assert not any(steps)


def test_a_stray_change_made_between_slices_is_found_once_the_pass_reaches_it() -> None:
    live, tracker = make()
    steps = audit(live, tracker.shadow, size=100)
    assert not next(steps)
    live.users["u700"].name = "stray"
    assert merged(list(steps)) == {"users": {"u700": {"name": SET}}}


# -- property: a whole pass finds what the full comparison finds ---------------------------

OPS = st.one_of(
    st.tuples(st.just("age"), st.integers(0, 120), st.integers(0, 5)),
    st.tuples(st.just("add"), st.text(max_size=3)),
    st.tuples(st.just("del"), st.integers(0, 120)),
    st.tuples(st.just("member"), st.integers(0, 120), st.text(max_size=2)),
    st.tuples(st.just("total"), st.integers(1, 3)),
    st.tuples(st.just("group"), st.text(max_size=2)),
)


def apply(live: Root, op: tuple[Any, ...]) -> None:
    kind, *args = op
    if kind == "age" and f"u{args[0]}" in live.users:
        live.users[f"u{args[0]}"].age = args[1]
    elif kind == "add":
        live.users["+" + args[0]] = User(args[0])
    elif kind == "del":
        live.users.pop(f"u{args[0]}", None)
    elif kind == "member" and "g" in live.groups:
        live.groups["g"].members[f"m{args[0]}"] = User(args[1])
    elif kind == "total":
        live.total = args[0]
    elif kind == "group":
        live.groups[args[0]] = Group()


def without_reorder(tree: Any) -> Any:
    if not isinstance(tree, dict):
        return tree
    return {key: without_reorder(op) for key, op in tree.items() if key is not REORDER}


@settings(max_examples=200)
@given(size=st.sampled_from([3, 120]), ops=st.lists(OPS, max_size=6), slice_size=st.integers(1, 50))
def test_a_whole_pass_finds_what_the_full_comparison_finds(
    size: int, ops: list[tuple[Any, ...]], slice_size: int
) -> None:
    live, tracker = make(size)
    for op in ops:
        apply(live, op)
    expected = without_reorder(tracker.changes(live)) or {}
    assert merged(list(audit(live, tracker.shadow, size=slice_size))) == expected
