"""Snapshot encoding a slice at a time gives the bytes of one encoder call."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kanta.jsonlog import JsonSerializer
from kanta.msgpacklog import MsgPackSerializer
from kanta.stateencoding import encode_state
from kanta.tracker import Tracker

SERIALIZERS = [JsonSerializer(), MsgPackSerializer()]


class User(msgspec.Struct, rename="camel"):
    user_name: str
    age: int = 0
    tags: list[str] = []


class Root(msgspec.Struct):
    users: dict[str, User] = {}
    by_id: dict[int, dict[str, Any]] = {}
    groups: dict[str, dict[str, User]] = {}
    total: int = 0


USERS = st.dictionaries(
    st.text(max_size=4),
    st.builds(User, st.text(max_size=3), st.integers(-5, 5), st.lists(st.text(max_size=2))),
    max_size=150,
)
ROOTS = st.builds(
    Root,
    users=USERS,
    by_id=st.dictionaries(st.integers(-(2**40), 2**40), st.just({"x": [1, None]}), max_size=100),
    groups=st.dictionaries(st.text(max_size=2), USERS, max_size=3),
    total=st.integers(-(2**63), 2**63 - 1),
)


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=["json", "msgpack"])
@settings(max_examples=100)
@given(root=ROOTS, size=st.integers(1, 40))
def test_sliced_encoding_is_byte_for_byte_one_call(serializer: Any, root: Root, size: int) -> None:
    expected = serializer.encode_value(root)
    view = Tracker(root).freeze()
    assert encode_state(view, serializer.encode_value, size=size) == expected


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=["json", "msgpack"])
def test_every_map_header_size(serializer: Any) -> None:
    for count in (65, 65_535, 70_000):  # MessagePack map16 and map32 headers
        root = Root(by_id={i: {} for i in range(count)})
        expected = serializer.encode_value(root)
        assert encode_state(Tracker(root).freeze(), serializer.encode_value, 1000) == expected


OPS = st.lists(
    st.tuples(st.sampled_from(["age", "tag", "add", "del", "group"]), st.integers(0, 99)),
    max_size=20,
)


@settings(max_examples=100)
@given(ops=OPS)
def test_a_frozen_copy_keeps_the_state_it_was_made_from(ops: list[tuple[str, int]]) -> None:
    live = Root(
        users={f"u{i}": User(f"n{i}", i, ["t"]) for i in range(100)},
        groups={"g": {f"m{i}": User(f"m{i}") for i in range(100)}},
    )
    tracker = Tracker(copy.deepcopy(live))
    at_freeze = msgspec.json.encode(tracker.shadow)
    view = tracker.freeze()
    for op, i in ops:
        key = f"u{i}"
        if op == "age" and key in live.users:
            live.users[key].age += 1
        elif op == "tag" and key in live.users:
            live.users[key].tags.append("x")
        elif op == "add":
            live.users[f"new{i}"] = User("new")
        elif op == "del":
            live.users.pop(key, None)
        else:
            live.groups["g"][f"m{i}"].tags.append("y")
        tree = tracker.changes(live)
        if tree is not None:
            tracker.accept(tree, live)
    assert tracker.shadow == live
    assert msgspec.json.encode(view) == at_freeze
    tracker.thaw()
    assert tracker._shared is None
