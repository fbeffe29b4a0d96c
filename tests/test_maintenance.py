"""verify() and convert(): checking a file record by record, and changing its format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import compat_migrations
import msgspec
import pytest
from compat_models import Data, DataV2
from filetools import strip_seals

from kanta import DatabaseError, FileLockError, Kanta, ReplayError, convert, recover, verify
from kanta.history import read_history

COMPAT = Path(__file__).parent / "fixtures" / "compat"
FILES = sorted(COMPAT.glob("*.kantadb"))
ROOTS: dict[str, Any] = {"dict": dict, "Data": Data, "DataV2": DataV2}


def _states(path: Path) -> list[tuple[int, int, Any]]:
    return [(e.rev, e.version, e.state) for e in _entries(path)]


def _entries(path: Path) -> list[Any]:
    # States are shared and mutated by the fold: take a copy of each.
    copies = []
    for entry in read_history(path).entries():
        entry.state = msgspec.json.decode(msgspec.json.encode(entry.state))
        copies.append(entry)
    return copies


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_fixture_verifies(path: Path) -> None:
    report = verify(path)
    assert report.ok, report.problems
    assert report.records == len(read_history(path).scan.records)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_converting_there_and_back_keeps_every_revision(path: Path, tmp_path: Path) -> None:
    there = "json" if read_history(path).serializer.name == "msgpack" else "msgpack"
    back = "msgpack" if there == "json" else "json"
    convert(path, tmp_path / "there.kantadb", to=there)
    convert(tmp_path / "there.kantadb", tmp_path / "back.kantadb", to=back)
    assert read_history(tmp_path / "there.kantadb").serializer.name == there
    assert _states(tmp_path / "back.kantadb") == _states(path)
    assert _states(tmp_path / "there.kantadb") == _states(path)
    if back == "json":
        assert strip_seals((tmp_path / "back.kantadb").read_bytes()) == path.read_bytes()


@pytest.mark.parametrize("name", ["types.json", "migrated.json", "rotated.json"])
async def test_a_converted_file_opens_to_the_same_typed_state(name: str, tmp_path: Path) -> None:
    expected = json.loads((COMPAT / f"{name}.expected.json").read_text())
    convert(COMPAT / f"{name}.kantadb", tmp_path / "x.kantadb", to="msgpack")
    root = ROOTS[expected["root"]]
    migrations = compat_migrations if expected.get("migrations") else None
    for _ in range(2):  # the first writable open normalises string keys to native ones
        async with Kanta(tmp_path / "x.kantadb", root(), migrations=migrations) as db:
            assert msgspec.to_builtins(db.data, str_keys=True) == expected["state"]
            assert db.version == expected["version"]
            assert db.serializer.name == "msgpack"
    assert verify(tmp_path / "x.kantadb").ok


def test_convert_refuses_an_existing_destination(tmp_path: Path) -> None:
    (tmp_path / "out.kantadb").write_bytes(b"x")
    with pytest.raises(DatabaseError, match="exists"):
        convert(COMPAT / "types.json.kantadb", tmp_path / "out.kantadb", to="msgpack")
    assert (tmp_path / "out.kantadb").read_bytes() == b"x"


def test_a_snapshot_that_disagrees_with_the_replay_is_reported(tmp_path: Path) -> None:
    lines = (COMPAT / "types.json.kantadb").read_bytes().splitlines(keepends=True)
    snapshot = next(i for i, line in enumerate(lines) if line.startswith(b"SNAPSHOT "))
    lines[snapshot] = lines[snapshot].replace(b'"counter":7', b'"counter":70')
    path = tmp_path / "x.kantadb"
    path.write_bytes(b"".join(lines))
    report = verify(path)
    assert not report.ok
    (problem,) = report.problems
    assert problem.position == snapshot + 1
    assert problem.byte_pos == sum(len(line) for line in lines[:snapshot])
    assert "counter" in problem.message
    with pytest.raises(ReplayError) as caught:
        list(read_history(path).entries(strict=True))
    assert (caught.value.line_number, caught.value.byte_pos) == (snapshot + 1, problem.byte_pos)


def test_a_damaged_record_is_reported_with_its_offset(tmp_path: Path) -> None:
    data = (COMPAT / "migrated.msgpack.kantadb").read_bytes()
    scan = read_history(COMPAT / "migrated.msgpack.kantadb").scan
    second = scan.records[1]
    damaged = bytearray(data)
    damaged[second.byte_pos + 20] ^= 0x40
    path = tmp_path / "x.kantadb"
    path.write_bytes(bytes(damaged))
    report = verify(path)
    (problem,) = report.problems
    assert (problem.byte_pos, problem.position) == (second.byte_pos, 2)
    assert "checksum" in problem.message and "valid records follow" in problem.message


def test_verify_of_a_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError):
        verify(tmp_path / "missing.kantadb")


@pytest.mark.parametrize("name", ["types.json.kantadb", "types.msgpack.kantadb"])
def test_recover_leaves_a_clean_file_untouched(name: str, compat_dir: Path) -> None:
    path = compat_dir / name
    before = path.read_bytes()
    report = recover(path)
    assert (report.cut_bytes, report.side_file) == (0, None)
    assert report.kept == len(read_history(path).scan.records)
    assert path.read_bytes() == before


@pytest.mark.parametrize("name", ["types.json.kantadb", "types.msgpack.kantadb"])
async def test_recover_salvages_the_prefix_before_corruption(name: str, compat_dir: Path) -> None:
    # Files of 0.9.4 carry no checksums in JSON: rewrite the fixture as ours first.
    path = compat_dir / "ours.kantadb"
    convert(compat_dir / name, path, to="json" if "json" in name else "msgpack")
    data = path.read_bytes()
    records = read_history(path).scan.records
    broken = records[3].byte_pos
    damaged = bytearray(data)
    damaged[broken + 20] ^= 0x10
    path.write_bytes(bytes(damaged))
    with pytest.raises(DatabaseError, match="corrupt"):
        await Kanta(path, Data()).open()
    report = recover(path)
    assert report.kept == 3 and report.cut_bytes == len(data) - broken
    assert report.side_file is not None
    assert Path(report.side_file).read_bytes() == bytes(damaged[broken:])
    assert path.read_bytes() == data[:broken]
    async with Kanta(path, Data()) as db:
        assert db.rev == 3


async def test_recover_refuses_while_a_writer_holds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Data()):
        with pytest.raises(FileLockError):
            recover(path)
