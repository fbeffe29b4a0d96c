"""Corruption is detected in both formats: any changed byte, a removed or swapped record."""

from __future__ import annotations

from pathlib import Path

import pytest
from compat_models import Address, Data, User

from kanta import Kanta, MsgPackSerializer, verify
from kanta.core.chain import unseal
from kanta.core.formats import detect

FORMATS = ["json", "msgpack"]


async def _sample(path: Path, fmt: str) -> bytes:
    serializer = MsgPackSerializer() if fmt == "msgpack" else None
    async with Kanta(path, Data(), serializer=serializer) as db:
        with db.transaction("add", user="admin") as d:
            d.users["a"] = User(name="A", tags=["x"])
        db.request_snapshot()
        await db.flush()
        with db.transaction("move") as d:
            d.users["a"].address = Address(city="Oulu")
        with db.transaction("count") as d:
            d.counter = 3
    return path.read_bytes()


@pytest.mark.parametrize("fmt", FORMATS)
async def test_every_single_byte_change_is_detected(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    data = await _sample(path, fmt)
    assert verify(path).ok
    missed = []
    for offset in range(len(data)):
        damaged = bytearray(data)
        damaged[offset] ^= 0x01 if offset % 2 else 0x20
        path.write_bytes(bytes(damaged))
        if verify(path).ok:
            missed.append(offset)
    assert missed == []


def _records(data: bytes) -> list[bytes]:
    serializer = detect(data)
    return [data[raw.byte_pos : raw.end] for raw in serializer.scan(data).records]


async def test_a_removed_or_swapped_middle_record_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    lines = _records(await _sample(path, "json"))
    assert all(unseal(line.rstrip(b"\n")) for line in lines)
    removed = lines[:2] + lines[3:]
    path.write_bytes(b"".join(removed))
    assert not verify(path).ok
    swapped = [lines[0], lines[2], lines[1], *lines[3:]]
    path.write_bytes(b"".join(swapped))
    assert not verify(path).ok


@pytest.mark.parametrize("fmt", FORMATS)
async def test_cutting_whole_trailing_records_is_a_valid_rollback(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    data = await _sample(path, fmt)
    ends = [len(data) - sum(len(r) for r in _records(data)[i:]) for i in range(1, 5)]
    for end in ends:
        path.write_bytes(data[:end])
        assert verify(path).ok
        async with Kanta(path, Data()) as db:
            assert db.rev == len(_records(data[:end])) - (1 if end > ends[1] else 0)
        assert not list(tmp_path.glob("*.cut-*"))
        path.write_bytes(data)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_damaged_middle_record_refuses_to_open_and_changes_nothing(
    fmt: str, tmp_path: Path
) -> None:
    path = tmp_path / "db.kantadb"
    data = await _sample(path, fmt)
    second = detect(data).scan(data).records[1].byte_pos
    damaged = bytearray(data)
    damaged[second + 30] ^= 0x04
    path.write_bytes(bytes(damaged))
    for readonly in (True, False):
        with pytest.raises(Exception, match="corrupt") as caught:
            await Kanta(path, Data()).open(readonly=readonly)
        assert getattr(caught.value, "byte_pos", None) == second
        assert getattr(caught.value, "position", None) == 2
    assert path.read_bytes() == bytes(damaged)
