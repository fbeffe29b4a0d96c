"""Tests for kanta.state.changeencoding: a bulk check gives what the per-entry one does.

A dict node with `BULK` or more plain assignments is encoded as one dict, read back and
compared in one pass; when that check fails the entries are checked one by one. The
property tests render the same change tree both ways (`BULK` patched down to 1 and up out
of reach) and demand the same record bytes in both log formats, the same read-back copies
(down to the type of every value) and the same errors.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kanta.state.changeencoding
import kanta.state.tracker
from kanta import Kanta
from kanta.core.jsonlines import JsonSerializer
from kanta.core.msgpackframes import MsgPackSerializer
from kanta.core.records import Change
from kanta.state.changeencoding import UnstorableChange, equal_with_nan, render
from kanta.state.clone import clone, shadow_of
from kanta.state.tracker import DELETE, REORDER, SET, Tracker, same_form

CODECS = [JsonSerializer(), MsgPackSerializer(seed=b"seed")]
TS = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Tag(msgspec.Struct):
    label: str = ""


class Item(msgspec.Struct, rename="camel"):
    item_name: str = ""
    score: float = 0.0
    count: int = 0
    tags: list[str] = []
    extra: Any = None
    when: datetime | None = None


class Root(msgspec.Struct):
    items: dict[str, Item] = {}
    floats: dict[str, float] = {}
    anys: dict[str, Any] = {}
    by_int: dict[int, int] = {}
    untyped: dict = {}  # type: ignore[type-arg]


class User(msgspec.Struct):
    name: str
    email: str
    age: int
    tags: list[str]


class Users(msgspec.Struct):
    users: dict[str, User] = {}


def user(i: int) -> User:
    return User(f"user {i}", f"user{i}@example.com", i % 90, [f"tag{i % 7}"])


# --- rendering both ways --------------------------------------------------------------------


@contextmanager
def bulk_from(size: int) -> Iterator[None]:
    with mock.patch.object(kanta.state.changeencoding, "BULK", size):
        yield


def copy_tree(tree: Any) -> Any:
    """A copy of a change tree's dicts (keys and operations, REORDER included, kept)."""
    if type(tree) is not dict:
        return tree
    return {key: copy_tree(op) for key, op in tree.items()}


def outcome(tree: Any, live: Any, root_type: Any, codec: Any, bulk: int) -> Any:
    """The record bytes and the tree with its copies, or the error, with `BULK = bulk`."""
    tree = copy_tree(tree)
    with bulk_from(bulk):
        try:
            diff = render(tree, live, root_type, codec)
        except Exception as exc:  # a TypeError too must be the same
            return ("error", type(exc), getattr(exc, "path", None), str(exc))
    return (codec.encode(Change(ts=TS, a="t", diff=diff), 0), tree)


def assert_same_outcome(before: Any, live: Any, root_type: Any) -> None:
    tree = Tracker(shadow_of(before)).changes(live)
    if tree is None:
        return
    for codec in CODECS:
        one_by_one = outcome(tree, live, root_type, codec, 10**9)
        for bulk in (1, 2, 3):
            in_bulk = outcome(tree, live, root_type, codec, bulk)
            if one_by_one[0] == "error":
                assert in_bulk == one_by_one
                continue
            assert in_bulk[0] == one_by_one[0], "record bytes differ"
            assert_same_copies(in_bulk[1], one_by_one[1], live)


def assert_same_copies(tree: Any, reference: Any, live: Any) -> None:
    """Same keys, operations and copies (exactly), each copy holding its live value's form."""
    assert list(tree) == list(reference)
    for key, op in tree.items():
        if key is REORDER or op == DELETE:
            assert op == reference[key]
            continue
        value = live[key] if isinstance(live, dict) else getattr(live, key)
        expected = reference[key]
        if type(op) is dict:
            assert_same_copies(op, expected, value)
        elif type(op) is tuple:
            assert type(expected) is tuple and op[0] == expected[0]
            assert identical(op[1], expected[1])
            assert identical(op[1], value)
            assert not_shared(op[1], value)
        else:
            assert op == expected


def identical(a: Any, b: Any) -> bool:
    return type(a) is type(b) and (a == b or equal_with_nan(a, b)) and same_form(a, b)


def not_shared(copy: Any, value: Any) -> bool:
    return copy is not value or not isinstance(value, list | dict | set | msgspec.Struct)


# --- strategies -----------------------------------------------------------------------------

