"""Holds a kanta database open in its own process, for the locking tests of test_database.py.

Usage: python lockholder.py PATH. Prints "open" once the database is open, then keeps it
open until its stdin is closed, and closes it cleanly.
"""

from __future__ import annotations

import asyncio
import sys

import msgspec

from kanta import Kanta


class Root(msgspec.Struct):
    counter: int = 0


async def main(path: str) -> None:
    async with Kanta(path, Root()) as db:
        with db.transaction("held"):
            db.data.counter += 1
        await db.flush()
        print("open", flush=True)
        await asyncio.to_thread(sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
