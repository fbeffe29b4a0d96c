"""Point 3 of issue 12: a 0.9.x program's `except` clauses catch what they caught there.

One ops script opens files in every way that fails and reports, for each failure, which
of the clauses a 0.9.x program writes would catch it, and whether it names the file. It
runs under kanta 0.9.4 and under ours; the reports must be the same. Where ours differs
on purpose (docs/migrating.md), the difference is asserted on its own below.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from kanta094 import run_program

from kanta import DatabaseError, DataIntegrityError, Kanta

OPS_SCRIPT = """
import asyncio, json, os, sys
import msgspec
from kanta import Kanta
from kanta.exceptions import DatabaseError, DataIntegrityError, FileLockError, ReplayError

class Data(msgspec.Struct):
    n: int = 0

CLAUSES = {"FileLockError": FileLockError, "ReplayError": ReplayError,
           "DatabaseError": DatabaseError, "DataIntegrityError": DataIntegrityError,
           "ValueError": ValueError, "RuntimeError": RuntimeError}
folder = sys.argv[1]

def path(name):
    return os.path.join(folder, name)

def write(name, *lines):
    with open(path(name), "w") as f:
        f.write("".join(line + "\\n" for line in lines))

async def missing_create_false():
    await Kanta(path("missing.kantadb"), Data()).open(create=False)

async def missing_readonly():
    await Kanta(path("missing.kantadb"), Data()).open(readonly=True)

async def empty_create_false():
    write("empty.kantadb")
    await Kanta(path("empty.kantadb"), Data()).open(create=False)

async def empty_readonly():
    write("empty.kantadb")
    await Kanta(path("empty.kantadb"), Data()).open(readonly=True)

async def locked():
    holder = Kanta(path("locked.kantadb"), Data())
    await holder.open()
    try:
        await Kanta(path("locked.kantadb"), Data()).open()
    finally:
        await holder.close()

async def opened_twice():
    db = Kanta(path("twice.kantadb"), Data())
    await db.open()
    try:
        await db.open()
    finally:
        await db.close()

async def transaction_read_only():
    async with Kanta(path("ro.kantadb"), Data()):
        pass
    db = Kanta(path("ro.kantadb"), Data())
    await db.open(readonly=True)
    try:
        with db.transaction("x") as d:
            d.n = 1
    finally:
        await db.close()

async def flush_read_only():
    async with Kanta(path("ro.kantadb"), Data()):
        pass
    db = Kanta(path("ro.kantadb"), Data())
    await db.open(readonly=True)
    try:
        await db.flush()
    finally:
        await db.close()

async def nested_transaction():
    async with Kanta(path("nested.kantadb"), Data()) as db:
        with db.transaction("outer"):
            with db.transaction("inner"):
                pass

async def garbage_between_records():
    write("garbage.kantadb",
          '{"ts":"2026-01-01T00:00:00Z","a":"bootstrap","diff":{"n":1}}',
          "garbage here",
          '{"ts":"2026-01-01T00:00:01Z","a":"x","diff":{"n":2}}')
    await Kanta(path("garbage.kantadb"), Data()).open(readonly=True)

async def newer_than_the_migrations():
    import types
    write("newer.kantadb", '{"ts":"2026-01-01T00:00:00Z","a":"bootstrap","v":5,"diff":{"n":1}}')
    module = types.ModuleType("migrations")
    def migrate_v1(d):
        pass
    module.migrate_v1 = migrate_v1
    await Kanta(path("newer.kantadb"), Data(), migrations=module).open(readonly=True)

async def failing_validator():
    db = Kanta(path("valid.kantadb"), Data())
    @db.validate
    def positive(data: Data) -> None:
        if data.n > 0:
            raise ValueError("n must stay 0")
    async with db:
        with db.transaction("x") as d:
            d.n = 1

async def main():
    report = {}
    for name, scenario in list(globals().items()):
        if not (name[0] != "_" and asyncio.iscoroutinefunction(scenario) and name != "main"):
            continue
        try:
            await scenario()
            report[name] = "no error"
        except Exception as exc:
            caught = sorted(k for k, cls in CLAUSES.items() if isinstance(exc, cls))
            named = getattr(exc, "db_path", None) is not None
            report[name] = {"caught by": caught, "db_path": named}
    print(json.dumps(report))

