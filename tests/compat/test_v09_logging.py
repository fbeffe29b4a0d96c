"""Point 4 of issue 12: the change log on stderr out of the box, one record per line.

kanta 0.9.x's docs promise its change log "visible without any application logging
setup". The same program runs under kanta 0.9.4 and ours, and what each prints is
compared: on stderr with no logging set up, record by record with a capture handler, at
DEBUG after `configure_logging(debug=True)`, through `open(log=logger)`, and what a
logemit callback logs on `event.logger`. Where ours deliberately differs (an application
that sets up logging takes over), ours is asserted on its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kanta094 import run_program

PROGRAM = r'''
import asyncio, logging, sys, types
import msgspec
from kanta import Kanta, configure_logging

class Data(msgspec.Struct):
    names: dict[str, str] = {}
    counter: int = 0
    tags: list[str] = []

EVENTS = ("kanta.transaction", "kanta.bootstrap", "kanta.migration")

class Capture(logging.Handler):
    def emit(self, record):
        print(f"{record.name}|{record.levelname}|{record.getMessage()}", flush=True)

def migrate_v1(data: dict) -> None:
    """Count from ten."""
    data["counter"] = 10

def migrate_v2(data: dict) -> None:
    data["tags"] = ["migrated"]

MIGRATIONS = types.ModuleType("migrations")
MIGRATIONS.migrate_v1 = migrate_v1
MIGRATIONS.migrate_v2 = migrate_v2

async def session(path):
    db = Kanta(path, Data())
    await db.open()
    with db.transaction(action="add", user="alice") as data:
        data.names["a"] = "A"
        data.counter = 1
    with db.transaction(action="bump") as data:
        data.counter = 2
    with db.transaction(action="tidy", user="bob", extra="ticket-7") as data:
        del data.names["a"]
        data.tags = ["x"]
    with db.transaction(action="empty", user="") as data:
        data.counter = 3
    try:
        with db.transaction(action="fail", user="carol") as data:
            data.counter = 4
            raise ValueError("nope")
    except ValueError:
        pass
    await db.close()

async def reopen(path, **options):
    db = Kanta(path, Data(), **options.pop("kanta", {}))
    await db.open(**options)
    await db.close()

async def main(mode, path):
    if mode == "capture":
        for name in EVENTS:
            log = logging.getLogger(name)
            log.handlers[:] = [Capture()]
            log.propagate = False
            log.setLevel(logging.DEBUG)
    if mode == "redirect":
        mine = logging.getLogger("myapp")
        mine.addHandler(Capture()); mine.setLevel(logging.DEBUG); mine.propagate = False
        await reopen(path, log=mine)
        db = Kanta(path, Data()); await db.open()
        with db.transaction(action="mine", user="me", log=mine) as data:
            data.counter = 7
        await db.close()
        await reopen(path, log=mine, kanta={"migrations": MIGRATIONS})
        return
    if mode == "emitter":
        db = Kanta(path, Data())

        @db.logemit
        def emit(ev):
            if ev.kind == "change":
                ev.logger.info("custom %s by %s", ev.action, ev.user)
                return False
            return True

        await db.open()
        with db.transaction(action="add", user="alice") as data:
            data.counter = 1
        await db.close()
        return
    if mode == "takeover":
        form = "%(name)s|%(levelname)s|%(message)s"
        logging.basicConfig(stream=sys.stdout, level=logging.WARNING, format=form)
    await session(path)
    if mode == "leftover":
        for name in ("kanta", "kanta.transaction", "kanta.transaction.diff", *EVENTS[1:]):
            log = logging.getLogger(name)
            print(name, log.level, log.propagate, log.handlers, flush=True)
        return
    print("-- reopen", file=sys.stderr, flush=True)
    await reopen(path)
    print("-- quiet", file=sys.stderr, flush=True)
    await reopen(path, log=False)
    if mode == "debug":
        configure_logging(debug=True)
        levels = [logging.getLogger(name).level for name in EVENTS]
        print("-- levels", levels, file=sys.stderr, flush=True)
        await reopen(path)
    print("-- migrate", file=sys.stderr, flush=True)
    await reopen(path, kanta={"migrations": MIGRATIONS})

asyncio.run(main(sys.argv[1], sys.argv[2]))
'''

SESSION = [
    "bootstrap",
    "  names = {}",
    "  counter = 0",
    "  tags = []",
    "add by alice",
    "  names.a = A",
    "  counter = 1",
    "bump  counter = 2",
    "tidy ticket-7 by bob",
    "  names.a ✗",
    "  tags = [x]",
    "empty  counter = 3",  # an empty user: no "by"
    "fail by carol transaction aborted: nope",
]


def _run(python: str, mode: str, folder: Path) -> tuple[str, str, Path]:
    folder.mkdir()
    path = folder / "db.kantadb"
    done = run_program(python, PROGRAM, mode, str(path), cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.replace(str(path), "DB"), done.stderr.replace(str(path), "DB"), path


def _both(tmp_path: Path, mode: str, ours: str, kanta094: str) -> tuple[list[str], list[str]]:
    """What 0.9.4 and ours print for `mode`: stdout and stderr lines, the path as DB."""
    printed = []
    for name, python in (("0.9.4", kanta094), ("ours", ours)):
        out, err, _ = _run(python, mode, tmp_path / name)
        printed.append((out + err).splitlines())
    return printed[0], printed[1]


def test_the_change_log_is_on_stderr_with_no_logging_set_up(
    tmp_path: Path, ours: str, kanta094: str
) -> None:
    theirs, mine = _both(tmp_path, "plain", ours, kanta094)
    assert mine == theirs
    assert mine == [
        "🛢️ DB created",
        *SESSION,
        "-- reopen",  # "opened" is at DEBUG
        "-- quiet",  # open(log=False)
        "-- migrate",
        "🛢️ DB migrated v0 -> v2: migrate_v1 (Count from ten), migrate_v2 (v2)",
    ]


def test_debug_shows_opened_and_each_migration_s_diff(
    tmp_path: Path, ours: str, kanta094: str
) -> None:
    theirs, mine = _both(tmp_path, "debug", ours, kanta094)
    assert mine == theirs
    assert mine[mine.index("-- quiet") + 1 :] == [
        "-- levels [20, 10, 10]",  # transaction stays at INFO
        "🛢️ DB opened",
        "-- migrate",
        "🛢️ DB migrated v0 -> v2: migrate_v1 (Count from ten), migrate_v2 (v2)",
        "migrate:v2",
        "  counter = 10",
        "  tags = [migrated]",
    ]


def test_one_record_per_line_on_the_diff_child_logger(
    tmp_path: Path, ours: str, kanta094: str
) -> None:
    theirs, mine = _both(tmp_path, "capture", ours, kanta094)
    assert mine == theirs
    mine = [line for line in mine if not line.startswith("--")]
    assert mine[:9] == [
        "kanta.bootstrap|INFO|🛢️ DB created",
        "kanta.bootstrap|INFO|bootstrap",
        "kanta.bootstrap.diff|INFO|  names = {}",
        "kanta.bootstrap.diff|INFO|  counter = 0",
        "kanta.bootstrap.diff|INFO|  tags = []",
        "kanta.transaction|INFO|add by alice",
        "kanta.transaction.diff|INFO|  names.a = A",
        "kanta.transaction.diff|INFO|  counter = 1",
        "kanta.transaction.diff|INFO|bump  counter = 2",  # one line: one record
    ]
    assert "kanta.transaction|WARNING|fail by carol transaction aborted: nope" in mine
    assert "kanta.bootstrap|DEBUG|🛢️ DB opened" in mine
    assert mine[-4:] == [
        "kanta.migration|INFO|🛢️ DB migrated v0 -> v2: migrate_v1 (Count from ten), migrate_v2 (v2)",
        "kanta.migration|DEBUG|migrate:v2",
        "kanta.migration.diff|DEBUG|  counter = 10",
        "kanta.migration.diff|DEBUG|  tags = [migrated]",
    ]


def test_open_log_logger_redirects_the_open_time_log(
    tmp_path: Path, ours: str, kanta094: str
) -> None:
    theirs, mine = _both(tmp_path, "redirect", ours, kanta094)
    assert mine == theirs
    assert mine[0] == "myapp|INFO|🛢️ DB created"
    assert "myapp.diff|INFO|mine by me  counter = 7" in mine
    assert "myapp|DEBUG|migrate:v2" in mine


def test_what_a_logemit_callback_logs_on_event_logger_is_shown(
    tmp_path: Path, ours: str, kanta094: str
) -> None:
    theirs, mine = _both(tmp_path, "emitter", ours, kanta094)
    assert mine == theirs
    assert mine == ["🛢️ DB created", "custom bootstrap by None", "custom add by alice"]


def test_logging_is_left_as_the_application_had_it(tmp_path: Path, ours: str) -> None:
    out, err, _ = _run(ours, "leftover", tmp_path / "ours")
    assert err.splitlines() == ["🛢️ DB created", *SESSION]
    assert out.splitlines() == [
        "kanta 0 True []",
        "kanta.transaction 0 True []",
        "kanta.transaction.diff 0 True []",
        "kanta.bootstrap 0 True []",
        "kanta.migration 0 True []",
    ]


def test_an_application_that_sets_up_logging_takes_over(tmp_path: Path, ours: str) -> None:
    # 0.9.4 keeps writing to stderr past the application's setup (its loggers do not
    # propagate); ours follows the setup (docs/migrating.md). Its level is for the
    # application's own loggers: kanta's stay at INFO, as in 0.9.4, until it sets theirs.
    out, err, _ = _run(ours, "takeover", tmp_path / "ours")
    assert err.splitlines() == ["-- reopen", "-- quiet", "-- migrate"]  # the program's own
    lines = out.splitlines()
    assert lines[:3] == [
        "kanta.bootstrap|INFO|🛢️ DB created",
        "kanta.bootstrap|INFO|bootstrap",
        "kanta.bootstrap.diff|INFO|  names = {}",
    ]
    assert "kanta.transaction|WARNING|fail by carol transaction aborted: nope" in lines


@pytest.mark.parametrize("value", ["1", "yes"])
def test_force_color_colours_the_stderr_lines(tmp_path: Path, ours: str, value: str) -> None:
    folder = tmp_path / "ours"
    folder.mkdir()
    path = folder / "db.kantadb"
    done = run_program(ours, PROGRAM, "plain", str(path), cwd=folder, env={"FORCE_COLOR": value})
    assert "\x1b[1;34madd\x1b[0m by \x1b[34malice\x1b[0m" in done.stderr
