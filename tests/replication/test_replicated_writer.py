"""A writer with `replicate=`: every record in the stream, fenced takeovers, what a flush means."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest
from natsservers import NatsServer

from kanta import Kanta, MsgPackSerializer
from kanta.core.formats import detect
from kanta.errors import DatabaseError, FencedError, ReplicationError
from kanta.replication import Replication, replication_of
from kanta.replication.stream import Stream, check_server
from kanta.replication.takeover import record_bytes


class Data(msgspec.Struct):
    """The state of these tests."""

    users: dict[str, int] = {}


def _url(server: NatsServer, stream: str = "db", **query: str) -> str:
    extra = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{server.url}/{stream}" + (f"?{extra}" if extra else "")


async def _stream_records(server: NatsServer, name: str = "db") -> list[bytes]:
    stream = await Stream.connect(replication_of(_url(server, name)), create=False)
    try:
        last = await stream.last_seq()
        found = []
        for seq in range(1, last + 1):
            message = await stream.get(seq)
            assert message is not None
            found.append(await record_bytes(stream, message))
        return found
    finally:
        await stream.close()


def _file_records(path: Path) -> list[bytes]:
    """Each record's bytes; the first holds the file's header (a binary file's seed) too."""
    data = path.read_bytes()
    records = detect(data).scan(data).records
    return [data[(r.byte_pos if i else 0) : r.end] for i, r in enumerate(records)]


async def _write(db: Kanta[Any], *names: str) -> None:
    for name in names:
        with db.transaction("add", user="test") as data:
            data.users[name] = len(data.users)
    await db.flush()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "msgpack"])
async def test_every_record_reaches_the_stream_byte_for_byte(
    nats_server: NatsServer, tmp_path: Path, binary: bool
) -> None:
    serializer = MsgPackSerializer() if binary else None
    db = Kanta(tmp_path / "a.db", Data(), serializer=serializer, replicate=_url(nats_server))
    await db.open()
    await _write(db, "alice", "bob")
    db.request_snapshot()
    await db.flush()
    await _write(db, "carol")
    await db.close()
    records = _file_records(tmp_path / "a.db")
    assert len(records) == 5  # bootstrap, two changes, the snapshot, one change
    assert await _stream_records(nats_server) == records
    # Whole, the stream is the file: restored byte for byte.
    assert b"".join(await _stream_records(nats_server)) == (tmp_path / "a.db").read_bytes()