asyncio.run(main())
"""


def _report(python: str, folder: Path) -> dict[str, object]:
    folder.mkdir()
    done = run_program(python, OPS_SCRIPT, str(folder), cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return report


def test_every_failure_is_caught_by_the_same_clauses(
    tmp_path: Path, ours: str, kanta094: str
) -> None:
    theirs = _report(kanta094, tmp_path / "theirs")
    mine = _report(ours, tmp_path / "ours")
    assert len(mine) == 12 and mine.keys() == theirs.keys()
    for name, error in mine.items():
        assert isinstance(error, dict), name
        before = theirs[name]
        assert isinstance(before, dict), name
        # Every clause that caught it in 0.9.4 catches it; ours may also name the damage
        # more precisely (ReplayError, a DatabaseError) and name the file where 0.9.4 did not.
        assert set(error["caught by"]) - set(before["caught by"]) <= {"ReplayError"}, name
        assert set(before["caught by"]) <= set(error["caught by"]), name
        assert error["db_path"] >= before["db_path"], name
    # What the issue names, spelled out.
    lock = ["DatabaseError", "FileLockError", "ValueError"]
    integrity = ["DataIntegrityError", "RuntimeError"]
    assert mine["missing_create_false"] == {"caught by": lock, "db_path": True}
    assert mine["missing_readonly"] == {"caught by": lock, "db_path": True}
    assert mine["empty_create_false"] == {"caught by": integrity, "db_path": True}
    assert mine["empty_readonly"] == {"caught by": integrity, "db_path": True}


class Data(msgspec.Struct):
    n: int = 0


# -- where ours differs on purpose (docs/migrating.md) -----------------------------------


async def test_a_transaction_before_open_is_refused(tmp_path: Path) -> None:
    # 0.9.4 runs the block and records nothing: a change that is silently lost.
    db = Kanta(tmp_path / "db.kantadb", Data())
    with (
        pytest.raises(DataIntegrityError, match="not open") as caught,
        db.transaction("early") as d,
    ):
        d.n = 1
    assert caught.value.action == "early"
    assert db.data.n == 0


async def test_a_failing_migration_is_a_database_error_naming_it(tmp_path: Path) -> None:
    # 0.9.4 lets the migration's own exception out; ours says which migration and file,
    # and keeps the original as the cause.
    import types

    path = tmp_path / "db.kantadb"
    async with Kanta(path, Data()):
        pass
    module = types.ModuleType("migrations")

    def migrate_v1(d: dict[str, object]) -> None:
        raise KeyError("boom")

    module.migrate_v1 = migrate_v1  # type: ignore[attr-defined]
    with pytest.raises(DatabaseError, match="migrate_v1") as caught:
        await Kanta(path, Data(), migrations=module).open()
    assert isinstance(caught.value.__cause__, KeyError)
    assert caught.value.db_path == path


async def test_a_state_that_does_not_decode_is_a_database_error(tmp_path: Path) -> None:
    # 0.9.4 lets msgspec.ValidationError out (also a ValueError, so `except ValueError`
    # catches both); ours names the file.
    path = tmp_path / "db.kantadb"
    path.write_text('{"ts":"2026-01-01T00:00:00Z","a":"bootstrap","diff":{"n":"text"}}\n')
    with pytest.raises(DatabaseError, match="does not decode") as caught:
        await Kanta(path, Data()).open(readonly=True)
    assert not isinstance(caught.value, msgspec.MsgspecError)
    assert isinstance(caught.value, ValueError) and caught.value.db_path == path


async def test_a_directory_is_a_database_error_not_an_os_error(tmp_path: Path) -> None:
    # 0.9.4 lets IsADirectoryError out.
    with pytest.raises(DatabaseError, match="directory") as caught:
        await Kanta(tmp_path, Data()).open()
    assert not isinstance(caught.value, OSError)
