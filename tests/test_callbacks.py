"""Tests for the callback decorators: injection by annotation, when each runs, and failures."""

from __future__ import annotations

import asyncio
import errno
import functools
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

from kanta import (
    DatabaseError,
    DataIntegrityError,
    DictState,
    Kanta,
    LogEvent,
    MigrationReport,
)
from kanta.storage.logfile import FileOps, LogFile

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


class User(msgspec.Struct):
    name: str = ""
    tags: list[str] = []


class Data(msgspec.Struct):
    users: dict[str, User] = {}
    counter: int = 0


class DataV1(msgspec.Struct):
    users: dict[str, User] = {}
    counter: int = 0
    lang: str = ""


def changes(path: Path) -> list[dict[str, Any]]:
    """The change records of a JSON log (snapshots left out)."""
    lines = path.read_bytes().splitlines()
    return [json.loads(line) for line in lines if not line.startswith(b"SNAPSHOT ")]


def migrations_v1() -> ModuleType:
    module = ModuleType("kanta_test_callbacks_migrations")

    def migrate_v1(d: dict[str, Any]) -> None:
        """Set the language."""
        d["lang"] = "fi"

    module.migrate_v1 = migrate_v1  # type: ignore[attr-defined]
    return module


class FailingWrites(FileOps):
    """Real os calls, except that writes fail once `armed` is set."""

    def __init__(self) -> None:
        self.armed = False

    def pwrite(self, fd: int, data: memoryview, offset: int) -> int:
        if self.armed:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return super().pwrite(fd, data, offset)


