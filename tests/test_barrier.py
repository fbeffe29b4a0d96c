"""The write barrier (`tracking="barrier"`, the default): records, refusals, traps, escapes.

Records are compared with what the full comparison (`tracking="compare"`) writes for the
same program, byte for byte (timestamps and seals aside).
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kanta import Kanta
from kanta.errors import DatabaseError, DataIntegrityError
from kanta.state import hooks
from kanta.state.barrier import owner_of
from kanta.state.tracked import TrackedDict, TrackedList, TrackedSet, registry


class Address(msgspec.Struct):
    city: str = ""
    lines: list[str] = []


class Point(msgspec.Struct, array_like=True):
    x: int = 0
    y: int = 0


class Frozen(msgspec.Struct, frozen=True):
    label: str = ""
    tags: list[str] = []


class Cat(msgspec.Struct, tag="cat"):
    name: str = ""
    lives: int = 9


class Dog(msgspec.Struct, tag="dog"):
    name: str = ""
    tricks: list[str] = []


class User(msgspec.Struct):
    name: str = ""
    roles: list[str] = []
    address: Address | None = None
    prefs: dict[str, int] = {}


class State(msgspec.Struct):
    users: dict[str, User] = {}
    pets: list[Cat | Dog] = []
    points: list[Point] = []
    where: Point = msgspec.field(default_factory=Point)
    frozen: Frozen = msgspec.field(default_factory=Frozen)
    best: User | None = None
    other: User | None = None
    tags: set[str] = set()
    counter: int = 0
    blob: bytearray = bytearray()


Program = Callable[[Kanta[State]], None]


def _records(path: Path) -> list[bytes]:
    """Each record's action and diff, re-encoded in the order they were written."""
    out = []
    for line in path.read_bytes().splitlines():
        record = msgspec.json.decode(line)
        out.append(msgspec.json.encode([record.get("a"), record.get("diff")]))
    return out


async def _run(path: Path, tracking: str, program: Program) -> list[bytes]:
    db = Kanta(path, State(), tracking=tracking)  # type: ignore[arg-type]
    await db.open()
    try:
        program(db)
    finally:
        await db.close()
    return _records(path)


async def _same_records(tmp_path: Path, program: Program) -> list[bytes]:
    compared = await _run(tmp_path / "compare.jsonl", "compare", program)
    barrier = await _run(tmp_path / "barrier.jsonl", "barrier", program)
    assert barrier == compared
    return barrier


def _txn(db: Kanta[State], change: Callable[[State], Any], action: str = "t") -> None:
    with db.transaction(action) as state:
        change(state)


# -- point 2: records byte-identical to the full comparison --------------------------------


def _aliases(db: Kanta[State]) -> None:
    _txn(db, lambda s: s.users.__setitem__("a", User("ann", address=Address("oslo"))))
    _txn(db, lambda s: setattr(s, "best", s.users["a"]))  # one object, two paths
    _txn(db, lambda s: setattr(s.users["a"], "name", "anna"))  # recorded at both
    _txn(db, lambda s: s.best.roles.append("admin") if s.best else None)
    _txn(db, lambda s: setattr(s, "best", None))
    _txn(db, lambda s: setattr(s.users["a"], "name", "ann"))  # one path again


def _moves(db: Kanta[State]) -> None:
    _txn(db, lambda s: s.users.update(a=User("a"), b=User("b"), c=User("c")))
    _txn(db, lambda s: s.users.__setitem__("d", s.users.pop("a")))
    _txn(db, lambda s: setattr(s, "other", s.users.pop("b")))
    _txn(db, lambda s: setattr(s.other, "name", "moved") if s.other else None)
    _txn(db, lambda s: s.users.__setitem__("c", s.users.pop("c")))  # pop and re-add
    _txn(db, lambda s: setattr(s.users["c"], "name", "c2"))
    _txn(db, lambda s: [s.users.pop("d"), s.users.pop("c")])  # two deletions, in order


