"""Tests for the transaction log: what is logged where, its text and colours, logemit, logfmt."""

from __future__ import annotations

import io
import logging
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

import kanta.events.emit
import kanta.events.event
import kanta.events.timeline
from kanta import (
    DataIntegrityError,
    DictPrev,
    DictState,
    Kanta,
    LogEvent,
    LogFmt,
    MsgPackSerializer,
    configure_logging,
)
from kanta.core.jsonlines import JsonSerializer

REPO_ROOT = Path(__file__).resolve().parent.parent
NAMES = [
    "kanta",
    "kanta.transaction",
    "kanta.transaction.diff",
    "kanta.bootstrap",
    "kanta.migration",
]


class User(msgspec.Struct):
    name: str = ""
    email: str | None = None
    tags: list[str] = []


class Data(msgspec.Struct):
    users: dict[str, User] = {}
    groups: dict[str, list[str]] = {}
    counter: int = 0


class TTY(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def clean_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Restore kanta's loggers after each test; no colour settings from the environment."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    saved = {
        name: (log.level, log.disabled, log.propagate, list(log.handlers))
        for name in NAMES
        for log in [logging.getLogger(name)]
    }
    yield
    for name, (level, disabled, propagate, handlers) in saved.items():
        log = logging.getLogger(name)
        log.setLevel(level)
        log.disabled, log.propagate, log.handlers[:] = disabled, propagate, handlers


def capture(stream: io.StringIO | None = None, name: str = "kanta") -> io.StringIO:
    """Send the records of logger `name` (INFO and up) to a stream, message only."""
    stream = stream if stream is not None else io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s|%(levelname)s|%(message)s"))
    log = logging.getLogger(name)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return stream


def entries(stream: io.StringIO, start: str = "") -> list[str]:
    """The logged events, from the first that starts with `start`.

    Each line is its own record; a diff line (on a `.diff` logger, indented) is joined to
    the header before it, so an event reads as one text.
    """
    records: list[str] = []
    for line in stream.getvalue().splitlines():
        name, _, rest = line.partition("|")
        message = rest.partition("|")[2]
        if name.endswith(".diff") and message.startswith("  ") and records:
            records[-1] += "\n" + message
        elif "|" in line.split(" ")[0] or line.startswith("kanta"):
            records.append(line)
        elif records:
            records[-1] += "\n" + line
    index = next(i for i, record in enumerate(records) if start in record)
    return records[index:]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "db.kantadb"


async def scenario(db: Kanta[Data]) -> None:
    """Open, make three changes and a failed one, close."""
    await db.open()
    with db.transaction("add user", user="alice", extra="ticket 7") as data:
        data.users["a"] = User(name="A", tags=["x", "y"])
        data.counter = 1
    with db.transaction("bump") as data:
        data.counter = 2
    with db.transaction("tidy") as data:
        del data.users["a"]
        data.groups["g"] = ["a"]
    with pytest.raises(ValueError), db.transaction("broken", user="bob") as data:
        data.counter = 99
        raise ValueError("boom")
    await db.close()


# -- the text -----------------------------------------------------------------------------------


async def test_plain_log_of_a_session(path: Path) -> None:
    stream = capture()
    await scenario(Kanta(path, Data()))
    assert entries(stream, "kanta.transaction") == [
        "kanta.transaction|INFO|add user ticket 7 by alice\n"
        "  users.a =\n"
        "    name:  A\n"
        "    email: null\n"
        "    tags:  [x, y]\n"
        "  counter = 1",
        "kanta.transaction.diff|INFO|bump  counter = 2",
        "kanta.transaction|INFO|tidy\n  users.a ✗\n  groups.g = [a]",
        "kanta.transaction|WARNING|broken by bob transaction aborted: boom",
    ]
    assert "\x1b[" not in stream.getvalue()


