"""What the `kanta` subcommands share: exit codes, reading the file, output streams, JSON."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from ..ansi import Style, use_colour
from ..core.records import Record
from ..core.replay import decode_record
from ..errors import DatabaseError
from ..history import Entry, History, read_history
from ..printable import json_printable, printable

EXIT_OK = 0
EXIT_ERROR = 1  # general error: file not found, bad option value
EXIT_USAGE = 2  # usage error, or a range that names nothing in the file
EXIT_PARSE = 10  # the file cannot be parsed
EXIT_MIGRATION = 20  # a migration failed
EXIT_VALIDATION = 21  # the state does not validate against the root type


class CliError(Exception):
    """A message for the user and the exit code that goes with it."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def now() -> datetime:
    """The current time, UTC (tests replace it to pin relative time specs)."""
    return datetime.now(UTC)


def say(line: str = "") -> None:
    """Print a line of human-readable output (standard error: stdout is for data)."""
    print(line, file=sys.stderr)


def style() -> Style:
    """The style for human-readable output: colour when standard error wants it."""
    return Style(use_colour(sys.stderr))


def open_history(name: str) -> History:
    """Read a database file, or standard input for `-`; never changes the file."""
    if name == "-":
        return read_history("<stdin>", sys.stdin.buffer.read())
    path = Path(name)
    if not path.exists():
        raise CliError(f"{name}: no such file")
    return read_history(path)  # a FIFO, device or folder is refused there, saying which


def report_damage(history: History) -> None:
    """Warn about a torn tail; damage with valid records after it is an error (exit 10)."""
    damage = history.scan.damage
    if damage is None:
        return
    where = f"{printable(str(history.path))}, record {damage.position}, byte {damage.byte_pos}"
    if damage.valid_after is not None:
        raise CliError(
            f"{where}: {damage.reason}, with valid records after it from byte "
            f"{damage.valid_after}; `kanta recover` salvages it",
            EXIT_PARSE,
        )
    size = history.scan.good_end
    say(
        f"kanta: warning: {where}: {printable(damage.reason)} (a torn tail; the history "
        f"above ends at byte {size}, and the file is left as it is)"
    )


def disagreement(history: History, entry: Entry) -> DatabaseError | None:
    """The error (exit 10) for a snapshot that disagrees with the replay before it, or None."""
    if entry.disagreement is None:
        return None
    return history.error_at(
        entry.raw,
        f"snapshot s{entry.snapshot_number} (l{entry.position}) disagrees with the replay "
        f"before it: {entry.disagreement}",
    )


class Walk:
    """Folds a history record by record, showing each record before the state changes under it.

    A snapshot that disagrees with the replay before it is damage: with `strict` folding
    it in raises (the state after it is not to be trusted), else `problem` keeps the first.
    """

    def __init__(self, history: History, *, strict: bool = False) -> None:
        self.history = history
        self.state: Any = {}  # the state after the last record folded in
        self.index = 0  # index of the next record
        self.strict = strict
        self.problem: DatabaseError | None = None  # the first disagreeing snapshot passed
        self._entries = history.entries()

    def __len__(self) -> int:
        return len(self.history.scan.records)

    def peek(self) -> Record:
        """The next record, decoded on its own: folding it in does not change what this returns."""
        raw = self.history.scan.records[self.index]
        return decode_record(self.history.serializer, raw, self.history.path)

    def advance(self) -> Entry:
        """Fold in the next record."""
        entry = next(self._entries)
        problem = disagreement(self.history, entry)
        if problem is not None and self.strict:
            raise problem
        self.problem = self.problem or problem
        self.state = entry.state
        self.index += 1
        return entry


def write_json(target: str, value: Any) -> None:
    """Write a value as JSON to a file, or to standard output for `-`.

    Compact and without a final newline, the bytes 0.9.x writes; pretty on a terminal.
    """
    data = json_printable(msgspec.json.encode(value, enc_hook=str))
    if target != "-":
        Path(target).write_bytes(data)
        return
    if sys.stdout.isatty():
        data = msgspec.json.format(data, indent=2) + b"\n"
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
