"""Flat transactions' paths: checking what is declared, and comparing only along it."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kanta.state.touches import changes_at, flat_paths
from kanta.state.tracker import DELETE, REORDER, REPLACE, SET, Tracker


class User(msgspec.Struct):
    name: str
    age: int = 0
    tags: list[str] = []


class Root(msgspec.Struct):
    users: dict[str, User] = {}
    total: int = 0
    extra: dict[str, Any] = {}


def make(size: int = 100) -> tuple[Root, Tracker]:
    live = Root(users={f"u{i}": User(f"n{i}", i) for i in range(size)}, extra={"a": {"b": 1}})
    return live, Tracker(copy.deepcopy(live))


def test_flat_paths_keeps_the_declared_order_and_drops_paths_inside_others() -> None:
    paths = flat_paths([("users", "u2"), ("users", "u1"), ("users", "u2", "age"), ["total"]])
    assert paths == (("total",), ("users", "u2"), ("users", "u1"))


def test_flat_paths_refuses_a_single_path_not_in_a_list() -> None:
    with pytest.raises(TypeError, match=r"touches=\[\('users', key\)\]"):
        flat_paths(("users", "u1"))


def test_a_path_naming_a_field_that_does_not_exist_is_refused() -> None:
    live, tracker = make()
    with pytest.raises(ValueError, match=r"no such field on the path users\.u1\.agee"):
        changes_at(tracker, live, flat_paths([("users", "u1", "agee")]))


def test_flat_paths_accepts_keys_that_do_not_exist_yet() -> None:
    live, tracker = make()
    paths = flat_paths([("users", "new", "name")])
    assert paths == (("users", "new", "name"),)
    assert changes_at(tracker, live, paths) is None


def test_only_the_declared_paths_are_compared() -> None:
    live, tracker = make()
    live.users["u1"].age = 99
    live.users["u2"].age = 98  # not declared: not part of this change
    live.total = 5
    assert changes_at(tracker, live, (("users", "u1"),)) == {"users": {"u1": {"age": SET}}}
    assert changes_at(tracker, live, (("total",), ("users", "u3"))) == {"total": SET}
    assert changes_at(tracker, live, (("users", "u3"),)) is None


def test_new_removed_and_replaced_entries_at_a_path() -> None:
    live, tracker = make()
    live.users["new"] = User("x")
    del live.users["u0"]
    live.extra["r"] = {"$replace": 1}
    paths = (("users", "new", "name"), ("users", "u0"), ("extra", "r"), ("extra", "gone"))
    assert changes_at(tracker, live, paths) == {
        "users": {"new": SET, "u0": DELETE},
        "extra": {"r": REPLACE},
    }


def test_a_path_through_a_value_of_another_type_compares_that_value_whole() -> None:
    live, tracker = make()
    live.extra["a"] = [1]  # was a dict: the path below it cannot be followed
    assert changes_at(tracker, live, (("extra", "a", "b"),)) == {"extra": {"a": SET}}
    live.extra["a"] = {"b": 1, "c": 2}
    assert changes_at(tracker, live, (("extra", "a", "b"),)) is None
    assert changes_at(tracker, live, (("extra", "a", "c"),)) == {"extra": {"a": {"c": SET}}}


def test_the_root_path_is_the_whole_comparison() -> None:
    live, tracker = make()
    live.users["u5"].name = "x"
    live.total = 1
    assert changes_at(tracker, live, ((),)) == tracker.changes(live)


# -- property: along declared paths, the flat comparison is the full one ----------------------

KEYS = st.sampled_from([f"u{i}" for i in range(6)] + ["new", "$x"])
OPS = st.one_of(
    st.tuples(st.just("age"), KEYS, st.integers(0, 3)),
    st.tuples(st.just("tag"), KEYS, st.text(max_size=2)),
    st.tuples(st.just("put"), KEYS, st.text(max_size=2)),
    st.tuples(st.just("del"), KEYS),
    st.tuples(st.just("total"), st.integers(0, 3)),
    st.tuples(st.just("extra"), KEYS, st.none() | st.integers(2, 4) | st.text(max_size=2)),
    st.tuples(st.just("extra_replace"), KEYS),
)


def apply(live: Root, op: tuple[Any, ...]) -> tuple[Any, ...]:
    """Apply an operation; the path it changed."""
    kind, *args = op
    user = live.users.get(args[0]) if args and isinstance(args[0], str) else None
    if kind == "age" and user is not None:
        user.age = args[1]
        return ("users", args[0], "age")
    if kind == "tag" and user is not None:
        user.tags.append(args[1])
        return ("users", args[0], "tags")
    if kind == "put":
        live.users[args[0]] = User(args[1])
    elif kind == "del":
        live.users.pop(args[0], None)
    elif kind == "total":
        live.total = args[0]
        return ("total",)
    elif kind == "extra":
        live.extra[args[0]] = args[1]
        return ("extra", args[0])
    elif kind == "extra_replace":
        live.extra[args[0]] = {"$replace": 1}
        return ("extra", args[0])
    return ("users", args[0])


def without_reorder(tree: Any) -> Any:
    if not isinstance(tree, dict):
        return tree
    return {key: without_reorder(op) for key, op in tree.items() if key is not REORDER}


@settings(max_examples=300)
@given(size=st.sampled_from([4, 100]), ops=st.lists(OPS, max_size=6))
def test_changes_at_the_declared_paths_equal_the_full_comparison(
    size: int, ops: list[tuple[Any, ...]]
) -> None:
    live, tracker = make(size)
    paths = flat_paths([apply(live, op) for op in ops])
    assert without_reorder(changes_at(tracker, live, paths)) == without_reorder(
        tracker.changes(live)
    )


def test_a_path_with_a_number_where_a_field_goes_is_refused() -> None:
    live, tracker = make()
    with pytest.raises(ValueError, match="no such field"):
        changes_at(tracker, live, flat_paths([("users", "u1", 0)]))
