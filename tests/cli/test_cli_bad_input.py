"""The command line on bad input: option values, hostile strings in the file, unreadable files."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kanta import Kanta, MsgPackSerializer, maintenance
from kanta.cli import common as cli_common
from kanta.cli.commands import main
from kanta.core.jsonlines import JsonSerializer
from kanta.errors import DatabaseError
from kanta.printable import json_printable, printable

ROOT = Path(__file__).parents[2]
TYPES = ROOT / "tests" / "fixtures" / "compat" / "types.json.kantadb"
NOW = datetime(2027, 1, 1, 0, 12, 30, tzinfo=UTC)
FORMATS = ["json", "msgpack"]


@pytest.fixture
def kanta(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run `kanta ARGS...` in-process, colour off, fixed clock: (code, stdout, stderr)."""
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(cli_common, "now", lambda: NOW)

    def run(*args: object) -> tuple[int, str, str]:
        code = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


# -- bad option values: a message and the exit code cli.md gives, never a traceback ------

BAD_VALUES: list[tuple[list[str], int]] = [
    # -r: out of what a datetime holds clamps (open window), as no record is stamped there.
    (["-r", "1000000d"], 0),
    (["-r", "99999999999w"], 0),
    (["-r", "99999999999999999999999s"], 0),
    (["-r", "9999-12-31"], 0),
    (["-r", "9999-12"], 0),
    (["-r", "9999-12-31T23:59:59"], 0),
    (["-r", "9999-12-31/"], 0),
    (["-r", "/9999-12-31"], 0),
    (["-r", "99991231T2359"], 0),
    # -r: not a range at all (exit 1).
    (["-r", "0000-01-01"], 1),
    (["-r", "2026-13-01"], 1),
    (["-r", "2026-02-30"], 1),
    (["-r", "2026-09-28T24"], 1),
    (["-r", "2026-09-28T10:61"], 1),
    (["-r", "yesterday"], 1),
    (["-r", "7y"], 1),
    (["-r", ""], 1),
    (["-r", "/"], 1),
    (["-r", "x/"], 1),
    (["-r", "2026-09-28/9999"], 1),
    (["-r", "l1..l2:l3"], 1),
    (["-r", "l1:5"], 1),
    (["-r", "r-1"], 1),
    (["-r", "l1.5"], 1),
    # -r: well formed, names nothing in the file (exit 2).
    (["-r", "l99"], 2),
    (["-r", "l99999999999999999999999999"], 2),
    (["-r", "s5"], 2),
    (["-r", "s-99999999999999999999999999"], 2),
    (["-r", "99"], 2),
    (["-r", "-99999999999999999999999999"], 2),
    # --context
    (["--context", "abc"], 2),  # usage errors, as 0.9.x's argparse makes them
    (["--context", "-1"], 2),
    (["--context", "1.5"], 2),
    (["--context", ""], 2),
    (["--context", "99999999999999999999999"], 0),
    # -g
    (["-g", "="], 1),
    (["-g", "a..b="], 1),
    (["-g", ".=x"], 1),
    (["-g", "["], 0),
    (["-g", "[!"], 0),
    (["-g", "*=*"], 0),
    # -d, -m, -k
    (["-d", ":"], 1),
    (["-d", "x"], 1),
    (["-d", ""], 1),
    (["-d", "no_such_module_here:T"], 1),
    (["-d", "..:T"], 1),
    (["-d", "os:path"], 1),
    (["-d", "json:no_such_attr"], 1),
    (["-d", "missing.py:T"], 1),
    (["-d", "{tmp}/unresolvable.py:T"], 1),
    (["-d", "builtins:int"], 21),
    (["-m", ""], 20),  # migrations that cannot be imported: a migration error, as in 0.9.x
    (["-m", "no_such_module_here"], 20),
    (["-m", "missing.py"], 20),
    (["-m", "{tmp}/failing.py"], 20),
    (["-k", ""], 1),
    (["-k", ":"], 1),
    (["-k", "os"], 1),
    (["-k", "json:dumps"], 1),
    (["-k", "json:dumps", "-d", "builtins:dict"], 2),
    # -o
    (["-o", "{tmp}"], 1),
    (["-o", "{db}"], 1),
    (["--no-such-option"], 2),
]

