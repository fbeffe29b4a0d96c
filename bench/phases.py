"""Where the time of a 100,000-user insert and of opening its snapshot goes, by phase.

`python -m bench.phases [users]`: in this process, for both trackings, the block, the
comparison, the read-back check (`render`), the registry (`Barrier.settle`) and the
tracker's update of one transaction inserting `users` users; then the load and the start
(barrier: the one walk; compare: the tracker's copy) of opening the snapshot. It wraps
those functions in timers, so it measures ours only; the floors in bench/README.md come
from it.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kanta
import kanta.opening
import kanta.session
import kanta.transactions
from kanta.state.barrier import Barrier
from kanta.state.tracker import Tracker

from .workload import Data, User

spent: dict[str, float] = {}


def timed(owner: Any, name: str) -> None:
    """Replace `owner.name` by the same function adding its time to `spent[name]`."""
    inner: Callable[..., Any] = getattr(owner, name)

    def add(started: float) -> None:
        spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

    def timer(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            add(started)

    async def async_timer(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await inner(*args, **kwargs)
        finally:
            add(started)

    setattr(owner, name, async_timer if asyncio.iscoroutinefunction(inner) else timer)


async def insert(path: Path, users: int, tracking: str) -> None:
    """One transaction inserting `users` users, by phase; then a snapshot is written."""
    db = kanta.Kanta(path, Data(), tracking=tracking, flush_interval=3600)  # type: ignore[arg-type]
    await db.open(log=False)
    prebuilt = {f"u{n}": User(f"n{n}", f"u{n}@example.com", n, ["a", "b"]) for n in range(users)}
    spent.clear()
    started = time.perf_counter()
    with db.transaction("bulk", log=False) as data:
        data.users.update(prebuilt)
        spent["block"] = time.perf_counter() - started
    report(f"insert {users:,} users ({tracking})", time.perf_counter() - started)
    db.request_snapshot()
    await db.close()


async def reopen(path: Path, tracking: str) -> None:
    """Open a copy of the snapshot file, by phase."""
    copy = path.with_suffix(".copy")
    shutil.copy(path, copy)
    db = kanta.Kanta(copy, Data(), tracking=tracking)  # type: ignore[arg-type]
    spent.clear()
    started = time.perf_counter()
    await db.open(log=False)
    report(f"open the snapshot ({tracking})", time.perf_counter() - started)
    await db.close()


def report(what: str, total: float) -> None:
    phases = ", ".join(f"{name} {seconds * 1000:.1f}" for name, seconds in spent.items())
    print(f"{what}: {total * 1000:.1f} ms ({phases})")


def main() -> None:
    """Print the phases for both trackings, twice each."""
    users = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    logging.disable(logging.WARNING)
    timed(Barrier, "changes")
    timed(Barrier, "settle")
    timed(Barrier, "adopt_decoded")
    timed(Tracker, "changes")
    timed(Tracker, "accept")
    timed(kanta.transactions, "render")
    timed(kanta.opening, "load")
    timed(kanta.session, "shadow_of")
    with tempfile.TemporaryDirectory() as folder:
        for tracking in ("compare", "barrier") * 2:
            path = Path(folder) / f"{tracking}.kantadb"
            path.unlink(missing_ok=True)
            asyncio.run(insert(path, users, tracking))
            asyncio.run(reopen(path, tracking))


if __name__ == "__main__":
    main()
