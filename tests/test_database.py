"""Tests for kanta.Kanta on real files: transactions, the log they write, reopening, snapshots,
migrations, locking, the background writer and the errors a user sees."""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import math
import os
import sys
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import compat_models
import msgspec
import pytest

from kanta import (
    DatabaseError,
    DataIntegrityError,
    FileLockError,
    Kanta,
    MsgPackSerializer,
    ReplayError,
)
from kanta.core.snapshotpolicy import SnapshotPolicy

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCKHOLDER = Path(__file__).resolve().parent / "lockholder.py"


class User(msgspec.Struct):
    name: str = ""
    email: str | None = None
    tags: list[str] = []


class Data(msgspec.Struct):
    users: dict[str, User] = {}
    counter: int = 0


class DataV2(msgspec.Struct):
    """Data after the test migrations: counter renamed to total, lang added."""

    users: dict[str, User] = {}
    total: int = 0
    lang: str = "en"


class DataPlus(msgspec.Struct):
    """Data with one more field that has a default."""

    users: dict[str, User] = {}
    counter: int = 0
    note: str = "hello"


class Loose(msgspec.Struct):
    """Data whose counter is a string: its files do not decode into Data."""

    users: dict[str, User] = {}
    counter: str = ""


class Text(msgspec.Struct):
    text: str = ""


class Group(msgspec.Struct):
    roles: set[str] = set()


class WithSets(msgspec.Struct):
    tags: set[str] = set()
    groups: dict[str, Group] = {}


class GroupList(msgspec.Struct):
    roles: list[str] = []


class WithLists(msgspec.Struct):
    """WithSets as written by a process whose sets iterate in another order."""

    tags: list[str] = []
    groups: dict[str, GroupList] = {}


class WithListsInt(msgspec.Struct):
    """WithIntSets as written by a process whose sets iterate in another order."""

    tags: list[str] = []
    by_id: dict[int, GroupList] = {}


class WithIntSets(msgspec.Struct):
    tags: set[str] = set()
    by_id: dict[int, Group] = {}


class Loosely(msgspec.Struct):
    meta: dict[str, object] = {}
    values: list[object] = []


class Measure(msgspec.Struct):
    value: float = 0.0


# -- helpers ------------------------------------------------------------------------------


