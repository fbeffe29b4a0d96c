"""The `kanta` command line, run in-process (and twice as a real `python -m kanta`)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kanta.cli import common as cli_common
from kanta.cli.commands import main

ROOT = Path(__file__).parents[2]
COMPAT = Path(__file__).parents[1] / "fixtures" / "compat"
TYPES = {"json": COMPAT / "types.json.kantadb", "msgpack": COMPAT / "types.msgpack.kantadb"}
MIGRATED = {
    "json": COMPAT / "migrated.json.kantadb",
    "msgpack": COMPAT / "migrated.msgpack.kantadb",
}
FORMATS = ["json", "msgpack"]
# types.*.kantadb is stamped 00:01 .. 00:12 on 2027-01-01, one record a minute.
NOW = datetime(2027, 1, 1, 0, 12, 30, tzinfo=UTC)


@dataclass
class Run:
    """What one `kanta` run returned and printed."""

    code: int
    out: str
    err: str

    @property
    def labels(self) -> list[str]:
        """The `lN` labels of the records printed, in order."""
        return re.findall(r"^(l\d+) ", self.err, re.MULTILINE)


@pytest.fixture
def kanta(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run `kanta ARGS...` in-process, with colour off and a fixed clock."""
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(cli_common, "now", lambda: NOW)

    def run(*args: object) -> Run:
        code = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def labels(first: int, last: int) -> list[str]:
    return [f"l{n}" for n in range(first, last + 1)]


# -- the history view ---------------------------------------------------------------------


def test_records_print_with_header_diff_and_snapshot_lines(kanta: Any) -> None:
    lines = kanta(TYPES["json"]).err.splitlines()
    assert lines[lines.index("l2   2027-01-01 00:02:00 create_user by admin r2") + 1 :][:3] == [
        "  users.u0 =",
        "    name:         User 0",
        "    email:        u0@example.com",
    ]
    # The size is the state's, as compact JSON (what 0.9.x shows), not the record's.
    assert "l8   2027-01-01 00:08:00 snapshot s1 v0 2027-01-01 00:07:00 729 B" in lines
    assert "l9   2027-01-01 00:09:00 delete_user by admin r8  users.u0 ✗" in lines
    assert "l11  2027-01-01 00:11:00 counter r10  counter = 8" in lines


def test_a_dict_is_a_block_only_where_it_is_newly_assigned(kanta: Any) -> None:
    # l6 edits users.u1 (it existed) and assigns a dict over address, which was null.
    err = kanta(TYPES["json"], "-r", "l6").err
    assert err.splitlines() == [
        "l6   2027-01-01 00:06:00 tag by u1 r6",
        "  users.u1.tags = [a, z]",
        "  users.u1.address =",
        "    city:         Oulu",
        "    zip:          null",
        "",  # after a record of several lines, as 0.9.x prints it
        "",  # and after the last one
    ]


def test_list_edits_of_jsondiff_files_print_by_position(kanta: Any) -> None:
    err = kanta(COMPAT / "jsondiff.json.kantadb", "-r", "l2").err
    assert "  numbers.1 ✗" in err
    assert "  numbers.1 = 9 (inserted)" in err
    assert "  users =\n    a:            {name: A, tags: [x]}" in err


def test_binary_and_json_files_print_the_same_history(kanta: Any) -> None:
    def shown(fmt: str) -> str:
        return re.sub(r" \d+ B$", " N B", kanta(TYPES[fmt]).err, flags=re.MULTILINE)

    assert shown("json") == shown("msgpack")


