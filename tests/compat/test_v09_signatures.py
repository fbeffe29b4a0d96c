"""Point 2 of issue 12: 0.9.x's signatures and properties.

`Kanta.open(*, create, readonly, log)`, the `db.data` setter (the next transaction
records the replacement), and `db.rev` refusing to guess before the first open. What
`open(log=...)` logs is in test_v09_logging.py.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import msgspec
import pytest
from filetools import changes_of
from kanta094 import run_program

from kanta import DataIntegrityError, Kanta


class User(msgspec.Struct):
    name: str = ""


class Data(msgspec.Struct):
    users: dict[str, User] = {}
    n: int = 0


def test_open_takes_0_9s_keywords() -> None:
    parameters = inspect.signature(Kanta.open).parameters
    assert [(name, p.kind, p.default) for name, p in parameters.items() if name != "self"] == [
        ("create", inspect.Parameter.KEYWORD_ONLY, True),
        ("readonly", inspect.Parameter.KEYWORD_ONLY, False),
        ("log", inspect.Parameter.KEYWORD_ONLY, True),
    ]


REV_PROGRAM = """
import asyncio, json, sys, msgspec
from kanta import Kanta
from kanta.exceptions import DataIntegrityError

class Data(msgspec.Struct):
    n: int = 0

async def main():
    db = Kanta(sys.argv[1], Data())
    seen = {}
    try:
        seen["before"] = db.rev
    except DataIntegrityError as exc:
        seen["before"] = "DataIntegrityError"
    seen["version"], seen["mtime"] = db.version, db.mtime
    await db.open()
    with db.transaction("inc") as d:
        d.n += 1
    seen["open"] = db.rev
    await db.close()
    print(json.dumps(seen))

asyncio.run(main())
"""


def test_rev_before_open_is_refused_as_in_0_9(tmp_path: Path, ours: str, kanta094: str) -> None:
    outcomes = []
    for python in (kanta094, ours):
        path = tmp_path / f"{len(outcomes)}.kantadb"
        done = run_program(python, REV_PROGRAM, str(path), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        outcomes.append(json.loads(done.stdout))
    assert outcomes[0] == outcomes[1]
    assert outcomes[1] == {"before": "DataIntegrityError", "version": 0, "mtime": None, "open": 2}


async def test_rev_after_close_still_describes_the_last_state(tmp_path: Path) -> None:
    db = Kanta(tmp_path / "db.kantadb", Data())
    with pytest.raises(DataIntegrityError) as caught:
        _ = db.rev
    assert caught.value.db_path == tmp_path / "db.kantadb"
    async with db:
        pass
    assert db.rev == 1  # kept after close (0.9.x raises here too; ours describes the file)


async def test_the_data_setter_replaces_the_state_and_the_next_transaction_records_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Data()) as db:
        with db.transaction("add") as d:
            d.users["a"] = User(name="A")
        replacement = Data(users={"b": User(name="B")}, n=5)
        db.data = replacement
        assert db.data is replacement
        with db.transaction("bump") as d:
            assert d is replacement
            d.n += 1
        assert db.rev == 3
    last = changes_of(path)[-1]
    assert last["a"] == "bump"
    assert last["diff"] == {"users": {"$delete": ["a"], "b": {"name": "B"}}, "n": 6}
    async with Kanta(path, Data()) as db:
        assert db.data == Data(users={"b": User(name="B")}, n=6)


async def test_a_replacement_no_transaction_recorded_is_recorded_at_close(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Data()) as db:
        db.data = Data(n=9)
        db.check()  # a pending replacement is not a stray change
        await db.flush()
    assert changes_of(path)[-1]["a"] == "replace data"
    async with Kanta(path, Data()) as db:
        assert db.data.n == 9


async def test_a_failed_transaction_after_a_replacement_goes_back_to_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Data(n=1)) as db:
        db.data = Data(n=2)
        with pytest.raises(ZeroDivisionError), db.transaction("fails") as d:
            d.n = 3
            _ = 1 / 0
        assert db.data.n == 1  # as on disk: the replacement went with the transaction
    assert [record["a"] for record in changes_of(path)] == ["bootstrap"]


async def test_the_setter_inside_a_transaction_is_part_of_it(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Data()) as db:
        with db.transaction("swap"):
            db.data = Data(n=4)
        with db.transaction("again") as d:
            d.n += 1
    assert [(r["a"], r["diff"]) for r in changes_of(path)[1:]] == [
        ("swap", {"n": 4}),
        ("again", {"n": 5}),
    ]


async def test_the_setter_before_open_seeds_a_new_file(tmp_path: Path) -> None:
    db = Kanta(tmp_path / "db.kantadb", Data())
    db.data = Data(n=7)
    async with db:
        assert db.data.n == 7 and db.rev == 1


async def test_the_setter_refuses_another_type_and_a_read_only_database(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    db = Kanta(path, Data())
    with pytest.raises(TypeError, match="must be a Data"):
        db.data = {"n": 1}  # type: ignore[assignment]
    async with db:
        pass
    reader = Kanta(path, Data())
    await reader.open(readonly=True)
    try:
        with pytest.raises(DataIntegrityError, match="read-only"):
            reader.data = Data(n=1)
        assert reader.data.n == 0
    finally:
        await reader.close()
