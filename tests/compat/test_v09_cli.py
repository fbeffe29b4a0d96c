"""Point 8 of issue 12: plain `kanta FILE [options]` behaves as kanta 0.9.x's command line.

Database files are written by 0.9.4 itself and by ours; both command lines run on them
with the same arguments, and what they print (ANSI stripped) and exit with must agree.
Where ours differs on purpose (docs/migrating.md), the targeted tests below say how.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from kanta094 import run_program

TESTS = Path(__file__).parents[1]
ROOT = TESTS.parent
COMPAT = TESTS / "fixtures" / "compat"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

MODELS = """
from datetime import datetime
import msgspec

class Address(msgspec.Struct):
    city: str = "-"
    zip: str | None = None

class User(msgspec.Struct):
    name: str = "-"
    email: str | None = None
    tags: list[str] = []
    address: Address | None = None

class Data(msgspec.Struct):
    users: dict[str, User] = {}
    when: datetime | None = None
    meta: dict[str, object] = {}
    nums: list[int] = []
"""

# Every change kind the viewer shows, with a fixed clock; no empty strings (see below).
WRITE = """
import asyncio, sys
from datetime import UTC, datetime, timedelta
from kanta import Kanta
from models import Address, Data, User

T = [datetime(2027, 1, 1, tzinfo=UTC)]

async def main(path):
    db = Kanta(path, Data())

    @db.clock
    def clock():
        T[0] += timedelta(minutes=1)
        return T[0]

    async with db:
        with db.transaction("create", user="admin") as d:
            d.users["a"] = User(name="Alice", email="a@example.com", tags=["x", "y"],
                                address=Address(city="Oulu"))
            d.users["b"] = User(name="Bob", address=Address(city="Turku"))
        with db.transaction("types", user="root") as d:
            d.when = datetime(2027, 5, 6, 7, 8, 9, tzinfo=UTC)
            d.meta.update({"colon": "has: colon", "n": None, "q": "'quoted'", "num": "123",
                           "t": "true", "f": 1e100, "l": ["a,b", "c"],
                           "nested": {"deep": [1, {"x": None, "y": "a b"}], "d": {"k": "v"}}})
            d.nums = [1, 2, 3]
        with db.transaction("edit", user="admin") as d:
            d.users["b"].email = "b@example.com"
            d.users["a"].tags.append("z")
            d.nums[1] = 9
        db.request_snapshot()
        await db.flush()
        with db.transaction("delete", user="admin") as d:
            del d.users["a"]
            del d.meta["colon"]
        with db.transaction("multi") as d:
            d.meta["x"] = {"email": "b@example.com"}
            d.meta["y"] = [{"a": 1}, [2, 3]]

asyncio.run(main(sys.argv[1]))
"""

# A -k module: logfmt for the user, one key and e-mail addresses; logemit prints a line
# per event, handles (prints itself) the deletions and passes the rest on.
HOOKS = """
import sys
from kanta import Kanta, LogEvent
from models import Data

kanta = Kanta("unused.kantadb", Data())

@kanta.logfmt(path="$user")
def user(value: str) -> str | None:
    return f"<{value}>"

@kanta.logfmt(path="users.a")
def alice_key(value: str) -> str | None:
    return "alicekey" if value == "a" else None

@kanta.logfmt
def emails(value: str, path: str) -> str | None:
    return value.upper() if isinstance(value, str) and "@" in value else None

@kanta.logemit
def emit(ev: LogEvent):
    print(f"EMIT {ev.kind} {ev.action} {ev.user} {sorted(ev.diff)}", file=sys.stderr)
    if ev.action == "delete":
        print("HANDLED", file=sys.stderr)
        return None
    if ev.action == "edit":
        ev.header = "CUSTOM " + ev.action
    return True
"""

# A -k module with formatters only (0.9.4 ignores a logemit header under --grep).
FORMATS = HOOKS.split("@kanta.logemit")[0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, kanta094: str, ours: str) -> Path:
    """A folder with the database files (by 0.9.4 and by ours) and the user modules."""
    folder = tmp_path_factory.mktemp("v09cli")
    for name, text in {"models": MODELS, "hooks": HOOKS, "formats": FORMATS}.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(text))
    shutil.copy(TESTS / "compat_migrations.py", folder)
    for name in ("rotated.json", "legacy.json", "jsondiff.json", "migrated.json"):
        shutil.copy(COMPAT / f"{name}.kantadb", folder)
    for python, name in ((kanta094, "by094"), (ours, "byours")):
        done = run_program(python, WRITE, f"{name}.kantadb", cwd=folder)
        assert done.returncode == 0, done.stderr
    return folder


def cli(python: str, folder: Path, *args: str, mine: bool) -> tuple[int, str, str]:
    """Run `python -m kanta ARGS` in `folder`: exit code, stdout and stderr, ANSI stripped."""
    paths = [str(ROOT), str(folder)] if mine else [str(folder)]
    keep = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    env = {**keep, "PYTHONPATH": os.pathsep.join(paths), "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        [python, "-m", "kanta", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    return done.returncode, ANSI.sub("", done.stdout), ANSI.sub("", done.stderr)


def both(kanta094: str, ours: str, folder: Path, *args: str) -> tuple[tuple[int, str, str], ...]:
    """What 0.9.4's command line and ours give for the same arguments."""
    return cli(kanta094, folder, *args, mine=False), cli(ours, folder, *args, mine=True)