def _pop_readd_many(db: Kanta[State]) -> None:
    _txn(db, lambda s: s.users.update({str(i): User(str(i)) for i in range(100)}))

    def shuffle(s: State) -> None:
        for key in ("5", "50", "7"):
            s.users[key] = s.users.pop(key)
        s.users["70"].name = "x"
        s.users["3"].name = "y"
        del s.users["90"]
        del s.users["10"]
        s.users["new"] = User("n")

    _txn(db, shuffle)
    _txn(db, lambda s: [setattr(s.users[k], "name", k * 2) for k in ("7", "1", "50")])


def _containers(db: Kanta[State]) -> None:
    _txn(db, lambda s: s.users.__setitem__("a", User("a", prefs={"x": 1})))
    _txn(db, lambda s: setattr(s.users["a"], "prefs", {"y": 2}))  # a whole new dict
    _txn(db, lambda s: s.users["a"].prefs.update(z=3))
    _txn(db, lambda s: setattr(s, "users", {"b": User("b")}))  # the whole dict replaced
    _txn(db, lambda s: s.users["b"].roles.extend(["r1", "r2"]))
    _txn(db, lambda s: s.users["b"].roles.sort(reverse=True))
    _txn(db, lambda s: s.tags.update({"t1", "t2"}))
    _txn(db, lambda s: s.tags.discard("t1"))
    _txn(db, lambda s: s.users.clear())


def _structs_in_lists(db: Kanta[State]) -> None:
    _txn(db, lambda s: s.pets.extend([Cat("tom"), Dog("rex")]))
    _txn(db, lambda s: setattr(s.pets[0], "lives", 8))  # a Struct inside a list
    _txn(db, lambda s: s.pets[1].tricks.append("sit") if isinstance(s.pets[1], Dog) else None)
    _txn(db, lambda s: s.pets.__setitem__(0, Dog("tom")))  # another member of the union
    _txn(db, lambda s: s.points.append(Point(1, 2)))
    _txn(db, lambda s: setattr(s.points[0], "y", 3))  # array_like, in a list
    _txn(db, lambda s: setattr(s.where, "x", 5))  # array_like field
    _txn(db, lambda s: setattr(s, "frozen", Frozen("f", ["a"])))
    _txn(db, lambda s: s.frozen.tags.append("b"))  # a list inside a frozen Struct


def _optional(db: Kanta[State]) -> None:
    _txn(db, lambda s: setattr(s, "best", User("b", address=Address("x"))))
    _txn(db, lambda s: setattr(s.best.address, "city", "y") if s.best and s.best.address else None)
    _txn(db, lambda s: setattr(s, "best", None))
    _txn(db, lambda s: setattr(s, "best", User("b")))
    _txn(db, lambda s: setattr(s.best, "address", Address("z")) if s.best else None)


def _restored(db: Kanta[State]) -> None:
    _txn(db, lambda s: setattr(s, "counter", 1))

    def assign_and_restore(s: State) -> None:
        s.counter = 5
        s.counter = 1
        s.users["tmp"] = User()
        del s.users["tmp"]

    _txn(db, assign_and_restore)  # nothing written
    _txn(db, lambda s: setattr(s, "counter", 2))


def _opaque(db: Kanta[State]) -> None:
    _txn(db, lambda s: setattr(s, "blob", bytearray(b"ab")))
    _txn(db, lambda s: s.blob.extend(b"cd"))  # changed in place: compared at each commit


@pytest.mark.parametrize(
    "program",
    [
        _aliases,
        _moves,
        _pop_readd_many,
        _containers,
        _structs_in_lists,
        _optional,
        _restored,
        _opaque,
    ],
)
async def test_records_are_those_of_the_full_comparison(tmp_path: Path, program: Program) -> None:
    records = await _same_records(tmp_path, program)
    assert len(records) > 2


async def test_an_alias_records_every_path(tmp_path: Path) -> None:
    records = await _same_records(tmp_path, _aliases)
    assert (
        b'"users":{"a":{"name":"anna"}}' in records[3] and b'"best":{"name":"anna"}' in records[3]
    )


async def test_assigned_then_restored_writes_nothing(tmp_path: Path) -> None:
    records = await _same_records(tmp_path, _restored)
    assert [msgspec.json.decode(r)[0] for r in records] == ["bootstrap", "t", "t"]


# -- point 2: rollback restores the state and the tracking --------------------------------


