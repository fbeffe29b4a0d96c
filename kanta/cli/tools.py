"""The `kanta` subcommands besides `log` and `stats`: show, diff, blame, verify, convert, demo."""

from __future__ import annotations

import argparse
import copy
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from ..ansi import Style
from ..core.diff import diff
from ..core.edits import edits
from ..core.grep import PathPattern, key_text
from ..core.ranges import parse_moment
from ..core.records import Change
from ..history import Entry, History
from ..maintenance import convert, recover, verify
from ..printable import printable
from . import common as cli_common
from .common import (
    EXIT_OK,
    EXIT_PARSE,
    EXIT_USAGE,
    CliError,
    Walk,
    open_history,
    report_damage,
    say,
    style,
    write_json,
)
from .view import edit_lines, header, short

# -- show --------------------------------------------------------------------------------


def add_show(commands: Any) -> None:
    """Add `show FILE [--at rN|TIME]`."""
    show = commands.add_parser("show", help="print the state at a revision or time as JSON")
    show.add_argument("file", help="database file, or - for standard input")
    show.add_argument(
        "--at", metavar="rN|TIME", help="a revision (r7) or a time (2027-01-01T10:30, 2h ago)"
    )
    show.set_defaults(run=run_show)


def run_show(options: argparse.Namespace) -> int:
    """Write the state at the given point (the end of the file by default) to standard output."""
    moment = parse_moment(options.at, cli_common.now()) if options.at is not None else None
    history = open_history(options.file)
    report_damage(history)
    write_json("-", states_at(history, [(moment, options.at or "the end")])[0])
    return EXIT_OK


Point = tuple[int | datetime | None, str]
"""A point in a history, and its name for messages: a revision, a time, or None (the end)."""


def states_at(history: History, points: Sequence[Point]) -> list[Any]:
    """Copies of the states at each point, found in one pass; CliError (exit 2) if one is absent.

    The state at a time is the one after the last record stamped at or before it. Passing
    a snapshot that disagrees with the replay before it raises (exit 10): which of the
    two is right is not known, so no state past it is shown.
    """
    found: dict[int, Any] = {}
    walk = Walk(history, strict=True)
    timed = any(isinstance(moment, datetime) for moment, _ in points)
    for index, (moment, _) in enumerate(points):
        if moment == 0 and _starts_empty(history):
            found[index] = {}  # revision 0 is the empty state the file starts from
    while len(found) < len(points) and walk.index < len(walk):
        stamp = walk.peek().ts if timed else None
        for index, (moment, name) in enumerate(points):
            if index not in found and isinstance(moment, datetime) and stamp and stamp > moment:
                found[index] = _reached(history, walk, name)
        entry = walk.advance()
        for index, (moment, _) in enumerate(points):
            if index not in found and isinstance(moment, int) and entry.rev == moment:
                found[index] = copy.deepcopy(entry.state)
    for index, (moment, name) in enumerate(points):
        if index not in found and isinstance(moment, int):
            raise CliError(f"{name}: no such revision in {history.path}", EXIT_USAGE)
        if index not in found:
            found[index] = _reached(history, walk, name)
    return [found[index] for index in range(len(points))]


def _reached(history: History, walk: Walk, name: str) -> Any:
    """A copy of the state the walk has reached (the empty one if it has not started)."""
    if walk.index > 0:
        return copy.deepcopy(walk.state)
    if _starts_empty(history):
        return {}
    raise CliError(f"{name}: before {history.path} starts (with a snapshot)", EXIT_USAGE)


def _starts_empty(history: History) -> bool:
    # A rotated file starts with a snapshot, and does not hold the states before it.
    records = history.scan.records
    return not records or not records[0].is_snapshot


# -- diff --------------------------------------------------------------------------------


def add_diff(commands: Any) -> None:
    """Add `diff FILE A B`."""
    command = commands.add_parser("diff", help="what changed between two revisions (or times)")
    command.add_argument("file", help="database file, or - for standard input")
    command.add_argument("a", metavar="rA", help="the revision (or time) to compare from")
    command.add_argument("b", metavar="rB", help="the revision (or time) to compare to")
    command.set_defaults(run=run_diff)


def run_diff(options: argparse.Namespace) -> int:
    """Print the `path = value` lines that turn the state at A into the state at B."""
    moment = cli_common.now()
    points = [(parse_moment(text, moment), text) for text in (options.a, options.b)]
    history = open_history(options.file)
    report_damage(history)
    before, after = states_at(history, points)
    change = diff(before, after)
    if change is None:
        say(f"no changes from {options.a} to {options.b}")
        return EXIT_OK
    look = style()
    say(f"from {options.a} to {options.b}:")
    for edit in edits(change, before):
        for line in edit_lines(edit, look):
            say("  " + line)
    return EXIT_OK


# -- blame -------------------------------------------------------------------------------


def add_blame(commands: Any) -> None:
    """Add `blame FILE PATH`."""
    blame = commands.add_parser("blame", help="every record that changed a path")
    blame.add_argument("file", help="database file, or - for standard input")
    blame.add_argument("path", help="dotted path from the root, wildcards allowed (users.*.email)")
    blame.set_defaults(run=run_blame)