@pytest.fixture
def faulty(monkeypatch: pytest.MonkeyPatch) -> FailingWrites:
    """Every LogFile opened from here on goes through one FailingWrites."""
    ops = FailingWrites()
    original = LogFile.open.__func__  # type: ignore[attr-defined]

    def open_with_faults(cls: type[LogFile], path: Any, **kwargs: Any) -> LogFile:
        return original(cls, path, ops=ops, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(LogFile, "open", classmethod(open_with_faults))
    return ops


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "db.kantadb"


async def make(path: Path) -> None:
    """A closed database with counter 5."""
    async with Kanta(path, Data()) as db:
        with db.transaction("setup") as data:
            data.counter = 5


# -- registration and injection -------------------------------------------------------------


async def test_parameters_are_filled_by_annotation(path: Path) -> None:
    db = Kanta(path, Data())
    seen: list[tuple[Any, ...]] = []

    @db.validate
    def check(kanta: Kanta[Data], data: Data, unused: int = 7) -> None:
        seen.append((kanta, data, unused))

    await db.open()
    await db.close()
    assert seen == [(db, db.data, 7)]


async def test_string_annotations_resolve_even_for_a_root_type_defined_locally(
    path: Path,
) -> None:
    class Local(msgspec.Struct):
        n: int = 0

    db = Kanta(path, Local())
    seen: list[Any] = []

    def check(data: Local) -> None:  # a string annotation ("Local") under __future__
        seen.append(data)

    assert isinstance(check.__annotations__["data"], str)
    db.validate(check)
    async with db:
        pass
    assert seen == [db.data]


@pytest.mark.parametrize("kind", ["bootstrap", "validate", "fatal_error", "clock", "logmigr"])
def test_a_parameter_with_neither_annotation_nor_default_is_refused(kind: str, path: Path) -> None:
    db = Kanta(path, Data())

    def callback(x):  # type: ignore[no-untyped-def]
        return None

    with pytest.raises(TypeError, match="'x'"):
        getattr(db, kind)(callback)
    getattr(db, kind)(lambda x=None: None)  # a default is enough


def test_an_annotation_the_kind_does_not_offer_is_refused(path: Path) -> None:
    db = Kanta(path, Data())

    def check(error: DatabaseError) -> None:  # validators get no error
        pass

    with pytest.raises(TypeError, match="usable annotation"):
        db.validate(check)

    def handler(report: MigrationReport) -> None:  # fatal_error gets no report
        pass

    with pytest.raises(TypeError):
        db.fatal_error(handler)


@pytest.mark.parametrize("kind", ["validate", "clock", "logfmt", "logemit"])
def test_async_is_refused_where_the_callback_runs_in_synchronous_code(
    kind: str, path: Path
) -> None:
    db = Kanta(path, Data())

    async def callback() -> None:
        pass

    with pytest.raises(TypeError, match="synchronous"):
        getattr(db, kind)(callback)

    class AsyncCallable:
        async def __call__(self) -> None:
            pass

    with pytest.raises(TypeError, match="synchronous"):
        getattr(db, kind)(AsyncCallable())


@pytest.mark.parametrize("kind", ["bootstrap", "fatal_error", "logmigr"])
def test_async_is_accepted_where_the_table_allows(kind: str, path: Path) -> None:
    db = Kanta(path, Data())

    async def callback() -> None:
        pass

    assert getattr(db, kind)(callback) is callback


def test_decorators_return_the_function_unchanged_bare_and_called(path: Path) -> None:
    db = Kanta(path, Data())

    def function() -> None:
        pass

    def formatter(value: Any) -> None:
        return None

    for kind in ("validate", "fatal_error", "logemit", "logmigr", "clock"):
        assert getattr(db, kind)(function) is function
        assert getattr(db, kind)()(function) is function
    assert db.bootstrap(function) is function
    assert db.bootstrap(action="init", user="me")(function) is function
    assert db.logfmt(formatter) is formatter
    assert db.logfmt(path="users.*")(formatter) is formatter


def test_a_partial_is_inspected_through(path: Path) -> None:
    db = Kanta(path, Data())

    def check(tag: str, data: Data) -> None:
        pass

    db.validate(functools.partial(check, "x"))
    with pytest.raises(TypeError, match="'tag'"):
        db.validate(functools.partial(check, data=Data()))


# -- bootstrap --------------------------------------------------------------------------------


async def test_bootstrap_fills_in_a_new_database_in_registration_order(path: Path) -> None:
    db = Kanta(path, Data())
    order: list[str] = []

    @db.bootstrap(action="init", user="installer", mtime=False)
    def first(data: Data) -> None:
        order.append("first")
        data.users["admin"] = User(name="Admin")

    @db.bootstrap
    async def second(data: Data, kanta: Kanta[Data]) -> None:
        assert kanta is db
        order.append("second")
        data.counter = len(data.users)

    async with db:
        assert db.data.counter == 1
    assert order == ["first", "second"]
    (record,) = changes(path)
    assert record["a"] == "init" and record["u"] == "installer" and "m" not in record
    assert record["diff"] == {"users": {"admin": {"name": "Admin", "tags": []}}, "counter": 1}
    # An existing file is not bootstrapped again.
    async with db:
        pass
    assert order == ["first", "second"]


async def test_bootstrap_mtime_may_be_a_datetime(path: Path) -> None:
    db = Kanta(path, Data())
    db.bootstrap(mtime=T0)(lambda: None)
    async with db:
        assert db.mtime == T0
    assert changes(path)[0]["m"] == "2030-01-02T03:04:05Z"


async def test_failing_bootstrap_removes_the_new_file_and_releases_it(path: Path) -> None:
    db = Kanta(path, Data())
    attempts: list[int] = []

    @db.bootstrap
    def fill(data: Data) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("no initial data")
        data.counter = 9

    with pytest.raises(ValueError, match="no initial data"):
        await db.open()
    assert not path.exists()
    await db.open()  # the same instance starts over, and now succeeds
    assert db.data.counter == 9
    await db.close()


async def test_failing_bootstrap_on_an_existing_empty_file_keeps_nothing_locked(
    path: Path,
) -> None:
    path.touch()
    db = Kanta(path, Data())
    db.bootstrap(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        await db.open()
    async with Kanta(path, Data()) as other:  # not locked any more
        assert other.rev == 1


# -- validate ---------------------------------------------------------------------------------


async def test_validators_run_after_migrations_at_open_and_after_changing_transactions(
    path: Path,
) -> None:
    await make(path)
    db = Kanta(path, DataV1(), migrations=migrations_v1(), flush_interval=3600)
    seen: list[tuple[int, str]] = []

    @db.validate
    def check(data: DataV1) -> None:
        seen.append((data.counter, data.lang))

    await db.open()
    assert seen == [(5, "fi")]
    with db.transaction("noop"):
        pass
    assert seen == [(5, "fi")]  # no change, no validation
    with db.transaction("bump") as data:
        data.counter = 6
    assert seen == [(5, "fi"), (6, "fi")]
    await db.close()


async def test_failing_validator_at_open_aborts_it_and_releases_the_file(path: Path) -> None:
    await make(path)
    before = path.read_bytes()
    db = Kanta(path, Data())

    @db.validate
    def check(data: Data) -> None:
        if data.counter == 5:
            raise ValueError("counter 5 is not allowed")

    with pytest.raises(ValueError, match="counter 5"):
        await db.open()
    assert path.read_bytes() == before
    async with Kanta(path, Data()) as other:  # the lock was released
        with other.transaction("fix") as data:
            data.counter = 6
    await db.open()
    await db.close()


async def test_failing_validator_on_a_new_file_removes_it(path: Path) -> None:
    db = Kanta(path, Data())

    @db.validate
    def refuse(data: Data) -> None:
        raise ValueError("empty databases are not valid")

    with pytest.raises(ValueError, match="not valid"):
        await db.open()
    assert not path.exists()


async def test_failing_validator_rolls_the_transaction_back_and_writes_nothing(
    path: Path,
) -> None:
    db = Kanta(path, Data(), flush_interval=3600)

    @db.validate
    def check(data: Data) -> None:
        if data.counter < 0:
            raise ValueError("negative")

    await db.open()
    await db.flush()
    before = path.read_bytes()
    with pytest.raises(ValueError, match="negative"), db.transaction("bad") as data:
        data.counter = -1
        data.users["x"] = User(name="X")
    assert db.data == Data()
    assert db.rev == 1
    await db.flush()
    assert path.read_bytes() == before
    with db.transaction("good") as data:  # the database goes on normally
        data.counter = 1
    await db.close()
    assert [record["a"] for record in changes(path)] == ["bootstrap", "good"]


@pytest.mark.parametrize("where", ["elsewhere", "inside the change"])
async def test_a_validator_that_changes_the_data_fails_the_transaction(
    path: Path, where: str
) -> None:
    db = Kanta(path, Data(), flush_interval=3600)

    @db.validate
    def normalise(data: Data) -> None:
        if where == "elsewhere" and data.users:
            data.counter += 1
        else:  # the user added in this very transaction
            for user in data.users.values():
                user.name = user.name.strip()

    await db.open()
    with pytest.raises(DataIntegrityError, match="normalise"), db.transaction("add") as data:
        data.users["a"] = User(name=" Alice ")
    assert db.data == Data()
    with db.transaction("after") as data:  # nothing left behind to trip the next one
        data.counter = 10
    await db.close()
    assert [record["a"] for record in changes(path)] == ["bootstrap", "after"]
    assert changes(path)[-1]["diff"] == {"counter": 10}


async def test_a_validator_that_changes_the_data_at_open_fails_the_open(path: Path) -> None:
    await make(path)
    before = path.read_bytes()
    db = Kanta(path, Data())

    @db.validate
    def bump(data: Data) -> None:
        data.counter += 1

    with pytest.raises(DataIntegrityError, match="bump"):
        await db.open()
    assert path.read_bytes() == before


def test_a_validator_returning_a_coroutine_is_refused() -> None:
    from kanta.callbacks import Callback, Context

    async def later() -> None:
        pass

    callback = Callback(lambda: later(), "validate", Data)
    with pytest.raises(TypeError, match="coroutine"):
        callback.run_sync(Context(None))


# -- clock ------------------------------------------------------------------------------------


async def test_clock_stamps_every_record_and_is_read_only_when_one_is_made(path: Path) -> None:
    db = Kanta(path, Data(), flush_interval=3600)
    reads: list[datetime] = []

    @db.clock
    def fixed() -> datetime:
        reads.append(T0)
        return T0

    await db.open()
    assert len(reads) == 1  # the bootstrap record
    with db.transaction("noop"):
        pass
    assert len(reads) == 1
    with db.transaction("one") as data:
        data.counter = 1
    assert len(reads) == 2
    assert db.mtime == T0
    db.request_snapshot()
    await db.close()
    assert len(reads) == 3
    stamps = {
        json.loads(line.removeprefix(b"SNAPSHOT "))["ts"] for line in path.read_bytes().splitlines()
    }
    assert stamps == {"2030-01-02T03:04:05Z"}


async def test_a_clock_returning_something_else_fails_the_transaction(path: Path) -> None:
    db = Kanta(path, Data())
    await db.open()
    db.clock(lambda: "noon")
    with pytest.raises(TypeError, match="datetime"), db.transaction("t") as data:
        data.counter = 1
    assert db.data.counter == 0 and db.rev == 1
    await db.close()


# -- fatal_error ------------------------------------------------------------------------------


async def test_fatal_error_handlers_run_once_per_failed_awaited_write(
    path: Path, faulty: FailingWrites, caplog: pytest.LogCaptureFixture
) -> None:
    db = Kanta(path, Data(), flush_interval=3600)
    seen: list[tuple[str, DatabaseError]] = []

    @db.fatal_error
    def broken(error: DatabaseError) -> None:
        seen.append(("broken", error))
        raise RuntimeError("handler bug")

    @db.fatal_error
    async def working(error: DatabaseError, kanta: Kanta[Data]) -> None:
        assert kanta is db
        seen.append(("working", error))

    await db.open()
    faulty.armed = True
    with db.transaction("lost") as data:
        data.counter = 1
    with caplog.at_level(logging.ERROR, logger="kanta"), pytest.raises(DatabaseError) as raised:
        await db.flush()
    assert [name for name, _ in seen] == ["broken", "working"]
    error = seen[0][1]
    assert seen[1][1] is error and raised.value.__cause__ is error  # the write's own error
    assert "Input/output error" in str(error)
    assert any("broken" in record.getMessage() for record in caplog.records)
    # The same failure surfaces again from close(), but is not reported twice.
    with pytest.raises(DatabaseError):
        await db.close()
    assert len(seen) == 2


async def test_fatal_error_handlers_run_for_a_failed_background_write(
    path: Path, faulty: FailingWrites
) -> None:
    db = Kanta(path, Data(), flush_interval=0.001)
    reported = asyncio.Event()
    seen: list[DatabaseError] = []

    @db.fatal_error
    async def handler(error: DatabaseError) -> None:
        seen.append(error)
        reported.set()

    await db.open()
    faulty.armed = True
    with db.transaction("lost") as data:
        data.counter = 1
    await asyncio.wait_for(reported.wait(), 10)
    with pytest.raises(DatabaseError):
        await db.close()
    assert len(seen) == 1


async def test_a_fatal_error_handler_may_close_the_database(
    path: Path, faulty: FailingWrites
) -> None:
    db = Kanta(path, Data(), flush_interval=0.001)
    closed = asyncio.Event()

    @db.fatal_error
    async def shut(kanta: Kanta[Data]) -> None:
        with pytest.raises(DatabaseError):
            await kanta.close()  # from inside the background task itself
        closed.set()

    await db.open()
    faulty.armed = True
    with db.transaction("lost") as data:
        data.counter = 1
    await asyncio.wait_for(closed.wait(), 10)
    await db.close()  # already closed: nothing to do


# -- logmigr ----------------------------------------------------------------------------------


async def test_logmigr_receives_the_report_after_migrations(path: Path) -> None:
    await make(path)
    db = Kanta(path, DataV1(), migrations=migrations_v1())
    reports: list[tuple[MigrationReport, str]] = []

    @db.logmigr
    async def record(report: MigrationReport, data: DataV1) -> None:
        reports.append((report, data.lang))

    async with db:
        pass
    ((report, lang),) = reports
    assert (report.original, report.version, lang) == (0, 1, "fi")
    assert [info.name for info in report.migrations] == ["migrate_v1"]
    async with db:  # nothing to migrate any more
        pass
    assert len(reports) == 1


async def test_logmigr_runs_also_when_the_open_log_is_silenced(path: Path) -> None:
    # The application's own report of the migrations, not kanta's log (docs/migrating.md).
    await make(path)
    db = Kanta(path, DataV1(), migrations=migrations_v1())
    reports: list[MigrationReport] = []

    @db.logmigr
    def record(report: MigrationReport) -> None:
        reports.append(report)

    await db.open(log=False)
    await db.close()
    assert [report.version for report in reports] == [1]


async def test_failing_logmigr_is_logged_and_the_open_goes_on(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await make(path)
    db = Kanta(path, DataV1(), migrations=migrations_v1())
    db.logmigr(lambda: 1 / 0)
    with caplog.at_level(logging.ERROR, logger="kanta"):
        async with db:
            assert db.version == 1
    assert any("logmigr" in record.getMessage() for record in caplog.records)


# -- logfmt and logemit failures ----------------------------------------------------------------


@pytest.fixture
def info_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger="kanta"):
        yield caplog


async def test_a_failing_formatter_is_logged_and_the_next_one_answers(
    path: Path, info_logs: pytest.LogCaptureFixture
) -> None:
    db = Kanta(path, Data())
    await db.open()
    calls: list[str] = []

    @db.logfmt
    def broken(value: Any, path: str) -> str:
        calls.append(path)
        raise KeyError(value)

    @db.logfmt
    def shout(value: Any) -> str | None:
        return value.upper() if isinstance(value, str) and value.islower() else None

    with db.transaction("add", user="bob") as data:
        data.users["a"] = User(name="alice")
    await db.close()
    messages = [r.getMessage() for r in info_logs.records if r.name.startswith("kanta.transaction")]
    assert messages == ["add by BOB", "  USERS.A =", "    NAME: ALICE", "    TAGS: []"]
    errors = [r for r in info_logs.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "broken" in errors[0].getMessage()  # once per event
    assert calls == ["$user"]
    assert db.rev == 2  # the transaction itself is unaffected


async def test_a_failing_logemit_callback_passes_the_event_on(
    path: Path, info_logs: pytest.LogCaptureFixture
) -> None:
    db = Kanta(path, Data())

    @db.logemit
    def broken(event: LogEvent, state: DictState) -> bool:
        raise RuntimeError("emitter bug")

    async with db:
        with db.transaction("bump") as data:
            data.counter = 1
    assert "bump  counter = 1" in [r.getMessage() for r in info_logs.records]
    assert any("emitter bug" in (r.exc_text or "") for r in info_logs.records)