SAME = [
    [],
    ["-q"],
    ["-r", "l2"],
    ["-r", "l2:l4"],
    ["-r", "l2..l4"],
    ["-r", "s1"],
    ["-r", "s-1"],
    ["-r", "r3"],
    ["-r", "r2..r3"],
    ["-r", "2:4"],
    ["-r", "-1"],
    ["-r", "v0"],
    ["-r", "2027-01-01T00:03"],
    ["-r", "2027-01-01T00:02/2027-01-01T00:04"],
    ["-r", "l2:", "-r", "0:2"],
    ["-g", "alice"],
    ["-g", "users.*.email"],
    ["-g", "=oulu"],
    ["-g", "users.a.name=alice"],
    ["-g", "admin", "-g", "email"],
    ["-g", "admin", "--context", "1"],
    ["-r", "l3", "--context", "1"],
    ["-g", "nothing-matches"],
    ["-q", "-o", "-"],
    ["-r", "l3", "-o", "-"],
    ["-d", "models.Data", "-q"],
    ["-d", "models.Data", "-q", "-o", "-"],
    ["-k", "hooks"],
    ["-k", "hooks", "-r", "l4..l5", "-q"],
    ["-k", "hooks", "-o", "-"],
    ["-k", "formats", "-g", "alicekey"],
    ["-k", "formats", "-g", "<root>"],
]


@pytest.mark.parametrize("writer", ["by094", "byours"])
@pytest.mark.parametrize("args", SAME, ids=" ".join)
def test_same_output_and_exit_code(
    folder: Path, kanta094: str, ours: str, writer: str, args: list[str]
) -> None:
    theirs, mine = both(kanta094, ours, folder, f"{writer}.kantadb", *args)
    assert mine == theirs


OTHER_FILES = [
    ("rotated.json", []),
    ("rotated.json", ["-r", "s0"]),
    ("rotated.json", ["-r", "s-1"]),
    ("rotated.json", ["-r", "s0:l3"]),
    ("rotated.json", ["-r", "r5"]),
    ("rotated.json", ["-r", "r1:r6", "-o", "-"]),
    ("legacy.json", []),
    ("migrated.json", ["-m", "compat_migrations", "-r", "l2"]),
    ("migrated.json", ["-m", "compat_migrations", "-q", "-r", "l2", "-o", "-"]),
]


@pytest.mark.parametrize(("name", "args"), OTHER_FILES, ids=lambda x: " ".join(x) or "-")
def test_same_output_on_rotated_legacy_and_jsondiff_files(
    folder: Path, kanta094: str, ours: str, name: str, args: list[str]
) -> None:
    theirs, mine = both(kanta094, ours, folder, f"{name}.kantadb", *args)
    assert mine == theirs


FAILURES = [
    ["by094.kantadb", "-r", "100"],  # a plain index that is not there: 2
    ["by094.kantadb", "-r", "s0"],  # no leading snapshot: 2
    ["by094.kantadb", "-r", "bogus"],
    ["by094.kantadb", "--context", "x"],
    ["by094.kantadb", "--context", "-1"],
    ["by094.kantadb", "--bogus"],
    ["by094.kantadb", "-k", "hooks", "-d", "models.Data"],
    ["by094.kantadb", "-m", "no_such_migrations"],
    ["by094.kantadb", "-d", "models.Nope"],
    ["no-such-file.kantadb"],
]


@pytest.mark.parametrize("args", FAILURES, ids=" ".join)
def test_same_exit_code_on_errors(folder: Path, kanta094: str, ours: str, args: list[str]) -> None:
    theirs, mine = both(kanta094, ours, folder, *args)
    assert mine[0] == theirs[0] != 0
    assert mine[1] == theirs[1] == ""  # the message goes to stderr, worded our way
    assert mine[2]


# -- the points one by one ------------------------------------------------------------------


