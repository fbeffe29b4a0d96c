"""Tests for kanta.core.migrations: loading, planning and running schema migrations."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

from kanta.core.migrations import (
    MigrationInfo,
    MigrationReport,
    code_version,
    load_migrations,
    missing,
    plan,
    run,
)
from kanta.errors import DatabaseError

REPO_ROOT = Path(__file__).resolve().parents[2]


def make_module(name: str, source: str) -> ModuleType:
    module = ModuleType(name)
    exec(textwrap.dedent(source), module.__dict__)
    return module


CHAIN = """
def migrate_v1(d):
    '''Rename counter to total.

    More text that is not part of the description.
    '''
    d["total"] = d.pop("counter")

def migrate_v2(d):
    d["lang"] = "fi"

def migrate_v3(d, kanta):
    '''Record who migrated.'''
    d["by"] = kanta
"""


# load_migrations


def test_load_none_means_no_migrations() -> None:
    assert load_migrations(None) == {}


def test_load_from_module_object() -> None:
    module = make_module("chain", CHAIN)
    loaded = load_migrations(module)
    assert loaded == {1: module.migrate_v1, 2: module.migrate_v2, 3: module.migrate_v3}


def test_load_orders_by_version_not_definition() -> None:
    module = make_module("unordered", "def migrate_v10(d): pass\ndef migrate_v9(d): pass\n")
    assert list(load_migrations(module)) == [9, 10]


def test_load_from_import_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "app_migrations_for_test.py").write_text(CHAIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "app_migrations_for_test", raising=False)
    loaded = load_migrations("app_migrations_for_test")
    assert sorted(loaded) == [1, 2, 3]
    assert loaded[2].__module__ == "app_migrations_for_test"


def test_load_import_failure_names_module(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="no_such_migrations_module") as info:
        load_migrations("no_such_migrations_module", db_path=tmp_path / "x.kantadb")
    assert isinstance(info.value.__cause__, ImportError)
    assert info.value.db_path == tmp_path / "x.kantadb"


def test_load_module_raising_on_import_is_database_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_migrations_for_test.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DatabaseError, match="broken_migrations_for_test") as info:
        load_migrations("broken_migrations_for_test")
    assert isinstance(info.value.__cause__, RuntimeError)


def test_load_ignores_non_migration_names() -> None:
    module = make_module(
        "noise",
        """
        def migrate_v1(d): pass
        def migrate_v0(d): pass
        def migrate_v01(d): pass
        def migrate_vx(d): pass
        def migrate_v2_old(d): pass
        def migrate(d): pass
        def helper(a, b, c): pass
        migrate_v3 = "not callable"
        """,
    )
    assert load_migrations(module) == {1: module.migrate_v1}


@pytest.mark.parametrize(
    "signature",
    ["()", "(a, b, c)", "(d, *, required)", "(*, d)"],
)
def test_load_rejects_bad_signature(signature: str) -> None:
    module = make_module("bad", f"def migrate_v4{signature}: pass")
    with pytest.raises(TypeError, match="migrate_v4"):
        load_migrations(module)


@pytest.mark.parametrize("signature", ["(d)", "(d, kanta)", "(d, kanta=None)", "(*args)"])
def test_load_accepts_one_or_two_positional_parameters(signature: str) -> None:
    module = make_module("good", f"def migrate_v1{signature}: pass")
    assert list(load_migrations(module)) == [1]


def test_load_rejects_non_module() -> None:
    with pytest.raises(TypeError):
        load_migrations(42)  # type: ignore[arg-type]


# code_version and plan


def noop(d: dict[str, Any]) -> None:
    pass


def test_code_version() -> None:
    assert code_version({}) == 0
    assert code_version({1: noop, 2: noop, 5: noop}) == 5


def test_plan_nothing_to_do() -> None:
    assert plan(0, {}) == []
    assert plan(3, {1: noop, 2: noop, 3: noop}) == []


def test_plan_runs_the_chain_from_the_stored_version() -> None:
    migrations = {1: noop, 2: noop, 3: noop}
    assert plan(0, migrations) == [1, 2, 3]
    assert plan(2, migrations) == [3]


def test_plan_allows_pruned_old_migrations() -> None:
    # A file already at v3 does not need v1..v3 any more.
    assert plan(3, {4: noop, 5: noop}) == [4, 5]


def test_plan_stored_newer_than_code() -> None:
    with pytest.raises(DatabaseError, match="upgrade the application") as info:
        plan(4, {1: noop, 2: noop}, db_path="app.kantadb")
    assert "database version 4 is newer than the code (highest migration 2)" in str(info.value)
    assert info.value.db_path == Path("app.kantadb")


def test_plan_without_any_migrations_opens_any_version_as_it_is() -> None:
    # As kanta 0.9.x: reporting tools open files of every version without migrations.
    assert plan(7, {}) == []


def test_plan_with_a_gap_runs_what_exists_and_names_the_missing_number() -> None:
    # As kanta 0.9.x; opening logs a warning naming the missing numbers.
    assert plan(0, {1: noop, 3: noop}) == [1, 3]
    assert missing(0, [1, 3]) == [2]
    assert plan(1, {1: noop, 3: noop}) == [3]
    assert missing(1, [3]) == [2]


def test_plan_only_v2_defined_from_zero_runs_v2() -> None:
    assert plan(0, {2: noop}) == [2]
    assert missing(0, [2]) == [1]
    assert missing(0, []) == []


def test_plan_rejects_negative_stored_version() -> None:
    with pytest.raises(DatabaseError, match="invalid stored schema version -1"):
        plan(-1, {1: noop})


# run


def test_run_mutates_in_place() -> None:
    migrations = load_migrations(make_module("chain", CHAIN))
    state: dict[str, Any] = {"counter": 5}
    result, _ = run(state, [1, 2], migrations)
    assert result is state
    assert state == {"total": 5, "lang": "fi"}


def test_run_uses_a_returned_dict() -> None:
    def migrate_v1(d: dict[str, Any]) -> dict[str, Any]:
        return {"wrapped": d}

    def migrate_v2(d: dict[str, Any]) -> None:
        d["seen"] = True

    result, report = run({"x": 1}, [1, 2], {1: migrate_v1, 2: migrate_v2})
    assert result == {"wrapped": {"x": 1}, "seen": True}
    assert report.version == 2


def test_run_passes_kanta_to_two_parameter_migrations() -> None:
    seen: list[object] = []

    def migrate_v1(d: dict[str, Any]) -> None:
        seen.append("one")

    def migrate_v2(d: dict[str, Any], kanta: object) -> None:
        seen.append(kanta)

    sentinel = object()
    run({}, [1, 2], {1: migrate_v1, 2: migrate_v2}, kanta=sentinel)
    assert seen == ["one", sentinel]


def test_run_report_contents() -> None:
    migrations = load_migrations(make_module("chain", CHAIN))
    state, report = run({"counter": 1}, [2, 3], migrations, kanta="me")
    assert state == {"counter": 1, "lang": "fi", "by": "me"}
    # As kanta 0.9.x: a description is the docstring's first line without its final
    # period, or "vN"; each migration says what it was given and what it changed.
    assert report == MigrationReport(
        version=3,
        original=1,
        applied=[
            MigrationInfo(2, "migrate_v2", "v2", True, {"lang": "fi"}, {"counter": 1}),
            MigrationInfo(
                3,
                "migrate_v3",
                "Record who migrated",
                True,
                {"by": "me"},
                {"counter": 1, "lang": "fi"},
            ),
        ],
    )
    assert report.migrations is report.applied  # kanta 0.9.x's name


def test_run_reports_the_version_name_even_for_lambdas() -> None:
    _, report = run({}, [1], {1: lambda d: None})
    (info,) = report.migrations
    assert (info.name, info.changed, info.diff, info.before) == ("migrate_v1", False, None, {})


def test_run_description_is_first_docstring_line() -> None:
    migrations = load_migrations(make_module("chain", CHAIN))
    _, report = run({"counter": 0}, [1], migrations)
    assert report.applied[0].description == "Rename counter to total"


def test_run_nothing_keeps_the_stored_version() -> None:
    state = {"a": 1}
    result, report = run(state, [], {1: noop}, stored_version=1)
    assert result is state
    assert report == MigrationReport(version=1, original=1, applied=[])


def test_run_report_is_serialisable() -> None:
    migrations = load_migrations(make_module("chain", CHAIN))
    _, report = run({"counter": 0}, [1, 2, 3], migrations, stored_version=0)
    decoded = msgspec.json.decode(msgspec.json.encode(report), type=MigrationReport)
    assert decoded == report
    assert decoded.original == 0


def test_run_raising_migration_is_database_error() -> None:
    def migrate_v2(d: dict[str, Any]) -> None:
        raise KeyError("users")

    with pytest.raises(DatabaseError) as info:
        run({}, [1, 2], {1: noop, 2: migrate_v2}, db_path="app.kantadb")
    assert "migrate_v2" in str(info.value)
    assert "version 2" in str(info.value)
    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.db_path == Path("app.kantadb")


def test_run_non_dict_result_is_database_error() -> None:
    def migrate_v1(d: dict[str, Any]) -> list[int]:
        return [1]

    with pytest.raises(DatabaseError, match=r"migrate_v1 .*list"):
        run({}, [1], {1: migrate_v1})


def test_run_missing_version_is_database_error() -> None:
    with pytest.raises(DatabaseError, match="migrate_v2"):
        run({}, [1, 2], {1: noop})


# the example in migrations_example/


def test_example_migrations_bring_v0_to_v2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    schema_v2 = importlib.import_module("migrations_example.schema_v2")
    migrations = load_migrations("migrations_example.schema_v2")
    v0 = {"users": {"ada": {"name": "Ada Lovelace"}}}
    state, report = run(v0, plan(0, migrations), migrations, stored_version=0)
    assert [info.name for info in report.migrations] == ["migrate_v1", "migrate_v2"]
    data = msgspec.convert(state, schema_v2.Data)
    assert data == schema_v2.Data(
        people={"ada": schema_v2.User(first="Ada", last="Lovelace", email=None)}
    )