async def test_rollback_restores_values_identity_and_tracking(tmp_path: Path) -> None:
    async with Kanta(tmp_path / "db.jsonl", State(), tracking="barrier") as db:
        _txn(db, lambda s: s.users.update(a=User("a", roles=["r"]), b=User("b")))
        ann, roles, order = db.data.users["a"], db.data.users["a"].roles, list(db.data.users)
        with pytest.raises(RuntimeError, match="boom"), db.transaction("fails") as state:
            state.users["b"] = state.users.pop("a")
            ann.name = "changed"
            roles.append("x")
            state.users["c"] = User("c")
            raise RuntimeError("boom")
        assert db.data.users["a"] is ann and ann.roles is roles
        assert list(db.data.users) == order and ann.name == "a" and roles == ["r"]
        assert owner_of(ann) is db._session.barrier  # type: ignore[union-attr]
        _txn(db, lambda s: setattr(s.users["a"], "name", "after"))
        assert db.data.users["a"].name == "after"


# -- point 3: writes outside a transaction refused at once ---------------------------------


async def test_a_write_outside_a_transaction_is_refused_before_it_happens(tmp_path: Path) -> None:
    async with Kanta(tmp_path / "db.jsonl", State(), tracking="barrier") as db:
        _txn(db, lambda s: s.users.__setitem__("a", User("a")))
        attempts: list[Callable[[], Any]] = [
            lambda: setattr(db.data.users["a"], "name", "x"),
            lambda: db.data.users["a"].roles.append("x"),
            lambda: db.data.users.pop("a"),
            lambda: db.data.users.__setitem__("b", User()),
            lambda: db.data.tags.add("x"),
            lambda: delattr(db.data.users["a"], "name"),
        ]
        for attempt in attempts:
            with pytest.raises(DataIntegrityError) as caught:
                attempt()
            assert caught.value.db_path == tmp_path / "db.jsonl"
            assert caught.value.paths
        assert msgspec.to_builtins(db.data.users) == {"a": msgspec.to_builtins(User("a"))}
        assert not db.data.tags
        with pytest.raises(DataIntegrityError) as caught:
            db.data.users["a"].name = "x"
        assert caught.value.paths == ("users.a.name",)


async def test_a_validator_that_writes_fails_at_once(tmp_path: Path) -> None:
    db = Kanta(tmp_path / "db.jsonl", State(), tracking="barrier")
    calls = []

    @db.validate
    def meddle(data: State) -> None:
        calls.append(1)
        if data.counter == 1:
            data.counter = 2  # refused here, at the guilty line

    async with db:
        refused = pytest.raises(DataIntegrityError, match=r"validate callback \(.*meddle\)")
        with refused as caught, db.transaction("t") as state:
            state.counter = 1
        assert caught.value.paths == ("counter",)
        assert db.data.counter == 0 and calls == [1, 1]  # at open, then at the commit


async def test_a_log_callback_that_writes_is_refused(tmp_path: Path) -> None:
    db = Kanta(tmp_path / "db.jsonl", State(), tracking="barrier")
    refused: list[BaseException] = []

    @db.logemit
    def meddle(event: Any) -> bool:
        try:
            db.data.counter = 99
        except DataIntegrityError as exc:
            refused.append(exc)
        return True

    async with db:
        _txn(db, lambda s: setattr(s, "counter", 1))
        assert db.data.counter == 1 and db.rev == 2
    # Refused at open too (no transaction then); the commit's callback is named as such.
    assert refused and any("a log callback" in str(exc) for exc in refused)


async def test_an_object_taken_out_of_the_state_is_free(tmp_path: Path) -> None:
    async with Kanta(tmp_path / "db.jsonl", State(), tracking="barrier") as db:
        _txn(db, lambda s: s.users.__setitem__("a", User("a", roles=["r"])))
        ann = db.data.users["a"]
        _txn(db, lambda s: s.users.pop("a"))
        ann.name = "anything"  # no longer in the state: allowed, changes nothing
        ann.roles.append("x")
        assert owner_of(ann) is None and owner_of(ann.roles) is None
        assert "a" not in db.data.users
        stranger = User("s")
        stranger.name = "t"  # an instance of a hooked class outside any state


# -- point 4: the traps ---------------------------------------------------------------------


