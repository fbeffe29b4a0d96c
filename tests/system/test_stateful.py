"""A state machine test of `kanta.Kanta` against a plain-dict model, on real files.

It runs in both tracking modes, each with default transactions and with flat ones (each
declares in `touches=` the paths its operations change). Every flat comparison, and in
barrier mode every comparison along the written paths, is checked against the full
comparison: the same change, in the same order (so the same record bytes). In barrier
mode the registry is checked after every step: every container of the state tracked and
registered at exactly the places it sits, nothing registered outside the state.

Each run opens a database in a fresh temporary directory and drives it with random
transactions (committed, failing, no-op, or with a change made outside any transaction),
flushes, snapshot requests, clean close-and-reopen and simulated crashes. After every
step the live state equals the model; after every flush a read-only second instance that
replays the file from scratch sees the same state and revision.

Background flushing is pushed out of reach (`flush_interval` of an hour), so that what is
on disk is exactly what the last explicit flush (or close) wrote: a crash loses precisely
the transactions committed since then.
"""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
import tempfile
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import kanta.session
from kanta import Kanta, verify
from kanta.core.diff import exactly_equal
from kanta.errors import DatabaseError, DataIntegrityError
from kanta.state.barrier import Barrier
from kanta.state.kinds import SKIP, category
from kanta.state.registry import locations
from kanta.state.touches import Paths, changes_at
from kanta.state.tracked import entry_of, registry
from kanta.state.tracker import REORDER, Tracker, Tree

R = TypeVar("R")


class Item(msgspec.Struct):
    name: str
    qty: int = 0
    tags: list[str] = []


class Root(msgspec.Struct):
    items: dict[str, Item] = {}
    total: int = 0
    note: str | None = None
    # Untyped JSON values, for keys and values a reader could take for operators.
    extra: dict[str, Any] = {}


class Boom(Exception):
    """Raised inside a transaction block to roll it back."""


KEYS = st.sampled_from(["a", "b", "c", "$d", "$$e", "$delete", "0", "é"])
TEXT = st.one_of(st.sampled_from(["$", "$$x", "$replace"]), st.text(max_size=3))
# No bools, no floats, no 0/1 ints: the tracker's known gap (a change of type only,
# such as True -> 1, is invisible to ==) is covered by test_tracker.py.
JSON = st.recursive(
    st.none() | TEXT | st.integers(2, 5),
    lambda kids: (
        st.lists(kids, max_size=2)
        | st.dictionaries(KEYS, kids, max_size=2)
        | st.fixed_dictionaries({"$replace": kids})
    ),
    max_leaves=5,
)
OPS = st.one_of(
    st.tuples(
        st.just("put"), KEYS, TEXT, st.integers(-3, 3), st.lists(st.text(max_size=2), max_size=2)
    ),
    st.tuples(st.just("qty"), KEYS, st.integers(-3, 3)),
    st.tuples(st.just("tag"), KEYS, st.text(max_size=2)),
    st.tuples(st.just("untag"), KEYS),
    st.tuples(st.just("del"), KEYS),
    st.tuples(st.just("total"), st.integers()),
    st.tuples(st.just("note"), st.none() | TEXT),
    st.tuples(st.just("reinsert"), KEYS),
    st.tuples(st.just("clear"), st.booleans()),
    st.tuples(st.just("extra"), KEYS, JSON),
    st.tuples(st.just("extra_del"), KEYS),
    st.tuples(st.just("extra_nested"), KEYS, KEYS, JSON),
)
OP_LISTS = st.lists(OPS, min_size=1, max_size=4)
# Transactions that change nothing (the state compares equal afterwards).
NOOPS = st.sampled_from(["nothing", "same-total", "reinsert", "equal-copy", "put-and-delete"])