def read_records(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every line of a JSON log as ("change" | "snapshot", decoded record)."""
    records = []
    for line in path.read_bytes().splitlines():
        if line.startswith(b"SNAPSHOT "):
            records.append(("snapshot", json.loads(line[len(b"SNAPSHOT ") :])))
        else:
            records.append(("change", json.loads(line)))
    return records


def changes(path: Path) -> list[dict[str, Any]]:
    return [record for kind, record in read_records(path) if kind == "change"]


def line_count(path: Path) -> int:
    return len(path.read_bytes().splitlines())


async def wait_until(
    condition: Callable[[], bool], timeout: float = 5.0, interval: float = 0.002
) -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds (interval 0: each turn)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def make_db(path: Path, *, transactions: int = 1) -> None:
    """A closed database with a bootstrap record and `transactions` change records."""
    async with Kanta(path, Data()) as db:
        for i in range(transactions):
            with db.transaction(f"t{i}") as data:
                data.counter = i + 1


def write_module(
    directory: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> tuple[ModuleType, str]:
    """A migrations module written to `directory` and imported under a fresh name."""
    name = f"kanta_test_migrations_{uuid.uuid4().hex}"
    (directory / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(directory))
    return importlib.import_module(name), name


MIGRATIONS_V2 = '''
SEEN = []


def migrate_v1(d, kanta):
    """Rename counter to total."""
    SEEN.append(("v1", kanta))
    d["total"] = d.pop("counter", 0)


def migrate_v2(d):
    """Set the language."""
    SEEN.append(("v2", None))
    d["lang"] = "fi"
'''

ONLY_V2 = '''
def migrate_v2(d):
    """Set the language."""
    d["lang"] = "fi"
'''

ONLY_V1 = '''
def migrate_v1(d):
    """Rename counter to total."""
    d["total"] = d.pop("counter", 0)
'''


async def v0_file(path: Path) -> None:
    """A database at schema version 0 with one user and counter 5."""
    async with Kanta(path, Data()) as db:
        with db.transaction("setup") as data:
            data.users["alice"] = User(name="Alice")
            data.counter = 5


# -- 1. the basic story ---------------------------------------------------------------------


async def test_one_transaction_is_one_change_record_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Data()) as db:
        with db.transaction("add_user", user="admin") as data:
            data.users["alice"] = User(name="Alice", email="a@example.com", tags=["x"])
        assert db.rev == 2

    records = read_records(path)
    assert [kind for kind, _ in records] == ["change", "change"]
    bootstrap, change = records[0][1], records[1][1]
    assert bootstrap["a"] == "bootstrap"
    assert bootstrap["diff"] == {"users": {}, "counter": 0}
    assert change["a"] == "add_user"
    assert change["u"] == "admin"
    assert {"ts", "m"} <= change.keys()
    assert datetime.fromisoformat(change["m"]) == datetime.fromisoformat(change["ts"])
    assert change["diff"] == {
        "users": {"alice": {"name": "Alice", "email": "a@example.com", "tags": ["x"]}}
    }

    async with Kanta(path, Data()) as db:
        assert db.data == Data(users={"alice": User("Alice", "a@example.com", ["x"])})
        assert db.rev == 2
        assert db.version == 0
        assert db.mtime == datetime.fromisoformat(change["m"])


# -- 2. one record per changing transaction, record fields ----------------------------------


async def test_only_changing_transactions_write_records(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Data()) as db:
        await db.flush()
        assert line_count(path) == 1
        for i in range(3):
            with db.transaction("bump") as data:
                data.counter += 1
            await db.flush()
            assert line_count(path) == 2 + i
        with db.transaction("nothing"):
            pass
        with db.transaction("same value") as data:
            data.counter = 3
        await db.flush()
        assert line_count(path) == 4
        assert db.rev == 4
    assert [r["a"] for r in changes(path)] == ["bootstrap", "bump", "bump", "bump"]


async def test_mtime_and_user_options(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    chosen = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    async with Kanta(path, Data()) as db:
        with db.transaction("stamped", user="bob") as data:
            data.counter = 1
        stamped_mtime = db.mtime
        with db.transaction("no_mtime", mtime=False) as data:
            data.counter = 2
        assert db.mtime == stamped_mtime  # carried forward
        with db.transaction("explicit", mtime=chosen, user=None) as data:
            data.counter = 3
        assert db.mtime == chosen

    by_action = {r["a"]: r for r in changes(path)}
    assert by_action["stamped"]["u"] == "bob"
    assert "m" in by_action["stamped"]
    assert "m" not in by_action["no_mtime"]
    assert "u" not in by_action["no_mtime"]
    assert datetime.fromisoformat(by_action["explicit"]["m"]) == chosen
    assert by_action["explicit"]["ts"] != by_action["explicit"]["m"]
    assert "u" not in by_action["explicit"]

    async with Kanta(path, Data()) as db:
        assert db.mtime == chosen


# -- 3. rollback -----------------------------------------------------------------------------


async def test_exception_rolls_back_in_place_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    root = Data()
    async with Kanta(path, root) as db:
        with db.transaction("setup") as data:
            data.users["a"] = User(name="A", tags=["one"])
            data.users["b"] = User(name="B")
            data.counter = 1
        await db.flush()
        size = path.stat().st_size
        user_a = root.users["a"]

        with pytest.raises(KeyError, match="boom"), db.transaction("fails") as data:
            data.users["a"].tags.append("two")
            data.users["a"].email = "a@example.com"
            del data.users["b"]
            data.users["c"] = User(name="C")
            data.counter = 99
            raise KeyError("boom")

        assert db.data is root
        assert root == Data(users={"a": User("A", None, ["one"]), "b": User("B")}, counter=1)
        assert list(root.users) == ["a", "b"]
        assert root.users["a"] is user_a
        assert db.rev == 2
        await db.flush()
        assert path.stat().st_size == size

        with db.transaction("after") as data:
            data.users["a"].tags.append("three")
        assert db.rev == 3

    last = changes(path)[-1]
    assert last["a"] == "after"
    assert last["diff"] == {"users": {"a": {"tags": ["one", "three"]}}}
    assert "fails" not in [r["a"] for r in changes(path)]
    async with Kanta(path, Data()) as db:
        assert db.data == Data(
            users={"a": User("A", None, ["one", "three"]), "b": User("B")}, counter=1
        )
        assert db.rev == 3


# -- 4. misuse: nesting, closed and read-only databases ---------------------------------------


async def test_nested_transaction_raises_and_outer_still_commits(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Data()) as db:
        with db.transaction("outer") as data:
            data.counter = 1
            with pytest.raises(RuntimeError, match="nested"), db.transaction("inner"):
                pass
            data.counter = 2
        assert db.data.counter == 2
        with db.transaction("next") as data:
            data.counter = 3
    assert [r["a"] for r in changes(path)] == ["bootstrap", "outer", "next"]
    async with Kanta(path, Data()) as db:
        assert db.data.counter == 3


async def test_transaction_before_open_and_after_close_raises(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    db = Kanta(path, Data())
    with pytest.raises(DataIntegrityError), db.transaction("early"):
        pass
    assert not path.exists()
    await db.open()
    await db.close()
    size = path.stat().st_size
    with pytest.raises(DataIntegrityError), db.transaction("late") as data:
        data.counter = 1
    with pytest.raises(DataIntegrityError):
        await db.flush()
    assert path.stat().st_size == size


async def test_read_only_open_reads_but_never_writes(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    await make_db(path, transactions=2)
    before = path.read_bytes()
    db = Kanta(path, Data())
    await db.open(readonly=True)
    try:
        assert db.data.counter == 2
        assert db.rev == 3
        assert db.version == 0
        assert db.mtime is not None
        assert db.filename == path
        with pytest.raises(DataIntegrityError), db.transaction("write") as data:
            data.counter = 9
        with pytest.raises(DataIntegrityError):
            await db.flush()
        assert db.data.counter == 2
    finally:
        await db.close()
    assert path.read_bytes() == before


async def test_read_only_open_does_not_need_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Data()) as writer:
        with writer.transaction("t") as data:
            data.counter = 4
        await writer.flush()
        reader = Kanta(path, Data())
        await reader.open(readonly=True)
        assert reader.data.counter == 4
        await reader.close()


async def test_read_only_open_of_missing_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "missing.kantadb"
    db = Kanta(path, Data())
    with pytest.raises(DatabaseError):
        await db.open(readonly=True)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


# -- 5. changes outside a transaction ----------------------------------------------------------


async def test_change_outside_transaction_is_refused_and_undone(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    root = Data()
    async with Kanta(path, root, tracking="compare") as db:
        with db.transaction("setup") as data:
            data.users["a"] = User(name="A")
            data.counter = 1

        db.data.counter = 666
        db.data.users["a"].tags.append("stray")
        with pytest.raises(DataIntegrityError, match="outside a transaction"):  # noqa: SIM117
            with db.transaction("victim") as data:
                data.users["b"] = User(name="B")

        assert db.data is root
        assert root == Data(users={"a": User("A")}, counter=1)
        with db.transaction("honest") as data:
            data.users["c"] = User(name="C")
        assert db.rev == 3

    records = changes(path)
    assert [r["a"] for r in records] == ["bootstrap", "setup", "honest"]
    # Checked on the decoded records: "666" can turn up by chance in a timestamp or a seal.
    assert [r["diff"].get("counter") for r in records] == [0, 1, None]
    assert b"stray" not in path.read_bytes()
    async with Kanta(path, Data(), tracking="compare") as db:
        assert db.data == Data(users={"a": User("A"), "c": User("C")}, counter=1)


# -- 6. lifecycle ------------------------------------------------------------------------------


async def test_lifecycle_open_twice_reopen_close_twice(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    root = Data()
    db = Kanta(path, root)
    await db.open()
    with pytest.raises(DataIntegrityError):
        await db.open()
    with db.transaction("one") as data:
        data.counter = 1
    await db.close()
    await db.close()

    assert db.data is root
    assert db.data.counter == 1
    assert db.rev == 2
    assert db.version == 0
    assert db.mtime is not None
    assert db.filename == path

    await db.open()
    assert db.data is root
    assert db.rev == 2
    with db.transaction("two") as data:
        data.counter = 2
    await db.close()
    assert [r["a"] for r in changes(path)] == ["bootstrap", "one", "two"]


async def test_open_without_create_needs_a_nonempty_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.kantadb"
    with pytest.raises(FileLockError):
        await Kanta(missing, Data()).open(create=False)
    assert not missing.exists()

    empty = tmp_path / "empty.kantadb"
    empty.write_bytes(b"")
    with pytest.raises(DataIntegrityError):
        await Kanta(empty, Data()).open(create=False)
    assert empty.read_bytes() == b""
    # Released: an ordinary open of the empty file bootstraps it.
    async with Kanta(empty, Data()) as db:
        assert db.rev == 1


# -- 7. snapshots ------------------------------------------------------------------------------


async def test_requested_snapshot_is_written_on_close(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Data()) as db:
        for i in range(3):
            with db.transaction("t") as data:
                data.users[f"u{i}"] = User(name=f"U{i}", tags=[str(i)])
        db.request_snapshot()
        state, rev, mtime = msgspec.to_builtins(db.data), db.rev, db.mtime

    kind, snapshot = read_records(path)[-1]
    assert kind == "snapshot"
    assert snapshot["r"] == rev == 4
    assert snapshot["k"] == 1
    assert snapshot["state"] == state
    assert path.read_bytes().splitlines()[-1].startswith(b"SNAPSHOT ")
    async with Kanta(path, Data()) as db:
        assert msgspec.to_builtins(db.data) == state
        assert db.rev == rev
        assert db.mtime == mtime


async def test_automatic_snapshots_bound_the_log_after_the_last_one(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    policy = SnapshotPolicy(ratio=1.0, min_bytes=1024)
    async with Kanta(path, Text()) as db:
        db.snapshot_policy = policy
        for i in range(200):
            with db.transaction("rewrite") as data:
                data.text = chr(ord("A") + i % 26) * 5000
            await db.flush()
        final = db.data.text
        rev = db.rev

    lines = path.read_bytes().splitlines(keepends=True)
    snapshot_indexes = [i for i, line in enumerate(lines) if line.startswith(b"SNAPSHOT ")]
    assert snapshot_indexes, "no automatic snapshot was written"
    state_size = len(lines[snapshot_indexes[-1]])
    bound = 2 * state_size + policy.min_bytes
    # Between any two snapshots, and after the last one, the log stays bounded.
    for start, stop in zip(snapshot_indexes, [*snapshot_indexes[1:], len(lines)], strict=True):
        assert sum(len(line) for line in lines[start + 1 : stop]) < bound
    async with Kanta(path, Text()) as db:
        assert db.data.text == final
        assert db.rev == rev == 201


# -- 8. migrations -----------------------------------------------------------------------------


async def test_migrations_run_once_and_write_one_record_and_a_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.kantadb"
    await v0_file(path)
    module, _ = write_module(tmp_path, monkeypatch, MIGRATIONS_V2)
    lines_before = line_count(path)
    reader = Kanta(path, Data())
    await reader.open(readonly=True)
    mtime_before = reader.mtime
    await reader.close()
    assert mtime_before is not None

    db = Kanta(path, DataV2(), migrations=module)
    await db.open()
    try:
        assert db.version == 2
        assert db.rev == 3  # bootstrap, setup, migrate:v2
        assert db.mtime == mtime_before
        assert db.data == DataV2(users={"alice": User(name="Alice")}, total=5, lang="fi")
        assert [step for step, _ in module.SEEN] == ["v1", "v2"]
        assert module.SEEN[0][1] is db
        await db.flush()
        records = read_records(path)
        assert len(records) == lines_before + 2
        (kind1, migrate), (kind2, snapshot) = records[-2:]
        assert kind1 == "change"
        assert migrate["a"] == "migrate:v2"
        assert migrate["v"] == 2
        assert "m" not in migrate
        assert migrate["diff"] == {"$delete": ["counter"], "total": 5, "lang": "fi"}
        assert kind2 == "snapshot"
        assert snapshot["v"] == 2
        assert snapshot["r"] == 3
        assert snapshot["state"] == msgspec.to_builtins(db.data)
    finally:
        await db.close()

    size = path.stat().st_size
    async with Kanta(path, DataV2(), migrations=module) as db:
        assert db.version == 2
        assert db.rev == 3
        assert db.data.lang == "fi"
    assert len(module.SEEN) == 2
    assert path.stat().st_size == size


async def test_migration_receives_the_kanta_instance_and_its_ctx(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.kantadb"
    await v0_file(path)
    module, _ = write_module(
        tmp_path,
        monkeypatch,
        "SEEN = []\n\ndef migrate_v1(d, kanta):\n    SEEN.append((kanta, kanta.ctx.marker))\n",
    )
    db = Kanta(path, Data(), migrations=module)
    db.ctx.marker = "hello"
    async with db:
        seen = module.SEEN
        assert seen == [(db, "hello")]
        assert db.version == 1


async def test_new_database_starts_at_the_code_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.kantadb"
    module, name = write_module(tmp_path, monkeypatch, MIGRATIONS_V2)
    async with Kanta(path, DataV2(), migrations=name) as db:
        assert db.version == 2
        assert db.rev == 1
    assert module.SEEN == []
    records = read_records(path)
    assert len(records) == 1
    assert records[0][1]["a"] == "bootstrap"
    assert records[0][1]["v"] == 2
    async with Kanta(path, DataV2(), migrations=module) as db:
        assert db.version == 2
    assert line_count(path) == 1


async def test_a_file_newer_than_the_migrations_fails_the_open_and_releases_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.kantadb"
    stored_module, _ = write_module(tmp_path, monkeypatch, MIGRATIONS_V2)
    async with Kanta(path, DataV2(), migrations=stored_module):
        pass
    root = DataV2()
    before = path.read_bytes()
    code_module, _ = write_module(tmp_path, monkeypatch, ONLY_V1)

    db = Kanta(path, root, migrations=code_module)
    with pytest.raises(DatabaseError) as caught:
        await db.open()
    assert caught.value.db_path == path
    assert path.read_bytes() == before
    with pytest.raises(DataIntegrityError):
        db.transaction("after a failed open").__enter__()

    # The lock was released: another writer opens the file.
    async with Kanta(path, type(root)(), migrations=stored_module) as other:
        assert other.rev == 1


# -- 9. migrate:msgspec ------------------------------------------------------------------------


async def test_new_field_with_default_writes_one_msgspec_migration(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    await v0_file(path)
    count = line_count(path)

    async with Kanta(path, DataPlus()) as db:
        assert db.data == DataPlus(users={"alice": User(name="Alice")}, counter=5, note="hello")
        assert db.rev == 3
    records = read_records(path)
    assert len(records) == count + 2
    (kind1, change), (kind2, snapshot) = records[-2:]
    assert (kind1, change["a"]) == ("change", "migrate:msgspec")
    assert change["diff"] == {"note": "hello"}
    assert kind2 == "snapshot"
    assert snapshot["r"] == 3

    size = path.stat().st_size
    async with Kanta(path, DataPlus()) as db:
        assert db.rev == 3
        assert db.data.note == "hello"
    assert path.stat().st_size == size


def members_out_of_set_order() -> list[str]:
    """Set members in an order that differs from the one this process's sets give them."""
    members = [f"member-{i}" for i in range(16)]
    stored = list(reversed(list(set(members))))
    assert list(set(stored)) != stored
    return stored


async def test_sets_are_not_a_change_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    stored = members_out_of_set_order()
    # Written with lists, as another process would write these sets (another hash seed).
    async with Kanta(path, WithLists()) as db:
        with db.transaction("fill") as data:
            data.tags = list(stored)
            data.groups["g"] = GroupList(roles=list(stored))
    size = path.stat().st_size
    for _ in range(3):
        async with Kanta(path, WithSets()) as db:
            assert db.data.tags == set(stored)
            assert db.data.groups["g"].roles == set(stored)
            assert db.rev == 2
    assert path.stat().st_size == size


async def test_sets_under_int_keys_are_not_a_change_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    stored = members_out_of_set_order()
    async with Kanta(path, WithListsInt()) as db:
        with db.transaction("fill") as data:
            data.tags = list(stored)
            data.by_id[7] = GroupList(roles=list(stored))
    size = path.stat().st_size
    async with Kanta(path, WithIntSets()) as db:
        assert db.data.by_id[7].roles == set(stored)
        assert db.rev == 2
    assert path.stat().st_size == size


# -- 10. one writer per file -------------------------------------------------------------------


async def test_second_writer_in_the_same_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    first = Kanta(path, Data())
    await first.open()
    try:
        second = Kanta(path, Data())
        with pytest.raises(FileLockError) as caught:
            await second.open()
        assert caught.value.db_path == path
        assert str(path) in str(caught.value)
        with pytest.raises(DataIntegrityError):
            second.transaction("not open").__enter__()
        with first.transaction("still mine") as data:
            data.counter = 1
    finally:
        await first.close()
    await second.open()
    assert second.data.counter == 1
    await second.close()


async def test_second_writer_in_another_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(LOCKHOLDER.parent)])}
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        str(LOCKHOLDER),
        str(path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        line = await asyncio.wait_for(holder.stdout.readline(), 10)
        assert line == b"open\n"
        db = Kanta(path, Data())
        with pytest.raises(FileLockError) as caught:
            await db.open()
        assert caught.value.db_path == path
        assert str(path) in str(caught.value)

        holder.stdin.close()
        assert await asyncio.wait_for(holder.wait(), 10) == 0
        await db.open()
        assert db.data.counter == 1
        await db.close()
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()


async def test_failed_open_releases_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.kantadb"
    await v0_file(path)
    module, _ = write_module(
        tmp_path, monkeypatch, "def migrate_v1(d):\n    raise ValueError('broken migration')\n"
    )
    db = Kanta(path, Data(), migrations=module)
    with pytest.raises(DatabaseError, match="broken migration"):
        await db.open()
    async with Kanta(path, Data()) as other:
        assert other.data.counter == 5
    # The instance whose open failed can open again once the migration is fixed.
    module.migrate_v1 = lambda d: d.update(counter=6)  # type: ignore[attr-defined]
    await db.open()
    assert db.data.counter == 6
    assert db.version == 1
    await db.close()


# -- 11. the background writer -----------------------------------------------------------------


async def test_background_writer_flushes_without_being_asked(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Data(), flush_interval=0.01) as db:
        await wait_until(lambda: line_count(path) == 1)
        with db.transaction("background") as data:
            data.counter = 1
        await wait_until(lambda: line_count(path) == 2)
        assert changes(path)[-1]["a"] == "background"


async def test_interleaved_flushes_write_every_record_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    workers, per_worker = 4, 25
    async with Kanta(path, Data(), flush_interval=0.001) as db:

        async def work(w: int) -> None:
            for i in range(per_worker):
                with db.transaction(f"w{w}-{i}") as data:
                    data.counter += 1
                if i % 3 == 0:
                    await asyncio.gather(db.flush(), db.flush(), db.flush())
                else:
                    await db.flush()

        await asyncio.gather(*(work(w) for w in range(workers)))
        rev = db.rev

    records = changes(path)
    assert len(records) - 1 == rev - 1 == workers * per_worker
    assert Counter(r["a"] for r in records) == Counter(
        ["bootstrap"] + [f"w{w}-{i}" for w in range(workers) for i in range(per_worker)]
    )
    async with Kanta(path, Data()) as db:
        assert db.data.counter == workers * per_worker
        assert db.rev == rev


# -- 12. an instance that is never closed ------------------------------------------------------


async def test_unclosed_database_gives_a_resource_warning(tmp_path: Path) -> None:
    db = Kanta(tmp_path / "db.kantadb", Data())
    await db.open()
    assert db._session is not None
    log_file = db._session.file
    assert log_file is not None
    ref = weakref.ref(db)
    try:
        with pytest.warns(ResourceWarning, match="never closed"):
            del db
            gc.collect()
    finally:
        leaked = ref()
        if leaked is not None:
            await leaked.close()
        log_file.close()


# -- 13. errors ----------------------------------------------------------------------------------


async def test_unparseable_middle_line_is_a_replay_error_that_says_where(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    await make_db(path, transactions=3)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b'{"ts": "2027-01-01T00:00:00Z", "a": "broken", "diff": {\n'
    path.write_bytes(b"".join(lines))
    before = path.read_bytes()

    for readonly in (True, False):
        with pytest.raises(DatabaseError) as caught:
            await Kanta(path, Data()).open(readonly=readonly)
        error = caught.value
        assert isinstance(error, ReplayError)
        assert error.line_number == 3
        assert error.byte_pos == len(lines[0]) + len(lines[1])
        assert error.db_path == path
        assert str(path) in str(error)
    assert path.read_bytes() == before


async def test_state_of_the_wrong_type_is_a_database_error(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Loose()) as db:
        with db.transaction("text") as data:
            data.counter = "many"
    before = path.read_bytes()

    with pytest.raises(DatabaseError) as caught:
        await Kanta(path, Data()).open()
    error = caught.value
    assert not isinstance(error, msgspec.MsgspecError)
    assert isinstance(error.__cause__, msgspec.ValidationError)
    assert "Data" in str(error)
    assert error.db_path == path
    assert path.read_bytes() == before
    async with Kanta(path, Loose()) as db:  # released
        assert db.data.counter == "many"


async def test_missing_migrations_module_is_a_database_error(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    await v0_file(path)
    before = path.read_bytes()
    with pytest.raises(DatabaseError, match="no_such_kanta_migrations_module"):
        await Kanta(path, Data(), migrations="no_such_kanta_migrations_module").open()
    assert path.read_bytes() == before
    async with Kanta(path, Data()) as db:
        assert db.data.counter == 5


async def test_torn_last_line_is_cut_and_saved_beside_the_database(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    await make_db(path, transactions=3)
    whole = path.read_bytes()
    lines = whole.splitlines(keepends=True)
    good = b"".join(lines[:-1])
    torn = lines[-1][: len(lines[-1]) // 2]
    path.write_bytes(good + torn)

    reader = Kanta(path, Data())
    await reader.open(readonly=True)
    assert reader.rev == 3
    assert reader.data.counter == 2
    await reader.close()
    assert path.read_bytes() == good + torn
    assert sorted(tmp_path.iterdir()) == [path]

    async with Kanta(path, Data()) as db:
        assert db.rev == 3
        assert db.data.counter == 2
        assert path.read_bytes() == good
        with db.transaction("after repair") as data:
            data.counter = 10

    side_files = [p for p in tmp_path.iterdir() if p.name.startswith(f"{path.name}.")]
    assert len(side_files) == 1
    assert side_files[0].read_bytes() == torn
    assert path.read_bytes().startswith(good)
    assert [r["a"] for r in changes(path)] == ["bootstrap", "t0", "t1", "after repair"]
    async with Kanta(path, Data()) as db:
        assert db.rev == 4
        assert db.data.counter == 10


# -- 14. typed round trip ------------------------------------------------------------------------

UID_A = uuid.UUID("12345678-1234-5678-1234-567812345678")
UID_B = uuid.UUID("87654321-4321-8765-4321-876543218765")
WHEN = datetime(2027, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def typed_steps() -> list[Callable[[compat_models.Data], None]]:
    """Transactions that touch every field type of compat_models.Data."""
    M = compat_models

    def create(d: M.Data) -> None:
        d.users["u0"] = M.User(name="User 0", email="u0@example.com", age=20, tags=["a", "b"])
        d.users["u1"] = M.User(name="User 1", age=21, address=M.Address(city="Oulu"))
        d.counter = 7
        d.ratio = 0.25
        d.flag = True
        d.by_int[7] = "seven"
        d.by_int[-3] = "minus three"
        d.by_uuid[UID_A] = 42
        d.blob = bytes(range(256))
        d.when = WHEN
        d.numbers = list(range(10))
        d.meta = {
            "nested": {"deep": [1, {"x": None}], "none": None},
            "unicode": "päivää ☃",
            "$dollar": "$$value",
            "$$double": {"$inner": "$x", "plain": [True, False, 1.5]},
            "$gone": 1,
        }

    def edit(d: M.Data) -> None:
        d.users["u1"].address.zip = "90100"  # type: ignore[union-attr]
        d.users["u0"].tags.append("c")
        del d.by_int[-3]
        d.by_int[0] = "zero"
        del d.by_uuid[UID_A]
        d.by_uuid[UID_B] = -1
        d.meta["$$double"]["$inner"] = "$$y"  # type: ignore[index]
        d.meta["$$double"]["$new"] = {"$deeper": None}  # type: ignore[index]
        del d.meta["$gone"]
        d.meta["nested"]["deep"][1]["x"] = {"$replace": 1}  # type: ignore[index]
        d.numbers[3] = 999

    def replace(d: M.Data) -> None:
        d.users["u1"].address = None
        d.users["u2"] = M.User(name="$dollar user", address=M.Address(city="$city"))
        del d.users["u0"]
        d.when = WHEN.replace(microsecond=1)
        d.blob = b"\x00\xff"
        d.meta["nested"] = [{"$delete": ["nested"]}]

    return [create, edit, replace]


async def test_every_field_type_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    expected = compat_models.Data()
    for step in typed_steps():
        step(expected)

    async with Kanta(path, compat_models.Data()) as db:
        for step in typed_steps():
            with db.transaction(step.__name__) as data:
                step(data)
        assert db.data == expected
        assert db.rev == 4

    async with Kanta(path, compat_models.Data()) as db:
        assert db.data == expected
        assert db.data.when == WHEN.replace(microsecond=1)
        assert db.data.by_int == {7: "seven", 0: "zero"}
        assert db.data.by_uuid == {UID_B: -1}
        db.request_snapshot()
    assert read_records(path)[-1][0] == "snapshot"

    async with Kanta(path, compat_models.Data()) as db:
        assert db.data == expected
        assert db.rev == 4


async def test_change_of_type_between_equal_values_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Loosely()) as db:
        with db.transaction("ints") as data:
            data.meta["flag"] = 1
            data.meta["number"] = 1
            data.values = [1]
        with db.transaction("retype") as data:
            data.meta["flag"] = True
            data.meta["number"] = 1.0
            data.values = [True]
        assert db.rev == 3
    async with Kanta(path, Loosely()) as db:
        assert type(db.data.meta["flag"]) is bool
        assert type(db.data.meta["number"]) is float
        assert type(db.data.values[0]) is bool


async def test_non_finite_float_is_refused_in_json_and_kept_in_msgpack(tmp_path: Path) -> None:
    # JSON has no NaN: writing it would store null, which no longer decodes into float.
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Measure()) as db:
        with pytest.raises(DatabaseError, match="value"), db.transaction("nan") as data:
            data.value = math.nan
        assert db.data.value == 0.0
        assert db.rev == 1
    binary = tmp_path / "db.bin.kantadb"
    async with Kanta(binary, Measure(), serializer=MsgPackSerializer()) as db:
        with db.transaction("nan") as data:
            data.value = math.nan
        with db.transaction("next") as data:  # NaN != NaN must not look like a stray change
            data.value = math.inf
    async with Kanta(binary, Measure()) as db:
        assert db.data.value == math.inf and db.rev == 3


async def test_a_value_of_the_wrong_type_is_refused_not_written(tmp_path: Path) -> None:
    # Python does not check assignments to Struct fields; the file would no longer open.
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Data()) as db:
        with db.transaction("add") as data:
            data.users["a"] = User(name="A")
        bad = db.transaction("bad", user="x")
        with pytest.raises(DatabaseError, match=r"users\.a\.name") as caught, bad as data:
            data.users["a"].name = 42  # type: ignore[assignment]
            data.counter = 5
        assert caught.value.action == "bad"
        assert db.data.users["a"].name == "A" and db.data.counter == 0
        with db.transaction("good") as data:
            data.counter = 1
    async with Kanta(path, Data()) as db:
        assert db.data.counter == 1 and db.data.users["a"].name == "A"


@pytest.mark.parametrize("serializer", [None, MsgPackSerializer()], ids=["json", "msgpack"])
async def test_a_snapshot_is_encoded_off_the_loop_while_transactions_commit(
    tmp_path: Path, serializer: Any
) -> None:
    """The snapshot holds the state of its revision, whatever commits while it is written."""
    from kanta import verify

    path = tmp_path / "db.kantadb"
    state = Data(users={f"u{i}": User(f"n{i}", tags=["a"]) for i in range(30_000)})
    async with Kanta(path, state, serializer=serializer, flush_interval=3600) as db:
        db.request_snapshot()
        flushing = asyncio.ensure_future(db.flush())
        assert db._session is not None
        tracker = db._session.tracker
        assert tracker is not None
        # The flush froze a copy and handed it over to the writer.
        await wait_until(
            lambda: tracker._frozen, 10, interval=0
        )  # the flush froze a copy and handed it over
        snapshot_rev = db.rev
        for i in range(0, 30_000, 1_000):
            with db.transaction("during the snapshot") as data:
                data.users[f"u{i}"].tags.append("b")
                data.users[f"u{i + 1}"].name = "renamed"
                del data.users[f"u{i + 2}"]
                data.users[f"new{i}"] = User("new")
                data.counter += 1
        assert tracker._frozen  # all of them committed while the copy was in use
        await flushing
        assert not tracker._frozen
    report = verify(path)  # every snapshot equals the replay of the records before it
    assert report.ok, report.problems
    async with Kanta(path, Data(), serializer=serializer) as db:
        assert db.rev == snapshot_rev + 30
        assert db.data.counter == 30 and db.data.users["u0"].tags == ["a", "b"]


class Counts(msgspec.Struct):
    by_id: dict[int, int] = {}


@pytest.mark.parametrize("key", [True, (1, 2), 1.5], ids=["bool", "tuple", "float"])
async def test_a_key_that_cannot_be_written_rolls_the_transaction_back(
    tmp_path: Path, key: Any
) -> None:
    async with Kanta(tmp_path / "db.kantadb", Counts()) as db:
        with pytest.raises(DatabaseError, match="by_id"), db.transaction("bad key") as data:
            data.by_id[5] = 1
            data.by_id[key] = 2
        assert db.data.by_id == {} and db.rev == 1


async def test_a_cancelled_flush_still_writes_the_snapshot_of_its_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that times out while a snapshot is written must not let later commits
    reach the frozen copy the writer is still encoding."""
    import kanta.storage.writer
    from kanta import verify

    # Slow the writer between slices, so that the commits below land mid-encoding.
    monkeypatch.setattr(kanta.storage.writer, "_give_the_gil_away", lambda: time.sleep(0.01))
    path = tmp_path / "db.kantadb"
    state = Data(users={f"u{i}": User(f"n{i}", tags=["a"]) for i in range(30_000)})
    async with Kanta(path, state, flush_interval=3600) as db:
        db.request_snapshot()
        flushing = asyncio.ensure_future(db.flush())
        assert db._session is not None
        tracker = db._session.tracker
        assert tracker is not None
        await wait_until(lambda: tracker._frozen, 10, interval=0)
        flushing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await flushing
        for i in range(0, 30_000, 3_000):
            with db.transaction("after the cancel", touches=[("users", f"u{i}")]) as data:
                data.users[f"u{i}"].tags.append("b")
        assert tracker._frozen  # still encoding: the commits copied what they changed
        await db.flush()
    assert verify(path).ok
    async with Kanta(path, Data()) as db:
        assert db.data.users["u0"].tags == ["a", "b"] and db.rev == 11


class Scores(msgspec.Struct):
    by_user: dict[str, dict[str, int]] = {}


async def test_dict_subclass_values_are_not_taken_for_strays(tmp_path: Path) -> None:
    """OrderedDicts are written as dicts; the next transactions see no change in them."""
    from collections import OrderedDict

    async with Kanta(tmp_path / "db.kantadb", Scores()) as db:
        for count in (5, 40):  # checked one by one, then in bulk
            with db.transaction("import") as data:
                for i in range(count):
                    data.by_user[f"{count}-{i}"] = OrderedDict(points=i)
            with db.transaction("nothing"):
                pass
        assert db.rev == 3 and type(db.data.by_user["40-1"]) is OrderedDict


class Row(msgspec.Struct, array_like=True):
    a: int = 0


def test_an_array_like_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="array_like"):
        Kanta(tmp_path / "db.kantadb", Row())


async def test_closing_while_a_transaction_awaits_rolls_it_back(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    db = Kanta(path, Data())
    await db.open()
    closed = asyncio.Event()

    async def close_meanwhile() -> None:
        await db.close()
        closed.set()

    with pytest.raises(DataIntegrityError, match="closed"), db.transaction("slow") as data:
        data.counter = 5
        task = asyncio.ensure_future(close_meanwhile())
        await closed.wait()
    await task
    assert db.data.counter == 0
    async with Kanta(path, Data()) as db:
        assert db.data.counter == 0 and db.rev == 1