def test_log_subcommand_and_bare_file_are_the_same(kanta: Any) -> None:
    assert kanta("log", TYPES["json"], "-r", "l3").err == kanta(TYPES["json"], "-r", "l3").err
    assert kanta("-r", "l3", TYPES["json"]).labels == ["l3"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        (["l3"], ["l3"]),
        (["l3:l5"], ["l3", "l4"]),
        (["l3..l5"], ["l3", "l4", "l5"]),
        (["l11:"], ["l11", "l12"]),
        ([":l3"], ["l1", "l2"]),
        (["s1"], ["l8"]),
        (["s-1"], ["l8"]),
        (["s1:"], labels(8, 12)),
        ([":s1"], labels(1, 7)),
        (["v0"], labels(1, 12)),
        (["r7"], ["l7", "l8"]),  # the change that made r7, and the snapshot of it
        (["r8"], ["l9"]),
        (["r2..r3"], ["l2", "l3"]),
        (["0"], ["l1"]),
        (["2:4"], ["l3", "l4"]),
        (["2..4"], ["l3", "l4", "l5"]),
        (["-1"], ["l12"]),
        (["-2:"], ["l11", "l12"]),
        (["l3:l10", "r5:"], ["l5", "l6", "l7", "l8", "l9"]),
        (["l3:", "0"], ["l3"]),  # plain numbers index what the other specs leave
        (["5min"], labels(8, 12)),
        (["2027-01-01T00:05"], ["l5"]),
        (["20270101T0005"], ["l5"]),
        (["2027-01-01"], labels(1, 12)),
        (["2027-01-01T00:05/2027-01-01T00:06"], ["l5", "l6"]),
        (["2027-01-01T00:10/"], ["l10", "l11", "l12"]),
        (["/2027-01-01T00:02"], ["l1", "l2"]),
        (["2026-12-31"], []),
        (["2h", "l4"], ["l4"]),
    ],
)
def test_ranges_select_the_same_records_in_both_formats(
    kanta: Any, fmt: str, specs: list[str], expected: list[str]
) -> None:
    run = kanta(TYPES[fmt], *[arg for spec in specs for arg in ("-r", spec)])
    assert run.code == 0
    assert run.labels == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_version_ranges(kanta: Any, fmt: str) -> None:
    # migrated.*: l1, l2 at v0; l3 the migrate:v2 record, l4 a snapshot, l5 at v2.
    assert kanta(MIGRATED[fmt], "-r", "v0").labels == ["l1", "l2"]
    assert kanta(MIGRATED[fmt], "-r", "v2").labels == ["l3", "l4", "l5"]
    assert kanta(MIGRATED[fmt], "-r", "v1:").labels == ["l3", "l4", "l5"]
    assert kanta(MIGRATED[fmt], "-r", "v1").code == 2


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ("l99", 2),
        ("s2", 2),
        ("r0", 2),
        ("v1", 2),
        ("12", 2),
        ("-13", 2),
        ("20:", 2),
        ("x5", 1),
        ("l-1", 1),
        ("2026-02-30", 1),
    ],
)
def test_ranges_that_name_nothing_exit_2_and_bad_ones_exit_1(
    kanta: Any, spec: str, code: int
) -> None:
    run = kanta(TYPES["json"], "-r", spec)
    assert run.code == code
    assert spec in run.err
    assert run.labels == []


def test_a_plain_range_counts_the_grep_output(kanta: Any) -> None:
    assert kanta(TYPES["json"], "-g", "create_user", "-r", "-1").labels == ["l4"]
    assert kanta(TYPES["json"], "-g", "create_user", "-r", "3").code == 2
    assert kanta(TYPES["json"], "-g", "create_user", "-r", "1:").labels == ["l3", "l4"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["create_user"], ["l2", "l3", "l4"]),  # action
        (["CREATE_USER"], ["l2", "l3", "l4"]),
        (["root"], ["l5"]),  # user
        # A path, also in the snapshot's state and in what l9 deletes (users.u0).
        (["users.*.email"], ["l2", "l3", "l4", "l8", "l9"]),
        (["=oulu"], ["l6", "l8"]),
        (["counter=8"], ["l11"]),
        (["flag=true"], ["l5", "l8"]),
        (["users.u1.address="], ["l3", "l6", "l8", "l10"]),
        (["users.u0="], ["l2", "l8", "l9"]),  # l9 deletes it
        (["create_user", "u1"], ["l3"]),  # all patterns must match
        (["=AAH/aGk="], ["l5", "l8"]),  # bytes in binary files match as in JSON ones
        (["tru"], []),
    ],
)
def test_grep(kanta: Any, fmt: str, patterns: list[str], expected: list[str]) -> None:
    run = kanta(TYPES[fmt], *[arg for pattern in patterns for arg in ("-g", pattern)])
    assert run.code == 0
    assert run.labels == expected