def run_blame(options: argparse.Namespace) -> int:
    """Print each record that changed a value the path names: when, who, what, old -> new."""
    pattern = PathPattern.parse(options.path)
    history = open_history(options.file)
    look = style()
    walk = Walk(history)
    while walk.index < len(walk):
        if history.scan.records[walk.index].is_snapshot:
            # A snapshot changes nothing, unless it disagrees with the replay: then show
            # what it changed (it is also reported as damage once the records are out).
            before = _values(pattern, walk.state) if walk.index else None
            entry = walk.advance()
            if entry.disagreement is not None and before is not None:
                _print_blame(entry, before, _values(pattern, entry.state), look)
            continue
        record = walk.peek()
        assert isinstance(record, Change)
        touched = (tuple(key_text(key) for key in edit.path) for edit in edits(record.diff))
        if not any(pattern.touches(path) for path in touched):
            walk.advance()
            continue
        before = _values(pattern, walk.state)
        entry = walk.advance()
        _print_blame(entry, before, _values(pattern, entry.state), look)
    report_damage(history)
    if walk.problem is not None:
        raise walk.problem  # a snapshot disagrees with the replay: damage, as in `log`
    return EXIT_OK


def _values(pattern: PathPattern, state: Any) -> dict[tuple[str, ...], tuple[bytes, str]]:
    # Encoded now, as the state changes in place under the next record.
    return {
        path: (msgspec.msgpack.encode(value), short(value))
        for path, value in pattern.resolve(state).items()
    }


def _print_blame(
    entry: Entry,
    before: dict[tuple[str, ...], tuple[bytes, str]],
    after: dict[tuple[str, ...], tuple[bytes, str]],
    look: Style,
) -> None:
    absent = (b"", look("(absent)", "dim"))
    lines = []
    for path in dict.fromkeys([*before, *after]):
        old, new = before.get(path, absent), after.get(path, absent)
        if old[0] != new[0]:
            lines.append(f"{printable('.'.join(path))}: {old[1]} -> {look(new[1], 'green')}")
    if len(lines) == 1:
        say(f"{header(entry, look)}  {lines[0]}")
    elif lines:
        say(header(entry, look))
        for line in lines:
            say("  " + line)


# -- verify, recover, convert, demo -----------------------------------------------------


def add_verify(commands: Any) -> None:
    """Add `verify FILE`."""
    command = commands.add_parser("verify", help="check every record (exit 10 if damaged)")
    command.add_argument("file", help="database file")
    command.set_defaults(run=run_verify)


def run_verify(options: argparse.Namespace) -> int:
    """Check every record; print each problem with its offset; exit 0 clean, 10 damaged."""
    path = _existing(options.file)
    report = verify(path)
    name = printable(report.path)
    for problem in sorted(report.problems, key=lambda p: p.byte_pos):
        where = f"record {problem.position}, byte {problem.byte_pos}"
        say(f"{name}: {where}: {printable(problem.message)}")
    if report.ok:
        say(f"{name}: ok, {report.records} records")
        return EXIT_OK
    return EXIT_PARSE


def add_recover(commands: Any) -> None:
    """Add `recover FILE`."""
    command = commands.add_parser(
        "recover",
        help="cut a torn or corrupt file back to its last good record",
        description="Cut (truncate) the file back to its last good record, keeping the cut "
        "bytes in a side file beside it (FILE.cut-TIME-OFFSET). A clean file is left "
        "untouched. Refuses while a writer holds the file.",
    )
    command.add_argument("file", help="database file (no writer may hold it)")
    command.set_defaults(run=run_recover)


def run_recover(options: argparse.Namespace) -> int:
    """Cut the damage off, keeping the cut bytes in a side file; a clean file is untouched."""
    report = recover(_existing(options.file))
    name = printable(report.path)
    if report.side_file is None:
        say(f"{name}: clean, {report.kept} records, nothing to do")
    else:
        say(
            f"{name}: kept {report.kept} records, cut {report.cut_bytes} bytes, "
            f"saved in {printable(report.side_file)}"
        )
    return EXIT_OK


def add_convert(commands: Any) -> None:
    """Add `convert FILE OUT --to json|msgpack`."""
    command = commands.add_parser("convert", help="rewrite a file in the other format")
    command.add_argument("file", help="database file")
    command.add_argument("out", help="the new file (must not exist)")
    command.add_argument("--to", required=True, choices=("json", "msgpack"), help="the format")
    command.set_defaults(run=run_convert)


def run_convert(options: argparse.Namespace) -> int:
    """Write every record of FILE into OUT in the chosen format."""
    count = convert(_existing(options.file), options.out, to=options.to)
    say(f"wrote {count} records to {options.out} ({options.to})")
    return EXIT_OK


def add_demo(commands: Any) -> None:
    """Add `demo [PATH]`."""
    demo = commands.add_parser(
        "demo",
        help="create a database, change it, reopen it, show it",
        description="Create a small database, change it, reopen it and print its history and "
        "state. PATH must not exist: the demo refuses any existing file (even an empty one) "
        "and changes nothing.",
    )
    demo.add_argument(
        "path",
        nargs="?",
        metavar="PATH",
        help="a new file, not an existing one (default: a temporary one)",
    )
    demo.set_defaults(run=run_demo)


def run_demo(options: argparse.Namespace) -> int:
    """`kanta demo`: the whole life of a small database, printed."""
    from .demo import run  # imported here: only the demo needs a database

    return run(options.path)


def _existing(name: str) -> Path:
    if name == "-":
        raise CliError("this command needs a file name, not standard input")
    path = Path(name)
    if not path.exists():
        raise CliError(f"{name}: no such file")
    return path  # a FIFO, device or folder is refused when opened, saying which
