"""Many asyncio tasks on one database: concurrent flushes and snapshots, and transactions
whose blocks overlap because one of them awaited."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from kanta import DatabaseError, Kanta
from kanta.core.records import Record, Snapshot
from kanta.core.snapshotpolicy import SnapshotPolicy
from kanta.storage.writer import Writer

TASKS = 50
NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


class Data(msgspec.Struct):
    slots: dict[str, int] = {}
    counter: int = 0


def snapshots_in(path: Path) -> int:
    """The SNAPSHOT records of a JSON log."""
    return sum(line.startswith(b"SNAPSHOT ") for line in path.read_bytes().splitlines())


def count_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record, for every batch the writer's thread writes, how many snapshots it holds."""
    batches: list[int] = []
    original = Writer._write

    def counting(self: Writer, batch: list[Record], sync: bool) -> None:
        batches.append(sum(isinstance(record, Snapshot) for record in batch))
        original(self, batch, sync)

    monkeypatch.setattr(Writer, "_write", counting)
    return batches


async def opened(path: Path) -> Kanta[Data]:
    """An open database with constant-size records (a fixed clock), no background flush."""
    db = Kanta(path, Data(), flush_interval=3600)
    db.clock(lambda: NOW)
    await db.open()
    return db


async def record_size(db: Kanta[Data]) -> int:
    """The bytes one `set` transaction adds to the log (all of them are this size)."""
    before = db.filename.stat().st_size
    with db.transaction("set", user="u00") as data:
        data.slots["w00"] = 1000  # a key no task sets: same size, its own record
    await db.flush()
    return db.filename.stat().st_size - before


async def commit_all_then_flush_all(db: Kanta[Data], base: int) -> None:
    """Every task commits, then every task flushes: all flushers find the same log."""
    committed = 0
    all_committed = asyncio.Event()

    async def commit_then_flush(i: int) -> None:
        nonlocal committed
        with db.transaction("set", user=f"u{i:02d}") as data:
            data.slots[f"s{i:02d}"] = base + i
        committed += 1
        if committed == TASKS:
            all_committed.set()
        await all_committed.wait()
        await db.flush()

    await asyncio.gather(*(commit_then_flush(i) for i in range(TASKS)))


# -- one snapshot per due point ----------------------------------------------------------------


async def test_concurrent_flushers_write_one_snapshot_per_due_point(tmp_path: Path) -> None:
    """Fifty tasks commit and flush at once; the policy falls due once in the run."""
    path = tmp_path / "db.kantadb"
    db = await opened(path)
    size = await record_size(db)
    # Due after about 30 records of 51: once written, the at most 21 after it cannot
    # make it due again, however the writes are grouped.
    db.snapshot_policy = SnapshotPolicy(ratio=0.0, min_bytes=30 * size)
    before = snapshots_in(path)

    async def commit_and_flush(i: int) -> None:
        with db.transaction("set", user=f"u{i:02d}") as data:
            data.slots[f"s{i:02d}"] = 1000 + i
        await db.flush()

    await asyncio.gather(*(commit_and_flush(i) for i in range(TASKS)))
    assert snapshots_in(path) == before + 1
    await db.close()
    assert snapshots_in(path) == before + 1


