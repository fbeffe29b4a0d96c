"""Real writer processes killed (SIGKILL) or paused (SIGSTOP): nothing acknowledged is lost."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from crashwriter import Data, write_until_killed
from natsservers import NatsServer

from kanta import Kanta

KILLS = int(os.environ.get("KANTA_REPLICATION_KILLS", "200"))
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(["kanta", "nats", "crashwriter"])


def _start(url: str, path: Path, batch: int = 1) -> tuple[Any, Connection]:
    receive, send = _context.Pipe(duplex=False)
    process = _context.Process(target=write_until_killed, args=(url, str(path), send, batch))
    process.start()
    send.close()
    return process, receive


def _next(acks: Connection, timeout: float = 30.0) -> tuple[str, Any]:
    if not acks.poll(timeout):
        raise AssertionError("the writer process said nothing for 30 s")
    message: tuple[str, Any] = acks.recv()
    return message


async def _replicated_state(url: str, path: Path) -> dict[str, int]:
    async with Kanta(path, Data(), replicate=url) as db:
        return dict(db.data.keys)


async def test_writers_killed_at_random_points_lose_nothing_acknowledged(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    url = f"{nats_server.url}/crash"
    rng = random.Random(1234)
    acknowledged: set[str] = set()
    for point in range(KILLS):
        # Half the time the same file restarts, half a new machine takes over.
        path = tmp_path / ("same.db" if point % 2 else f"new{point}.db")
        process, acks = _start(url, path, batch=rng.choice((1, 1, 3)))
        kind, opened = _next(acks)
        assert kind == "open", opened
        assert opened >= len(acknowledged)
        for _ in range(rng.randrange(0, 6)):
            kind, names = _next(acks)
            assert kind == "ack", names
            acknowledged.update(names)
        process.kill()  # SIGKILL, wherever the writer is
        process.join()
        acks.close()
    state = await _replicated_state(url, tmp_path / "check.db")
    assert acknowledged <= set(state), sorted(acknowledged - set(state))[:5]
    assert len(acknowledged) > KILLS  # the writers did acknowledge work between kills


async def test_a_paused_writer_is_fenced_and_loses_nothing_acknowledged(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    url = f"{nats_server.url}/paused"
    process, acks = _start(url, tmp_path / "old.db")
    assert _next(acks)[0] == "open"
    old_acked = set()
    for _ in range(3):
        kind, names = _next(acks)
        old_acked.update(names)
    os.kill(process.pid, signal.SIGSTOP)
    try:
        while acks.poll(0):  # what it acknowledged before the pause
            kind, names = acks.recv()
            if kind == "ack":
                old_acked.update(names)
        async with Kanta(tmp_path / "new.db", Data(), replicate=url) as new:
            assert old_acked <= set(new.data.keys)
            with new.transaction("add", user="new") as data:
                data.keys["from-new"] = -1
            await new.flush()
    finally:
        os.kill(process.pid, signal.SIGCONT)
    # Resumed, the old writer's next flush is refused: it stops, acknowledging nothing more.
    while True:
        kind, payload = _next(acks)
        if kind == "error":
            assert payload.startswith("FencedError"), payload
            break
        assert kind == "ack"
        old_acked.update(payload)  # flushed before the new writer's takeover landed
    process.join(10)
    assert process.exitcode == 0
    state = await _replicated_state(url, tmp_path / "check.db")
    assert old_acked | {"from-new"} <= set(state)
