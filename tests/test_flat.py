"""Flat transactions on real files: what they write, and stray changes beside them.

A flat transaction compares only the paths it declares. Whatever is changed elsewhere must
never be written as part of it, and never go unnoticed: the entry check, `db.check()`,
the background audit and `close()` find it, undo it and raise DataIntegrityError.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kanta import Kanta, strays
from kanta.errors import DataIntegrityError
from kanta.state.tracker import Tracker


class User(msgspec.Struct):
    name: str
    age: int = 0
    tags: list[str] = []


class Root(msgspec.Struct):
    users: dict[str, User] = {}
    total: int = 0


def initial(size: int = 200) -> Root:
    return Root(users={f"u{i}": User(f"n{i}", i) for i in range(size)})


def diffs(path: Path) -> list[Any]:
    """The diffs of the change records in a JSON log, in order."""
    records = [msgspec.json.decode(line) for line in path.read_bytes().splitlines()]
    return [record["diff"] for record in records if isinstance(record, dict)]


async def reopened(path: Path) -> Root:
    async with Kanta(path, Root()) as db:
        return msgspec.convert(msgspec.to_builtins(db.data), Root)


async def test_flat_and_default_transactions_write_the_same_records(tmp_path: Path) -> None:
    workload: list[tuple[list[tuple[Any, ...]], Any]] = [
        ([("users", "u1")], lambda d: setattr(d.users["u1"], "age", 50)),
        ([("users", "new")], lambda d: d.users.__setitem__("new", User("x", tags=["t"]))),
        ([("users", "u2"), ("total",)], lambda d: (d.users.pop("u2"), setattr(d, "total", 7))),
        ([("users", "u3", "tags")], lambda d: d.users["u3"].tags.append("$x")),
        ([("users", "u4")], lambda d: None),  # no change: no record
    ]
    for mode in ("default", "flat"):
        async with Kanta(tmp_path / f"{mode}.kantadb", initial()) as db:
            for paths, change in workload:
                touches = paths if mode == "flat" else None
                with db.transaction("edit", user="me", touches=touches) as data:
                    change(data)
    assert diffs(tmp_path / "flat.kantadb") == diffs(tmp_path / "default.kantadb")
    assert len(diffs(tmp_path / "flat.kantadb")) == 5  # the bootstrap and four changes


async def test_a_stray_change_on_a_declared_path_stops_the_transaction(tmp_path: Path) -> None:
    async with Kanta(tmp_path / "db.kantadb", initial(), tracking="compare") as db:
        db.data.users["u1"].age = 99  # outside any transaction
        with (
            pytest.raises(DataIntegrityError, match=r"users\.u1\.age") as caught,
            db.transaction("inc", touches=[("users", "u1")]) as data,
        ):
            data.users["u1"].age += 1  # pragma: no cover
        assert caught.value.paths == ("users.u1.age",)
        assert db.data.users["u1"].age == 1  # undone
        with db.transaction("inc", touches=[("users", "u1")]) as data:
            data.users["u1"].age += 1
    assert (await reopened(tmp_path / "db.kantadb")).users["u1"].age == 2


async def test_a_stray_change_elsewhere_is_not_written_with_a_flat_transaction(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, initial(), tracking="compare") as db:
        db.data.users["u7"].name = "stray"
        with db.transaction("inc", touches=[("users", "u1")]) as data:
            data.users["u1"].age += 1
            data.users["u2"].age = -5  # inside the block, but not declared
        await db.flush()
        assert diffs(path)[-1] == {"users": {"u1": {"age": 2}}}
        with pytest.raises(DataIntegrityError) as caught:
            db.check()
        assert set(caught.value.paths) == {"users.u7.name", "users.u2.age"}
        assert db.data.users["u7"].name == "n7" and db.data.users["u2"].age == 2
        db.check()  # nothing left
    state = await reopened(path)
    assert (state.users["u1"].age, state.users["u2"].age, state.users["u7"].name) == (2, 2, "n7")


async def test_a_failing_flat_transaction_rolls_back_its_paths(tmp_path: Path) -> None:
    async with Kanta(tmp_path / "db.kantadb", initial()) as db:
        with pytest.raises(KeyError), db.transaction("x", touches=[("users", "u1")]) as data:
            data.users["u1"].age = 100
            data.users["u1"].tags.append("t")
            raise KeyError("boom")
        assert db.data.users["u1"] == User("n1", 1)
        assert db.rev == 1


async def test_the_background_audit_finds_a_stray_change(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, initial(), flush_interval=3600, tracking="compare") as db:
        with db.transaction("inc", touches=[("users", "u1")]) as data:
            data.users["u1"].age += 1
        db.data.users["u150"].age = -1  # stray
        assert db._session is not None
        # What the periodic flush does once flat transactions ran.
        strays.start_audit(db._session)
        assert db._session.audit is not None
        await db._session.audit
        assert db.data.users["u150"].age == 150  # undone by the audit
        with pytest.raises(DataIntegrityError, match="background audit"):
            await db.flush()
        await db.flush()  # reported once
    assert diffs(path)[-1] == {"users": {"u1": {"age": 2}}}


async def test_the_audit_never_looks_inside_an_open_transaction(tmp_path: Path) -> None:
    async with Kanta(tmp_path / "db.kantadb", initial(), flush_interval=3600) as db:
        with db.transaction("first", touches=[("total",)]) as data:
            data.total = 1
        assert db._session is not None
        strays.start_audit(db._session)
        audit = db._session.audit
        assert audit is not None
        with db.transaction("slow", touches=[("users", "u199")]) as data:
            data.users["u199"].age = 0  # not committed yet: not a stray change
            # Unguarded, the audit would finish well within this time and report it.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.shield(audit), 0.2)
        await audit
        assert db._session.stray_error is None
        assert db.data.users["u199"].age == 0


async def test_close_reports_a_stray_change_made_after_the_last_transaction(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.kantadb"
    db = Kanta(path, initial(), tracking="compare")
    await db.open()
    with db.transaction("inc", touches=[("users", "u1")]) as data:
        data.users["u1"].age += 1
    db.data.total = 42
    with pytest.raises(DataIntegrityError, match="total"):
        await db.close()
    state = await reopened(path)
    assert (state.users["u1"].age, state.total) == (2, 0)


async def test_a_flat_transaction_never_compares_the_whole_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not at its start, not at its commit, not for the validators: only the paths."""
    db = Kanta(tmp_path / "db.kantadb", initial(), flush_interval=3600)

    @db.validate
    def ages_are_positive(data: Root) -> None:
        if data.users["u1"].age < 0:
            raise ValueError("negative age")

    await db.open()

    def whole_state(*args: Any) -> None:
        raise AssertionError("the whole state was compared")

    monkeypatch.setattr(Tracker, "changes", whole_state)
    with db.transaction("inc", touches=[("users", "u1")]) as data:
        data.users["u1"].age += 1
    with (
        pytest.raises(ValueError, match="negative"),
        db.transaction("bad", touches=[("users", "u1")]) as data,
    ):
        data.users["u1"].age = -1
    assert db.data.users["u1"].age == 2
    monkeypatch.undo()
    await db.close()


