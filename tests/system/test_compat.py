"""Files written by kanta 0.9.4 open to exactly the state, revision, version and mtime it had."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import compat_migrations
import msgspec
import pytest
from compat_models import Data, DataV2

from kanta import Kanta

COMPAT = Path(__file__).parents[1] / "fixtures" / "compat"
ROOTS: dict[str, Any] = {"dict": dict, "Data": Data, "DataV2": DataV2}
FIXTURES = sorted(p.name.removesuffix(".expected.json") for p in COMPAT.glob("*.expected.json"))


def _expected(name: str) -> dict[str, Any]:
    return json.loads((COMPAT / f"{name}.expected.json").read_text())


def _open(path: Path, expected: dict[str, Any]) -> Kanta[Any]:
    root = ROOTS[expected["root"]]
    migrations = compat_migrations if expected.get("migrations") else None
    return Kanta(path, root(), type=root, migrations=migrations)


def _check(db: Kanta[Any], expected: dict[str, Any]) -> None:
    assert msgspec.to_builtins(db.data, str_keys=True) == expected["state"]
    assert db.serializer.name == expected["serializer"]
    assert db.rev == expected["rev"]
    assert db.version == expected["version"]
    mtime = expected.get("mtime")
    assert db.mtime == (datetime.fromisoformat(mtime) if mtime else None)


@pytest.mark.parametrize("name", FIXTURES)
async def test_fixture_opens_read_only_to_expected_state(name: str, compat_dir: Path) -> None:
    path = compat_dir / f"{name}.kantadb"
    before = path.read_bytes()
    db = _open(path, _expected(name))
    await db.open(readonly=True)
    _check(db, _expected(name))
    await db.close()
    assert path.read_bytes() == before


@pytest.mark.parametrize("name", FIXTURES)
async def test_fixture_opens_writable_and_reopens_the_same(name: str, compat_dir: Path) -> None:
    path = compat_dir / f"{name}.kantadb"
    expected = _expected(name)
    async with _open(path, expected) as db:
        _check(db, expected)
        rev = db.rev
    async with _open(path, expected) as db:
        _check(db, expected)
        assert db.rev == rev


async def test_jsondiff_era_values_are_read_verbatim(compat_dir: Path) -> None:
    async with Kanta(compat_dir / "types.json.kantadb", Data()) as db:
        assert db.data.meta["$dollar"] == "$$value"
