"""Point 6 of issue 12: migrations and versions count as in 0.9.x.

The same application (a schema that moved from `count` to `total`, with migrations
`migrate_v1` and `migrate_v3`: a gap) opens the same file under kanta 0.9.4 and under
ours; the records each writes, the revision and the report must agree.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from kanta094 import run_program

MIGRATIONS = {
    "renamed": '''
def migrate_v1(d):
    """Rename count to total."""
    d["total"] = d.pop("count", 0)

def migrate_v3(d):
    d["total"] += 100
''',
    "nothing": '''
def migrate_v1(d):
    """Change nothing at all"""
''',
}

APP = """
import asyncio, json, sys
import msgspec
from kanta import Kanta, MigrationReport

class V0(msgspec.Struct):
    count: int = 0

class V1(msgspec.Struct):
    total: int = 0
    added: list[int] = []

SCHEMAS = {"V0": V0, "V1": V1}

async def main():
    path, schema, migrations = sys.argv[1], SCHEMAS[sys.argv[2]], sys.argv[3] or None
    seen = {}
    db = Kanta(path, schema(), migrations=migrations)

    @db.logmigr
    def report(report: MigrationReport) -> None:
        seen["report"] = [report.original, report.version, [
            [m.version, m.name, m.description, m.changed, m.diff, m.before]
            for m in report.migrations]]

    await db.open(readonly=sys.argv[4] == "readonly")
    if sys.argv[4] == "change":
        with db.transaction("inc") as d:
            d.count = 5
    seen.update(version=db.version, rev=db.rev, state=msgspec.to_builtins(db.data))
    await db.close()
    print(json.dumps(seen))

asyncio.run(main())
"""


def _records(path: Path) -> list[list[Any]]:
    """What each record says, without the times and checksums that differ by run."""
    out = []
    for line in path.read_bytes().splitlines():
        snapshot = line.startswith(b"SNAPSHOT ")
        record = json.loads(line[9:] if snapshot else line)
        if snapshot:
            out.append(["SNAPSHOT", record["v"], record["state"], record["r"], record["k"]])
        else:
            out.append([record["a"], record.get("v", 0), record.get("diff")])
    return out


def _run(python: str, folder: Path, *steps: tuple[str, str, str]) -> list[dict[str, Any]]:
    folder.mkdir()
    for name, text in MIGRATIONS.items():
        (folder / f"{name}.py").write_text(text)
    seen = []
    for schema, migrations, mode in steps:
        path = str(folder / "app.kantadb")
        env = {"PYTHONPATH": str(folder)}
        done = run_program(python, APP, path, schema, migrations, mode, cwd=folder, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        seen.append(json.loads(done.stdout.splitlines()[-1]))
    return seen


def _both(tmp_path: Path, ours: str, kanta094: str, *steps: tuple[str, str, str]) -> Any:
    theirs = _run(kanta094, tmp_path / "theirs", *steps)
    mine = _run(ours, tmp_path / "ours", *steps)
    return (
        theirs,
        mine,
        _records(tmp_path / "theirs" / "app.kantadb"),
        _records(tmp_path / "ours" / "app.kantadb"),
    )


def test_a_migration_run_is_one_record_as_in_0_9(tmp_path: Path, ours: str, kanta094: str) -> None:
    steps = [("V0", "", "change"), ("V1", "renamed", "open")]
    theirs, mine, their_records, my_records = _both(tmp_path, ours, kanta094, *steps)
    assert mine == theirs
    assert my_records == their_records
    # One migrate:vN record: both migrations and msgspec's normalisation, then a snapshot.
    assert my_records[2:] == [
        ["migrate:v3", 3, {"$delete": ["count"], "total": 105, "added": []}],
        ["SNAPSHOT", 3, {"total": 105, "added": []}, 3, 1],
    ]
    assert mine[1]["rev"] == 3 and mine[1]["version"] == 3
    original, version, applied = mine[1]["report"]
    assert (original, version) == (0, 3)
    assert applied == [
        [
            1,
            "migrate_v1",
            "Rename count to total",
            True,
            {"$delete": ["count"], "total": 5},
            {"count": 5},
        ],
        [3, "migrate_v3", "v3", True, {"total": 105}, {"total": 5}],
    ]


def test_a_migration_changing_nothing_writes_only_the_snapshot(
    tmp_path: Path, ours: str, kanta094: str
) -> None:
    # A schema that matches the stored state: neither the migration nor msgspec changes it.
    steps = [("V0", "", "change"), ("V0", "nothing", "open")]
    theirs, mine, their_records, my_records = _both(tmp_path, ours, kanta094, *steps)
    assert mine == theirs and my_records == their_records
    assert my_records[2:] == [["SNAPSHOT", 1, {"count": 5}, 2, 1]]
    assert mine[1]["report"][2][0][3:5] == [False, None]


def test_a_reporting_script_opens_any_version_without_migrations(
    tmp_path: Path, ours: str, kanta094: str
) -> None:
    steps = [("V0", "", "change"), ("V1", "renamed", "open"), ("V1", "", "readonly")]
    theirs, mine, their_records, my_records = _both(tmp_path, ours, kanta094, *steps)
    assert mine == theirs and my_records == their_records
    assert mine[2] == {"version": 3, "rev": 3, "state": {"total": 105, "added": []}}


async def test_with_migrations_configured_a_newer_file_is_refused(tmp_path: Path) -> None:
    import types

    import msgspec

    from kanta import DatabaseError, Kanta

    class V0(msgspec.Struct):
        count: int = 0

    path = tmp_path / "app.kantadb"
    path.write_text('{"ts":"2026-01-01T00:00:00Z","a":"bootstrap","v":5,"diff":{"count":1}}\n')
    module = types.ModuleType("migrations")
    module.migrate_v1 = lambda d: None  # type: ignore[attr-defined]
    with pytest.raises(DatabaseError, match="version 5 is newer than the code"):
        await Kanta(path, V0(), migrations=module).open()
    async with Kanta(path, V0()) as db:  # without migrations= it opens as it is
        assert (db.version, db.rev, db.data.count) == (5, 1, 1)


async def test_a_gap_warns_naming_the_missing_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import types

    import msgspec

    from kanta import Kanta

    class V0(msgspec.Struct):
        count: int = 0

    path = tmp_path / "app.kantadb"
    async with Kanta(path, V0()):
        pass
    module = types.ModuleType("migrations")
    for number in (1, 3):
        setattr(module, f"migrate_v{number}", lambda d: None)
    with caplog.at_level(logging.WARNING, logger="kanta"):
        async with Kanta(path, V0(), migrations=module) as db:
            assert db.version == 3
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "no migration for version 2" in warning.getMessage()
    assert "migrate_v1, migrate_v3" in warning.getMessage()