SUBCOMMAND_BAD_VALUES: list[tuple[list[str], int]] = [
    (["show", "{db}", "--at", "9999-12-31T23:59:59"], 0),
    (["show", "{db}", "--at", "9999-12"], 0),
    (["show", "{db}", "--at", "99999999999w"], 0),
    (["show", "{db}", "--at", "1000000d"], 0),
    (["show", "{db}", "--at", "yesterday"], 1),
    (["show", "{db}", "--at", ""], 1),
    (["show", "{db}", "--at", "r"], 1),
    (["show", "{db}", "--at", "r-1"], 1),
    (["show", "{db}", "--at", "0000-01-01"], 1),
    (["show", "{db}", "--at", "r99"], 2),
    (["show", "{db}", "--at", "r99999999999999999999999999"], 2),
    (["diff", "{db}", "r1", "9999-12-31T23:59:59"], 0),
    (["diff", "{db}", "99999999999w", "9999-12-31"], 0),
    (["diff", "{db}", "x", "r2"], 1),
    (["diff", "{db}", "-1", "r2"], 1),
    (["diff", "{db}", "r1", "r99"], 2),
    (["diff", "{db}", "r1"], 2),
    (["blame", "{db}", ""], 1),
    (["blame", "{db}", "a..b"], 1),
    (["blame", "{db}", "."], 1),
    (["blame", "{db}", "["], 0),
    (["convert", "{db}", "{tmp}/out.kantadb", "--to", "xml"], 2),
    (["convert", "{db}", "{db}", "--to", "json"], 1),
]


@pytest.fixture
def places(tmp_path: Path) -> dict[str, str]:
    """What `{tmp}` and `{db}` stand for, with the modules the -d and -m cases import."""
    db = tmp_path / "types.json.kantadb"
    db.write_bytes(TYPES.read_bytes())
    (tmp_path / "unresolvable.py").write_text(
        "import msgspec\n\nclass T(msgspec.Struct):\n    counter: 'NoSuchName'\n"
    )
    (tmp_path / "failing.py").write_text("def migrate_v1(d):\n    raise KeyError('boom')\n")
    return {"tmp": str(tmp_path), "db": str(db)}


def _fill(args: list[str], places: dict[str, str]) -> list[str]:
    return [arg.format(**places) for arg in args]


def _check(run: tuple[int, str, str], code: int, db: Path, before: bytes) -> None:
    got, _, err = run
    assert "Traceback" not in err
    assert got == code, err
    if code == 1 and "usage:" not in err:
        assert err.startswith("kanta: ")  # one line that says what is wrong
    assert db.read_bytes() == before  # a bad value never changes the file


@pytest.mark.parametrize(("args", "code"), BAD_VALUES)
def test_a_bad_log_option_value_is_a_clean_error(
    kanta: Any, places: dict[str, str], args: list[str], code: int
) -> None:
    db = Path(places["db"])
    before = db.read_bytes()
    _check(kanta(places["db"], "-q", *_fill(args, places)), code, db, before)


@pytest.mark.parametrize(("args", "code"), SUBCOMMAND_BAD_VALUES)
def test_a_bad_subcommand_value_is_a_clean_error(
    kanta: Any, places: dict[str, str], args: list[str], code: int
) -> None:
    db = Path(places["db"])
    before = db.read_bytes()
    _check(kanta(*_fill(args, places)), code, db, before)


def test_out_of_range_times_clamp_to_open_windows(kanta: Any) -> None:
    def count(*args: str) -> int:
        code, _, err = kanta(TYPES, *args)
        assert code == 0
        return len(re.findall(r"^l\d+ ", err, re.MULTILINE))

    assert count("-r", "1000000d") == count("-r", "99999999999w") == 12  # everything
    assert count("-r", "9999-12-31") == count("-r", "9999-12") == 0  # nothing stamped there
    assert count("-r", "2027-01-01T00:11/9999-12-31") == 2
    code, out, _ = kanta("show", TYPES, "--at", "99999999999w")
    assert (code, json.loads(out)) == (0, {})  # before the first record: the empty state
    code, out, _ = kanta("show", TYPES, "--at", "9999-12-31T23:59:59")
    assert (code, json.loads(out)) == (0, json.loads(kanta("show", TYPES)[1]))