def apply_live(root: Root, op: tuple[Any, ...]) -> None:
    kind, *args = op
    items = root.items
    item = items.get(args[0]) if args and isinstance(args[0], str) else None
    if kind == "put":
        key, name, qty, tags = args
        items[key] = Item(name, qty, list(tags))
    elif kind == "qty" and item is not None:
        item.qty = args[1]
    elif kind == "tag" and item is not None:
        item.tags.append(args[1])
    elif kind == "untag" and item is not None and item.tags:
        item.tags.pop()
    elif kind == "del":
        items.pop(args[0], None)
    elif kind == "total":
        root.total = args[0]
    elif kind == "note":
        root.note = args[0]
    elif kind == "reinsert" and item is not None:
        items[args[0]] = items.pop(args[0])
    elif kind == "clear":
        if args[0]:
            root.items = {}
        else:
            items.clear()
    else:
        apply_extra(root.extra, kind, args)


def apply_model(model: dict[str, Any], op: tuple[Any, ...]) -> None:
    kind, *args = op
    items = model["items"]
    item = items.get(args[0]) if args and isinstance(args[0], str) else None
    if kind == "put":
        key, name, qty, tags = args
        items[key] = {"name": name, "qty": qty, "tags": list(tags)}
    elif kind == "qty" and item is not None:
        item["qty"] = args[1]
    elif kind == "tag" and item is not None:
        item["tags"].append(args[1])
    elif kind == "untag" and item is not None and item["tags"]:
        item["tags"].pop()
    elif kind == "del":
        items.pop(args[0], None)
    elif kind == "total":
        model["total"] = args[0]
    elif kind == "note":
        model["note"] = args[0]
    elif kind == "reinsert" and item is not None:
        items[args[0]] = items.pop(args[0])
    elif kind == "clear":
        items.clear()
    else:
        apply_extra(model["extra"], kind, args)


def apply_extra(extra: dict[str, Any], kind: str, args: list[Any]) -> None:
    # Values are copied: the live state and the model must not share them.
    if kind == "extra":
        extra[args[0]] = copy.deepcopy(args[1])
    elif kind == "extra_del":
        extra.pop(args[0], None)
    elif kind == "extra_nested":
        target = extra.get(args[0])
        if isinstance(target, dict):
            target[args[1]] = copy.deepcopy(args[2])
        elif isinstance(target, list):
            target.append(copy.deepcopy(args[2]))


