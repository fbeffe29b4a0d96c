"""Tests for kanta.core.diff: the writer of the diff format, and its round trip back."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kanta.core.diff import diff, escape_key, exactly_equal, unescape_key
from kanta.core.patch import apply_in_place, patch

# --- an exactness check that shares no code with kanta ------------------------------------


def typed(tree: object) -> object:
    """Spell out the type of every key and value, so == on the result is exact."""
    if isinstance(tree, dict):
        return ("dict", {(type(k).__name__, repr(k)): typed(v) for k, v in tree.items()})
    if isinstance(tree, list):
        return ("list", [typed(v) for v in tree])
    return (type(tree).__name__, repr(tree))


def assert_exact(actual: object, expected: object) -> None:
    assert exactly_equal(actual, expected)
    assert typed(actual) == typed(expected)


# --- strategies ----------------------------------------------------------------------------

DOLLAR_TEXT = st.sampled_from(
    [
        *["", "a", "b", "0", "1", "-1", "$", "$$", "$a", "$$a", "$$$a"],
        *["$delete", "$replace", "$insert", "$$delete", "$$replace", "$$insert"],
    ]
)
JSON_KEYS = st.one_of(DOLLAR_TEXT, st.text(max_size=3))
MSGPACK_KEYS = st.one_of(JSON_KEYS, st.integers(-2, 3))
# 0, False, 0.0 and -0.0 are all equal to each other; so are 1, 1.0 and True.
CONFUSABLE = st.sampled_from([0, 1, 2, 0.0, -0.0, 1.0, 2.0, True, False])
JSON_LEAVES = st.one_of(
    st.none(),
    CONFUSABLE,
    st.integers(),
    st.floats(allow_nan=False),
    DOLLAR_TEXT,
    st.text(max_size=4),
)
ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])
MSGPACK_LEAVES = st.one_of(
    JSON_LEAVES, st.binary(max_size=3), st.datetimes(timezones=ZONES), st.just(b"")
)


def trees(keys: st.SearchStrategy[Any], leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(keys, kids, max_size=4),
        max_leaves=16,
    )


def reshapes(tree: object) -> list[object]:
    """Values that differ from ``tree`` only in kind or type, the cases a diff gets wrong."""
    if isinstance(tree, dict):
        return [list(tree.values()), None, {}, {"$replace": tree}]
    if isinstance(tree, list):
        return [{str(i): v for i, v in enumerate(tree)}, {"0": None}, {}, None, []]
    if tree is None:
        return [{}, {"a": None}, {"$replace": None}, [], 0, False]
    if isinstance(tree, bool | int | float):
        return [True, False, 1, 0, 1.0, 0.0, -0.0, {}, [tree]]
    if isinstance(tree, str):
        return ["$" + tree, tree[1:], {tree: tree}]
    return [{}, None]


@st.composite
def edited(draw: st.DrawFn, tree: object, keys: st.SearchStrategy[Any], leaves: Any) -> object:
    """Draw a tree that is mostly ``tree``, with random changes scattered through it."""
    action = draw(st.integers(0, 9))
    if action <= 3:
        return tree
    if action == 4:
        return draw(trees(keys, leaves))
    if action == 5:
        return draw(st.sampled_from(reshapes(tree)))
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            if draw(st.integers(0, 4)):
                out[key] = draw(edited(value, keys, leaves))
        for key in draw(st.lists(keys, max_size=2)):
            out[key] = draw(trees(keys, leaves))
        return out
    if isinstance(tree, list):
        items = [draw(edited(v, keys, leaves)) for v in tree if draw(st.integers(0, 4))]
        for _ in range(draw(st.integers(0, 2))):
            items.insert(draw(st.integers(0, len(items))), draw(trees(keys, leaves)))
        return items
    return draw(leaves)


@st.composite
def pairs(draw: st.DrawFn, keys: st.SearchStrategy[Any], leaves: Any) -> tuple[object, object]:
    """Draw (a, b) with ``b`` derived from ``a``, so most pairs share most of their tree."""
    a = draw(st.dictionaries(keys, trees(keys, leaves), max_size=5) | trees(keys, leaves))
    return a, draw(edited(a, keys, leaves))


JSON_PAIRS = pairs(JSON_KEYS, JSON_LEAVES)
MSGPACK_PAIRS = pairs(MSGPACK_KEYS, MSGPACK_LEAVES)
MANY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- round trip ----------------------------------------------------------------------------


def check_round_trip(a: object, b: object) -> None:
    a_before, b_before = copy.deepcopy(a), copy.deepcopy(b)
    d = diff(a, b)
    if d is None:
        assert_exact(a, b)
        return
    d_before = copy.deepcopy(d)
    assert_exact(patch(a, d), b)
    assert_exact(apply_in_place(copy.deepcopy(a), copy.deepcopy(d)), b)
    for value, before in ((a, a_before), (b, b_before), (d, d_before)):
        assert typed(value) == typed(before)


@MANY
@given(JSON_PAIRS)
def test_round_trip_json_trees(pair: tuple[object, object]) -> None:
    check_round_trip(*pair)


@MANY
@given(MSGPACK_PAIRS)
def test_round_trip_msgpack_trees(pair: tuple[object, object]) -> None:
    check_round_trip(*pair)


@MANY
@given(st.one_of(JSON_PAIRS, MSGPACK_PAIRS))
def test_round_trip_from_a_copy(pair: tuple[object, object]) -> None:
    # Without shared subtrees every unchanged value must be found equal by walking it.
    a, b = pair
    check_round_trip(copy.deepcopy(a), copy.deepcopy(b))


@MANY
@given(trees(MSGPACK_KEYS, MSGPACK_LEAVES))
def test_no_change_is_none(tree: object) -> None:
    assert diff(tree, tree) is None
    assert diff(tree, copy.deepcopy(tree)) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(JSON_KEYS, trees(JSON_KEYS, JSON_LEAVES), max_size=4), max_size=6))
def test_a_chain_of_diffs_replays(states: list[dict[str, Any]]) -> None:
    replayed: object = {}
    previous: object = {}
    for state in states:
        d = diff(previous, state)
        if d is not None:
            replayed = apply_in_place(replayed, copy.deepcopy(d))
        previous = state
        assert_exact(replayed, state)


# --- the format we write -------------------------------------------------------------------


def test_changed_keys_in_current_order_after_delete() -> None:
    d = diff({"a": 1, "gone": 2, "b": 3}, {"b": 30, "new": 4, "a": 10})
    assert d is not None
    assert list(d) == ["$delete", "b", "new", "a"]
    assert d == {"$delete": ["gone"], "b": 30, "new": 4, "a": 10}


def test_nested_dicts_recurse_and_unchanged_are_omitted() -> None:
    a = {"x": {"y": {"z": 1}, "same": {"k": [1]}}, "keep": 1}
    b = {"x": {"y": {"z": 2}, "same": {"k": [1]}}, "keep": 1}
    assert diff(a, b) == {"x": {"y": {"z": 2}}}


def test_empty_nested_change_is_omitted_and_root_none() -> None:
    assert diff({"x": {}}, {"x": {}}) is None
    assert diff({}, {}) is None


@pytest.mark.parametrize("old", [None, [1], [], 0, "s", True])
def test_dict_over_non_dict_is_replace(old: object) -> None:
    new = {"0": 1}
    assert diff({"k": old}, {"k": new}) == {"k": {"$replace": new}}


@pytest.mark.parametrize(
    ("old", "new"),
    [({"a": 1}, [1]), ({"a": 1}, None), ([1, 2], [1, 3]), ([1], []), (1, 2), ("a", None)],
)
def test_non_dict_new_value_is_assigned_verbatim(old: object, new: object) -> None:
    assert diff({"k": old}, {"k": new}) == {"k": new}


def test_new_keys_are_assigned_verbatim_without_escaping_values() -> None:
    value = {"$a": "$b", "$$c": ["$d"], "$delete": 1}
    assert diff({}, {"n": value}) == {"n": value}


def test_new_dict_holding_a_replace_key_is_wrapped() -> None:
    value = {"$replace": 1}
    assert diff({}, {"n": value}) == {"n": {"$replace": value}}


@pytest.mark.parametrize(
    ("old", "new"),
    [(1, 1.0), (1, True), (0, False), (0.0, -0.0), ([1], [1.0]), ({"a": 1}, {"a": True})],
)
def test_equal_but_differently_typed_values_are_changes(old: object, new: object) -> None:
    assert diff({"k": old}, {"k": new}) is not None


def test_keys_escaped_at_every_diff_level_and_in_delete() -> None:
    a = {"$a": {"$$b": 1, "$gone": 0}, "c": 1, "$$old": 1, 5: {"$x": 1}}
    b = {"$a": {"$$b": 2, "$new": "$v"}, "c": 1, 5: {"$x": 2}}
    assert diff(a, b) == {
        "$delete": ["$$$old"],
        "$$a": {"$delete": ["$$gone"], "$$$b": 2, "$$new": "$v"},
        5: {"$$x": 2},
    }


def test_example_from_the_old_release_is_written_the_same() -> None:
    before: dict[str, Any] = {
        "n": {"$x": {"$$y": "$v"}, "l": [1, {"$z": 1}]},
        "old": {"$k": 1},
        "none": None,
        "lst": [1, 2],
    }
    after = copy.deepcopy(before)
    after["n"]["$x"]["$w"] = 2
    del after["old"]["$k"]
    assert diff(before, after) == {"n": {"$$x": {"$$w": 2}}, "old": {"$delete": ["$$k"]}}


@pytest.mark.parametrize(
    ("old", "new"),
    [([1], [2]), ([1], {"a": 1}), (None, {}), ({}, None), (1, 1.0), ({"a": 1}, [1])],
)
def test_non_dict_roots_are_replaced(old: object, new: object) -> None:
    assert diff(old, new) == {"$replace": new}


@pytest.mark.parametrize("root", [[1, {"a": 2}], None, 3, "s"])
def test_equal_non_dict_roots_are_no_change(root: object) -> None:
    assert diff(root, copy.deepcopy(root)) is None


# --- helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "escaped"),
    [
        ("$foo", "$$foo"),
        ("$$x", "$$$x"),
        ("$", "$$"),
        ("foo", "foo"),
        ("", ""),
        ("a$", "a$"),
        (7, 7),
    ],
)
def test_escape_and_unescape_key(key: object, escaped: object) -> None:
    assert escape_key(key) == escaped
    assert unescape_key(escaped) == key


def test_unescape_leaves_single_dollar_as_is() -> None:
    assert unescape_key("$delete") == "$delete"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, 1.0),
        (1, True),
        (0, False),
        (0.0, -0.0),
        ([1, 2], [1, 2.0]),
        ((1,), (True,)),
        ({"a": [{"b": 1}]}, {"a": [{"b": True}]}),
        ({1: "x"}, {True: "x"}),
        ({1: "x"}, {1.0: "x"}),
        (
            datetime(2027, 1, 1, 12, tzinfo=UTC),
            datetime(2027, 1, 1, 14, tzinfo=timezone(timedelta(hours=2))),
        ),
    ],
)
def test_exactly_equal_tells_types_apart(a: object, b: object) -> None:
    assert a == b
    assert not exactly_equal(a, b)
    assert not exactly_equal(b, a)


@pytest.mark.parametrize(
    "value",
    [1, 1.5, -0.0, True, None, "s", b"x", [1, [2.0, {"a": None}]], {1: {"b": [True]}}, {"": ()}],
)
def test_exactly_equal_accepts_equal_copies(value: object) -> None:
    assert exactly_equal(value, copy.deepcopy(value))


def test_exactly_equal_rejects_unequal() -> None:
    assert not exactly_equal({"a": 1}, {"a": 2})
    assert not exactly_equal([1], [1, 1])
    assert not exactly_equal(float("nan"), float("nan"))