async def test_bootstrap_and_migrations_log_on_their_own_loggers(path: Path) -> None:
    stream = capture()
    async with Kanta(path, Data()) as db:
        with db.transaction("set") as data:
            data.counter = 5
    module = ModuleType("kanta_test_txlog_migrations")

    def migrate_v1(d: dict[str, Any]) -> None:
        """Double the counter."""
        d["counter"] *= 2

    module.migrate_v1 = migrate_v1  # type: ignore[attr-defined]
    async with Kanta(path, Data(), migrations=module):
        pass
    assert entries(stream) == [
        f"kanta.bootstrap|INFO|🛢️ {path} created",
        "kanta.bootstrap|INFO|bootstrap\n  users = {}\n  groups = {}\n  counter = 0",
        "kanta.transaction.diff|INFO|set  counter = 5",
        f"kanta.migration|INFO|🛢️ {path} migrated v0 -> v1: migrate_v1 (Double the counter)",
    ]  # each migration's record at DEBUG (test_migration_records_are_logged_at_debug)


async def test_logdiff_false_logs_the_header_alone(path: Path) -> None:
    stream = capture()
    async with Kanta(path, Data()) as db:
        with db.transaction("quiet", user="u", logdiff=False) as data:
            data.counter = 1
    assert entries(stream, "quiet") == ["kanta.transaction|INFO|quiet by u"]


async def test_log_false_silences_changes_and_aborts(path: Path) -> None:
    stream = capture()
    async with Kanta(path, Data()) as db:
        with db.transaction("silent", log=False) as data:
            data.counter = 1
        with pytest.raises(ValueError), db.transaction("silent abort", log=False) as data:
            data.counter = 2
            raise ValueError
    assert "silent" not in stream.getvalue()


async def test_log_may_name_another_logger(path: Path) -> None:
    mine = capture(name="myapp.audit")
    theirs = capture()
    async with Kanta(path, Data()) as db:
        with db.transaction("redirected") as data:
            data.counter = 1
        with db.transaction("short", logdiff=False, log=logging.getLogger("myapp.audit")) as data:
            data.counter = 2
        with db.transaction("moved", log=logging.getLogger("myapp.audit")) as data:
            data.counter = 3
    assert entries(mine) == [
        "myapp.audit|INFO|short",
        "myapp.audit.diff|INFO|moved  counter = 3",
    ]
    assert "moved" not in theirs.getvalue() and "redirected" in theirs.getvalue()


