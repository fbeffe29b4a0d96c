"""`kanta follow URL` and `kanta restore URL FILE`: a replicated database's stream."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from ..core.ranges import parse_moment
from ..core.records import Change, Record
from ..printable import printable
from ..replication import Follower, restore
from .common import EXIT_OK, CliError, now, say


def add_follow(commands: Any) -> None:
    """Add `follow URL`."""
    command = commands.add_parser(
        "follow",
        help="show a replicated database's changes live, from its stream",
        description="Start at the stream's latest snapshot, then print every change as "
        "it arrives (Ctrl-C stops). URL is nats://HOST:PORT/STREAM.",
    )
    command.add_argument("url", help="nats://host:port/STREAM")
    command.add_argument("--count", type=int, help="stop after this many records")
    command.set_defaults(run=run_follow)


def run_follow(options: argparse.Namespace) -> int:
    """Print records as the follower folds them in."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_follow(options.url, options.count))
    return EXIT_OK


async def _follow(url: str, count: int | None) -> None:
    done = asyncio.Event()
    seen = 0

    def show(rev: int, record: Record) -> None:
        nonlocal seen
        seen += 1
        if isinstance(record, Change):
            who = f" by {record.u}" if record.u else ""
            say(f"r{rev} {record.ts.isoformat()} {printable(record.a or '')}{who}")
        else:
            say(f"snapshot at r{rev}")
        if count is not None and seen >= count:
            done.set()

    follower: Follower[Any] = Follower(url, {}, type=dict)
    follower.on_record = show
    async with follower:
        say(f"following {printable(url)} from r{follower.rev}")
        await done.wait()


def add_restore(commands: Any) -> None:
    """Add `restore URL FILE [--rev N | --at TIME]`."""
    command = commands.add_parser(
        "restore",
        help="write a database file from its stream, at a past revision or time",
        description="Write a new FILE holding the stream's records up to --rev or --at "
        "(everything without either: byte for byte the writer's file). FILE must not exist.",
    )
    command.add_argument("url", help="nats://host:port/STREAM")
    command.add_argument("file", help="the new database file")
    point = command.add_mutually_exclusive_group()
    point.add_argument("--rev", type=int, help="the last revision to keep")
    point.add_argument("--at", help="the last time to keep (ISO time, or 2h for 2 hours ago)")
    command.set_defaults(run=run_restore)


def run_restore(options: argparse.Namespace) -> int:
    """Write the file; say which revision it ends at."""
    at = None
    if options.at is not None:
        moment = parse_moment(options.at, now())
        if isinstance(moment, int):
            raise CliError("--at takes a time; use --rev for a revision")
        at = moment
    rev = asyncio.run(restore(options.url, options.file, rev=options.rev, at=at))
    say(f"{printable(options.file)}: restored to r{rev}")
    return EXIT_OK
