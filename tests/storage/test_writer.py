"""The background writer: group commit, no duplicate records, and a path that stays ours."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kanta import DatabaseError, Kanta
from kanta.history import read_history
from kanta.storage.logfile import FileOps


class Counter(msgspec.Struct):
    """A root with one counter and a list of who incremented it."""

    n: int = 0
    by: list[int] = []


def _count_syncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = FileOps.fdatasync

    def counting(ops: FileOps, fd: int) -> None:
        calls.append(fd)
        original(ops, fd)

    monkeypatch.setattr(FileOps, "fdatasync", counting)
    return calls


async def test_concurrent_flushes_share_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = _count_syncs(monkeypatch)
    async with Kanta(tmp_path / "db.kantadb", Counter(), flush_interval=3600) as db:
        syncs.clear()

        async def writer(i: int) -> None:
            with db.transaction("inc", user=str(i)) as data:
                data.n += 1
                data.by.append(i)
            await db.flush()

        await asyncio.gather(*(writer(i) for i in range(100)))
        assert db.data.n == 100
        assert len(syncs) <= 5, f"{len(syncs)} syncs for 100 concurrent flushes"
    actions = [e.record.u for e in read_history(tmp_path / "db.kantadb").entries()][1:]
    assert sorted(actions, key=lambda u: int(u or 0)) == [str(i) for i in range(100)]


async def test_a_cancelled_flush_writes_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Counter(), flush_interval=3600) as db:
        for round_ in range(20):
            with db.transaction("inc", user=str(round_)) as data:
                data.n += 1
            task = asyncio.create_task(db.flush())
            await asyncio.sleep(0)  # let it hand the batch over, then cancel it
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await db.flush()
    users = [e.record.u for e in read_history(path).entries()][1:]
    assert users == [str(i) for i in range(20)]


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_a_writer_stops_when_its_file_is_taken_away(how: str, tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    db = Kanta(path, Counter(), flush_interval=3600)
    await db.open()
    with db.transaction("inc") as data:
        data.n += 1
    await db.flush()
    if how == "deleted":
        path.unlink()
    else:
        other = tmp_path / "other.kantadb"
        other.write_bytes(b"")
        os.replace(other, path)
    with db.transaction("inc") as data:
        data.n += 1
    with pytest.raises(DatabaseError, match="deleted or replaced"):
        await db.flush()
    with pytest.raises(DatabaseError), db.transaction("more") as data:
        data.n += 1
    with pytest.raises(DatabaseError):
        await db.close()
    if how == "replaced":
        assert path.read_bytes() == b""  # nothing written into the file that took its place


async def test_flush_returns_only_when_the_batch_is_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced_sizes: list[int] = []
    original = FileOps.fdatasync

    def recording(ops: FileOps, fd: int) -> None:
        original(ops, fd)
        synced_sizes.append(os.fstat(fd).st_size)

    monkeypatch.setattr(FileOps, "fdatasync", recording)
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Counter(), flush_interval=3600) as db:
        with db.transaction("inc") as data:
            data.n += 1
        await db.flush()
        size_when_flush_returned: Any = path.stat().st_size
        assert synced_sizes and synced_sizes[-1] == size_when_flush_returned


@pytest.mark.parametrize(
    ("durability", "after_flush", "after_close"),
    [("fsync", 1, 1), ("interval", 0, 1), ("none", 0, 0)],
)
async def test_durability_modes_sync_when_they_promise(
    durability: Any,
    after_flush: int,
    after_close: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Counter()):
        pass  # created (and synced) before counting
    syncs = _count_syncs(monkeypatch)
    db = Kanta(path, Counter(), flush_interval=3600, durability=durability)
    await db.open()
    with db.transaction("inc") as data:
        data.n += 1
    size = path.stat().st_size
    await db.flush()
    assert path.stat().st_size > size  # written in every mode
    assert len(syncs) == after_flush
    await db.close()
    assert len(syncs) == after_close


async def test_the_interval_mode_syncs_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = _count_syncs(monkeypatch)
    async with Kanta(tmp_path / "db.kantadb", Counter(), durability="interval") as db:
        syncs.clear()
        with db.transaction("inc") as data:
            data.n += 1
        await db.flush()
        assert syncs == []
        assert db._session is not None and db._session.writer is not None
        for _ in range(2000):  # the background flush runs every flush_interval (0.1 s)
            if not db._session.writer.unsynced:
                break
            await asyncio.sleep(0.005)
        assert len(syncs) == 1


def test_an_unknown_durability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="durability"):
        Kanta(tmp_path / "db.kantadb", Counter(), durability="sometimes")  # type: ignore[arg-type]