def touched(op: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """The paths an operation changes, as a flat transaction declares them."""
    kind, *args = op
    if kind in ("total", "note"):
        return [(kind,)]
    if kind == "clear":
        return [("items",)]
    if kind.startswith("extra"):
        return [("extra", args[0])]
    return [("items", args[0])]


# Values the commit must refuse (they would not read back as they are), and roll back.
UNSTORABLE = st.sampled_from(
    ["str-in-int", "int-in-str", "nan", "inf", "tuple", "int-key", "bad-item", "set"]
)


def apply_unstorable(root: Root, kind: str) -> None:
    bad: Any
    if kind == "str-in-int":
        bad = "7"
        root.total = bad
    elif kind == "int-in-str":
        bad = 7
        root.note = bad
    elif kind == "bad-item":
        bad = 7
        root.items["bad"] = Item(name=bad)
    else:
        values = {
            "nan": float("nan"),
            "inf": float("-inf"),
            "tuple": ("a", "b"),
            "int-key": {1: "a"},
            "set": {"a"},
        }
        root.extra["bad"] = {"deep": [values[kind]]}


def unstorable_paths(bad: str) -> list[tuple[Any, ...]]:
    paths = {"str-in-int": ("total",), "int-in-str": ("note",), "bad-item": ("items", "bad")}
    return [paths.get(bad, ("extra", "bad"))]


def noop_paths(root: Root) -> list[tuple[Any, ...]]:
    return [("total",), ("items", "\x00new"), *(("items", key) for key in root.items)][:3]


def apply_noop(root: Root, noop: str) -> None:
    if noop == "same-total":
        root.total = int(str(root.total))
    elif noop == "reinsert" and root.items:
        key = next(iter(root.items))
        root.items[key] = root.items.pop(key)
    elif noop == "equal-copy" and root.items:
        key = next(iter(root.items))
        root.items[key] = msgspec.convert(msgspec.to_builtins(root.items[key]), Item)
    elif noop == "put-and-delete":
        root.items["\x00new"] = Item("x")
        del root.items["\x00new"]


def without_reorder(tree: Any) -> Any:
    if not isinstance(tree, dict):
        return tree
    return {key: without_reorder(op) for key, op in tree.items() if key is not REORDER}


def in_order(tree: Any) -> Any:
    """A change tree as nested (key, op) lists: equal only in the same order, as records."""
    if not isinstance(tree, dict):
        return tree
    return [(key, in_order(op)) for key, op in tree.items() if key is not REORDER]


# An escape from the write barrier: a write its hooks cannot see (the audit's to find).
ESCAPES = st.sampled_from(["force_setattr", "dict.__setitem__", "list.append", "same-total"])


def apply_escape(root: Root, escape: str) -> None:
    if escape == "force_setattr":
        msgspec.structs.force_setattr(root, "total", root.total + 1)
    elif escape == "dict.__setitem__":
        dict.__setitem__(root.items, "escaped", Item("x"))
    elif escape == "list.append" and root.items:
        list.append(next(iter(root.items.values())).tags, "escaped")
    else:
        msgspec.structs.force_setattr(root, "total", root.total)


def check_bookkeeping(barrier: Barrier, root: Any) -> None:
    """Every container of the state registered where it sits, nothing else registered."""
    found: dict[int, list[tuple[int | None, Any]]] = {}
    objects: dict[int, Any] = {}
    stack: list[tuple[Any, Any, Any]] = [(root, None, None)]
    while stack:
        value, parent, key = stack.pop()
        if category(value) == SKIP:
            continue
        assert type(value) not in (dict, list, set), (type(value), key)  # converted
        entry = entry_of(value)
        assert entry is not None and entry[0] in (value, None) and entry[1] is barrier, key
        first = id(value) not in found
        objects[id(value)] = value
        found.setdefault(id(value), []).append((None if parent is None else id(parent), key))
        if not first:
            continue
        if isinstance(value, dict):
            stack.extend((item, value, k) for k, item in value.items())
        elif isinstance(value, list | set):
            stack.extend((item, value, None) for item in value)
        elif isinstance(value, msgspec.Struct):
            stack.extend((getattr(value, f), value, f) for f in value.__struct_fields__)
    # Structs (and opaque values) are in the registry; containers keep their own entries.
    mine = {ident for ident, entry in registry.items() if entry[1] is barrier}
    assert mine <= found.keys(), "registered outside the state"
    for ident, obj in objects.items():
        where = [(None if p is None else id(p), k) for p, k in locations(entry_of(obj))]
        assert sorted(where, key=repr) == sorted(found[ident], key=repr), (obj, where)


_running: list[KantaMachine] = []  # the machine whose cross-check a patched method counts
BARRIER_CHANGES = Barrier.changes


def barrier_changes_checked(
    barrier: Barrier, tracker: Tracker, live: Any, declared: Paths | None
) -> Tree | None:
    """The comparison along the written paths, checked against the full one."""
    machine = _running[-1]
    tree = BARRIER_CHANGES(barrier, tracker, live, declared)
    machine.barrier_checks += 1
    if not machine.strays_pending:
        full = tracker.changes(live)
        assert in_order(tree) == in_order(full), (tree, full)
    return tree


class KantaMachine(RuleBasedStateMachine):
    flat = False  # FlatKantaMachine: every transaction declares its paths
    tracking = "compare"  # Barrier*Machine: the write barrier

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp(prefix="kanta-stateful-"))
        self.path = self.dir / "state.kantadb"
        self.db: Kanta[Root] | None = None
        self.model: dict[str, Any] = msgspec.to_builtins(Root())
        self.rev = 1  # the bootstrap record
        # The model as of the last flush or close: what a crash must come back to.
        self.durable = copy.deepcopy(self.model)
        self.durable_rev = self.rev
        self.snapshot_requested = False
        self.strays_pending = False  # a stray change the full comparison would include
        # The cross-check of each flat comparison, counted: a patch that nothing calls
        # would pass silently (one on kanta.database did, before).
        self.flat_transactions = 0
        self.cross_checks = 0
        self.transactions = 0
        self.barrier_checks = 0
        if self.flat:
            kanta.session.changes_at = self.changes_at_checked  # type: ignore[assignment]
        if self.tracking == "barrier":
            Barrier.changes = barrier_changes_checked  # type: ignore[method-assign]
        _running.append(self)

    def changes_at_checked(self, tracker: Tracker, live: Any, paths: Paths) -> Tree | None:
        """The flat comparison, checked against the full one (when no stray is pending)."""
        tree = changes_at(tracker, live, paths)
        self.cross_checks += 1
        if not self.strays_pending:
            full = tracker.changes(live)
            assert without_reorder(tree) == without_reorder(full), (paths, tree, full)
        return tree

    def scope(self, paths: list[tuple[Any, ...]]) -> dict[str, Any]:
        """The transaction's keyword arguments: `touches` in flat mode."""
        if not self.flat:
            return {}
        self.flat_transactions += 1
        return {"touches": paths}

    # -- helpers --------------------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        return self.loop.run_until_complete(coro)

    def open_db(self) -> Kanta[Root]:
        db = Kanta(self.path, Root(), flush_interval=3600, tracking=self.tracking)  # type: ignore[arg-type]
        self.run(db.open())
        return db

    @property
    def live(self) -> Kanta[Root]:
        assert self.db is not None
        return self.db

    def made_durable(self) -> None:
        """After a flush or close: the file holds the model; a requested snapshot ends it."""
        self.durable = copy.deepcopy(self.model)
        self.durable_rev = self.rev
        if self.snapshot_requested:
            last_line = self.path.read_bytes().splitlines()[-1]
            assert last_line.startswith(b"SNAPSHOT ")
            self.snapshot_requested = False

    def check_open_state(self, db: Kanta[Root]) -> None:
        state = msgspec.to_builtins(db.data)
        assert exactly_equal(state, self.model), (state, self.model)
        assert db.rev == self.rev
        session = db._session
        assert session is not None
        if self.tracking == "barrier":
            assert session.barrier is not None
            check_bookkeeping(session.barrier, db.data)
        else:
            assert session.barrier is None

    async def _replay(self) -> tuple[Any, int]:
        db2 = Kanta(self.path, Root())
        await db2.open(readonly=True)
        try:
            return msgspec.to_builtins(db2.data), db2.rev
        finally:
            await db2.close()

    def check_replay(self) -> None:
        """A read-only instance replaying the file from scratch sees the model."""
        state, rev = self.run(self._replay())
        assert exactly_equal(state, self.durable), (state, self.durable)
        assert rev == self.durable_rev
        # Replaying from the very start agrees with every snapshot, and every seal holds.
        report = verify(self.path)
        assert report.ok, report.problems

    # -- rules ----------------------------------------------------------------------------

    @initialize()
    def open_new_database(self) -> None:
        self.db = self.open_db()
        self.check_open_state(self.db)

    @rule(ops=OP_LISTS)
    def transaction(self, ops: list[tuple[Any, ...]]) -> None:
        before = copy.deepcopy(self.model)
        paths = [path for op in ops for path in touched(op)]
        self.transactions += 1
        with self.live.transaction("edit", user="tester", **self.scope(paths)) as root:
            for op in ops:
                apply_live(root, op)
                apply_model(self.model, op)
        if not exactly_equal(self.model, before):
            self.rev += 1

    @rule(ops=OP_LISTS)
    def failing_transaction(self, ops: list[tuple[Any, ...]]) -> None:
        scope = self.scope([path for op in ops for path in touched(op)])
        self.transactions += 1
        with pytest.raises(Boom), self.live.transaction("fails", **scope) as root:
            for op in ops:
                apply_live(root, op)
            raise Boom
        self.check_open_state(self.live)

    @rule(ops=st.lists(OPS, max_size=3), bad=UNSTORABLE)
    def unstorable_transaction(self, ops: list[tuple[Any, ...]], bad: str) -> None:
        """A change that would not read back as it is: refused, and the whole block undone."""
        paths = [path for op in ops for path in touched(op)] + unstorable_paths(bad)
        scope = self.scope(paths)
        with pytest.raises(DatabaseError), self.live.transaction("unstorable", **scope) as root:
            for op in ops:
                apply_live(root, op)
            apply_unstorable(root, bad)
        self.check_open_state(self.live)

    @rule(noop=NOOPS)
    def noop_transaction(self, noop: str) -> None:
        db = self.live
        self.run(db.flush())
        self.made_durable()
        size = os.path.getsize(self.path)
        with db.transaction("noop", **self.scope(noop_paths(db.data))) as root:
            apply_noop(root, noop)
        self.run(db.flush())
        assert os.path.getsize(self.path) == size
        assert db.rev == self.rev

    @precondition(lambda self: self.tracking == "barrier")
    @rule(op=OPS)
    def write_refused_outside_transaction(self, op: tuple[Any, ...]) -> None:
        """The barrier refuses a write outside a transaction before it changes anything."""
        db = self.live
        try:
            apply_live(db.data, op)
        except DataIntegrityError as exc:
            assert exc.paths and exc.db_path == self.path
        self.check_open_state(db)
        with db.transaction("after a refused write", **self.scope(touched(op))):
            pass
        self.check_open_state(db)

    @precondition(lambda self: self.tracking == "barrier")
    @rule(escape=ESCAPES)
    def escape_the_barrier(self, escape: str) -> None:
        """A write the hooks cannot see is found by check(), undone and reported."""
        db = self.live
        apply_escape(db.data, escape)
        changed = not exactly_equal(msgspec.to_builtins(db.data), self.model)
        if changed:
            with pytest.raises(DataIntegrityError) as caught:
                db.check()
            assert caught.value.paths
        else:
            db.check()
        self.check_open_state(db)

    @precondition(lambda self: self.tracking == "compare")
    @rule(op=OPS)
    def change_outside_transaction(self, op: tuple[Any, ...]) -> None:
        db = self.live
        apply_live(db.data, op)
        changed = not exactly_equal(msgspec.to_builtins(db.data), self.model)
        # The next transaction (in flat mode: one declaring that path) finds the stray
        # change, undoes it and refuses to start.
        scope = self.scope(touched(op))
        if changed:
            with pytest.raises(DataIntegrityError), db.transaction("after stray", **scope):
                pass  # pragma: no cover
        else:
            with db.transaction("after harmless change", **scope):
                pass
        self.check_open_state(db)

    @precondition(lambda self: self.flat and self.tracking == "compare")
    @rule(stray=OPS, ops=OP_LISTS)
    def stray_change_beside_a_flat_transaction(
        self, stray: tuple[Any, ...], ops: list[tuple[Any, ...]]
    ) -> None:
        """A change outside the declared paths is not written with them; check() finds it."""
        db = self.live
        apply_live(db.data, stray)
        changed = not exactly_equal(msgspec.to_builtins(db.data), self.model)
        paths = [path for op in ops for path in touched(op)]
        if any(path[:1] == ("items",) for path in paths) and touched(stray)[0][:1] == ("items",):
            # Overlapping paths would make it found at the entry instead: keep them apart.
            paths = [path for path in paths if path[:1] != ("items",)] or [("note",)]
            ops = [op for op in ops if touched(op)[0] in paths]
        self.strays_pending = changed
        try:
            with db.transaction("beside a stray", touches=paths) as root:
                for op in ops:
                    apply_live(root, op)
                    apply_model(self.model, op)
        except DataIntegrityError:
            # The stray was on a declared path after all (same key or same field).
            assert changed
            self.strays_pending = False
            self.check_open_state(db)
            return
        finally:
            self.strays_pending = False
        self.rev = db.rev
        if changed:
            with pytest.raises(DataIntegrityError) as caught:
                db.check()
            assert caught.value.paths
        self.check_open_state(db)

    @rule()
    def flush(self) -> None:
        self.run(self.live.flush())
        self.made_durable()
        self.check_replay()

    @rule()
    def request_snapshot(self) -> None:
        self.live.request_snapshot()
        self.snapshot_requested = True

    @rule()
    def close_and_reopen(self) -> None:
        self.run(self.live.close())
        self.db = None
        self.made_durable()
        self.check_replay()
        self.db = self.open_db()
        self.check_open_state(self.db)

    @rule()
    def crash_and_reopen(self) -> None:
        """Drop the instance without closing it: whatever was not flushed is lost."""
        db = self.live
        self.db = None
        session = db._session
        assert session is not None
        assert session.background is not None and session.writer is not None
        assert session.file is not None
        session.background.cancel()
        self.run(asyncio.gather(session.background, return_exceptions=True))
        session.writer.close()  # the worker thread; records still queued are dropped
        session.file.close()  # releases the lock, as the process's death would
        session.is_open = False
        del db, session
        self.model = copy.deepcopy(self.durable)
        self.rev = self.durable_rev
        self.snapshot_requested = False
        self.db = self.open_db()
        self.check_open_state(self.db)

    @precondition(lambda self: self.db is not None)
    @invariant()
    def live_state_matches_model(self) -> None:
        self.check_open_state(self.live)

    def teardown(self) -> None:
        try:
            if self.db is not None:
                self.run(self.db.close())
                self.db = None
        finally:
            try:
                self.run(self.loop.shutdown_default_executor())
            finally:
                self.loop.close()
                shutil.rmtree(self.dir, ignore_errors=True)
                kanta.session.changes_at = changes_at  # type: ignore[assignment]
                Barrier.changes = BARRIER_CHANGES  # type: ignore[method-assign]
                _running.remove(self)
        # Each flat transaction compares at least once (at its start, commit or rollback).
        if self.tracking == "compare":
            assert self.cross_checks >= self.flat_transactions, "the flat cross-check never ran"
        else:
            assert self.barrier_checks >= self.transactions, "the barrier cross-check never ran"


