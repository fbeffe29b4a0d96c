"""The nats-server fixtures start real servers that JetStream clients can use, and stop them."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from natsservers import (
    NatsServer,
    nats_server_binary,
    server_version,
    wait_jetstream_ready,
    wait_meta_leader,
)


@asynccontextmanager
async def jetstream(url: str) -> AsyncIterator[tuple[Client, JetStreamContext]]:
    """A connection to `url` and its JetStream context, closed on exit."""
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=1)
    try:
        yield nc, nc.jetstream(timeout=5)
    finally:
        await nc.close()


def test_server_version(nats_binary: str) -> None:
    """`server_version` reads the three numbers of `nats-server --version`."""
    version = server_version(nats_binary)
    assert len(version) == 3
    assert all(isinstance(part, int) for part in version)
    assert version >= (2, 10, 0)


def test_missing_binary_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without a nats-server binary the fixtures fail the test instead of skipping it."""
    monkeypatch.setattr("shutil.which", lambda _name: None)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(pytest.fail.Exception, match="nats-server is not installed"):
        nats_server_binary()


async def test_single_server_stream_publish_ack(nats_server: NatsServer) -> None:
    """A single server creates a JetStream stream and acknowledges a publish to it."""
    assert nats_server.url == f"nats://127.0.0.1:{nats_server.port}"
    async with jetstream(nats_server.url) as (_nc, js):
        await js.add_stream(name="single", subjects=["single.>"])
        ack = await js.publish("single.a", b"hello")
        assert (ack.stream, ack.seq) == ("single", 1)
        message = await js.get_msg("single", 1)
        assert message.data == b"hello"


@pytest.mark.parametrize("crash", [False, True], ids=["stop", "kill"])
async def test_restart_keeps_stream_data(nats_server: NatsServer, crash: bool) -> None:
    """After a stop (or a SIGKILL) and a restart, the server has the stream and its messages."""
    async with jetstream(nats_server.url) as (_nc, js):
        await js.add_stream(name="kept", subjects=["kept.>"])
        for index in range(3):
            await js.publish(f"kept.{index}", f"message {index}".encode())
    port, pid = nats_server.port, nats_server.pid
    if crash:
        nats_server.kill()
    nats_server.restart()
    assert nats_server.port == port
    assert nats_server.pid != pid
    async with jetstream(nats_server.url) as (_nc, js):
        info = await js.stream_info("kept")
        assert info.state.messages == 3
        assert (await js.get_msg("kept", 3)).data == b"message 2"


def test_stop_leaves_no_process(nats_server: NatsServer) -> None:
    """`stop()` ends and reaps the process; stopping again does nothing."""
    pid = nats_server.pid
    os.kill(pid, 0)  # alive
    nats_server.stop()
    assert not nats_server.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    nats_server.stop()


def test_start_failure_raises_with_log(nats_server: NatsServer, tmp_path: Path) -> None:
    """A server that cannot start (its port is taken) raises with its log, and leaves no process."""
    clash = NatsServer(
        directory=tmp_path / "clash", binary=nats_server.binary, port=nats_server.port
    )
    with pytest.raises(RuntimeError, match="exited with code") as failure:
        clash.start()
    assert "address already in use" in str(failure.value)
    assert not clash.running


async def test_cluster_r3_stream_survives_a_follower(nats_cluster: list[NatsServer]) -> None:
    """The cluster creates an R3 stream; with a follower killed it still acknowledges publishes."""
    assert len(nats_cluster) == 3
    assert len({server.port for server in nats_cluster}) == 3
    by_name = {server.name: server for server in nats_cluster}
    async with jetstream(nats_cluster[0].url) as (_nc, js):
        info = await js.add_stream(name="triple", subjects=["triple.>"], num_replicas=3)
        assert info.config.num_replicas == 3
        await js.publish("triple.before", b"before")
        info = await js.stream_info("triple")
        assert info.cluster is not None
        leader_name = info.cluster.leader
        assert leader_name in by_name
    leader = by_name[leader_name]
    meta_leader = leader.meta_leader()
    assert meta_leader in by_name
    follower = next(
        server for server in nats_cluster if server.name not in (leader_name, meta_leader)
    )
    follower.kill()
    async with jetstream(leader.url) as (_nc, js):
        for index in range(3):
            ack = await js.publish(f"triple.after.{index}", b"after")
            assert ack.seq == index + 2
        info = await js.stream_info("triple")
        assert info.state.messages == 4
    follower.restart()  # it rejoins: same ports, same store
    await wait_jetstream_ready([follower.url], deadline=10)
    assert await wait_meta_leader(nats_cluster, deadline=10) == meta_leader