async def test_frozen_classes_are_not_hooked_and_stay_frozen(tmp_path: Path) -> None:
    async with Kanta(tmp_path / "db.jsonl", State(), tracking="barrier") as db:
        _txn(db, lambda s: setattr(s, "frozen", Frozen("f")))
        assert not hooks.is_hooked(Frozen)
        with pytest.raises(AttributeError):
            db.data.frozen.label = "x"  # type: ignore[misc]
        assert type(db.data.frozen.tags) is TrackedList
        with pytest.raises(DataIntegrityError):
            db.data.frozen.tags.append("x")


@pytest.mark.parametrize("tracking", ["barrier", "compare"])
async def test_del_of_a_field_is_seen_refused_and_rolled_back(
    tmp_path: Path, tracking: str
) -> None:
    async with Kanta(tmp_path / "db.jsonl", State(), tracking=tracking) as db:  # type: ignore[arg-type]
        _txn(db, lambda s: s.users.__setitem__("a", User("a")))
        refused = pytest.raises(DatabaseError, match=r"users\.a\.name: the field was deleted")
        with refused, db.transaction("del") as state:
            del state.users["a"].name
        assert db.data.users["a"].name == "a"
        _txn(db, lambda s: setattr(s.users["a"], "name", "b"))  # the database goes on
        assert db.rev == 3


class Normalised(msgspec.Struct):
    email: str = ""

    def __post_init__(self) -> None:
        self.email = self.email.lower()  # an assignment at construction and decode


class WithPostInit(msgspec.Struct):
    people: dict[str, Normalised] = {}


async def test_a_post_init_that_assigns_does_not_break_decode(tmp_path: Path) -> None:
    path = tmp_path / "db.jsonl"
    async with Kanta(path, WithPostInit(), tracking="barrier") as db:
        with db.transaction("t") as state:
            state.people["a"] = Normalised("A@X")
    async with Kanta(path, WithPostInit(), tracking="barrier") as db:
        assert db.data.people["a"].email == "a@x"
        with db.transaction("t") as state:
            state.people["b"] = Normalised("B@Y")
            state.people["a"].email = "c@z"
        assert db.rev == 3


async def test_copies_and_pickles_take_only_the_container(tmp_path: Path) -> None:
    async with Kanta(tmp_path / "db.jsonl", State(), tracking="barrier") as db:
        _txn(db, lambda s: s.users.__setitem__("a", User("a", roles=["r"], prefs={"p": 1})))
        roles, prefs, users = db.data.users["a"].roles, db.data.users["a"].prefs, db.data.users
        for made in (copy.copy(roles), copy.deepcopy(roles), pickle.loads(pickle.dumps(roles))):
            assert type(made) is list and made == ["r"]
        assert (
            type(copy.deepcopy(prefs)) is dict and type(pickle.loads(pickle.dumps(prefs))) is dict
        )
        deep = copy.deepcopy(users)
        assert type(deep) is dict and type(deep["a"].roles) is list
        assert owner_of(deep["a"]) is None
        assert type(db.data.tags) is TrackedSet and type(copy.deepcopy(db.data.tags)) is set
        deep["a"].roles.append("x")  # a copy: free to change
        assert db.data.users["a"].roles == ["r"]


def test_kantas_own_clone_never_falls_back_to_deepcopy(monkeypatch: pytest.MonkeyPatch) -> None:
    from kanta.state import clone as clone_module

    def refuse(value: Any, memo: Any = None) -> Any:
        raise AssertionError(f"deepcopy of {type(value).__name__}")

    monkeypatch.setattr(clone_module.copy, "deepcopy", refuse)
    value = TrackedDict(a=TrackedList([1, TrackedDict(b=TrackedSet({"x"}))]))
    copied = clone_module.clone(value)
    assert copied == value and type(copied) is dict and type(copied["a"]) is list
    assert type(copied["a"][1]) is dict and type(copied["a"][1]["b"]) is set


