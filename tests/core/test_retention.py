"""Retention through the API: history older than the window moves out at open or on demand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from kanta import Kanta, MsgPackSerializer, verify
from kanta.history import read_history

DAY0 = datetime(2027, 1, 1, tzinfo=UTC)
FORMATS = ["json", "msgpack"]


class Diary(msgspec.Struct):
    """One entry per day."""

    days: dict[str, int] = {}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = DAY0

    def __call__(self) -> datetime:
        return self.now


def _db(path: Path, clock: Clock, fmt: str, retention: object = None) -> Kanta[Diary]:
    serializer = MsgPackSerializer() if fmt == "msgpack" else None
    db = Kanta(path, Diary(), serializer=serializer, retention=retention)  # type: ignore[arg-type]
    db.clock(clock)
    return db


async def _write_days(path: Path, clock: Clock, fmt: str, days: int) -> None:
    async with _db(path, clock, fmt) as db:
        for day in range(1, days + 1):
            clock.now = DAY0 + timedelta(days=day)
            with db.transaction(f"day{day}", user="me") as data:
                data.days[f"d{day}"] = day


def _rotated(folder: Path) -> list[Path]:
    return sorted(folder.glob("*@*.kantadb"))


@pytest.mark.parametrize("fmt", FORMATS)
async def test_an_open_moves_aged_out_history_beside_the_database(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / "diary.kantadb"
    clock = Clock()
    await _write_days(path, clock, fmt, 7)
    clock.now = DAY0 + timedelta(days=7, hours=12)
    async with _db(path, clock, fmt, retention=timedelta(days=2)) as db:
        assert db.rev == 8 and len(db.data.days) == 7
    (history,) = _rotated(tmp_path)
    # Named, and the new file's snapshot stamped, after the last record moved out (day 5),
    # not the cutoff (as kanta 0.9.x's rotation docs say).
    assert history.name == "diary@20270106T000000Z.kantadb"
    assert verify(path).ok and verify(history).ok
    head = list(read_history(history).entries())
    main = list(read_history(path).entries())
    assert [e.rev for e in head] == [1, 2, 3, 4, 5, 6]  # bootstrap and days 1-5
    assert [e.rev for e in main] == [6, 7, 8]  # the snapshot at the cutoff, days 6-7
    assert main[0].record.ts == DAY0 + timedelta(days=5)
    async with _db(history, clock, fmt) as old:  # the rotated file is a database itself
        assert sorted(old.data.days) == [f"d{d}" for d in range(1, 6)]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_running_database_rotates_on_demand(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / "diary.kantadb"
    clock = Clock()
    await _write_days(path, clock, fmt, 3)
    async with _db(path, clock, fmt, retention=1) as db:  # int: days; the open rotates days 0-2
        assert len(_rotated(tmp_path)) == 1
        with db.transaction("day3b") as data:
            data.days["d3b"] = 3
        clock.now = DAY0 + timedelta(days=4, hours=1)
        history = await db.rotate()
        assert history is not None and history.exists()
        with db.transaction("day4") as data:
            data.days["d4"] = 4
        rev = db.rev
    async with _db(path, clock, fmt) as db:
        assert db.rev == rev and sorted(db.data.days) == ["d1", "d2", "d3", "d3b", "d4"]
    assert verify(path).ok and verify(history).ok
    assert len(_rotated(tmp_path)) == 2
    assert [e.rev for e in read_history(history).entries()] == [3, 4, 5]
    assert [e.rev for e in read_history(path).entries()] == [5, 6]


async def test_without_retention_nothing_moves(tmp_path: Path) -> None:
    path = tmp_path / "diary.kantadb"
    clock = Clock()
    await _write_days(path, clock, "json", 5)
    clock.now = DAY0 + timedelta(days=400)
    async with _db(path, clock, "json") as db:
        assert await db.rotate() is None
    assert _rotated(tmp_path) == []
    assert len(read_history(path).scan.records) == 6
