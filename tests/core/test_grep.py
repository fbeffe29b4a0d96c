"""Grep patterns: parsing, structural matching of actions, users, paths and values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kanta.core.grep import (
    DELETED,
    GrepError,
    Hits,
    Leaf,
    PathPattern,
    key_text,
    leaves,
    match,
    parse_pattern,
)

ALICE = {"users": {"alice": {"name": "Alice", "email": "a@example.com", "admin": True, "n": 20}}}
FOUND = [*leaves(ALICE), Leaf(("users", "bob"), DELETED)]


def grep(
    *patterns: str, action: str | None = "create_user", user: str | None = "root"
) -> Hits | None:
    """The hits of `patterns` in a record that creates alice and deletes bob."""
    return match([parse_pattern(p) for p in patterns], FOUND, action=action, user=user)


@pytest.mark.parametrize(
    "pattern",
    [
        "create",  # action, by substring
        "ROOT",  # user, ignoring case
        "alice",  # path element, and a value's substring
        "users.*.email",
        "email",  # a path element anywhere along the path
        "us*",
        "@EXAMPLE.com",  # a value's substring
        "users.alice.admin=true",
        "users.*.n=20",
        "=example",
        "=2?",  # wildcards match the whole value text
        "email=",
        "users.bob=",  # a deletion matches by path
        "bob",
        "*.alice",
    ],
)
def test_patterns_that_match(pattern: str) -> None:
    assert grep(pattern) is not None


@pytest.mark.parametrize(
    "pattern",
    [
        "foousers",  # elements match whole, not by substring
        "user",  # not a whole element, not in the action "create", not a value
        "tru",  # non-string values match in full
        "2",
        "users.alice.admin=false",
        "users.alice.name=example",  # path and value must match on the same leaf
        "=create",  # the action is not a value
        "users.bob=x",
        "name.users=",  # elements match in order
        "=bob",  # a deleted key has no value to match
    ],
)
def test_patterns_that_do_not_match(pattern: str) -> None:
    assert grep(pattern, action="create") is None


def test_every_pattern_must_match() -> None:
    assert grep("create", "alice") is not None
    assert grep("create", "nobody") is None


def test_hits_say_what_matched() -> None:
    hits = grep("users.*.email", "root", "=alice")
    assert hits is not None
    assert hits.user and not hits.action
    assert hits.paths == {("users", "alice", "email"): {0, 1, 2}}
    assert hits.values == {("users", "alice", "name")}
    assert hits.at(("users", "alice")) == ({0, 1}, True)
    assert hits.at(("users", "alice", "email")) == ({0, 1, 2}, False)
    assert hits.at(("other",)) == (set(), False)
    assert hits.leaf_paths() == [("users", "alice", "email"), ("users", "alice", "name")]


def test_values_from_binary_files_match_as_their_json_text() -> None:
    found = list(
        leaves({"blob": b"\x00\x01\xffhi", "when": datetime(2027, 5, 6, tzinfo=UTC), 7: None})
    )
    assert match([parse_pattern("=AAH/aGk=")], found) is not None
    assert match([parse_pattern("when=2027-05-06")], found) is not None
    assert match([parse_pattern("7=null")], found) is not None


def test_lists_match_if_an_item_does() -> None:
    found = list(leaves({"tags": ["red", {"deep": 5}], "numbers": [1, 22]}))
    assert match([parse_pattern("tags=red")], found) is not None
    assert match([parse_pattern("=5")], found) is not None
    assert match([parse_pattern("numbers=2")], found) is None


@pytest.mark.parametrize("pattern", ["", "=", "users..email=", ".x=1"])
def test_bad_patterns_raise_a_grep_error_carrying_the_text(pattern: str) -> None:
    with pytest.raises(GrepError) as caught:
        parse_pattern(pattern)
    assert caught.value.pattern in (pattern, pattern.split("=")[0])
    assert isinstance(caught.value, ValueError)


def test_a_bare_word_that_is_no_path_still_matches_values() -> None:
    assert parse_pattern(".5").path is None
    assert match([parse_pattern(".5")], [Leaf(("x",), "1.5")]) is not None


def test_path_pattern_resolve_and_touches() -> None:
    state: dict[str, Any] = {"users": {"a": {"email": "x"}, "b": {"name": "B"}}, "list": [1, 2]}
    assert PathPattern.parse("users.*.email").resolve(state) == {("users", "a", "email"): "x"}
    assert PathPattern.parse("list.1").resolve(state) == {("list", "1"): 2}
    assert PathPattern.parse("USERS.B").resolve(state) == {("users", "b"): {"name": "B"}}
    pattern = PathPattern.parse("users.*.email")
    assert pattern.touches(("users",))  # the whole users dict was assigned
    assert pattern.touches(("users", "c", "email", "deep"))
    assert not pattern.touches(("counter",))
    assert not pattern.touches(("users", "c", "name"))
    assert pattern.matches(("users", "q", "email"))
    assert not pattern.matches(("users", "q"))


def test_key_text_reads_int_keys_as_json_does() -> None:
    assert key_text(7) == "7"
    assert key_text("7") == "7"
    assert key_text(-3) == "-3"


# -- properties ---------------------------------------------------------------------------

keys = st.text(alphabet="abcXYZ_-0123456789", min_size=1, max_size=4)
scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
trees = st.recursive(scalars, lambda inner: st.dictionaries(keys, inner, max_size=3), max_leaves=8)


@given(tree=st.dictionaries(keys, trees, max_size=4))
def test_every_leaf_resolves_to_its_value(tree: dict[str, Any]) -> None:
    for leaf in leaves(tree):
        if not leaf.path:
            continue  # the empty state is a leaf at the root
        pattern = PathPattern.parse(".".join(leaf.path))
        assert pattern.resolve(tree)[leaf.path] == leaf.value


@given(
    path=st.lists(keys, min_size=1, max_size=5).map(tuple),
    pattern=st.lists(st.sampled_from(["*", "a*", "?", "b", "0"]), min_size=1, max_size=3),
)
def test_matched_elements_each_fit_their_pattern_element(
    path: tuple[str, ...], pattern: list[str]
) -> None:
    compiled = PathPattern.parse(".".join(pattern))
    spans = compiled.spans(path)
    assert all(0 <= index < len(path) for index in spans)
    found = match([parse_pattern(".".join(pattern) + "=")], [Leaf(path, 1)])
    assert (found is not None) == bool(spans)
    if "*" in pattern and len(pattern) == 1:
        assert spans == set(range(len(path)))


@given(text=st.text(min_size=1, max_size=8), value=st.text(max_size=12))
def test_string_values_match_by_case_insensitive_substring(text: str, value: str) -> None:
    if "=" in text or set(text) & set("*?["):
        return
    found = match([parse_pattern("=" + text)], [Leaf(("k",), value)])
    assert (found is not None) == (text.casefold() in value.casefold())