async def test_configure_logging_switches_loggers(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(diff=False)
    async with Kanta(path, Data()) as db:
        with db.transaction("headline") as data:
            data.counter = 1
        configure_logging(transaction=False)
        with db.transaction("hidden") as data:
            data.counter = 2
        configure_logging(bootstrap=False)
        with db.transaction("full") as data:
            data.counter = 3
    err = capsys.readouterr().err
    assert "created" in err and "bootstrap\n  users" in err
    assert "headline\n" in err and "counter = 1" not in err
    assert "hidden" not in err
    assert "full  counter = 3" in err
    events = [logging.getLogger(name) for name in NAMES if name != "kanta.transaction.diff"]
    assert [log.propagate for log in events] == [True, False, False, False]
    configure_logging(skiproot=False)
    assert [log.propagate for log in events] == [True, True, True, True]
    # One stderr handler each, however often it is called; `kanta` itself is left alone.
    assert [len(log.handlers) for log in events] == [0, 1, 1, 1]


# -- colour -------------------------------------------------------------------------------------


async def paint(path: Path, stream: io.StringIO) -> str:
    capture(stream)
    async with Kanta(path, Data()) as db:
        with db.transaction("prep") as data:
            data.groups["old"] = []
        with db.transaction("paint", user="ann") as data:
            del data.groups["old"]
            data.counter = 4
    return stream.getvalue()


async def test_colour_on_a_terminal(path: Path) -> None:
    text = await paint(path, TTY())
    assert "\x1b[1;34mpaint\x1b[0m by \x1b[34mann\x1b[0m" in text
    assert "\x1b[1;31m✗\x1b[0m" in text
    assert "\x1b[32mcounter\x1b[0m" in text


async def test_the_palette_restyles_kanta_s_own_lines(path: Path) -> None:
    from kanta.tty import colors

    saved = colors.user
    colors.user = "38;5;226"  # read when the line is built, as 0.9.x documents
    try:
        text = await paint(path, TTY())
    finally:
        colors.user = saved
    assert "by \x1b[38;5;226mann\x1b[0m" in text


async def test_no_colour_when_not_a_terminal_or_no_color(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "\x1b[" not in await paint(path, io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in await paint(path.with_name("b.kantadb"), TTY())


async def test_force_color_colours_any_stream(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[1;31m✗\x1b[0m" in await paint(path, io.StringIO())


async def test_no_colour_when_one_handler_is_not_a_terminal(path: Path) -> None:
    capture(io.StringIO())  # a second handler: a log file, say
    assert "\x1b[" not in await paint(path, TTY())


# -- logemit ------------------------------------------------------------------------------------


async def test_logemit_sees_every_event_and_handles_or_passes_it_on(path: Path) -> None:
    stream = capture()
    db = Kanta(path, Data())
    events: list[tuple[str, Any, Any, Any, Any, Any]] = []

    @db.logemit
    def collect(event: LogEvent) -> bool:
        events.append(
            (event.kind, event.action, event.user, event.extra, event.diff, event.current)
        )
        return event.action != "bump"  # handled here: not logged

    await scenario(db)
    kinds = [(kind, action) for kind, action, *_ in events]
    assert kinds == [
        ("created", None),
        ("change", "bootstrap"),
        ("change", "add user"),
        ("change", "bump"),
        ("change", "tidy"),
        ("aborted", "broken"),
    ]
    add = events[2]
    assert add[2:5] == (
        "alice",
        "ticket 7",
        {"users": {"a": {"name": "A", "email": None, "tags": ["x", "y"]}}, "counter": 1},
    )
    assert add[5]["counter"] == 1
    assert events[4][4] == {"users": {"$delete": ["a"]}, "groups": {"g": ["a"]}}
    logged = stream.getvalue()
    assert "add user" in logged and "tidy" in logged and "bump" not in logged


async def test_the_first_logemit_that_handles_an_event_ends_it(path: Path) -> None:
    stream = capture()
    db = Kanta(path, Data())
    calls: list[str] = []

    @db.logemit
    def first(event: LogEvent) -> bool:
        calls.append("first")
        return False

    @db.logemit
    def second(event: LogEvent) -> bool:
        calls.append("second")
        return True

    async with db:
        pass
    assert calls == ["first", "first"]  # created, bootstrap
    assert stream.getvalue() == ""


async def test_event_states_are_built_only_when_asked(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture()
    built: list[Any] = []
    original = JsonSerializer.to_state

    def spy(self: JsonSerializer, value: Any) -> Any:
        if isinstance(value, Data):
            built.append(value)
        return original(self, value)

    monkeypatch.setattr(JsonSerializer, "to_state", spy)
    db = Kanta(path, Data(), flush_interval=3600)
    kept: list[LogEvent] = []

    @db.logfmt
    def nothing(value: Any) -> None:
        return None

    @db.logemit
    def keep(event: LogEvent) -> bool:
        kept.append(event)
        return True

    await db.open()
    built.clear()
    with db.transaction("cheap") as data:
        data.counter = 1
    with db.transaction("cheap again") as data:
        data.counter = 2
    assert built == []  # logged, formatted and emitted without the whole state
    # Asked for once handled, after a later transaction: still the states of its change.
    cheap = kept[-2]
    assert cheap.previous == {"users": {}, "groups": {}, "counter": 0}
    assert cheap.current == {"users": {}, "groups": {}, "counter": 1}
    assert cheap.previous is cheap.previous and len(built) == 2  # built once each
    built.clear()

    @db.logemit
    def wants_previous(event: LogEvent, prev: DictPrev) -> bool:
        assert event.previous is prev  # built once, shared
        return True

    with db.transaction("dear") as data:
        data.counter = 3
    assert len(built) == 1
    assert kept[-1].previous is not None and kept[-1].previous["counter"] == 2
    await db.close()


async def test_nothing_is_built_when_nobody_listens(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logging.getLogger("kanta").setLevel(logging.WARNING)  # INFO records would be dropped
    events: list[Any] = []
    texts: list[Any] = []
    dispatch, header = kanta.events.emit.dispatch, kanta.events.event.header
    monkeypatch.setattr(kanta.events.emit, "dispatch", lambda *a: events.append(a) or dispatch(*a))
    monkeypatch.setattr(kanta.events.event, "header", lambda *a: texts.append(a) or header(*a))
    db = Kanta(path, Data())
    async with db:
        with db.transaction("unseen") as data:
            data.counter = 1
    assert events == [] and texts == []  # no event, let alone a text

    @db.logemit
    def pass_on(event: LogEvent) -> bool:
        return True

    async with db:
        with db.transaction("passed on") as data:
            data.counter = 2
    assert [(event.kind, event.action) for _, event, *_ in events] == [
        ("opened", None),
        ("change", "passed on"),
    ]
    assert texts == []  # the loggers would drop them: no text


def user(name: str, email: str | None = None, tags: list[str] | None = None) -> dict[str, Any]:
    """A User in its builtin form."""
    return {"name": name, "email": email, "tags": tags or []}


def state(users: dict[str, Any], groups: dict[str, Any], counter: int) -> dict[str, Any]:
    """A Data in its builtin form."""
    return {"users": users, "groups": groups, "counter": counter}


EMPTY = state({}, {}, 0)
INSERTED = state({"a": user("A", tags=["x"])}, {}, 0)
UPDATED = state({"a": user("A", "a@x", ["x"])}, {}, 1)
SILENT = state({"a": user("A", "a@x", ["x"])}, {}, 2)
DELETED = state({}, {"g": ["a"]}, 2)
FLAT = state({"b": user("B")}, {"g": ["a"]}, 2)
# Each change event's action, state before and state after.
CHANGES = [
    ("bootstrap", {}, EMPTY),
    ("insert", EMPTY, INSERTED),
    ("update", INSERTED, UPDATED),
    ("delete", SILENT, DELETED),
    ("flat", DELETED, FLAT),
]


async def changes_of_a_session(db: Kanta[Data]) -> None:
    """Insert, update, an unlogged change, an aborted one, delete, a flat insert."""
    await db.open()
    with db.transaction("insert") as data:
        data.users["a"] = User(name="A", tags=["x"])
    with db.transaction("update") as data:
        data.users["a"].email = "a@x"
        data.counter = 1
    with db.transaction("silent", log=False) as data:  # no event, but a change all the same
        data.counter = 2
    with pytest.raises(ValueError), db.transaction("aborted") as data:
        data.counter = 99
        raise ValueError("no")
    with db.transaction("delete") as data:
        del data.users["a"]
        data.groups["g"] = ["a"]
    with db.transaction("flat", touches=[("users", "b")]) as data:
        data.users["b"] = User(name="B")


@pytest.mark.parametrize("serializer", [None, MsgPackSerializer()], ids=["json", "msgpack"])
@pytest.mark.parametrize("when", ["in the handler", "after the session", "both"])
async def test_logemit_events_hold_the_states_before_and_after_their_change(
    path: Path, when: str, serializer: Any
) -> None:
    db = Kanta(path, Data(), serializer=serializer)
    kept: list[LogEvent] = []
    read: list[tuple[str | None, Any, Any]] = []

    @db.logemit
    def keep(event: LogEvent) -> bool:
        if event.kind == "change":
            kept.append(event)
            if when != "after the session":
                read.append((event.action, event.previous, event.current))
        return False

    await changes_of_a_session(db)
    with db.transaction("later") as data:  # the states moved on before anyone asks
        data.users["b"].tags.append("t")
        data.counter = 3
    await db.close()
    if when == "in the handler":
        assert read[:-1] == CHANGES
    else:
        assert read[:-1] == (CHANGES if when == "both" else [])
        assert [(e.action, e.previous, e.current) for e in kept[:-1]] == CHANGES
    await db.open()  # a new opening: the events of the last one keep their states
    with db.transaction("after reopening") as data:
        data.users.clear()
    assert [(e.action, e.previous, e.current) for e in kept[:5]] == CHANGES
    await db.close()


async def test_event_states_are_those_logged_not_an_undeclared_change(path: Path) -> None:
    """A flat transaction's event shows its own change, not a stray change beside it."""
    db = Kanta(path, Data(), tracking="compare")
    kept: list[LogEvent] = []

    @db.logemit
    def keep(event: LogEvent) -> bool:
        kept.append(event)
        return False

    await db.open()
    with db.transaction("flat", touches=[("users", "b")]) as data:
        data.users["b"] = User(name="B")
        data.counter = 7  # not declared: never written, undone by the next check
    early = kept[-1].current  # built while the stray change is still in memory
    with pytest.raises(DataIntegrityError):
        db.check()
    assert early == kept[-1].current == state({"b": user("B")}, {}, 0)
    assert kept[-1].previous == EMPTY
    await db.close()


async def test_event_states_cost_nothing_unless_read(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No whole state is built, and nothing kept, for states nobody reads."""
    built: list[Any] = []
    kept_for: list[Any] = []
    state_of, replaced = kanta.events.timeline.Timeline.state, kanta.events.timeline._replaced

    def counting_state(self: kanta.events.timeline.Timeline, moment: Any) -> Any:
        built.append(moment)
        return state_of(self, moment)

    def counting_replaced(tree: Any, shadow: Any) -> Any:
        if isinstance(shadow, Data):  # the root, not a level of its recursion
            kept_for.append(tree)
        return replaced(tree, shadow)

    monkeypatch.setattr(kanta.events.timeline.Timeline, "state", counting_state)
    monkeypatch.setattr(kanta.events.timeline, "_replaced", counting_replaced)
    capture()
    seen: list[str | None] = []
    kept: list[LogEvent] = []
    db = Kanta(path, Data(users={f"u{i}": User(f"n{i}") for i in range(1_000)}))

    @db.logemit
    def look(event: LogEvent) -> bool:
        seen.append(event.action)  # logged, formatted, never asked for its states
        return True

    await db.open()
    for i in range(5):
        with db.transaction("rename") as data:
            data.users[f"u{i}"].name = "renamed"
    assert seen[-5:] == ["rename"] * 5
    assert built == [] and kept_for == []  # nobody holds an event: nothing kept either

    @db.logemit
    def keep(event: LogEvent) -> bool:
        kept.append(event)
        return True

    for i in range(5):
        with db.transaction("mail") as data:
            data.users[f"u{i}"].email = "e"
    assert built == []
    # While events are held, each transaction keeps what it replaced: one value here.
    assert [list(paths(tree)) for tree in kept_for] == [
        [("users", f"u{i}", "email")] for i in range(5)
    ]
    assert kept[1].previous is not None and kept[1].previous["users"]["u1"]["email"] is None
    assert kept[1].current is not None and kept[1].current["users"]["u1"]["email"] == "e"
    assert len(built) == 2
    await db.close()


class Item(msgspec.Struct):
    label: str = ""
    tags: list[str] = []
    extra: dict[str, int] = {}


class Rich(msgspec.Struct):
    items: dict[int, Item] = {}
    groups: dict[str, dict[str, int]] = {}
    note: str | None = None


def random_change(data: Rich, rng: random.Random) -> None:
    """One random change: inserts (some in bulk), updates, deletes, replacements."""
    keys = list(data.items)
    kind = rng.randrange(9) if keys else 0
    if kind == 0:
        for key in rng.sample(range(1_000), rng.choice([1, 3, 80])):  # 80: a bulk insert
            data.items[key] = Item(label=f"l{key}", tags=["t"] * rng.randrange(3))
    elif kind == 1:
        for key in rng.sample(keys, min(len(keys), rng.choice([1, 5]))):
            del data.items[key]
    elif kind == 2:
        data.items[rng.choice(keys)].label = f"r{rng.randrange(100)}"
    elif kind == 3:
        data.items[rng.choice(keys)].tags.append("n")
    elif kind == 4:
        data.items[rng.choice(keys)].extra[f"e{rng.randrange(3)}"] = rng.randrange(9)
    elif kind == 5:
        data.groups = {f"g{i}": {"x": i} for i in range(rng.randrange(3))}
    elif kind == 6:
        data.groups.setdefault("g0", {})[f"k{rng.randrange(3)}"] = rng.randrange(9)
    elif kind == 7:
        data.note = rng.choice([None, "a", "b"])
    else:
        data.items[rng.choice(keys)] = Item(label="replaced")


@pytest.mark.parametrize("serializer", [None, MsgPackSerializer()], ids=["json", "msgpack"])
async def test_event_states_match_the_state_of_each_transaction(
    path: Path, serializer: Any
) -> None:
    """Random transactions, some unlogged or flat; the events' states are read at random
    times (during later events too) and must be the states each change went between."""
    rng = random.Random(7)
    db = Kanta(path, Rich(), serializer=serializer, flush_interval=3600)
    kept: list[LogEvent] = []

    @db.logemit
    def keep(event: LogEvent) -> bool:
        if event.kind == "change":
            kept.append(event)
            for old in rng.sample(kept, min(len(kept), rng.randrange(3))):
                getattr(old, rng.choice(["previous", "current"]))
        return False

    await db.open()
    expected = [({}, db.serializer.to_state(db.data))]  # (before, after) per logged change
    for n in range(200):
        before = db.serializer.to_state(db.data)
        logged = rng.random() < 0.8
        if db.data.items and rng.random() < 0.2:
            key = rng.choice(list(db.data.items))
            with db.transaction(f"t{n}", log=logged, touches=[("items", key)]) as data:
                data.items[key].label = f"flat{n}"
        else:
            with db.transaction(f"t{n}", log=logged) as data:
                for _ in range(rng.randrange(1, 3)):
                    random_change(data, rng)
        now = db.serializer.to_state(db.data)
        if logged and now != before:
            expected.append((before, now))
        if rng.random() < 0.2:
            await db.flush()
    assert [(e.previous, e.current) for e in kept] == expected
    await db.close()


def paths(tree: dict[Any, Any], parts: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The changed paths of a change tree."""
    for key, op in tree.items():
        if type(op) is dict:
            yield from paths(op, (*parts, key))
        else:
            yield (*parts, key)


# -- logfmt -------------------------------------------------------------------------------------


async def test_logfmt_patterns_users_and_states(path: Path) -> None:
    stream = capture()
    db = Kanta(path, Data())
    asked: list[str] = []

    @db.logfmt(path="users.*")
    def user_name(value: Any, path: str, state: DictState, prev: DictPrev) -> str | None:
        asked.append(path)
        users = {**prev["users"], **state["users"]}
        return f"<{users[value]['name']}>" if value in users else None

    @db.logfmt(path="groups.*.*")
    def member(value: Any, state: DictState) -> str | None:
        return f"@{state['users'][value]['name']}" if value in state["users"] else None

    @db.logfmt(path="$user")
    def who(value: Any) -> str:
        return value.title()

    @db.logfmt
    def never_reached(value: Any, path: str) -> str | None:
        return "WRONG" if path == "$user" else None

    await db.open()
    with db.transaction("add", user="alice smith") as data:
        data.users["u1"] = User(name="Alice")
        data.groups["admins"] = ["u1"]
    with db.transaction("rename") as data:
        data.users["u1"].email = "a@x"
    await db.close()
    assert entries(stream, "add")[:2] == [
        "kanta.transaction|INFO|add by Alice Smith\n"
        "  users.<Alice> =\n"
        "    name:  Alice\n"
        "    email: null\n"
        "    tags:  []\n"
        "  groups.admins = [@Alice]",
        "kanta.transaction.diff|INFO|rename  users.<Alice>.email = a@x",
    ]
    assert "users.u1" in asked and "users.u1.email" not in asked  # one element per `*`


async def test_logfmt_classes_are_instantiated_per_event_with_lazy_states(path: Path) -> None:
    stream = capture()
    db = Kanta(path, Data())
    instances: list[LogFmt] = []

    class Counter(LogFmt):
        def resolve(self, value: Any, path: str) -> str | None:
            if self not in instances:
                instances.append(self)
            if isinstance(value, int) and self.prev and self.state is not None:
                return f"{self.prev['counter']} -> {value}"
            return None

    class Eager(LogFmt):
        def __init__(self, prev: dict[str, Any] | None, state: dict[str, Any] | None) -> None:
            super().__init__(prev, state)
            assert state is not None

    db.logfmt(path="counter")(Counter)
    db.logfmt(path="nothing")(Eager)
    await db.open()
    for n in (1, 2):
        with db.transaction("count") as data:
            data.counter = n
    await db.close()
    assert "count  counter = 0 -> 1" in stream.getvalue()
    assert "count  counter = 1 -> 2" in stream.getvalue()
    assert len(instances) == 3  # bootstrap, and one per transaction
    assert "ERROR" not in stream.getvalue()


# -- importing ----------------------------------------------------------------------------------


def test_importing_kanta_changes_no_logging_setup() -> None:
    code = (
        "import logging, sys\n"
        "root = list(logging.getLogger().handlers)\n"
        "import kanta, kanta.logging\n"
        "assert logging.getLogger().handlers == root, 'root handlers changed'\n"
        f"loggers = [logging.getLogger(n) for n in {NAMES!r}]\n"
        "assert [h for log in loggers for h in log.handlers] == []\n"
        "assert all(log.propagate and log.level == 0 for log in loggers)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""


async def test_a_bulk_change_logs_its_first_lines_and_counts_the_rest(path: Path) -> None:
    stream = capture()
    events: list[LogEvent] = []
    db = Kanta(path, Data())

    @db.logemit
    def keep(event: LogEvent) -> bool:
        events.append(event)
        return True  # and log it too

    await db.open()
    with db.transaction("import") as data:
        data.groups.update({f"g{i:03}": [str(i)] for i in range(250)})
    await db.close()
    text = entries(stream, "import")[0]
    lines = text.splitlines()
    assert lines[1:3] == ["  groups.g000 = [0]", "  groups.g001 = [1]"]
    assert len(lines) == 1 + 100 + 1 and lines[-1] == "  ... and 150 more"
    # The event still carries the whole change, decoded when asked for.
    change = next(event for event in events if event.action == "import")
    assert len(change.diff["groups"]) == 250


async def test_kanta_s_own_lines_lend_no_level(
    path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A level lent is a pass over every logger: only a logemit callback's own lines need one."""
    set_levels: list[tuple[str, int]] = []
    set_level = logging.Logger.setLevel

    def counting(self: logging.Logger, level: int | str) -> None:
        set_levels.append((self.name, int(level)))
        set_level(self, level)

    monkeypatch.setattr(logging.Logger, "setLevel", counting)
    db = Kanta(path, Data())
    async with db:  # caplog's handler is the application's; kanta's loggers have no level
        with db.transaction("plain") as data:
            data.counter = 1
    assert set_levels == []
    assert "plain  counter = 1" in caplog.text  # at INFO all the same, as in 0.9.x

    @db.logemit
    def own_line(event: LogEvent) -> bool:
        assert event.logger is not None
        event.logger.info("own %s", event.action)
        return False

    async with db:
        with db.transaction("custom") as data:
            data.counter = 2
    assert "own custom" in caplog.text
    assert ("kanta.transaction", logging.INFO) in set_levels  # lent for the callback...
    assert logging.getLogger("kanta.transaction").level == logging.NOTSET  # ...and given back
