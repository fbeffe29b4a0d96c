"""`kanta stats FILE`: records, snapshots, revisions, sizes, time span, who did what."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from ..core.records import Snapshot
from ..errors import DatabaseError
from ..history import History
from ..printable import printable
from .common import EXIT_OK, disagreement, open_history, report_damage, say
from .view import when


def add_stats(commands: Any) -> None:
    """Add `stats FILE`."""
    command = commands.add_parser("stats", help="records, revisions, sizes, time span, actions")
    command.add_argument("file", help="database file, or - for standard input")
    command.set_defaults(run=run_stats)


def run_stats(options: argparse.Namespace) -> int:
    """Print what a file holds: records, snapshots, revisions, sizes, time span, who did what."""
    history = open_history(options.file)
    problems: list[DatabaseError] = []
    for label, value in stats_lines(history, list(_rows(history, problems))):
        say(f"{label:<11}{value}")
    report_damage(history)
    if problems:
        raise problems[0]  # a snapshot disagrees with the replay: damage, as in `log`
    return EXIT_OK


class _Row(NamedTuple):
    """What stats keeps of each record (not its diff or state: a big file has many)."""

    snapshot: bool
    ts: datetime
    action: str
    user: str
    position: int
    size: int
    rev: int
    version: int


def _rows(history: History, problems: list[DatabaseError]) -> Iterator[_Row]:
    """The rows of the records; snapshots that disagree with the replay go in `problems`."""
    for entry in history.entries():
        problem = disagreement(history, entry)
        if problem is not None:
            problems.append(problem)
        record = entry.record
        action, user = ("", "") if isinstance(record, Snapshot) else (record.a, record.u or "")
        yield _Row(
            isinstance(record, Snapshot),
            record.ts,
            action or "-",
            user or "-",
            entry.position,
            entry.size,
            entry.rev,
            entry.version,
        )


def stats_lines(history: History, rows: list[_Row]) -> list[tuple[str, str]]:
    """The `label  value` lines of `kanta stats`."""
    changes = [row for row in rows if not row.snapshot]
    snapshots = [row for row in rows if row.snapshot]
    lines = [
        (
            "file",
            f"{printable(str(history.path))} ({history.serializer.name}, "
            f"{_size(history.scan.good_end)})",
        ),
        (
            "records",
            f"{len(rows)}: {_plural(len(changes), 'change')}, "
            f"{_plural(len(snapshots), 'snapshot')}",
        ),
    ]
    if not rows:
        return lines
    largest = max(rows, key=lambda row: row.size)
    first, last = rows[0].ts, rows[-1].ts
    lines += [
        ("revisions", f"r{rows[0].rev}..r{rows[-1].rev}"),
        ("versions", ", ".join(f"v{v}" for v in sorted({row.version for row in rows}))),
        ("time span", f"{when(first)} .. {when(last)} ({_duration(last - first)})"),
        (
            "sizes",
            f"changes {_size(sum(row.size for row in changes))}, snapshots "
            f"{_size(sum(row.size for row in snapshots))}, "
            f"largest l{largest.position} {_size(largest.size)}",
        ),
        ("actions", _counts(Counter(row.action for row in changes))),
        ("users", _counts(Counter(row.user for row in changes))),
    ]
    return lines


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{printable(name)} {count}" for name, count in counter.most_common())


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} kB"
    return f"{count / 1024 / 1024:.1f} MB"


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}".replace(".0 ", " ")
    return f"{seconds} s"
