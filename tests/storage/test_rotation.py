"""Rotation: aged-out history moves beside the database, crash-safely, as 0.9.4 lays it out."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from filetools import strip_seals

from kanta import MsgPackSerializer, verify
from kanta.core.formats import Serializer, detect
from kanta.core.jsonlines import JsonSerializer
from kanta.core.records import Change
from kanta.core.retention import aged_out, rotated_names, rotation_order
from kanta.history import read_history
from kanta.storage.logfile import LogFile
from kanta.storage.rotation import rotate

COMPAT = Path(__file__).parents[1] / "fixtures" / "compat"
ROOT = Path(__file__).parents[2]
DAY = datetime(2027, 1, 1, tzinfo=UTC)
CUTOFF = datetime(2027, 1, 3, 12, tzinfo=UTC)


def _pre_rotation(fmt: str) -> bytes:
    """The file 0.9.4 rotated: its rotated history followed by the records it kept."""
    head = (COMPAT / f"rotated.{fmt}@20270103T120000Z.kantadb").read_bytes()
    main = COMPAT / f"rotated.{fmt}.kantadb"
    serializer = detect(head)
    out = head
    for raw in read_history(main).scan.records[1:]:
        out += serializer.reframe(raw, len(out))
    return out


def _rotate_file(path: Path, cutoff: datetime) -> Path | None:
    with LogFile.open(path, create=False, readonly=False) as file:
        data = file.read_from(0)
        serializer = detect(data)
        done = rotate(file, serializer, data, serializer.scan(data), cutoff)
        if done is None:
            return None
        done.file.close()
        return done.history


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_rotating_reproduces_the_files_kanta094_made(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"rotated.{fmt}.kantadb"
    path.write_bytes(_pre_rotation(fmt))
    history = _rotate_file(path, CUTOFF)
    assert history == tmp_path / f"rotated.{fmt}@20270103T120000Z.kantadb"
    expected_head = (COMPAT / history.name).read_bytes()
    assert history.read_bytes() == expected_head
    if fmt == "json":
        assert strip_seals(path.read_bytes()) == (COMPAT / path.name).read_bytes()
    else:  # same records; the seed of a rewritten binary file is the old file's
        theirs = read_history(COMPAT / path.name)
        ours = read_history(path)
        assert [r.payload for r in ours.scan.records] == [r.payload for r in theirs.scan.records]
    assert verify(path).ok and verify(history).ok


def _make(path: Path, serializer: Serializer, days: int) -> None:
    data = b""
    for day in range(days):
        diff = {"counter": day, "users": {}} if day == 0 else {"counter": day}
        record = Change(ts=DAY + timedelta(days=day), a=f"day{day}", m=DAY, diff=diff)
        data += serializer.encode(record, len(data))
    path.write_bytes(data)


@pytest.mark.parametrize("serializer", [JsonSerializer(), MsgPackSerializer()], ids=["json", "bin"])
def test_rotation_keeps_every_revision_across_the_pair(
    serializer: Serializer, tmp_path: Path
) -> None:
    path = tmp_path / "db.kantadb"
    _make(path, serializer, 7)
    before = [(e.rev, e.state["counter"]) for e in read_history(path).entries()]
    history = _rotate_file(path, DAY + timedelta(days=3))
    assert history is not None
    rotated = [(e.rev, e.state["counter"]) for e in read_history(history).entries()]
    kept = [(e.rev, e.state["counter"]) for e in read_history(path).entries()]
    assert rotated == before[:4]
    assert kept[0] == before[3]  # the opening snapshot: the state at the cutoff, its revision
    assert kept[1:] == before[4:]
    # Nothing old enough any more: a second rotation with the same cutoff does nothing.
    assert _rotate_file(path, DAY + timedelta(days=3)) is None


def test_names_collide_into_numbered_files(tmp_path: Path) -> None:
    names = rotated_names("db", CUTOFF)
    assert [next(names) for _ in range(3)] == [
        "db@20270103T120000Z.kantadb",
        "db@20270103T120000Z.1.kantadb",
        "db@20270103T120000Z.2.kantadb",
    ]
    assert rotation_order("db@20270103T120000Z.2.kantadb", "db") > rotation_order(
        "db@20270103T120000Z.kantadb", "db"
    )
    path = tmp_path / "db.kantadb"
    _make(path, JsonSerializer(), 7)
    (tmp_path / "db@20270103T000000Z.kantadb").write_bytes(b"someone else's")
    history = _rotate_file(path, DAY + timedelta(days=2))
    assert history == tmp_path / "db@20270103T000000Z.1.kantadb"
    assert (tmp_path / "db@20270103T000000Z.kantadb").read_bytes() == b"someone else's"


def test_only_an_opening_snapshot_is_not_rotated() -> None:
    stamps = [DAY, DAY + timedelta(days=5)]
    assert aged_out(stamps, lambda t: t, DAY + timedelta(days=1), lambda t: t == DAY) == 0
    assert aged_out(stamps, lambda t: t, DAY + timedelta(days=1), lambda t: False) == 1


CRASHING = textwrap.dedent(
    """
    import os, sys
    from datetime import datetime
    from kanta.core.formats import detect
    from kanta.storage.logfile import FileOps, LogFile
    from kanta.storage.rotation import rotate

    class Crash(FileOps):
        calls = 0
        armed = False
        def __getattribute__(self, name):
            attr = object.__getattribute__(self, name)
            if callable(attr) and not name.startswith("_") and Crash.armed:
                Crash.calls += 1
                if Crash.calls == int(sys.argv[2]):
                    os._exit(9)
            return attr

    file = LogFile.open(sys.argv[1], create=False, readonly=False, ops=Crash())
    data = file.read_from(0)
    serializer = detect(data)
    Crash.armed = True
    cutoff = datetime.fromisoformat(sys.argv[3])
    done = rotate(file, serializer, data, serializer.scan(data), cutoff)
    print("completed")
    """
)


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_a_kill_at_every_step_leaves_the_old_file_or_the_complete_pair(
    fmt: str, tmp_path: Path
) -> None:
    original = _pre_rotation(fmt)
    expected_head = (COMPAT / f"rotated.{fmt}@20270103T120000Z.kantadb").read_bytes()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for step in range(1, 200):
        folder = tmp_path / f"step{step}"
        folder.mkdir()
        path = folder / f"rotated.{fmt}.kantadb"
        path.write_bytes(original)
        run = subprocess.run(
            [sys.executable, "-c", CRASHING, str(path), str(step), CUTOFF.isoformat()],
            capture_output=True,
            text=True,
            env=env,
        )
        completed = "completed" in run.stdout
        assert completed or run.returncode == 9, run.stderr
        rotated = sorted(p.name for p in folder.glob("*@*.kantadb"))
        if path.read_bytes() == original or any(p.name.startswith(".") for p in folder.iterdir()):
            # Not rotated yet: at most a stale copy of the head, which the next try removes.
            assert rotated in ([], [f"rotated.{fmt}@20270103T120000Z.kantadb"])
            _rotate_file(path, CUTOFF)
        assert sorted(p.name for p in folder.glob("*@*.kantadb")) == [
            f"rotated.{fmt}@20270103T120000Z.kantadb"
        ]
        assert (folder / f"rotated.{fmt}@20270103T120000Z.kantadb").read_bytes() == expected_head
        assert not [p.name for p in folder.iterdir() if p.name.startswith(".")], "debris"
        assert verify(path).ok
        assert [e.rev for e in read_history(path).entries()] == [5, 6, 7, 8, 9]
        if completed:
            assert step > 5  # the crash points before completion were all exercised
            return
    pytest.fail("rotation never completed")
