"""Snapshot encoding a slice at a time gives the bytes of one encoder call."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kanta.core.jsonlines import JsonSerializer
from kanta.core.msgpackframes import MsgPackSerializer
from kanta.state.stateparts import encode_state_parts
from kanta.state.tracker import Tracker

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
    assert b"".join(encode_state_parts(view, serializer.encode_value, size=size)) == expected


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=["json", "msgpack"])
def test_every_map_header_size(serializer: Any) -> None:
    for count in (65, 65_535, 70_000):  # MessagePack map16 and map32 headers
        root = Root(by_id={i: {} for i in range(count)})
        expected = serializer.encode_value(root)
        parts = encode_state_parts(Tracker(root).freeze(), serializer.encode_value, 1000)
        assert b"".join(parts) == expected


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


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=["json", "msgpack"])
def test_a_state_holding_the_marker_text_is_still_encoded_exactly(serializer: Any) -> None:
    from kanta.state.stateparts import _MARKER_TEXT

    root = Root(
        users={f"u{i}": User(_MARKER_TEXT) for i in range(100)},
        by_id={i: {"x": _MARKER_TEXT} for i in range(100)},
        groups={"g": {_MARKER_TEXT: User("x")}},
    )
    expected = serializer.encode_value(root)
    parts = encode_state_parts(Tracker(root).freeze(), serializer.encode_value, 7)
    assert b"".join(parts) == expected


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=["json", "msgpack"])
def test_a_large_dict_root_comes_in_slices(serializer: Any) -> None:

    root = {f"k{i}": {"n": i} for i in range(1000)}
    parts = encode_state_parts(Tracker(root).freeze(), serializer.encode_value, 100)
    assert b"".join(parts) == serializer.encode_value(root)
    assert len(parts) > 10 and max(map(len, parts)) < len(b"".join(parts)) / 5


@pytest.mark.parametrize("make", [JsonSerializer, MsgPackSerializer], ids=["json", "msgpack"])
@pytest.mark.parametrize("offset", [0, 1234])
def test_a_snapshot_in_pieces_is_the_record_encoded_whole(make: Any, offset: int) -> None:
    from datetime import UTC, datetime

    from kanta.core.records import Change, Snapshot

    root = Root(users={f"u{i}": User(f"n{i}", i) for i in range(500)}, total=3)
    whole, pieces = make(), make()
    if isinstance(whole, MsgPackSerializer):
        pieces = MsgPackSerializer(whole.seed)
    change = Change(ts=datetime(2027, 1, 1, tzinfo=UTC), a="x", v=1, u=None, m=None, diff={})
    for serializer in (whole, pieces):
        serializer.encode(change, offset)  # the JSON chain: the snapshot follows a line
    snapshot = Snapshot(ts=datetime(2027, 1, 2, tzinfo=UTC), v=2, state=None, r=7, k=1)
    state = whole.encode_value(root)
    expected = whole.encode(msgspec.structs.replace(snapshot, state=msgspec.Raw(state)), offset)
    parts = encode_state_parts(Tracker(root).freeze(), pieces.encode_value, 50)
    written = pieces.encode_snapshot(snapshot, parts, offset)
    assert b"".join(written) == expected
    assert len(written) > 10
    # The chain goes on from the same tip.
    assert pieces.encode(change, offset + len(expected)) == whole.encode(
        change, offset + len(expected)
    )


class Tagged(msgspec.Struct):
    name: str
    tags: dict[str, int] = {}


class TaggedRoot(msgspec.Struct):
    users: dict[str, Tagged] = {}


def test_comparing_never_changes_what_a_frozen_copy_shares() -> None:
    live = TaggedRoot(users={f"u{i}": Tagged(f"n{i}", {"a": 1, "b": 2}) for i in range(100)})
    tracker = Tracker(copy.deepcopy(live))
    view = tracker.freeze()
    at_freeze = msgspec.json.encode(view)
    live.users["u0"].tags["a"] = live.users["u0"].tags.pop("a")  # a reorder alone
    assert tracker.changes(live) is None
    live.users["u0"].name = "changed"
    tree = tracker.changes(live)
    assert tree is not None
    tracker.accept(tree, live)
    assert msgspec.json.encode(view) == at_freeze