KEYS = st.one_of(
    st.sampled_from(["a", "b", "k1", "", "$", "$x", "$$y", "$replace", "$delete"]),
    st.text(max_size=3),
)
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=2)), ZoneInfo("Europe/Helsinki")])
FLOATISH = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 0.0, -0.0, 1.0, True, False]),
    st.integers(-3, 3),
)
ODD = st.one_of(
    st.none(),
    FLOATISH,
    st.integers(2**63, 2**65),
    st.text(max_size=3),
    st.binary(max_size=2),
    st.sets(st.integers(0, 3), max_size=2),
    st.frozensets(st.integers(0, 3), max_size=2),
    st.tuples(st.integers(0, 2)),
    st.lists(st.integers(0, 2), max_size=2),
    st.fixed_dictionaries({"$replace": st.integers(0, 2)}),
    st.dictionaries(st.text(max_size=2), st.integers(0, 2), max_size=2),
    st.dictionaries(st.integers(0, 2), st.integers(0, 2), max_size=2),
    st.builds(Tag, st.text(max_size=2)),
    st.datetimes(timezones=ZONES),
)
ITEMS = st.builds(
    Item,
    item_name=st.one_of(st.text(max_size=3), ODD),
    score=FLOATISH,
    count=st.one_of(st.integers(-3, 3), FLOATISH),
    tags=st.one_of(st.lists(st.text(max_size=2), max_size=2), ODD),
    extra=ODD,
    when=st.one_of(st.none(), st.datetimes(timezones=ZONES)),
)
GOOD_ITEMS = st.builds(Item, item_name=st.text(max_size=3), count=st.integers(-3, 3))
INT_KEYS = st.one_of(st.integers(-3, 3), st.sampled_from([True, "1", 1.0]))
PLAIN_KEYS = st.text("abc", max_size=3)
# Per field: new entries mostly storable as they are (so the bulk check passes), or odd.
NEW = {
    "items": st.one_of(
        st.dictionaries(PLAIN_KEYS, GOOD_ITEMS, max_size=6),
        st.dictionaries(KEYS, st.one_of(GOOD_ITEMS, ITEMS, ODD), max_size=6),
    ),
    "floats": st.one_of(
        st.dictionaries(PLAIN_KEYS, st.floats(allow_nan=False, allow_infinity=False), max_size=6),
        st.dictionaries(KEYS, FLOATISH, max_size=6),
    ),
    "anys": st.one_of(
        st.dictionaries(PLAIN_KEYS, st.one_of(st.integers(), st.text(max_size=2)), max_size=6),
        st.dictionaries(KEYS, ODD, max_size=6),
    ),
    "by_int": st.dictionaries(INT_KEYS, st.integers(-3, 3), max_size=6),
    "untyped": st.dictionaries(st.one_of(KEYS, st.integers(0, 3)), ODD, max_size=6),
}
BEFORE = st.builds(
    Root,
    items=st.dictionaries(st.sampled_from(["a", "b", "c"]), GOOD_ITEMS, max_size=3),
    floats=st.dictionaries(st.sampled_from(["a", "b"]), st.floats(-2, 2), max_size=2),
    anys=st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 3), max_size=2),
    by_int=st.dictionaries(st.integers(0, 3), st.integers(0, 3), max_size=2),
)
CHANGES = st.fixed_dictionaries(
    {field: st.tuples(strategy, st.lists(KEYS, max_size=2)) for field, strategy in NEW.items()}
)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# The tracker diffs dicts above SMALL_DICT entries another way (and marks no REORDER).
SMALL_DICTS = st.sampled_from([2, kanta.state.tracker.SMALL_DICT])


@PROPERTY
@given(BEFORE, CHANGES, SMALL_DICTS)
def test_bulk_gives_the_same_bytes_copies_and_errors(
    before: Root, changes: Any, small_dict: int
) -> None:
    live = clone(before)
    for field, (new, removed) in changes.items():
        target = getattr(live, field)
        for key in removed:
            target.pop(key, None)
        target.update(new)
    with mock.patch.object(kanta.state.tracker, "SMALL_DICT", small_dict):
        assert_same_outcome(before, live, Root)


@PROPERTY
@given(st.dictionaries(KEYS, ODD, max_size=8), st.dictionaries(KEYS, ODD, max_size=8), SMALL_DICTS)
def test_bulk_on_a_dict_root_gives_the_same_outcome(before: Any, new: Any, small_dict: int) -> None:
    live = {**clone(before), **new}
    with mock.patch.object(kanta.state.tracker, "SMALL_DICT", small_dict):
        assert_same_outcome(JsonSerializer().from_state(before, dict), live, dict)


# --- examples -------------------------------------------------------------------------------


def bulk_tree(count: int, start: int = 0) -> tuple[Users, Any]:
    live = Users({f"u{i}": user(i) for i in range(start, start + count)})
    return live, Tracker(Users()).changes(live)


@pytest.mark.parametrize("codec", CODECS, ids=["json", "msgpack"])
def test_a_bulk_insert_is_one_raw_with_the_bytes_of_its_entries(codec: Any) -> None:
    live, tree = bulk_tree(200)
    with bulk_from(10**9):
        single = render(copy_tree(tree), live, Users, codec)
    diff = render(tree, live, Users, codec)
    assert type(diff["users"]) is msgspec.Raw
    assert type(single["users"]) is dict
    assert codec.encode_value(diff) == codec.encode_value(single)
    for key, op in tree["users"].items():
        value = live.users[key]
        assert op[0] == SET and type(op[1]) is User and op[1] == value
        assert op[1] is not value and op[1].tags is not value.tags