def test_a_leading_snapshot_is_s0_and_its_size_is_the_states(folder: Path, ours: str) -> None:
    _, _, err = cli(ours, folder, "rotated.json.kantadb", "-r", "s0", mine=True)
    state = json.loads((COMPAT / "rotated.json.kantadb").read_text().split("\n")[0][9:])["state"]
    size = len(json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode())
    assert err == f"l1   2027-01-03 12:00:00 snapshot s0 v0 2027-01-03 12:00:00 {size} B\n\n"


def test_logemit_handles_records_and_replaces_headers(folder: Path, ours: str) -> None:
    code, _, err = cli(ours, folder, "by094.kantadb", "-k", "hooks", "-r", "l4..l5", mine=True)
    assert code == 0
    lines = err.splitlines()
    assert lines[:2] == [
        "EMIT change edit <admin> ['nums', 'users']",  # the user through logfmt
        "l4   2027-01-01 00:04:00 CUSTOM edit r4",
    ]
    # The deletion was handled by the callback: the viewer prints nothing for it.
    assert "EMIT change delete <admin> ['meta', 'users']" in lines
    assert "HANDLED" in lines
    assert not any(line.startswith("l5 ") for line in lines)


def test_logfmt_formats_display_and_grep(folder: Path, ours: str) -> None:
    _, _, err = cli(ours, folder, "by094.kantadb", "-k", "formats", "-g", "alicekey", mine=True)
    assert "  users.alicekey =" in err.splitlines()
    assert "    email:        A@EXAMPLE.COM" in err.splitlines()
    assert "l2   2027-01-01 00:02:00 create by <admin> r2" in err.splitlines()


def test_grep_finds_a_deletion_by_its_previous_value(folder: Path, ours: str) -> None:
    _, _, err = cli(ours, folder, "by094.kantadb", "-g", "users.a.name=alice", mine=True)
    assert re.findall(r"^l\d+", err, re.MULTILINE) == ["l2", "l5"]
    assert "l5   2027-01-01 00:05:00 delete by admin r5\n  users.a ✗\n" in err


def test_help_names_the_version(folder: Path, ours: str) -> None:
    from kanta import __version__

    for args in (["--help"], ["log", "--help"]):
        _, out, _ = cli(ours, folder, *args, mine=True)
        assert f"kanta {__version__}" in out


def test_nested_values_print_in_flow_style_and_json_under_o(folder: Path, ours: str) -> None:
    code, out, err = cli(ours, folder, "byours.kantadb", "-r", "l3", "-o", "-", mine=True)
    assert code == 0
    assert "  meta.l = [a,b, c]" in err.splitlines()
    assert "    deep:         [1, {x: null, y: a b}]" in err.splitlines()
    assert "  meta.f = 1e+100" in err.splitlines()
    assert json.loads(out)["meta"]["nested"] == {
        "deep": [1, {"x": None, "y": "a b"}],
        "d": {"k": "v"},
    }


SCALAR_DELETE = """
import asyncio, json, sys
import msgspec
from kanta import Kanta

class Data(msgspec.Struct):
    users: dict[str, int] = {}
    nums: list[int] = []

async def main():
    db = Kanta(sys.argv[1], Data())
    await db.open(readonly=True)
    print(json.dumps({"state": msgspec.to_builtins(db.data), "rev": db.rev}))

asyncio.run(main())
"""


def test_a_scalar_delete_opens_and_prints_as_in_0_9(
    tmp_path: Path, kanta094: str, ours: str
) -> None:
    records = [
        {"ts": "2027-01-01T00:01:00Z", "a": "b", "diff": {"users": {"a": 1, "b": 2}, "nums": [1]}},
        {"ts": "2027-01-01T00:02:00Z", "a": "d", "diff": {"users": {"$delete": "a"}}},
    ]
    path = tmp_path / "scalar.kantadb"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    theirs = run_program(kanta094, SCALAR_DELETE, str(path), cwd=tmp_path)
    mine = run_program(ours, SCALAR_DELETE, str(path), cwd=tmp_path)
    assert theirs.returncode == mine.returncode == 0, theirs.stderr + mine.stderr
    assert json.loads(mine.stdout) == json.loads(theirs.stdout)
    assert json.loads(mine.stdout)["state"]["users"] == {"b": 2}
    _, _, err = cli(ours, tmp_path, path.name, mine=True)
    assert "l2   2027-01-01 00:02:00 d r2  users.a ✗" in err.splitlines()


def test_empty_strings_show_as_quotes_where_0_9_shows_nothing(tmp_path: Path, ours: str) -> None:
    record = {"ts": "2027-01-01T00:01:00Z", "a": "b", "diff": {"e": "", "l": ["", "x"]}}
    (tmp_path / "empty.kantadb").write_text(json.dumps(record) + "\n")
    _, _, err = cli(ours, tmp_path, "empty.kantadb", mine=True)
    assert err.splitlines()[1:3] == ['  e = ""', '  l = ["", x]']
