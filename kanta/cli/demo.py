"""`kanta demo`: create a database, change it, reopen it, and show its history and state."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

import msgspec

from ..database import Kanta
from . import log
from .common import CliError


class User(msgspec.Struct):
    """A user of the demo application."""

    name: str = ""
    email: str | None = None
    roles: list[str] = []


class Data(msgspec.Struct):
    """The demo application's whole state."""

    users: dict[str, User] = {}
    signups: int = 0


async def _first_run(path: Path) -> None:
    async with Kanta(path, Data()) as db:
        with db.transaction(action="create_user", user="admin") as data:
            data.users["alice"] = User(name="Alice", email="alice@example.com")
            data.signups += 1
        with db.transaction(action="create_user", user="admin") as data:
            data.users["bob"] = User(name="Bob")
            data.signups += 1
        # A flat transaction: it says what it changes, so its cost does not grow with
        # the number of users (docs/transactions.md).
        with db.transaction(action="grant", user="alice", touches=[("users", "bob")]) as data:
            data.users["bob"].roles.append("editor")
        try:
            with db.transaction(action="oops", user="bob") as data:
                data.users.clear()
                raise RuntimeError("changed my mind")
        except RuntimeError:
            pass  # rolled back: memory is as before and nothing is written
        await db.flush()  # durable from here on
        print(f"created {path}: revision {db.rev}, {len(db.data.users)} users")


async def _second_run(path: Path) -> Data:
    async with Kanta(path, Data()) as db:
        print(f"reopened: revision {db.rev}, bob's roles {db.data.users['bob'].roles}")
        with db.transaction(action="delete_user", user="admin") as data:
            del data.users["alice"]
        return db.data


def run(target: str | None) -> int:
    """Run the demo in `target` (a new file's path) or in a temporary directory.

    An existing `target` is refused (CliError, exit 1) and left as it is, whatever it is.
    """
    if target is not None:
        _claim(Path(target))
        return _run(Path(target))
    with tempfile.TemporaryDirectory(prefix="kanta-demo-") as folder:
        return _run(Path(folder) / "demo.kantadb")


def _claim(path: Path) -> None:
    """Create `path` empty, or refuse if anything is there (a file, a folder, a link)."""
    try:
        # O_EXCL: the check and the creation are one step, so nothing can slip in between.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        raise CliError(
            f"{path}: already exists; the demo creates a new database and touches no "
            "existing file (give a new path, or none for a temporary one)"
        ) from None


def _run(path: Path) -> int:
    asyncio.run(_first_run(path))
    final = asyncio.run(_second_run(path))
    print(f"\nhistory (`kanta log {path}`, printed on stderr):", flush=True)
    _print_history(path)
    sys.stderr.flush()
    print("\nfinal state:")
    print(msgspec.json.format(msgspec.json.encode(final), indent=2).decode())
    return 0


def _print_history(path: Path) -> None:
    """What `kanta log PATH` prints, through the log command's own parser."""
    parser = argparse.ArgumentParser(prog="kanta")
    log.add_parser(parser.add_subparsers())
    options = parser.parse_args(["log", str(path)])
    options.run(options)
