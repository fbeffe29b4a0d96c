"""A writer killed with SIGKILL at random moments: every reopen holds every acknowledged change."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from pathlib import Path

import msgspec
import pytest

from kanta import Kanta, MsgPackSerializer

FORMATS = ["json", "msgpack"]


class Log(msgspec.Struct):
    """Each transaction adds one entry and counts it, so a half-applied one would show."""

    count: int = 0
    entries: dict[str, list[int]] = {}


async def _workload(path: Path, fmt: str, acks: int, seed: int) -> None:
    rng = random.Random(seed)
    serializer = MsgPackSerializer() if fmt == "msgpack" else None
    async with Kanta(path, Log(), serializer=serializer, flush_interval=0.002) as db:
        while True:
            for _ in range(rng.randint(1, 4)):
                with db.transaction("add") as data:
                    data.count += 1
                    data.entries[f"e{data.count}"] = list(range(rng.randint(0, 40)))
            if rng.random() < 0.2:
                db.request_snapshot()
            await db.flush()
            os.write(acks, f"{db.data.count}\n".encode())


def _run_and_kill(path: Path, fmt: str, rng: random.Random) -> int:
    """Start a writer, kill it after a random number of acknowledgements; the last one."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the writer
        os.close(read_end)
        try:
            asyncio.run(_workload(path, fmt, write_end, rng.randrange(1 << 30)))
        finally:
            os._exit(1)
    os.close(write_end)
    acked = 0
    wanted = rng.randint(0, 6)
    with os.fdopen(read_end, "rb", buffering=0) as acks:
        while wanted > 0:
            line = acks.readline()
            assert line, "the writer died on its own"
            acked = int(line)
            wanted -= 1
        # Not synchronisation: a random moment inside the next transaction or flush.
        deadline = time.perf_counter() + rng.random() * 0.003
        while time.perf_counter() < deadline:
            pass
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        # Acknowledgements already in the pipe count too: they were sent after a flush.
        for line in acks.read().splitlines():
            acked = int(line)
    return acked


@pytest.mark.parametrize("fmt", FORMATS)
def test_kill_9_never_loses_an_acknowledged_transaction(
    fmt: str, tmp_path: Path, long_run: bool
) -> None:
    rng = random.Random(f"kill-{fmt}")
    points = 2000 if long_run else 200
    path = tmp_path / "db.kantadb"
    for point in range(points):
        if point % 25 == 0:  # now and then a fresh file, so start-up is killed too
            path.unlink(missing_ok=True)
        acked = _run_and_kill(path, fmt, rng)
        db = Kanta(path, Log())
        asyncio.run(_check(db, acked, point))


async def _check(db: Kanta[Log], acked: int, point: int) -> None:
    async with db:
        log = db.data
        assert log.count >= acked, f"point {point}: acknowledged {acked}, found {log.count}"
        assert len(log.entries) == log.count, f"point {point}: a transaction half applied"