async def test_type_checks_inside_kanta_take_tracked_containers_as_built_ins(
    tmp_path: Path,
) -> None:
    """A tracked list compared with the shadow's plain one is the same leaf, not a change."""
    from kanta.state.tracker import diff_entry

    assert diff_entry(TrackedList([1, 2]), [1, 2]) is None
    assert diff_entry(TrackedSet({1}), {1}) is None
    assert diff_entry(TrackedDict(a=1), {"a": 1}) is None
    from kanta.core.diff import exactly_equal

    assert exactly_equal(TrackedList([(1, 2)]), [(1, 2)])


async def test_a_plain_container_still_held_is_taken_in_within_the_transaction(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.jsonl"
    async with Kanta(path, State(), tracking="barrier") as db:
        with db.transaction("t") as state:
            roles: list[str] = []
            state.users["k"] = User(roles=roles)
            roles.append("x")  # the state's list until the commit
        assert db.data.users["k"].roles == ["x"]
        assert type(db.data.users["k"].roles) is TrackedList
    async with Kanta(path, State(), tracking="barrier") as db:
        assert db.data.users["k"].roles == ["x"]


async def test_the_registry_holds_its_objects(tmp_path: Path) -> None:
    async with Kanta(tmp_path / "db.jsonl", State(), tracking="barrier") as db:
        _txn(db, lambda s: s.users.__setitem__("a", User("a")))
        entry = registry[id(db.data.users["a"])]
        assert entry[0] is db.data.users["a"]  # an id cannot be reused while registered


async def test_two_databases_and_close_unhook(tmp_path: Path) -> None:
    one = Kanta(tmp_path / "one.jsonl", State(), tracking="barrier")
    two = Kanta(tmp_path / "two.jsonl", State(), tracking="barrier")
    await one.open()
    await two.open()
    _txn(one, lambda s: s.users.__setitem__("a", User("a")))
    _txn(two, lambda s: s.users.__setitem__("b", User("b")))
    with (
        pytest.raises(DataIntegrityError, match="another open database"),
        two.transaction("t") as s,
    ):
        s.users["a"] = one.data.users["a"]
    assert "a" not in two.data.users
    await one.close()
    assert hooks.is_hooked(User)  # still relied on by the other database
    one.data.users["a"].name = "free"  # closed: its objects are plain-acting again
    _txn(two, lambda s: setattr(s.users["b"], "name", "b2"))
    with pytest.raises(DataIntegrityError):
        two.data.users["b"].name = "x"
    await two.close()
    assert not hooks.is_hooked(User) and not hooks.is_hooked(State)
    two.data.users["b"].name = "free"
    assert id(two.data.users["b"]) not in registry


async def test_a_plain_dict_root_is_compared_or_refused(tmp_path: Path) -> None:
    db = Kanta(tmp_path / "db.jsonl", {"a": 1})
    assert db.tracking == "compare"
    with pytest.raises(TypeError, match="tracking='compare'"):
        Kanta(tmp_path / "db2.jsonl", {"a": 1}, tracking="barrier")
    with pytest.raises(ValueError, match="tracking must be one of"):
        Kanta(tmp_path / "db3.jsonl", State(), tracking="sometimes")  # type: ignore[arg-type]


async def test_compare_mode_keeps_plain_containers(tmp_path: Path) -> None:
    async with Kanta(tmp_path / "db.jsonl", State(), tracking="compare") as db:
        _txn(db, lambda s: s.users.__setitem__("a", User("a")))
        assert type(db.data.users) is dict and type(db.data.users["a"].roles) is list
        db.data.counter = 5  # found by the next transaction, as in 0.9.x
        with pytest.raises(DataIntegrityError), db.transaction("t"):
            pass


# -- point 5: escape hatches stay caught ---------------------------------------------------


@pytest.mark.parametrize(
    "escape",
    [
        lambda s: msgspec.structs.force_setattr(s.users["a"], "name", "forced"),
        lambda s: dict.__setitem__(s.users, "x", User("x")),
        lambda s: list.append(s.users["a"].roles, "x"),
        lambda s: __import__("heapq").heappush(s.users["a"].roles, "a0"),
        lambda s: s.blob.extend(b"!"),
    ],
    ids=["force_setattr", "dict.__setitem__", "list.append", "heapq", "bytearray"],
)
async def test_escape_hatches_are_found_undone_and_reported(
    tmp_path: Path, escape: Callable[[State], None]
) -> None:
    async with Kanta(tmp_path / "db.jsonl", State(), tracking="barrier") as db:
        _txn(db, lambda s: s.users.__setitem__("a", User("a", roles=["r"])))
        before = msgspec.to_builtins(db.data)
        escape(db.data)
        with pytest.raises(DataIntegrityError) as caught:
            db.check()
        assert caught.value.paths
        assert msgspec.to_builtins(db.data) == before
        _txn(db, lambda s: setattr(s.users["a"], "name", "next"))  # tracked as before
        with pytest.raises(DataIntegrityError):
            db.data.users["a"].roles.append("y")


async def test_an_in_place_bytearray_change_outside_a_transaction_is_found_at_the_next(
    tmp_path: Path,
) -> None:
    async with Kanta(tmp_path / "db.jsonl", State(), tracking="barrier") as db:
        _txn(db, lambda s: setattr(s, "blob", bytearray(b"a")))
        db.data.blob.extend(b"b")
        with pytest.raises(DataIntegrityError), db.transaction("t"):
            pass
        assert db.data.blob == bytearray(b"a")


async def test_an_escape_is_reported_at_close(tmp_path: Path) -> None:
    db = Kanta(tmp_path / "db.jsonl", State(), tracking="barrier")
    await db.open()
    _txn(db, lambda s: s.users.__setitem__("a", User("a")))
    msgspec.structs.force_setattr(db.data, "counter", 7)
    with pytest.raises(DataIntegrityError):
        await db.close()


# -- the root replaced ---------------------------------------------------------------------


async def test_a_replaced_root_is_recorded_and_tracked(tmp_path: Path) -> None:
    path = tmp_path / "db.jsonl"
    async with Kanta(path, State(), tracking="barrier") as db:
        _txn(db, lambda s: s.users.__setitem__("a", User("a")))
        old = db.data
        db.data = State(users={"b": User("b")}, counter=3)
        old.counter = 99  # the old root is out of the state: free
        with db.transaction("after") as state:
            state.users["b"].name = "b2"
        assert type(db.data.users) is TrackedDict
        with pytest.raises(DataIntegrityError):
            db.data.counter = 1
    async with Kanta(path, State(), tracking="barrier") as db:
        assert list(db.data.users) == ["b"] and db.data.users["b"].name == "b2"
        assert db.data.counter == 3


def test_the_barrier_is_the_default_and_kanta_tracking_can_choose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KANTA_TRACKING", raising=False)
    assert Kanta(tmp_path / "a.jsonl", State()).tracking == "barrier"
    monkeypatch.setenv("KANTA_TRACKING", "compare")
    assert Kanta(tmp_path / "b.jsonl", State()).tracking == "compare"
    assert Kanta(tmp_path / "c.jsonl", State(), tracking="barrier").tracking == "barrier"


async def test_a_flat_transaction_records_what_its_block_wrote_declared_or_not(
    tmp_path: Path,
) -> None:
    """Under the barrier `touches=` adds paths to compare; it never drops a write."""
    records = []
    for tracking in ("barrier", "compare"):
        path = tmp_path / f"{tracking}.jsonl"
        async with Kanta(path, State(), tracking=tracking) as db:  # type: ignore[arg-type]
            with db.transaction("flat", touches=[("users", "a")]) as state:
                state.users["a"] = User("a")
                state.counter = 7  # not declared
            if tracking == "compare":
                with pytest.raises(DataIntegrityError):
                    db.check()  # compare mode: a stray, undone
        records.append(_records(path)[-1])
    barrier, compare = records
    assert b'"counter":7' in barrier and b'"counter"' not in compare


async def test_a_plain_list_at_two_places_stays_one_list(tmp_path: Path) -> None:
    def share(s: State) -> None:
        s.users["a"] = User("a", roles=["r"])
        s.users["b"] = User("b", roles=s.users["a"].roles)  # one list, two paths

    def append(s: State) -> None:
        s.users["b"].roles.append("x")  # seen at both paths, as the full comparison sees

    records = await _same_records(tmp_path, lambda db: [_txn(db, share), _txn(db, append)])
    assert b'"a":{"roles":["r","x"]}' in records[-1] and b'"b":{"roles":["r","x"]}' in records[-1]
