"""Torn tails (what a crash or power cut leaves) are recovered, never fatal, the cut kept."""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

import msgspec
import pytest
from compat_models import Data, User

from kanta import Kanta, MsgPackSerializer
from kanta.core.formats import detect
from kanta.history import read_history

FORMATS = ["json", "msgpack"]


def _sample(path: Path, fmt: str) -> bytes:
    async def write() -> None:
        serializer = MsgPackSerializer() if fmt == "msgpack" else None
        async with Kanta(path, Data(), serializer=serializer) as db:
            for i in range(3):
                with db.transaction("add", user="u") as d:
                    d.users[f"u{i}"] = User(name=f"U{i}", tags=["t"] * i)
            db.request_snapshot()
            await db.flush()
            with db.transaction("count") as d:
                d.counter = 9

    asyncio.run(write())
    return path.read_bytes()


def _states(data: bytes, path: Path) -> dict[int, tuple[int, object]]:
    """Record end offset -> (revision, state) after that record."""
    path.write_bytes(data)
    return {
        e.raw.end: (e.rev, msgspec.json.decode(msgspec.json.encode(e.state)))
        for e in read_history(path).entries()
    }


async def _open_and_check(
    path: Path, damaged: bytes, good: int, cut_from: int, after: dict[int, tuple[int, object]]
) -> None:
    """Open `damaged`: the state after the record ending at `good`, bytes from `cut_from` saved."""
    path.write_bytes(damaged)
    for side in path.parent.glob("*.cut-*"):
        side.unlink()
    async with Kanta(path, Data(), type=Data) as db:
        if good:
            rev, state = after[good]
            assert db.rev == rev
            assert msgspec.to_builtins(db.data, str_keys=True) == state
        else:  # nothing whole: a new database
            assert db.rev == 1
    sides = list(path.parent.glob("*.cut-*"))
    if cut_from < len(damaged):
        assert [side.read_bytes() for side in sides] == [damaged[cut_from:]]
    else:
        assert sides == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_prefix_opens_to_its_last_whole_record(fmt: str, tmp_path: Path) -> None:
    sample = tmp_path / "sample.kantadb"
    data = _sample(sample, fmt)
    after = _states(data, sample)
    header = 4 if fmt == "msgpack" else 0  # a binary file's seed stays when frames are cut
    path = tmp_path / "db.kantadb"
    for size in range(len(data)):
        if fmt == "json" and size + 1 in after:
            # A whole last record that lost only its newline is kept, the newline repaired.
            asyncio.run(_open_and_check(path, data[:size], size + 1, size, after))
            continue
        good = max((end for end in after if end <= size), default=0)
        cut_from = good or (header if size >= header else 0)
        asyncio.run(_open_and_check(path, data[:size], good, cut_from, after))


@pytest.mark.parametrize("fmt", FORMATS)
def test_zero_and_garbage_tails_are_cut_and_kept(fmt: str, tmp_path: Path) -> None:
    sample = tmp_path / "sample.kantadb"
    data = _sample(sample, fmt)
    after = _states(data, sample)
    rng = random.Random(7)
    path = tmp_path / "db.kantadb"
    for length in [1, 2, 3, 7, 15, 16, 17, 100, 511, 4096, 65536]:
        for filler in (b"\x00" * length, rng.randbytes(length)):
            asyncio.run(_open_and_check(path, data + filler, len(data), len(data), after))


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_read_only_open_ignores_a_torn_tail_and_changes_nothing(
    fmt: str, tmp_path: Path
) -> None:
    path = tmp_path / "db.kantadb"
    data = await asyncio.to_thread(_sample, path, fmt)
    torn = data + b"\x00" * 100
    path.write_bytes(torn)
    db = Kanta(path, Data())
    await db.open(readonly=True)
    assert db.data.counter == 9
    await db.close()
    assert path.read_bytes() == torn
    assert not list(tmp_path.glob("*.cut-*"))
    assert detect(torn).scan(torn).damage is not None


async def test_cutting_a_tail_logs_a_warning_with_the_offset_and_the_side_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "db.kantadb"
    data = await asyncio.to_thread(_sample, path, "json")
    path.write_bytes(data + b'{"ts":"20')
    with caplog.at_level(logging.WARNING, logger="kanta"):
        async with Kanta(path, Data()):
            pass
    (side,) = tmp_path.glob("*.cut-*")
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"at byte {len(data)}" in warning.getMessage()
    assert str(side) in warning.getMessage()