@pytest.mark.parametrize(
    "args",
    [
        ["-r", "1000000d"],
        ["-r", "9999-12-31"],
        ["-r", "99999999999w"],
        ["-r", "9999-12"],
        ["show", "--at", "9999-12-31T23:59:59"],
    ],
)
def test_the_reported_values_give_no_traceback_in_a_real_process(
    tmp_path: Path, args: list[str]
) -> None:
    command = ["show", str(TYPES), *args[1:]] if args[0] == "show" else [str(TYPES), "-q", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "kanta", *command],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert b"Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr


# -- hostile strings: control characters never reach the terminal ------------------------

EVIL = "\x1b]0;pwned\x07\r\x1b[2J\x08\x00\x01\x7f\x85\x9b\u202e\u2028\n\tend"
UNICODE = "Ädé 漢字 🎉 👩‍💻"
# Raw control characters other than the newlines kanta writes (and the ESC of its own
# colour codes, which are taken out before this is applied).
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
OWN_COLOURS = re.compile("\x1b\\[[0-9;]*m")


async def _write_evil(path: Path, fmt: str) -> None:
    serializer = JsonSerializer() if fmt == "json" else MsgPackSerializer()
    async with Kanta(path, {}, serializer=serializer) as db:
        with db.transaction(action="boot" + EVIL, user="mal" + EVIL) as data:
            data["k" + EVIL] = "v" + EVIL
            data["users"] = {"u" + EVIL: {"name" + EVIL: UNICODE + EVIL}}
            data["list"] = ["x" + EVIL, 1]
        with db.transaction(action="edit" + EVIL, user="mal" + EVIL) as data:
            data["users"]["u" + EVIL]["name" + EVIL] = "second" + EVIL
            del data["k" + EVIL]
        await db.flush()
        db.request_snapshot()
        await db.flush()
        with db.transaction(action="late", user="mal" + EVIL) as data:
            data["list"].append("y" + EVIL)