async def test_a_validator_changing_a_declared_path_rolls_the_transaction_back(
    tmp_path: Path,
) -> None:
    db = Kanta(tmp_path / "db.kantadb", initial())

    @db.validate
    def meddles(data: Root) -> None:
        data.users["u1"].name = "meddled"

    with pytest.raises(DataIntegrityError):  # at open, validators run on the whole state
        await db.open()
    db = Kanta(tmp_path / "db2.kantadb", initial())
    await db.open()

    @db.validate
    def meddles_later(data: Root) -> None:
        data.users["u1"].name = "meddled"

    with (
        pytest.raises(DataIntegrityError, match="validate"),
        db.transaction("inc", touches=[("users", "u1")]) as data,
    ):
        data.users["u1"].age += 1
    assert db.data.users["u1"] == User("n1", 1)
    await db.close()


async def test_check_is_refused_inside_a_transaction_and_when_closed(tmp_path: Path) -> None:
    db = Kanta(tmp_path / "db.kantadb", initial())
    with pytest.raises(DataIntegrityError, match="not open"):
        db.check()
    await db.open()
    with pytest.raises(RuntimeError), db.transaction("x", touches=[("total",)]) as data:
        data.total = 5
        db.check()
    assert db.data.total == 0
    await db.close()


async def test_a_pending_audit_finding_does_not_hide_a_later_stray_change(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    db = Kanta(path, initial(), flush_interval=3600, tracking="compare")
    await db.open()
    with db.transaction("inc", touches=[("users", "u1")]) as data:
        data.users["u1"].age += 1
    db.data.users["u5"].age = -5
    assert db._session is not None
    strays.start_audit(db._session)
    assert db._session.audit is not None
    await db._session.audit  # found, undone, pending
    db.data.users["u6"].age = -6  # another, after the audit
    with pytest.raises(DataIntegrityError) as caught:
        await db.close()
    assert set(caught.value.paths) == {"users.u5.age", "users.u6.age"}
    assert caught.value.db_path == path
    assert db.data.users["u6"].age == 6


async def test_the_audit_rests_19_times_as_long_as_each_slice_took(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most 5% of the loop's time: after a slice of t seconds, a pause of 19 t."""
    import weakref

    async with Kanta(tmp_path / "db.kantadb", initial(12_000), flush_interval=3600) as db:
        ticks = iter(range(10**6))
        monkeypatch.setattr(strays.time, "perf_counter", lambda: next(ticks) * 0.001)
        pauses: list[float] = []

        async def sleep(seconds: float) -> None:
            pauses.append(seconds)

        monkeypatch.setattr(strays.asyncio, "sleep", sleep)
        assert db._session is not None
        await strays.audit_in_background(weakref.ref(db._session))
        monkeypatch.undo()
    # Several slices (12,000 users, 5,000 per slice, twice), each timed at 1 ms here.
    assert len(pauses) >= 5
    assert pauses == pytest.approx([0.019] * len(pauses))