KantaMachine.TestCase.settings = settings(
    max_examples=50,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestKanta = KantaMachine.TestCase


class FlatKantaMachine(KantaMachine):
    flat = True


FlatKantaMachine.TestCase.settings = KantaMachine.TestCase.settings
TestFlatKanta = FlatKantaMachine.TestCase


class BarrierKantaMachine(KantaMachine):
    tracking = "barrier"


BarrierKantaMachine.TestCase.settings = KantaMachine.TestCase.settings
TestBarrierKanta = BarrierKantaMachine.TestCase


class BarrierFlatKantaMachine(KantaMachine):
    tracking = "barrier"
    flat = True


BarrierFlatKantaMachine.TestCase.settings = KantaMachine.TestCase.settings
TestBarrierFlatKanta = BarrierFlatKantaMachine.TestCase


# --- bugs found by test_tracker.py, shown on real files -----------------------------------


class Timed(msgspec.Struct):
    ratio: float = 0.0
    when: datetime | None = None


async def test_a_state_holding_a_non_utc_datetime_accepts_transactions(tmp_path: Path) -> None:
    when = datetime(2027, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    async with Kanta(tmp_path / "timed.kantadb", Timed(when=when)) as db:
        with db.transaction("first") as state:  # DataIntegrityError
            state.ratio = 0.5
        assert db.data.when is not None and db.data.when.utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda t: setattr(t, "ratio", 1), id="int-in-float-field"),
        pytest.param(
            lambda t: setattr(t, "when", datetime(2027, 1, 1, tzinfo=ZoneInfo("Europe/Oslo"))),
            id="zoneinfo-datetime",
        ),
    ],
)
async def test_the_transaction_after_an_accepted_value_succeeds(
    tmp_path: Path, change: Callable[[Timed], None]
) -> None:
    async with Kanta(tmp_path / "timed.kantadb", Timed()) as db:
        with db.transaction("set") as state:
            change(state)
        with db.transaction("next") as state:  # DataIntegrityError
            state.ratio = 0.5
        assert db.rev == 3
