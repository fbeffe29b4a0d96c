"""A writer process for the crash tests: acknowledges each flushed transaction on a pipe."""

from __future__ import annotations

import asyncio
import os
import signal
from multiprocessing.connection import Connection
from pathlib import Path

import msgspec

from kanta import Kanta


class Data(msgspec.Struct):
    """The crash tests' state: keys acknowledged by their writers."""

    keys: dict[str, int] = {}


async def _write(url: str, path: Path, acks: Connection, batch: int) -> None:
    db = Kanta(path, Data(), replicate=url)
    await db.open(log=False)
    acks.send(("open", len(db.data.keys)))
    while True:
        names = []
        for _ in range(batch):
            with db.transaction("add", user=f"pid{os.getpid()}") as data:
                name = f"k{len(data.keys)}-{os.getpid()}"
                data.keys[name] = len(data.keys)
                names.append(name)
        await db.flush()
        acks.send(("ack", names))


def write_until_killed(url: str, path: str, acks: Connection, batch: int = 1) -> None:
    """Open `path` replicated to `url` and add keys, one flush per `batch`, until killed."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        asyncio.run(_write(url, Path(path), acks, batch))
    except Exception as exc:  # a fenced writer reports why it stopped
        acks.send(("error", f"{type(exc).__name__}: {exc}"))