async def test_each_round_of_concurrent_flushers_waits_for_one_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All tasks commit, then all flush: one batch of changes, one snapshot, per round."""
    path = tmp_path / "db.kantadb"
    db = await opened(path)
    size = await record_size(db)
    # A round's 50 records make it due; the snapshot ends the round, so the next round
    # starts from nothing to replay.
    db.snapshot_policy = SnapshotPolicy(ratio=0.0, min_bytes=40 * size)
    before = snapshots_in(path)
    batches = count_batches(monkeypatch)
    rounds = 10
    for round_ in range(rounds):
        batches.clear()
        await commit_all_then_flush_all(db, 2000 + round_ * TASKS)  # a change every round
        assert snapshots_in(path) == before + round_ + 1
        assert batches == [0, 1], f"round {round_}: batches (snapshots in each) {batches}"
    await db.close()
    assert snapshots_in(path) == before + rounds


async def test_a_requested_snapshot_is_written_once_by_concurrent_flushers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.kantadb"
    db = await opened(path)
    before = snapshots_in(path)
    batches = count_batches(monkeypatch)
    with db.transaction("set") as data:
        data.counter = 1
    db.request_snapshot()
    await asyncio.gather(*(db.flush() for _ in range(TASKS)))
    assert snapshots_in(path) == before + 1
    assert batches == [0, 1]
    db.request_snapshot()  # a request after that snapshot asks for another one
    await asyncio.gather(*(db.flush() for _ in range(TASKS)))
    assert snapshots_in(path) == before + 2
    await db.close()
    assert snapshots_in(path) == before + 2


async def test_flushers_that_find_a_snapshot_queued_wait_for_it(tmp_path: Path) -> None:
    """Every flush returns with the due snapshot on disk, not only the one that queued it."""
    path = tmp_path / "db.kantadb"
    db = await opened(path)
    size = await record_size(db)
    db.snapshot_policy = SnapshotPolicy(ratio=0.0, min_bytes=3 * size)
    for i in range(4):
        with db.transaction("set", user=f"u{i:02d}") as data:
            data.slots[f"s{i:02d}"] = 1000 + i
    before = snapshots_in(path)
    seen: list[int] = []

    async def flush_and_look() -> None:
        await db.flush()
        seen.append(snapshots_in(path))

    await asyncio.gather(*(flush_and_look() for _ in range(TASKS)))
    assert seen == [before + 1] * TASKS
    await db.close()


async def test_a_failed_snapshot_reaches_every_flusher_waiting_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.kantadb"
    db = await opened(path)
    errors: list[DatabaseError] = []

    @db.fatal_error
    def note(error: DatabaseError) -> None:
        errors.append(error)

    encode = Writer._encode

    def refuse_snapshots(self: Writer, record: Record, offset: int) -> list[bytes]:
        if isinstance(record, Snapshot):
            raise DatabaseError("disk full", db_path=path)  # as the file reports it
        return encode(self, record, offset)

    monkeypatch.setattr(Writer, "_encode", refuse_snapshots)
    with db.transaction("set") as data:
        data.counter = 1
    db.request_snapshot()
    results = await asyncio.gather(*(db.flush() for _ in range(TASKS)), return_exceptions=True)
    assert all(isinstance(result, DatabaseError) for result in results), results
    assert len(errors) == 1  # one failure, reported once
    with pytest.raises(DatabaseError):
        await db.flush()  # and every later flush fails too
    with pytest.raises(DatabaseError):
        await db.close()
    assert snapshots_in(path) == 0


# -- transactions whose blocks overlap -----------------------------------------------------------


async def test_a_transaction_inside_the_block_is_nested(tmp_path: Path) -> None:
    async with Kanta(tmp_path / "db.kantadb", Data()) as db:
        with db.transaction("outer") as data:
            data.counter = 1
            with pytest.raises(RuntimeError) as caught, db.transaction("inner"):
                pass
            data.counter = 2
        message = str(caught.value)
        assert "nested transactions are not supported" in message
        assert "'inner'" in message and "'outer'" in message
        assert "another" not in message
        assert db.data.counter == 2


async def test_a_transaction_while_another_tasks_block_awaits(tmp_path: Path) -> None:
    """Task A awaits inside its block; task B's transaction is concurrent, not nested."""
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Data()) as db:
        inside = asyncio.Event()
        release = asyncio.Event()
        errors: list[BaseException] = []

        async def awaits_inside() -> None:
            with db.transaction("slow") as data:
                data.counter = 1
                inside.set()
                await release.wait()  # the mistake the error message names
                data.slots["a"] = 1

        async def meanwhile() -> None:
            await inside.wait()
            try:
                with db.transaction("fast") as data:
                    data.slots["b"] = 2
            except RuntimeError as exc:
                errors.append(exc)
            release.set()

        await asyncio.gather(awaits_inside(), meanwhile())
        [error] = errors
        message = str(error)
        assert "nested" not in message
        assert "another asyncio task" in message and "'slow'" in message
        assert "'fast'" in message
        assert "do not await inside a transaction block" in message.lower()
        assert "await db.flush()" in message
        assert db.data.slots == {"a": 1} and db.data.counter == 1  # A committed, B nothing
        with db.transaction("later") as data:  # once A's block ended, B's can run
            data.slots["b"] = 2
    async with Kanta(path, Data()) as db:
        assert db.data.slots == {"a": 1, "b": 2} and db.rev == 3


async def test_the_right_way_awaits_before_and_flushes_after(tmp_path: Path) -> None:
    """Awaiting outside the block: concurrent requests all commit."""
    path = tmp_path / "db.kantadb"
    started = asyncio.Event()

    async def fetch(i: int) -> int:
        await started.wait()  # all requests are waiting here at once
        return i * 10

    async with Kanta(path, Data()) as db:

        async def handler(i: int) -> None:
            value = await fetch(i)
            with db.transaction("store", user=str(i)) as data:
                data.slots[str(i)] = value
            await db.flush()

        tasks = [asyncio.ensure_future(handler(i)) for i in range(10)]
        started.set()
        await asyncio.gather(*tasks)
        assert db.data.slots == {str(i): i * 10 for i in range(10)}
