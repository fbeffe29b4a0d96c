"""Both directions against the released kanta 0.9.4, run as a black box in its own virtualenv.

Files we write (both formats, every field type of compat_models, deletes, list edits,
`$`-keys, a Struct over None, snapshots, a migration) must open in 0.9.4 to the same state,
revision and version; files 0.9.4 writes at test time must open in ours the same way.
The virtualenv is the `kanta094` fixture's (tests/kanta094.py); without it, these skip
and say why.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import compat_migrations
import msgspec
import pytest
from compat_models import Address, Data, DataV2, User

from kanta import Kanta, MsgPackSerializer

TESTS = Path(__file__).parents[1]
PROBE = TESTS / "kanta094_probe.py"
FORMATS = ["json", "msgpack"]


def _probe(python: str, *args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    done = subprocess.run(
        [python, str(PROBE), *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _serializer(fmt: str) -> MsgPackSerializer | None:
    return MsgPackSerializer() if fmt == "msgpack" else None


def _seen(db: Kanta[Any]) -> dict[str, Any]:
    state = msgspec.to_builtins(db.data, str_keys=True)
    return {"state": state, "rev": db.rev, "version": db.version}


async def _write_ours(path: Path, fmt: str) -> dict[str, Any]:
    async with Kanta(path, Data(), serializer=_serializer(fmt)) as db:
        with db.transaction("users", user="admin") as d:
            d.users["a"] = User(name="A", tags=["x", "y"], address=Address(city="Oulu"))
            d.users["$b"] = User(name="B", email="b@example.com")
            d.users["c"] = User(name="C")
        with db.transaction("types", user="root") as d:
            d.counter, d.ratio, d.flag = 7, 0.25, True
            d.by_int.update({7: "seven", -3: "minus three"})
            d.by_uuid[UUID("12345678-1234-5678-1234-567812345678")] = 42
            d.blob = b"\x00\x01\xffhi"
            d.when = datetime(2027, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
            d.numbers = list(range(20))
            d.meta.update({"$dollar": "$$value", "nested": {"deep": [1, {"x": None}]}})
        db.request_snapshot()
        await db.flush()
        with db.transaction("edits") as d:
            del d.users["c"]
            d.users["a"].tags.remove("x")
            d.users["a"].address = None
            d.users["$b"].address = Address(city="Turku", zip="20100")  # a Struct over None
            del d.by_int[7]
            d.numbers[5:8] = [99]
            d.meta["nested"] = None
        with db.transaction("more") as d:
            d.meta["nested"] = {"again": {"$x": 1}}  # a dict over None
            d.users["$b"].tags.append("z")
        return _seen(db)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_kanta094_reads_what_we_write(fmt: str, tmp_path: Path, kanta094: str) -> None:
    path = tmp_path / "ours.kantadb"
    ours = await _write_ours(path, fmt)
    assert _probe(kanta094, "read", str(path), "Data", fmt) == ours


@pytest.mark.parametrize("fmt", FORMATS)
async def test_kanta094_reads_our_migration(fmt: str, tmp_path: Path, kanta094: str) -> None:
    path = tmp_path / "ours.kantadb"
    await _write_ours(path, fmt)
    async with Kanta(path, DataV2(), migrations=compat_migrations) as db:
        with db.transaction("after") as d:
            d.total += 1
        ours = _seen(db)
    assert ours["version"] == 2
    seen = _probe(kanta094, "read", str(path), "DataV2", fmt, "compat_migrations")
    assert seen == ours


@pytest.mark.parametrize("fmt", FORMATS)
async def test_we_read_what_kanta094_writes(fmt: str, tmp_path: Path, kanta094: str) -> None:
    path = tmp_path / "theirs.kantadb"
    theirs = _probe(kanta094, "write", str(path), fmt)
    async with Kanta(path, Data()) as db:
        assert _seen(db) == theirs
        assert db.serializer.name == fmt
        with db.transaction("ours too") as d:
            d.counter += 1
    # ... and 0.9.4 still reads the file after we appended to it.
    seen = _probe(kanta094, "read", str(path), "Data", fmt)
    assert seen["state"]["counter"] == theirs["state"]["counter"] + 1
    assert seen["rev"] == theirs["rev"] + 1


@pytest.mark.parametrize("fmt", FORMATS)
async def test_kanta094_reads_our_rotated_pair(fmt: str, tmp_path: Path, kanta094: str) -> None:
    path = tmp_path / "ours.kantadb"
    now = [datetime(2027, 1, 1, tzinfo=UTC)]
    db = Kanta(path, Data(), serializer=_serializer(fmt), retention=timedelta(days=2))
    db.clock(lambda: now[0])
    async with db:
        for day in range(6):
            now[0] = datetime(2027, 1, 1 + day, tzinfo=UTC)
            with db.transaction(f"day{day}") as d:
                d.users[f"u{day}"] = User(name=str(day))
                d.counter = day
        history = await db.rotate()
        ours = _seen(db)
    assert history is not None
    assert _probe(kanta094, "read", str(path), "Data", fmt) == ours
    rotated = _probe(kanta094, "read", str(history), "Data", fmt)
    assert rotated["state"]["counter"] == 3 and rotated["rev"] == 5
