"""Followers of a replicated database, and point-in-time restore, against a real server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import msgspec
import nats
import pytest
from natsservers import NatsServer

from kanta import Follower, Kanta, MsgPackSerializer, ReplayError, restore, verify


class Data(msgspec.Struct):
    """The state of these tests."""

    users: dict[str, int] = {}
    log: list[str] = []


async def _change(db: Kanta[Data], name: str) -> None:
    with db.transaction("add", user="test") as data:
        data.users[name] = len(data.users)
        data.log.append(name)
    await db.flush()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "msgpack"])
async def test_a_follower_starts_at_the_snapshot_and_matches_every_revision(
    nats_server: NatsServer, tmp_path: Path, binary: bool
) -> None:
    url = f"{nats_server.url}/db"
    serializer = MsgPackSerializer() if binary else None
    async with Kanta(tmp_path / "a.db", Data(), serializer=serializer, replicate=url) as db:
        for n in range(6):
            await _change(db, f"u{n}")
        db.request_snapshot()
        await db.flush()
        await _change(db, "after")
        async with Follower(url, Data()) as follower:
            await follower.wait_for(db.rev, timeout=10)
            assert follower.data == db.data and follower.rev == db.rev
            assert follower._fold.changes_seen == 1  # replayed from the snapshot on
            for n in range(10):
                await _change(db, f"live{n}")
                await follower.wait_for(db.rev, timeout=10)
                assert follower.rev == db.rev
                assert follower.data == db.data
            assert follower.lag == 0


async def test_a_follower_stops_at_a_damaged_message(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    url = f"{nats_server.url}/db"
    async with Kanta(tmp_path / "a.db", Data(), replicate=url) as db:
        await _change(db, "alice")
        async with Follower(url, Data()) as follower:
            await follower.wait_for(db.rev, timeout=10)
            nc = await nats.connect(nats_server.url)
            await nc.jetstream().publish("kanta.db.rec", b'{"ts":"garbage"}\n')
            await nc.close()
            with pytest.raises(ReplayError, match=r"record 3|line 3") as error:
                await follower.wait_for(db.rev + 1, timeout=10)
            assert "unreadable record" in str(error.value)
            assert follower.data.users == {"alice": 0}


@pytest.mark.parametrize("binary", [False, True], ids=["json", "msgpack"])
async def test_restore_rebuilds_the_file_at_a_revision_or_a_time(
    nats_server: NatsServer, tmp_path: Path, binary: bool
) -> None:
    url = f"{nats_server.url}/db"
    serializer = MsgPackSerializer() if binary else None
    states = {}
    db = Kanta(tmp_path / "a.db", Data(), serializer=serializer, replicate=url)
    now = [db._callbacks.now()]

    @db.clock
    def clock() -> object:
        now[0] += timedelta(seconds=1)
        return now[0]

    await db.open()
    for n in range(5):
        await _change(db, f"u{n}")
        states[db.rev] = (msgspec.convert(msgspec.to_builtins(db.data), Data), now[0])
        if n == 2:
            db.request_snapshot()
            await db.flush()
    await db.close()
    assert await restore(url, tmp_path / "all.db") == 6
    assert (tmp_path / "all.db").read_bytes() == (tmp_path / "a.db").read_bytes()
    assert verify(tmp_path / "all.db").ok
    assert await restore(url, tmp_path / "r3.db", rev=3) == 3
    assert await restore(url, tmp_path / "t4.db", at=states[4][1]) == 4
    for name, rev in (("r3.db", 3), ("t4.db", 4)):
        assert verify(tmp_path / name).ok
        async with Kanta(tmp_path / name, Data()) as back:
            assert back.rev == rev and back.data == states[rev][0]
    with pytest.raises(Exception, match="exists"):
        await restore(url, tmp_path / "a.db")


async def test_wait_for_times_out(nats_server: NatsServer, tmp_path: Path) -> None:
    url = f"{nats_server.url}/db"
    async with (
        Kanta(tmp_path / "a.db", Data(), replicate=url) as db,
        Follower(url, Data()) as follower,
    ):
        await follower.wait_for(db.rev, timeout=10)
        with pytest.raises(TimeoutError):
            await follower.wait_for(db.rev + 1, timeout=0.2)
