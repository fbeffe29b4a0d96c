"""`kanta restore` and `kanta follow` as a user runs them, against a real server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
from natsservers import NatsServer

from kanta import Kanta


class Data(msgspec.Struct):
    """The state of these tests."""

    users: dict[str, int] = {}


def _kanta(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "kanta", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


async def test_restore_and_follow_from_the_command_line(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    url = f"{nats_server.url}/db"
    async with Kanta(tmp_path / "a.db", Data(), replicate=url) as db:
        for name in ("alice", "bob", "carol"):
            with db.transaction("add user", user="ops") as data:
                data.users[name] = len(data.users)
        await db.flush()
    done = _kanta("restore", url, str(tmp_path / "r2.db"), "--rev", "2")
    assert done.returncode == 0, done.stderr
    assert "restored to r2" in done.stderr
    async with Kanta(tmp_path / "r2.db", Data()) as back:
        assert back.data.users == {"alice": 0}
    again = _kanta("restore", url, str(tmp_path / "r2.db"))
    assert again.returncode != 0 and "exists" in again.stderr
    followed = _kanta("follow", url, "--count", "4")
    assert followed.returncode == 0, followed.stderr
    lines = followed.stderr.splitlines()
    assert lines[0] == f"following {url} from r0"
    assert [line.split()[0] for line in lines[1:]] == ["r1", "r2", "r3", "r4"]
    assert lines[-1].endswith("add user by ops")