async def test_a_replicated_flush_returns_once_the_stream_holds_it(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with Kanta(tmp_path / "a.db", Data(), replicate=_url(nats_server)) as db:
        await _write(db, "alice")
        assert db.replication_lag == 0
        assert len(await _stream_records(nats_server)) == 2


async def test_a_local_flush_replicates_in_the_background(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    db = Kanta(tmp_path / "a.db", Data(), replicate=_url(nats_server, ack="local"))
    await db.open()
    await _write(db, *(f"u{i}" for i in range(20)))
    session = db._session
    assert session is not None and session.replica is not None
    await session.replica.wait_published()
    assert db.replication_lag == 0
    await db.close()
    assert await _stream_records(nats_server) == _file_records(tmp_path / "a.db")


@pytest.mark.parametrize("binary", [False, True], ids=["json", "msgpack"])
async def test_a_new_writer_fetches_what_its_file_lacks_and_goes_on(
    nats_server: NatsServer, tmp_path: Path, binary: bool
) -> None:
    url = _url(nats_server)
    serializer = MsgPackSerializer() if binary else None
    async with Kanta(tmp_path / "a.db", Data(), serializer=serializer, replicate=url) as first:
        await _write(first, "alice", "bob")
    async with Kanta(tmp_path / "b.db", Data(), replicate=url) as second:
        assert second.data.users == {"alice": 0, "bob": 1}
        assert (tmp_path / "b.db").read_bytes() == (tmp_path / "a.db").read_bytes()
        await _write(second, "carol")
    async with Kanta(tmp_path / "a.db", Data(), replicate=url) as again:
        assert again.data.users == {"alice": 0, "bob": 1, "carol": 2}
    assert not list(tmp_path.glob("*.cut-*"))  # nothing was taken for another writer's
    assert (tmp_path / "a.db").read_bytes() == (tmp_path / "b.db").read_bytes()


async def test_an_existing_database_seeds_an_empty_stream(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with Kanta(tmp_path / "a.db", Data()) as local:
        await _write(local, "alice", "bob")
    async with Kanta(tmp_path / "a.db", Data(), replicate=_url(nats_server)) as db:
        await _write(db, "carol")
    assert await _stream_records(nats_server) == _file_records(tmp_path / "a.db")


async def test_an_old_writer_is_fenced_and_its_unacknowledged_records_kept_aside(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    url = _url(nats_server)
    old = Kanta(tmp_path / "a.db", Data(), replicate=url)
    failures: list[Exception] = []

    @old.fatal_error
    def report(error: DatabaseError) -> None:
        failures.append(error)

    await old.open()
    await _write(old, "alice")
    async with Kanta(tmp_path / "b.db", Data(), replicate=url) as new:
        await _write(new, "bob")
    with old.transaction("add", user="old") as data:
        data.users["mallory"] = 99
    with pytest.raises(FencedError) as fenced:
        await old.flush()
    assert fenced.value.stream == "db" and fenced.value.expected == 2
    assert [type(e) for e in failures] == [FencedError]
    with pytest.raises(FencedError), old.transaction("add", user="old") as data:
        data.users["eve"] = 1
    with pytest.raises(DatabaseError):
        await old.close()
    # Reopened, the old writer's file follows the stream; its own record is beside it.
    async with Kanta(tmp_path / "a.db", Data(), replicate=url) as back:
        assert back.data.users == {"alice": 0, "bob": 1}
    cuts = list(tmp_path.glob("a.db.cut-*"))
    assert len(cuts) == 1 and b"mallory" in cuts[0].read_bytes()
    assert await _stream_records(nats_server) == _file_records(tmp_path / "b.db")


async def test_two_writers_opening_together_exactly_one_wins(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    url = _url(nats_server)
    dbs = [Kanta(tmp_path / f"{n}.db", Data(), replicate=url) for n in "ab"]
    results = await asyncio.gather(*(db.open() for db in dbs), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) <= 1 and all(isinstance(e, FencedError) for e in errors)
    winners = [db for db, r in zip(dbs, results, strict=True) if r is None]
    outcomes = []
    for db in winners:
        try:
            await _write(db, f"from-{db.filename.stem}")
            outcomes.append(db)
        except FencedError:
            pass
        finally:
            with contextlib.suppress(DatabaseError):
                await db.close()
    assert len(outcomes) == 1  # the other one, if it opened, is fenced on its first flush
    assert await _stream_records(nats_server) == _file_records(outcomes[0].filename)


async def test_a_lost_acknowledgement_is_retried_not_taken_for_fencing(
    nats_server: NatsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_send = Stream._send
    lost: list[int] = []

    async def send_and_lose_the_ack(self: Stream, chunk: Any, expected: int, batch: str) -> int:
        answer = await real_send(self, chunk, expected, batch)
        if len(lost) < 2:  # the batch landed; its acknowledgement never arrives
            lost.append(expected)
            raise TimeoutError
        return answer

    async with Kanta(tmp_path / "a.db", Data(), replicate=_url(nats_server)) as db:
        monkeypatch.setattr(Stream, "_send", send_and_lose_the_ack)
        await _write(db, "alice")
        await _write(db, "bob", "carol")
    assert len(lost) == 2
    assert await _stream_records(nats_server) == _file_records(tmp_path / "a.db")


def test_servers_that_cannot_fence_are_refused() -> None:
    options = Replication(stream="db")
    with pytest.raises(ReplicationError, match=r"2\.9\.25 cannot fence.*2\.12"):
        check_server({"version": "2.9.25", "jetstream": True}, options)
    with pytest.raises(ReplicationError, match="without JetStream"):
        check_server({"version": "2.15.1", "jetstream": False}, options)
    check_server({"version": "2.12.0", "jetstream": True}, options)


async def test_an_old_server_is_refused_at_open(tmp_path: Path) -> None:
    """A server that says it is 2.9 (Debian's): the open fails before anything is written."""

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        info = {"server_id": "x", "version": "2.9.25", "jetstream": True, "headers": True}
        writer.write(b"INFO " + msgspec.json.encode(info) + b"\r\n")
        while line := await reader.readline():
            if line.startswith(b"PING"):
                writer.write(b"PONG\r\n")
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        db = Kanta(tmp_path / "a.db", Data(), replicate=f"nats://127.0.0.1:{port}/db")
        with pytest.raises(ReplicationError, match=r"2\.9\.25 cannot fence"):
            await db.open()
        assert not (tmp_path / "a.db").exists()
    finally:
        server.close()


async def test_a_stream_that_cannot_fence_is_refused(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    nc = await nats.connect(nats_server.url)
    await nc.jetstream().add_stream(name="db", subjects=["kanta.db.>"])
    await nc.close()
    db = Kanta(tmp_path / "a.db", Data(), replicate=_url(nats_server))
    with pytest.raises(ReplicationError, match="allow_atomic"):
        await db.open()


def test_replication_urls_and_options() -> None:
    options = replication_of("nats://u:p@h1:4222,h2:4223/orders?replicas=3&ack=local")
    assert options.servers == ("nats://u:p@h1:4222", "nats://u:p@h2:4223")
    assert (options.stream, options.replicas, options.ack) == ("orders", 3, "local")
    for bad in ("http://h/x", "nats://h/", "nats://h/a.b", "nats://h/x?ack=never"):
        with pytest.raises(ValueError):
            replication_of(bad)
    with pytest.raises(ValueError, match="unknown replication options: colour"):
        replication_of("nats://h/x?colour=red")
    with pytest.raises(ValueError, match="retention"):
        Kanta("x.db", Data(), retention=10, replicate="nats://h/x")


async def test_a_background_publish_that_is_fenced_stops_a_local_ack_writer(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    url = _url(nats_server, ack="local")
    old = Kanta(tmp_path / "a.db", Data(), replicate=url)
    failures: list[Exception] = []

    @old.fatal_error
    def report(error: DatabaseError) -> None:
        failures.append(error)

    await old.open()
    await _write(old, "alice")
    session = old._session
    assert session is not None and session.replica is not None
    await session.replica.wait_published()
    async with Kanta(tmp_path / "b.db", Data(), replicate=_url(nats_server)) as new:
        await _write(new, "bob")
    with old.transaction("add", user="old") as data:
        data.users["mallory"] = 99
    # ack="local" waits for the fsync only; the refusal may already be in when it returns.
    with contextlib.suppress(FencedError):
        await old.flush()
    await session.replica.wait_published()  # the background publish is refused
    assert old.replication_lag == 1  # still not in the stream
    with pytest.raises(FencedError):
        await old.flush()
    assert [type(e) for e in failures] == [FencedError]
    with pytest.raises(FencedError), old.transaction("add", user="old") as data:
        data.users["eve"] = 1
    with pytest.raises(DatabaseError):
        await old.close()
    assert b"mallory" not in b"".join(await _stream_records(nats_server))
