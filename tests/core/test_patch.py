"""Tests for kanta.core.patch: reading diffs, ours and the old jsondiff syntax, and its errors."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsondiff
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kanta.core.diff import exactly_equal
from kanta.core.patch import PatchError, apply_in_place, patch

COMPAT = Path(__file__).parents[1] / "fixtures" / "compat"


def typed(tree: object) -> object:
    """Spell out the type of every key and value, so == on the result is exact."""
    if isinstance(tree, dict):
        return ("dict", {(type(k).__name__, repr(k)): typed(v) for k, v in tree.items()})
    if isinstance(tree, list | tuple):
        return (type(tree).__name__, [typed(v) for v in tree])
    return (type(tree).__name__, repr(tree))


def assert_exact(actual: object, expected: object) -> None:
    assert exactly_equal(actual, expected)
    assert typed(actual) == typed(expected)


def patch_in_place(state: object, diff: object) -> Any:
    return apply_in_place(state, diff)


APPLIERS = pytest.mark.parametrize("apply", [patch, patch_in_place], ids=["patch", "in_place"])
Apply = Callable[[object, object], Any]


# --- files written by the old release ------------------------------------------------------


def replay(names: list[str], apply: Apply) -> object:
    """Replay log files in order from {}, checking each snapshot against the replayed state."""
    state: object = {}
    applied = False
    for name in names:
        for line in (COMPAT / f"{name}.kantadb").read_text(encoding="utf-8").splitlines():
            if line.startswith("SNAPSHOT "):
                snapshot = json.loads(line.removeprefix("SNAPSHOT "))["state"]
                if applied:
                    assert_exact(state, snapshot)
                state = snapshot
            elif line.strip():
                state = apply(state, json.loads(line)["diff"])
                applied = True
    return state


@APPLIERS
@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["jsondiff.json"], "jsondiff.json"),
        (["types.json"], "types.json"),
        (["legacy.json"], "legacy.json"),
        (["migrated.json"], "migrated.json"),
        (["rotated.json@20270103T120000Z", "rotated.json"], "rotated.json"),
    ],
)
def test_old_release_logs_replay(names: list[str], expected: str, apply: Apply) -> None:
    wanted = json.loads((COMPAT / f"{expected}.expected.json").read_text(encoding="utf-8"))
    assert_exact(replay(names, apply), wanted["state"])


@APPLIERS
def test_old_release_escaped_keys_under_dollar_keys(apply: Apply) -> None:
    state = {
        "n": {"$x": {"$$y": "$v"}, "l": [1, {"$z": 1}]},
        "old": {"$k": 1},
        "none": None,
        "lst": [1, 2],
    }
    d = {"n": {"$$x": {"$$w": 2}}, "old": {"$delete": ["$$k"]}}
    assert_exact(
        apply(state, d),
        {
            "n": {"$x": {"$$y": "$v", "$w": 2}, "l": [1, {"$z": 1}]},
            "old": {},
            "none": None,
            "lst": [1, 2],
        },
    )


@APPLIERS
def test_values_are_never_unescaped(apply: Apply) -> None:
    d = {"meta": {"nested": {"deep": [1]}, "$$dollar": "$$value"}}
    assert_exact(apply({"meta": {}}, d), {"meta": {"nested": {"deep": [1]}, "$dollar": "$$value"}})


# --- reading rules -------------------------------------------------------------------------


@APPLIERS
@pytest.mark.parametrize("new", [[1], 2, None, "$x", "$$x"])
def test_non_dict_diff_is_the_new_value(new: object, apply: Apply) -> None:
    assert_exact(apply({"a": 1}, new), new)
    assert_exact(apply({"k": {"a": 1}}, {"k": new}), {"k": new})


@APPLIERS
@pytest.mark.parametrize("old", [{"a": 1}, [1, 2], None, 3, "s"])
def test_replace_is_taken_verbatim(old: object, apply: Apply) -> None:
    value = {"$a": "$$b", "$replace": 1}
    assert_exact(apply(old, {"$replace": value}), value)
    assert_exact(apply({"k": old}, {"k": {"$replace": value}}), {"k": value})


@APPLIERS
def test_new_key_is_assigned_verbatim(apply: Apply) -> None:
    d = {"k": {"$$a": {"$b": "$$c"}, "$delete": ["x"]}}
    assert_exact(apply({}, d), {"k": {"$$a": {"$b": "$$c"}, "$delete": ["x"]}})
    assert_exact(apply({}, {"k": {"$replace": {"$$a": 1}}}), {"k": {"$$a": 1}})


@APPLIERS
@pytest.mark.parametrize("old", [None, 0, "s", True])
def test_dict_over_a_scalar_is_assigned_not_ignored(old: object, apply: Apply) -> None:
    assert_exact(apply({"k": old}, {"k": {}}), {"k": {}})
    assert_exact(apply({"k": old}, {"k": {"a": 1}}), {"k": {"a": 1}})


@APPLIERS
def test_dict_over_a_list_that_is_no_list_edit_is_assigned(apply: Apply) -> None:
    assert_exact(apply({"k": [1, 2]}, {"k": {"a": 1, "0": 2}}), {"k": {"a": 1, "0": 2}})


@APPLIERS
def test_delete_then_assign_in_order(apply: Apply) -> None:
    d = {"$delete": ["a", "$$b", "$c", 7], "a": 2, "d": 4}
    state = {"a": 1, "$b": 1, "$c": 1, 7: 1, "keep": 0}
    assert_exact(apply(state, d), {"keep": 0, "a": 2, "d": 4})


@APPLIERS
def test_escaped_operator_names_are_user_keys(apply: Apply) -> None:
    d = {"$$delete": 1, "$$replace": {"$$insert": 2}, "$$$x": 3}
    state: dict[str, Any] = {"$replace": {}}
    assert_exact(apply(state, d), {"$replace": {"$insert": 2}, "$delete": 1, "$$x": 3})


@APPLIERS
def test_int_keys_are_used_as_is(apply: Apply) -> None:
    assert_exact(apply({1: {"a": 1}}, {1: {"a": 2}, 2: b"x"}), {1: {"a": 2}, 2: b"x"})


# --- list edits, with jsondiff's own reader as the reference -------------------------------


LIST_EDITS = [
    ([1, 2, 3, 4, 5], {"$insert": [[1, 9], [5, 6]], "$delete": [1]}),
    ([1, 2, 3], {"$delete": [2, 0]}),
    ([1, 2, 3], {"$delete": [0], "$insert": [[0, 7]], "1": 8}),
    ([1, {"a": 1}, [5, 6]], {"1": {"b": 2}, "2": {"$insert": [[0, 4]]}, "-3": 0}),
    (["x"], {"$insert": [(1, "y"), (0, "w")]}),
    ([1, 2], {0: 5, "-1": 6}),
    ([[1]], {"0": {"0": {"a": 1}}}),
    ([1, 2], {}),
]


@APPLIERS
@pytest.mark.parametrize(("state", "d"), LIST_EDITS)
def test_list_edits_match_jsondiff(state: list[Any], d: dict[Any, Any], apply: Apply) -> None:
    expected = jsondiff.patch(copy.deepcopy(state), copy.deepcopy(d), marshal=True)
    assert_exact(apply(copy.deepcopy(state), copy.deepcopy(d)), expected)
    assert_exact(apply({"k": copy.deepcopy(state)}, {"k": copy.deepcopy(d)}), {"k": expected})


def test_inserted_value_edited_later_leaves_the_diff_alone() -> None:
    d = {"k": {"$insert": [[0, {"a": 1}]], "0": {"b": 2}}}
    before = copy.deepcopy(d)
    assert patch({"k": []}, d) == {"k": [{"a": 1, "b": 2}]}
    assert typed(d) == typed(before)


# --- purity and in-place behaviour ---------------------------------------------------------


def test_patch_mutates_neither_input() -> None:
    state = {"a": {"b": [1, {"c": 2}]}, "l": [1, 2, 3], "gone": 1}
    d = {"$delete": ["gone"], "a": {"b": {"1": {"c": 3}}}, "l": {"$delete": [0]}, "n": {"x": 1}}
    state_before, d_before = copy.deepcopy(state), copy.deepcopy(d)
    result = patch(state, d)
    assert result == {"a": {"b": [1, {"c": 3}]}, "l": [2, 3], "n": {"x": 1}}
    assert typed(state) == typed(state_before)
    assert typed(d) == typed(d_before)


def test_apply_in_place_mutates_and_returns_the_same_root() -> None:
    inner = {"c": 1}
    lst = [1, 2]
    state = {"a": inner, "l": lst}
    result = apply_in_place(state, {"a": {"c": 2}, "l": {"$insert": [[2, 3]]}})
    assert result is state
    assert state["a"] is inner
    assert state["l"] is lst
    assert state == {"a": {"c": 2}, "l": [1, 2, 3]}


def test_apply_in_place_replaces_the_root() -> None:
    assert apply_in_place({"a": 1}, {"$replace": [1]}) == [1]
    lst = [1]
    assert apply_in_place(lst, {"$insert": [[0, 0]]}) is lst
    assert lst == [0, 1]


# --- errors --------------------------------------------------------------------------------


@APPLIERS
@pytest.mark.parametrize(
    ("state", "d", "path"),
    [
        ({"a": {}}, {"a": {"$delete": ["x"]}}, ["a", "x"]),
        ({"a": {"$x": 1}}, {"a": {"$delete": ["$$$x"]}}, ["a", "$$x"]),
        ({"a": {}}, {"a": {"$delete": "x"}}, ["a", "x"]),  # one key, as 0.9.x reads it
        ({"a": {}}, {"a": {"$delete": [["unhashable"]]}}, ["a", ["unhashable"]]),
        ({"a": {}}, {"a": {"$foo": 1}}, ["a", "$foo"]),
        ({"a": {}}, {"a": {"$": 1}}, ["a", "$"]),
        ({"a": {"b": {}}}, {"a": {"b": {"$insert": [[0, 1]]}}}, ["a", "b", "$insert"]),
        ({"l": [1]}, {"l": {"$delete": [1]}}, ["l", 1]),
        ({"l": [1]}, {"l": {"$delete": [-2]}}, ["l", -2]),
        ({"l": [1]}, {"l": {"$delete": [True]}}, ["l", True]),
        ({"l": [1]}, {"l": {"$delete": 0}}, ["l"]),
        ({"l": [1]}, {"l": {"$insert": [[2, "x"]]}}, ["l", 2]),
        ({"l": [1]}, {"l": {"$insert": [[-2, "x"]]}}, ["l", -2]),
        ({"l": [1]}, {"l": {"$insert": [["0", "x"]]}}, ["l", "0"]),
        ({"l": [1]}, {"l": {"$insert": [[0]]}}, ["l"]),
        ({"l": [1]}, {"l": {"$insert": {"0": 1}}}, ["l"]),
        ({"l": [1]}, {"l": {"1": 5}}, ["l", 1]),
        ({"l": [1]}, {"l": {"-2": 5}}, ["l", -2]),
        ({"l": [[1], {"a": 1}]}, {"l": {"0": {"$delete": [3]}}}, ["l", 0, 3]),
        ({"l": [[1], {"a": 1}]}, {"l": {"1": {"$delete": ["b"]}}}, ["l", 1, "b"]),
        ({}, {"$bogus": 1}, ["$bogus"]),
        ({}, {"$insert": [[0, 1]]}, ["$insert"]),
    ],
)
def test_patch_errors_carry_the_path(
    state: object, d: object, path: list[object], apply: Apply
) -> None:
    with pytest.raises(PatchError) as caught:
        apply(state, d)
    assert caught.value.path == path
    assert isinstance(caught.value, ValueError)


@APPLIERS
@pytest.mark.parametrize(
    ("root", "d"),
    [(None, {"a": 1}), (3, {}), ("s", {"0": "x"}), ([1], {"a": 1}), ([1], {"$bogus": 1})],
)
def test_dict_diff_on_a_root_it_cannot_edit(root: object, d: object, apply: Apply) -> None:
    with pytest.raises(PatchError) as caught:
        apply(root, d)
    assert caught.value.path == []


def test_patch_error_pickles_with_its_path() -> None:
    with pytest.raises(PatchError) as caught:
        patch({"a": {"b": {}}}, {"a": {"b": {"$delete": ["gone"]}}})
    error = caught.value
    assert str(error) == "$delete of missing key 'gone'"
    copied = pickle.loads(pickle.dumps(error))
    assert isinstance(copied, PatchError)
    assert copied.path == ["a", "b", "gone"]
    assert str(copied) == str(error)


# --- jsondiff as an oracle -----------------------------------------------------------------

# jsondiff escapes string values and takes 1 == True == 1.0 as no change, so its
# trees keep to None, ints and text that never starts with "$".
PLAIN_KEYS = st.sampled_from(["a", "b", "c", "0", "1", "-1"]) | st.text("abc01", max_size=2)
PLAIN_LEAVES = st.none() | st.integers(0, 4) | st.text("abc", max_size=2)
PLAIN_TREES = st.recursive(
    PLAIN_LEAVES,
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(PLAIN_KEYS, kids, max_size=4),
    max_leaves=16,
)


@st.composite
def plain_edited(draw: st.DrawFn, tree: object) -> object:
    """Draw a variant of ``tree``: kept, replaced, or edited inside, lists included."""
    action = draw(st.integers(0, 7))
    if action <= 2:
        return tree
    if action == 3:
        return draw(PLAIN_TREES)
    if isinstance(tree, dict):
        out = {k: draw(plain_edited(v)) for k, v in tree.items() if draw(st.integers(0, 4))}
        out.update(draw(st.dictionaries(PLAIN_KEYS, PLAIN_TREES, max_size=2)))
        return out
    if isinstance(tree, list):
        items = [draw(plain_edited(v)) for v in tree if draw(st.integers(0, 3))]
        for _ in range(draw(st.integers(0, 2))):
            items.insert(draw(st.integers(0, len(items))), draw(PLAIN_TREES))
        return items
    return draw(PLAIN_LEAVES)


@st.composite
def plain_pairs(draw: st.DrawFn) -> tuple[object, object]:
    """Draw (a, b) with ``b`` derived from ``a``, roots a dict or a list."""
    a = draw(
        st.dictionaries(PLAIN_KEYS, PLAIN_TREES, max_size=5) | st.lists(PLAIN_TREES, max_size=6)
    )
    return a, draw(plain_edited(a))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain_pairs())
def test_reads_what_jsondiff_writes(pair: tuple[object, object]) -> None:
    a, b = pair
    d = jsondiff.diff(a, b, marshal=True)
    a_before, d_before = copy.deepcopy(a), copy.deepcopy(d)
    assert_exact(patch(a, d), b)
    assert typed(a) == typed(a_before)
    assert typed(d) == typed(d_before)
    assert_exact(apply_in_place(copy.deepcopy(a), copy.deepcopy(d)), b)