@pytest.fixture(params=FORMATS)
def evil_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A database whose values, keys, actions and users hold control characters."""
    path = tmp_path / f"evil.{request.param}.kantadb"
    asyncio.run(_write_evil(path, request.param))
    return path


HUMAN_COMMANDS = [
    [],
    ["-g", "pwned"],
    ["-g", "users.*=second"],
    ["-g", "mal"],
    ["-r", "s1", "-g", "end"],
    ["diff", "r0", "r4"],
    ["diff", "r4", "r2"],
    ["blame", "*"],
    ["blame", "users.*.*"],
    ["stats"],
    ["verify"],
]


def _run_on(kanta: Any, db: Path, args: list[str]) -> tuple[int, str, str]:
    if args and args[0] in ("diff", "blame", "stats", "verify", "show"):
        return kanta(args[0], db, *args[1:])
    return kanta(db, *args)


@pytest.mark.parametrize("colour", [False, True])
@pytest.mark.parametrize("args", HUMAN_COMMANDS)
def test_control_characters_in_the_file_are_escaped_in_human_output(
    kanta: Any, evil_db: Path, args: list[str], colour: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if colour:
        monkeypatch.setenv("FORCE_COLOR", "1")
    code, _, err = _run_on(kanta, evil_db, args)
    assert code == 0, err
    shown = OWN_COLOURS.sub("", err) if colour else err
    if not colour:
        assert "\x1b" not in err
    assert RAW_CONTROL.search(shown) is None, shown
    assert "\\x1b]0;pwned\\x07\\r\\x1b[2J\\x08" in shown or args[:1] == ["verify"]


def test_what_the_history_view_shows_of_hostile_strings(kanta: Any, evil_db: Path) -> None:
    err = kanta(evil_db)[2]
    escaped = printable(EVIL)
    assert escaped == (
        "\\x1b]0;pwned\\x07\\r\\x1b[2J\\x08\\x00\\x01\\x7f\\x85\\x9b\\u202e\\u2028\\n\\tend"
    )
    lines = err.splitlines()
    assert lines[1].startswith("l2 ")  # after the bootstrap record
    assert lines[1].endswith(f"boot{escaped} by mal{escaped} r2")
    assert f"  k{escaped} = v{escaped}" in lines
    assert f"  users.u{escaped}.name{escaped} = second{escaped}" in lines
    assert UNICODE in err  # accents, CJK, emoji (with its joiner) as they are
    assert f"k{escaped} ✗" in err


@pytest.mark.parametrize("args", [["-q", "-o", "-"], ["show"]])
def test_json_output_stays_json_with_its_own_escapes(
    kanta: Any, evil_db: Path, args: list[str]
) -> None:
    code, out, _ = _run_on(kanta, evil_db, args)
    assert code == 0
    # JSON escapes C0 itself; DEL and C1 get \u escapes too. Other characters stay raw.
    assert re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", out) is None
    assert "\\u001b]0;pwned\\u0007\\r" in out and "\\u007f\\u0085\\u009b" in out
    state = json.loads(out)
    assert state["users"]["u" + EVIL] == {"name" + EVIL: "second" + EVIL}
    assert state["list"] == ["x" + EVIL, 1, "y" + EVIL]


def test_json_printable_keeps_the_value() -> None:
    data = json.dumps({"a\x7f": "\x85\x9f\x80 é"}, ensure_ascii=False).encode()
    safe = json_printable(data)
    assert b"\x7f" not in safe and b"\xc2\x85" not in safe
    assert json.loads(safe) == json.loads(data)
    assert json_printable(b'{"a":"\xc3\xa9"}') == b'{"a":"\xc3\xa9"}'  # é is C3 A9: kept


def test_the_transaction_log_escapes_hostile_strings(tmp_path: Path) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log = logging.getLogger("kanta")
    saved = (log.level, log.propagate)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        asyncio.run(_write_evil(tmp_path / "db.kantadb", "json"))
    finally:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate = saved[1]
    text = stream.getvalue()
    assert f"boot{printable(EVIL)}" in text and f"by mal{printable(EVIL)}" in text
    assert RAW_CONTROL.search(text) is None, text
    assert UNICODE in text


# -- unreadable files: DatabaseError with a byte offset is exit 10 everywhere -------------


def _not_a_database(path: Path, data: bytes | None = None) -> Any:
    raise DatabaseError("not a kanta database", db_path=path, position=1, byte_pos=0)


UNREADABLE_COMMANDS = [[], ["-q", "-o", "-"], ["show"], ["diff", "r0", "r1"], ["blame", "x"]]


@pytest.mark.parametrize("args", [*UNREADABLE_COMMANDS, ["stats"], ["verify"]])
def test_an_error_at_byte_0_from_reading_the_history_exits_10(
    kanta: Any, tmp_path: Path, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_common, "read_history", _not_a_database)
    monkeypatch.setattr(maintenance, "read_history", _not_a_database)  # verify's reader
    path = tmp_path / "db.kantadb"
    path.write_bytes(TYPES.read_bytes())
    code, out, err = _run_on(kanta, path, args)
    assert (code, out) == (10, "")
    assert "record 1, byte 0: not a kanta database" in err


@pytest.mark.parametrize(
    "content", [b"hello, world\nnot a database\n", bytes(range(256)) * 4], ids=["text", "binary"]
)
@pytest.mark.parametrize("args", [*UNREADABLE_COMMANDS, ["stats"], ["verify"]])
def test_a_text_or_binary_file_exits_10(
    kanta: Any, tmp_path: Path, args: list[str], content: bytes
) -> None:
    path = tmp_path / "not.kantadb"
    path.write_bytes(content)
    code, out, err = _run_on(kanta, path, args)
    assert (code, out) == (10, ""), err
    assert "Traceback" not in err
    assert path.read_bytes() == content


@pytest.mark.parametrize("alias", [False, True])
def test_output_onto_the_database_itself_is_refused(
    alias: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "db.kantadb"

    async def make() -> None:
        async with Kanta(path, {}, type=dict) as db:
            with db.transaction("set") as data:
                data["a"] = 1

    asyncio.run(make())
    before = path.read_bytes()
    target = tmp_path / "link.kantadb" if alias else path
    if alias:
        target.symlink_to(path)  # another name for the same file
    assert main([str(path), "-q", "-o", str(target)]) == 1
    assert "that is the database file" in capsys.readouterr().err
    assert path.read_bytes() == before
