"""Point 7 of issue 12: rotated files and legacy snapshots as in 0.9.x.

The same program rotates a week of history under kanta 0.9.4 and under ours: the rotated
file's name and the new file's leading snapshot carry the `ts` of the last record moved
out. A legacy file (snapshots without `k`) is rewritten at the first writable open, as
0.9.x does, into the same records.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from filetools import snapshots_of
from kanta094 import run_program

ROTATE = """
import asyncio, sys
from datetime import UTC, datetime, timedelta
import msgspec
from kanta import Kanta

class Data(msgspec.Struct):
    n: int = 0

async def main():
    path = sys.argv[1]
    now = [datetime(2027, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)]
    db = Kanta(path, Data())
    db.clock(lambda: now[0])
    async with db:
        for day in range(6):
            now[0] = datetime(2027, 1, 1 + day, 12, 30, 15, 654321, tzinfo=UTC)
            with db.transaction(f"day{day}") as d:
                d.n = day
    now[0] = datetime(2027, 1, 8, tzinfo=UTC)
    db = Kanta(path, Data(), retention=timedelta(days=3))
    db.clock(lambda: now[0])
    async with db:
        pass

asyncio.run(main())
"""


def _lines(path: Path) -> list[Any]:
    """Each record without the checksum field we add."""
    out = []
    for line in path.read_bytes().splitlines():
        snapshot = line.startswith(b"SNAPSHOT ")
        record = json.loads(line[9:] if snapshot else line)
        record.pop("c", None)
        out.append(["SNAPSHOT" if snapshot else "change", record])
    return out


def _folder(python: str, folder: Path, name: str) -> dict[str, list[Any]]:
    folder.mkdir()
    done = run_program(python, ROTATE, str(folder / name), cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    return {p.name: _lines(p) for p in sorted(folder.iterdir()) if p.name != "program.py"}


@pytest.mark.parametrize("name", ["data.kantadb", "data.db", "data"])
def test_rotation_names_and_stamps_as_0_9(
    name: str, tmp_path: Path, ours: str, kanta094: str
) -> None:
    theirs = _folder(kanta094, tmp_path / "theirs", name)
    mine = _folder(ours, tmp_path / "ours", name)
    assert mine == theirs
    # The last record moved out is day 3's, at 12:30:15.654321 on 4 January.
    rotated = "data@20270104T123015Z.kantadb"
    assert sorted(mine) == sorted([name, rotated])
    kind, leading = mine[name][0]
    assert kind == "SNAPSHOT" and leading["ts"] == "2027-01-04T12:30:15.654321Z"
    assert mine[rotated][-1][1]["ts"] == leading["ts"]


OPEN = """
import asyncio, sys
from compat_models import Data
from kanta import Kanta

async def main():
    db = Kanta(sys.argv[1], Data())
    await db.open(readonly=sys.argv[2] == "readonly")
    print(db.rev)
    await db.close()

asyncio.run(main())
"""


def _upgrade(python: str, folder: Path, compat_dir: Path, mode: str) -> tuple[Any, int]:
    folder.mkdir()
    path = folder / "legacy.kantadb"
    shutil.copy(compat_dir / "legacy.json.kantadb", path)
    done = run_program(python, OPEN, str(path), mode, cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    return _lines(path), int(done.stdout.split()[-1])


def _without_times(lines: list[Any]) -> list[Any]:
    out = []
    for kind, record in lines:
        record = dict(record)
        if record.get("a", "").startswith("migrate:") or kind == "SNAPSHOT":
            record.pop("ts")  # written at the open, by either clock
        out.append([kind, record])
    return out


def test_a_legacy_file_is_rewritten_at_the_first_writable_open_as_0_9(
    tmp_path: Path, compat_dir: Path, ours: str, kanta094: str
) -> None:
    theirs, their_rev = _upgrade(kanta094, tmp_path / "theirs", compat_dir, "write")
    mine, my_rev = _upgrade(ours, tmp_path / "ours", compat_dir, "write")
    assert my_rev == their_rev == 5
    assert _without_times(mine) == _without_times(theirs)
    # The legacy snapshot in the middle is gone; every snapshot is k1 with its revision.
    snapshots = [record for kind, record in mine if kind == "SNAPSHOT"]
    assert [(s["r"], s["k"]) for s in snapshots] == [(4, 1), (5, 1)]


def test_a_read_only_open_leaves_a_legacy_file_as_it_is(
    tmp_path: Path, compat_dir: Path, ours: str, kanta094: str
) -> None:
    before = (compat_dir / "legacy.json.kantadb").read_bytes()
    _, their_rev = _upgrade(kanta094, tmp_path / "theirs", compat_dir, "readonly")
    _, rev = _upgrade(ours, tmp_path / "ours", compat_dir, "readonly")
    assert rev == their_rev == 4  # the four change records, counted
    assert (tmp_path / "ours" / "legacy.kantadb").read_bytes() == before


async def test_after_the_rewrite_an_open_starts_at_a_k1_snapshot(compat_dir: Path) -> None:
    from compat_models import Data

    from kanta import Kanta

    path = compat_dir / "legacy.json.kantadb"
    async with Kanta(path, Data()):
        pass
    assert all(snapshot.get("k") == 1 for snapshot in snapshots_of(path))
    size = path.stat().st_size
    async with Kanta(path, Data()) as db:
        assert db.rev == 5
    assert path.stat().st_size == size  # nothing left to rewrite or record