def test_grep_sees_list_edits_of_jsondiff_files(kanta: Any) -> None:
    jsondiff = COMPAT / "jsondiff.json.kantadb"
    assert kanta(jsondiff, "-g", "=9").labels == ["l2"]  # inserted at numbers.1
    assert kanta(jsondiff, "-g", "users.a.tags=y").labels == ["l3"]


def test_a_matching_snapshot_shows_its_matching_lines(kanta: Any) -> None:
    err = kanta(TYPES["json"], "-g", "oulu").err
    assert "l8   2027-01-01 00:08:00 snapshot s1 v0 2027-01-01 00:07:00 729 B\n" in err
    # The matching record of the state, whole, as 0.9.x shows it.
    assert "\n  users.u1 = {name: User 1, email: u1@example.com, age: 21, tags: [a, z], " in err


def test_grep_highlights_matches_in_colour_only(
    kanta: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "\x1b[" not in kanta(TYPES["json"], "-g", "admin", "-g", "email").err
    monkeypatch.setenv("FORCE_COLOR", "1")
    err = kanta(TYPES["json"], "-g", "admin", "-g", "email").err
    assert "by \x1b[30;43madmin\x1b[0m" in err
    assert "\x1b[30;43memail\x1b[0m:" in err


def test_context_adds_records_around_each_match(kanta: Any) -> None:
    assert kanta(TYPES["json"], "-g", "misc", "--context", "1").labels == ["l4", "l5", "l6"]
    assert kanta(TYPES["json"], "-r", "l1", "--context", "2").labels == ["l1", "l2", "l3"]
    assert kanta(TYPES["json"], "--context", "-1").code == 2  # usage errors, as in 0.9.x
    assert kanta(TYPES["json"], "--context", "x").code == 2


# -- the selected state: -o, -d, -m, -k ---------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_is_the_state_after_the_last_printed_record(kanta: Any, fmt: str) -> None:
    full = kanta(TYPES[fmt], "-q", "-o", "-")
    assert full.err == ""
    expected = json.loads((COMPAT / f"types.{fmt}.expected.json").read_text())["state"]
    assert json.loads(full.out) == expected
    early = json.loads(kanta(TYPES[fmt], "-g", "create_user", "-q", "-o", "-").out)
    assert sorted(early["users"]) == ["u0", "u1", "u2"]
    assert early["counter"] == 0
    assert json.loads(kanta(TYPES[fmt], "-r", "2", "-q", "-o", "-").out)["users"].keys() == {
        "u0",
        "u1",
    }


def test_output_to_a_file(kanta: Any, tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    run = kanta(TYPES["msgpack"], "-r", "l5", "-o", target)
    assert run.out == ""
    assert run.labels == ["l5"]
    assert json.loads(target.read_text())["counter"] == 7


def test_output_when_nothing_is_selected_is_where_the_ranges_end(kanta: Any) -> None:
    run = kanta(TYPES["json"], "-r", ":l3", "-g", "nothing-matches", "-o", "-")
    assert run.code == 0
    assert sorted(json.loads(run.out)["users"]) == ["u0"]
    assert "no record selected" in run.err


ROOT_TYPES = """
import msgspec

class User(msgspec.Struct):
    name: str
    address: None = None

class NoAddress(msgspec.Struct):
    users: dict[str, User] = {}
"""


@pytest.fixture
def root_types(tmp_path: Path) -> Path:
    """A module whose root type refuses addresses (types.* has one at l6 .. l9)."""
    path = tmp_path / "cli_root_types.py"
    path.write_text(ROOT_TYPES)
    return path


@pytest.mark.parametrize("fmt", FORMATS)
def test_data_validates_the_selected_state(kanta: Any, fmt: str, root_types: Path) -> None:
    spec = f"{root_types}:NoAddress"
    assert kanta(TYPES[fmt], "-q", "-d", spec).code == 0  # the address is gone at the end
    failed = kanta(TYPES[fmt], "-q", "-d", spec, "-r", "l6")
    assert failed.code == 21
    assert "at `$.users[...].address`" in failed.err  # msgspec's word for where
    assert "after l6 (r6)" in failed.err
    assert kanta(TYPES[fmt], "-q", "-d", spec, "-g", "tag").code == 21
    assert kanta(TYPES[fmt], "-q", "-d", spec, "-g", "counter").code == 0


def test_data_output_is_the_decoded_state(kanta: Any, root_types: Path) -> None:
    run = kanta(TYPES["json"], "-r", "l2", "-q", "-d", f"{root_types}:NoAddress", "-o", "-")
    assert json.loads(run.out) == {"users": {"u0": {"name": "User 0", "address": None}}}


def test_data_accepts_module_attr_and_dotted_names(kanta: Any) -> None:
    assert kanta(TYPES["json"], "-q", "-d", "compat_models:Data").code == 0
    assert kanta(TYPES["json"], "-q", "-d", "compat_models.Data").code == 0
    assert kanta(TYPES["json"], "-q", "-d", "compat_models:Nope").code == 1
    assert kanta(TYPES["json"], "-q", "-d", "no_such_module:Data").code == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_migrations_apply_to_the_selected_state(kanta: Any, fmt: str) -> None:
    run = kanta(MIGRATED[fmt], "-r", "l2", "-m", "compat_migrations", "-o", "-")
    assert run.code == 0
    assert "migrated v0 -> v2: migrate_v1 (Rename counter to total)" in run.err
    state = json.loads(run.out)
    assert (state["total"], state["lang"]) == (5, "fi")
    assert "counter" not in state
    typed = kanta(
        MIGRATED[fmt],
        "-r",
        "l2",
        "-q",
        "-m",
        "compat_migrations",
        "-d",
        "compat_models:DataV2",
        "-o",
        "-",
    )
    assert json.loads(typed.out) == {
        "users": {"a": {"name": "A", "email": None, "age": 0, "tags": [], "address": None}},
        "total": 5,
        "lang": "fi",
    }
    # The file itself is at v2 already: nothing to run.
    assert (
        json.loads(kanta(MIGRATED[fmt], "-q", "-m", "compat_migrations", "-o", "-").out)["total"]
        == 6
    )


def test_a_failing_migration_exits_20(kanta: Any, tmp_path: Path) -> None:
    broken = tmp_path / "broken_migrations.py"
    broken.write_text("def migrate_v1(d):\n    raise RuntimeError('boom')\n")
    run = kanta(TYPES["json"], "-q", "-m", broken)
    assert run.code == 20
    assert "boom" in run.err
    only_v1 = tmp_path / "only_v1.py"
    only_v1.write_text("def migrate_v1(d):\n    pass\n")
    newer = kanta(MIGRATED["json"], "-q", "-m", only_v1)
    assert newer.code == 20
    assert "newer than the code" in newer.err
    assert kanta(TYPES["json"], "-q", "-m", "no_such_migrations").code == 20  # as 0.9.x


KANTA_MODULE = """
import compat_migrations
from compat_models import DataV2
from kanta import Kanta

kanta = Kanta("unused.kantadb", DataV2(), migrations=compat_migrations)
other = 5
"""


def test_kanta_object_gives_type_and_migrations(kanta: Any, tmp_path: Path) -> None:
    module = tmp_path / "cli_app.py"
    module.write_text(KANTA_MODULE)
    run = kanta(TYPES["json"], "-q", "-k", module, "-o", "-")
    assert run.code == 0
    state = json.loads(run.out)
    assert set(state) == {"users", "total", "lang"}
    assert (state["total"], state["lang"]) == (8, "fi")
    assert kanta(TYPES["json"], "-q", "-k", f"{module}:kanta").code == 0
    assert kanta(TYPES["json"], "-q", "-k", f"{module}:other").code == 1
    assert kanta(TYPES["json"], "-q", "-k", module, "-d", "compat_models:Data").code == 2


# -- files: stdin, damage, disagreement, exit codes ---------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_standard_input(kanta: Any, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(TYPES[fmt].read_bytes()))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert kanta("-", "-r", "s1").labels == ["l8"]


def test_file_not_found_and_usage_errors(kanta: Any, tmp_path: Path) -> None:
    missing = kanta(tmp_path / "missing.kantadb")
    assert (missing.code, "no such file" in missing.err) == (1, True)
    assert kanta(TYPES["json"], "--no-such-option").code == 2
    assert kanta().code == 2
    assert kanta(TYPES["json"], "-g", "=").code == 1
    assert kanta("--version").out.startswith("kanta ")


def _damaged(tmp_path: Path, source: Path, edit: Any) -> Path:
    data = bytearray(source.read_bytes())
    edit(data)
    path = tmp_path / source.name
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_torn_tail_is_reported_and_left_alone(kanta: Any, fmt: str, tmp_path: Path) -> None:
    def tear(data: bytearray) -> None:
        data.extend(b'{"ts":"2027-01-01T00:13:00Z","a":"to' if fmt == "json" else b"")
        if fmt == "msgpack":
            del data[-10:]

    path = _damaged(tmp_path, TYPES[fmt], tear)
    before = path.read_bytes()
    run = kanta(path, "-q", "-o", "-")
    assert run.code == 0
    assert "torn tail" in run.err
    assert "byte " in run.err
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("fmt", "where"),
    [("json", "line 4, byte 590"), ("msgpack", "record 3, byte 268")],
)
def test_an_unparseable_file_exits_10_naming_record_and_byte(
    kanta: Any, fmt: str, where: str, tmp_path: Path
) -> None:
    def corrupt(data: bytearray) -> None:
        # JSON: break the syntax of line 4; binary: flip a byte inside frame 3.
        if fmt == "json":
            data[data.index(b'{"ts":"2027-01-01T00:04')] = ord("#")
        else:
            data[300] ^= 0xFF

    path = _damaged(tmp_path, TYPES[fmt], corrupt)
    run = kanta(path, "-o", "-")
    assert run.code == 10
    assert where in run.err
    assert run.out == ""
    # The records before the bad one still print.
    assert run.labels == (["l1", "l2"] if fmt == "msgpack" else ["l1", "l2", "l3"])


def _disagreeing(kanta: Any, tmp_path: Path, fmt: str) -> Path:
    """legacy.json.kantadb with its snapshot (l4, s1) saying counter 5 where replay has 2."""

    def lie(data: bytearray) -> None:
        data[data.index(b'"state":{"counter":2') + 19] = ord("5")

    path = _damaged(tmp_path, COMPAT / "legacy.json.kantadb", lie)
    if fmt == "json":
        return path
    binary = tmp_path / "legacy.msgpack.kantadb"
    assert kanta("convert", path, binary, "--to", "msgpack").code == 0
    return binary


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_snapshot_that_disagrees_with_the_replay_is_damage(
    kanta: Any, tmp_path: Path, fmt: str
) -> None:
    path = _disagreeing(kanta, tmp_path, fmt)
    run = kanta(path)
    assert run.code == 10
    # Every record still prints, the snapshot with a warning; then the error names it.
    assert run.labels == labels(1, 5)
    assert "  warning: snapshot state differs from the replayed state at counter" in run.err
    message = "snapshot s1 (l4) disagrees with the replay before it"
    assert f"byte {200 if fmt == 'json' else 158}: {message}" in run.err.splitlines()[-1]
    # No state is written: the one after the snapshot is not to be trusted.
    for args in (["-q", "-o", "-"], ["-q", "-r", "l2", "-o", "-"]):
        quiet = kanta(path, *args)
        assert (quiet.code, quiet.out) == (10, "")
        assert quiet.err.count(message) == 1
    before = path.read_bytes()
    for args in (["show"], ["show", "--at", "r4"], ["diff", "r1", "r4"], ["stats"]):
        other = kanta(args[0], path, *args[1:])
        assert (other.code, other.out) == (10, "")
        assert message in other.err
    assert path.read_bytes() == before


def test_show_and_diff_before_a_disagreeing_snapshot_still_work(kanta: Any, tmp_path: Path) -> None:
    path = _disagreeing(kanta, tmp_path, "json")
    shown = kanta("show", path, "--at", "r2")
    assert (shown.code, json.loads(shown.out)) == (0, {"counter": 1, "users": {}})
    assert kanta("diff", path, "r1", "r3").code == 0


def test_blame_shows_what_a_disagreeing_snapshot_changed(kanta: Any, tmp_path: Path) -> None:
    run = kanta("blame", _disagreeing(kanta, tmp_path, "json"), "counter")
    assert run.code == 10
    assert (
        run.err.splitlines()[3] == "l4   2027-01-01 00:04:00 snapshot s1 v0 24 B  counter: 2 -> 5"
    )
    assert "snapshot s1 (l4) disagrees with the replay" in run.err.splitlines()[-1]


def test_verify_still_reports_a_disagreeing_snapshot(kanta: Any, tmp_path: Path) -> None:
    run = kanta("verify", _disagreeing(kanta, tmp_path, "json"))
    assert run.code == 10
    assert (
        "record 4, byte 200: snapshot state differs from the replayed state at counter" in run.err
    )


def test_colour_follows_no_color_and_force_color(
    kanta: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "\x1b[" not in kanta(TYPES["json"]).err  # not a terminal
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[2ml2   \x1b[0m" in kanta(TYPES["json"]).err
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in kanta(TYPES["json"]).err


# -- subcommands --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_show(kanta: Any, fmt: str) -> None:
    at_r2 = json.loads(kanta("show", TYPES[fmt], "--at", "r2").out)
    assert list(at_r2["users"]) == ["u0"]
    at_time = json.loads(kanta("show", TYPES[fmt], "--at", "2027-01-01T00:05:30").out)
    assert at_time["counter"] == 7
    assert "u0" not in json.loads(kanta("show", TYPES[fmt]).out)["users"]
    assert json.loads(kanta("show", TYPES[fmt], "--at", "r0").out) == {}
    assert kanta("show", TYPES[fmt], "--at", "r99").code == 2
    assert kanta("show", TYPES[fmt], "--at", "yesterday").code == 1


def test_show_cannot_reach_before_a_rotated_file_starts(kanta: Any) -> None:
    rotated = COMPAT / "rotated.json.kantadb"  # starts with a snapshot at r5
    assert json.loads(kanta("show", rotated, "--at", "r5").out)["counter"] == 3
    assert kanta("show", rotated, "--at", "r2").code == 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_diff(kanta: Any, fmt: str) -> None:
    run = kanta("diff", TYPES[fmt], "r5", "r7")
    assert run.code == 0
    assert run.err.splitlines()[1:5] == [
        "  users.u1.tags = [a, z]",
        "  users.u1.address =",
        "    city:         Oulu",
        "    zip:          null",
    ]
    assert "  numbers = [-1," in run.err
    back = kanta("diff", TYPES[fmt], "r9", "r7").err
    assert "  users.u0 =\n    name:         User 0" in back
    assert "no changes" in kanta("diff", TYPES[fmt], "r7", "r7").err


@pytest.mark.parametrize("fmt", FORMATS)
def test_blame(kanta: Any, fmt: str) -> None:
    counter = kanta("blame", TYPES[fmt], "counter").err.splitlines()
    assert counter == [
        "l1   2027-01-01 00:01:00 bootstrap r1  counter: (absent) -> 0",
        "l5   2027-01-01 00:05:00 misc by root r5  counter: 0 -> 7",
        "l11  2027-01-01 00:11:00 counter r10  counter: 7 -> 8",
    ]
    address = kanta("blame", TYPES[fmt], "users.*.address").err
    assert re.findall(r"^l\d+", address, re.MULTILINE) == ["l2", "l3", "l4", "l6", "l9", "l10"]
    assert "users.u1.address: null -> {city: Oulu, zip: null}" in address


def test_verify(kanta: Any, tmp_path: Path) -> None:
    clean = kanta("verify", TYPES["msgpack"])
    assert (clean.code, "ok, 12 records" in clean.err) == (0, True)

    def flip(data: bytearray) -> None:
        data[300] ^= 0xFF

    damaged = kanta("verify", _damaged(tmp_path, TYPES["msgpack"], flip))
    assert damaged.code == 10
    assert "record 3, byte 268: checksum mismatch" in damaged.err


def test_stats(kanta: Any) -> None:
    err = kanta("stats", TYPES["json"]).err
    assert "records    12: 11 changes, 1 snapshot\n" in err
    assert "revisions  r1..r11\n" in err
    assert "time span  2027-01-01 00:01:00 .. 2027-01-01 00:12:00 (11 min)\n" in err
    assert "actions    create_user 3, " in err
    assert "users      - 5, admin 4, root 1, u1 1\n" in err


def test_convert_keeps_every_record(kanta: Any, tmp_path: Path) -> None:
    out = tmp_path / "types.msgpack.kantadb"
    run = kanta("convert", TYPES["json"], out, "--to", "msgpack")
    assert (run.code, "wrote 12 records" in run.err) == (0, True)
    assert kanta(out, "-q", "-o", "-").out == kanta(TYPES["json"], "-q", "-o", "-").out
    assert kanta("convert", TYPES["json"], out, "--to", "msgpack").code == 1  # exists
    assert kanta("convert", TYPES["json"], out, "--to", "xml").code == 2


def test_demo_still_runs(kanta: Any, tmp_path: Path) -> None:
    run = kanta("demo", tmp_path / "demo.kantadb")
    assert run.code == 0
    assert "delete_user by admin r5" in run.err  # the history view prints on stderr
    assert "final state" in run.out


def _special(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / kind
    if kind == "database":
        shutil.copy(TYPES["json"], path)
    elif kind == "empty":
        path.touch()
    elif kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(tmp_path / "nowhere")  # a dangling link: creating would follow it
    return path


@pytest.mark.parametrize("kind", ["database", "empty", "folder", "fifo", "dangling-link"])
def test_demo_refuses_an_existing_path_and_touches_nothing(
    kanta: Any, tmp_path: Path, kind: str
) -> None:
    path = _special(tmp_path, kind)
    before = sorted(tmp_path.iterdir())
    content = path.read_bytes() if kind in ("database", "empty") else None
    run = kanta("demo", path)
    assert run.code == 1
    assert f"kanta: {path}: already exists" in run.err
    assert run.out == ""
    assert sorted(tmp_path.iterdir()) == before
    assert not (tmp_path / "nowhere").exists()
    if content is not None:
        assert path.read_bytes() == content


def test_demo_and_recover_help_say_what_they_do_to_files(kanta: Any) -> None:
    demo = " ".join(kanta("demo", "--help").out.split())
    assert "PATH must not exist" in demo and "refuses any existing file" in demo
    recover = " ".join(kanta("recover", "--help").out.split())
    assert "Cut (truncate) the file back to its last good record" in recover
    assert "keeping the cut bytes in a side file beside it" in recover


# -- a real process: exit codes, and data apart from messages -----------------------------


def _python_m_kanta(*args: object, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("FORCE_COLOR", None)
    command = [sys.executable, "-m", "kanta", *map(str, args)]
    return subprocess.run(command, capture_output=True, env=env, cwd=cwd, timeout=60)


def test_python_m_kanta_keeps_data_on_stdout_and_messages_on_stderr(tmp_path: Path) -> None:
    done = _python_m_kanta(TYPES["msgpack"], "-r", "-1", "-o", "-", cwd=tmp_path)
    assert done.returncode == 0
    assert json.loads(done.stdout)["counter"] == 8
    assert done.stderr.decode().startswith("l12  2027-01-01 00:12:00 explicit_mtime r11")
    missing = _python_m_kanta("missing.kantadb", cwd=tmp_path)
    assert (missing.returncode, missing.stdout) == (1, b"")
    assert b"missing.kantadb: no such file" in missing.stderr
    assert _python_m_kanta(TYPES["json"], "-r", "l99", cwd=tmp_path).returncode == 2


def test_recover_cuts_a_torn_tail_and_leaves_a_clean_file_alone(kanta: Any, tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    shutil.copy(COMPAT / "types.json.kantadb", path)
    clean = kanta("recover", path)
    assert clean.code == 0 and "nothing to do" in clean.err
    data = path.read_bytes()
    path.write_bytes(data + b'{"ts":"2027-01-0')
    torn = kanta("recover", path)
    assert torn.code == 0 and "cut 16 bytes" in torn.err
    assert path.read_bytes() == data
    (side,) = tmp_path.glob("db.kantadb.cut-*")
    assert side.read_bytes() == b'{"ts":"2027-01-0'