@pytest.mark.parametrize("codec", CODECS, ids=["json", "msgpack"])
def test_a_wrong_value_among_many_is_named_as_one_by_one(codec: Any) -> None:
    live, tree = bulk_tree(100)
    live.users["u57"].age = "57"  # type: ignore[assignment]
    with pytest.raises(UnstorableChange) as caught:
        render(copy_tree(tree), live, Users, codec)
    with bulk_from(10**9), pytest.raises(UnstorableChange) as reference:
        render(tree, live, Users, codec)
    assert caught.value.path == ("users", "u57")
    assert str(caught.value) == str(reference.value)
    assert "does not match its type" in str(caught.value)


def test_an_equal_value_of_another_form_keeps_its_form() -> None:
    live = Root(floats={f"f{i}": float(i) for i in range(50)})
    live.floats["f7"] = 7  # an int in a float field: reads back as 7.0
    tree = Tracker(Root()).changes(live)
    assert tree is not None
    render(tree, live, Root, JsonSerializer())
    assert type(tree["floats"]["f7"][1]) is int
    assert type(tree["floats"]["f8"][1]) is float


@pytest.mark.parametrize("codec", CODECS, ids=["json", "msgpack"])
def test_nan_among_many(codec: Any) -> None:
    live = Root(floats={f"f{i}": float(i) for i in range(50)})
    live.floats["f3"] = float("nan")
    tree = Tracker(Root()).changes(live)
    assert tree is not None
    if codec.name == "json":
        with pytest.raises(UnstorableChange, match=r"floats\.f3: "):
            render(tree, live, Root, codec)
        return
    render(tree, live, Root, codec)
    copy = tree["floats"]["f3"][1]
    assert copy != copy


def test_dollar_keys_among_many_are_escaped() -> None:
    live = Root(anys={f"k{i}": i for i in range(40)} | {"$x": 1, "$replace": {"$replace": 2}})
    tree = Tracker(Root()).changes(live)
    assert tree is not None
    diff = msgspec.json.decode(msgspec.json.encode(render(tree, live, Root, JsonSerializer())))
    assert diff["anys"]["$$x"] == 1
    assert diff["anys"]["$$replace"] == {"$replace": {"$replace": 2}}
    assert diff["anys"]["k39"] == 39


def test_deletes_and_nested_changes_beside_many_inserts() -> None:
    before = Users({f"old{i}": user(i) for i in range(5)})
    live = clone(before)
    del live.users["old1"]
    live.users["old2"].age = 99
    live.users.update({f"u{i}": user(i) for i in range(100)})
    tree = Tracker(shadow_of(before)).changes(live)
    assert tree is not None
    diff = render(tree, live, Users, JsonSerializer())["users"]
    assert type(diff) is dict and next(iter(diff)) == "$delete"
    assert diff["$delete"] == ["old1"] and type(diff["old2"]) is dict
    assert all(type(diff[f"u{i}"]) is msgspec.Raw for i in range(100))
    assert_same_outcome(before, live, Users)


def test_few_assignments_are_checked_one_by_one() -> None:
    live, tree = bulk_tree(kanta.state.changeencoding.BULK - 1)
    diff = render(tree, live, Users, JsonSerializer())
    assert type(diff["users"]) is dict


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_left_as_it_was(enabled: bool) -> None:
    live, tree = bulk_tree(100)
    frozen = gc.get_freeze_count()
    if not enabled:
        gc.disable()
    try:
        render(tree, live, Users, JsonSerializer())
        assert gc.isenabled() is enabled
        assert gc.get_freeze_count() == frozen
    finally:
        gc.enable()


def test_objects_the_application_froze_stay_frozen() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        live, tree = bulk_tree(100)
        render(tree, live, Users, JsonSerializer())
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("codec", CODECS, ids=["json", "msgpack"])
async def test_a_bulk_insert_reopens(tmp_path: Path, codec: Any) -> None:
    path = tmp_path / "bulk.kantadb"
    serializer = MsgPackSerializer() if codec.name == "msgpack" else JsonSerializer()
    async with Kanta(path, Users(), serializer=serializer) as db:
        with db.transaction("bulk") as data:
            data.users.update({f"u{i}": user(i) for i in range(500)})
        with db.transaction("more") as data:
            data.users["u3"].age = 1000
            data.users.update({f"v{i}": user(i) for i in range(100)})
        expected = msgspec.msgpack.encode(db.data)
    async with Kanta(path, Users(), serializer=serializer) as db:
        assert msgspec.msgpack.encode(db.data) == expected
        assert db.rev == 3


@pytest.mark.parametrize("existing", [0, 1, 70])
def test_entries_appended_after_existing_ones_give_the_same_outcome(existing: int) -> None:
    """A bulk insert into a dict that already held entries (taken from its tail in C)."""
    before = Users({f"e{i}": user(i) for i in range(existing)})
    live = Users({**before.users, **{f"u{i}": user(i) for i in range(100)}})
    assert_same_outcome(before, live, Users)
    # Not a suffix in the same order: the entries are picked one by one.
    reordered = Users({**{f"u{i}": user(i) for i in range(100)}, **before.users})
    assert_same_outcome(before, reordered, Users)
