"""Write and sync failures at every I/O call: typed errors, no hang, nothing acknowledged lost.

Two injectors: a fault-injecting file layer (kanta.storage.logfile.FileOps, patched in-process,
enumerating every write and sync of a workload), and `strace -e inject` on a real writer
process where strace is installed.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kanta import DatabaseError, DataIntegrityError, Kanta, MsgPackSerializer
from kanta.storage.logfile import FileOps

ROOT = Path(__file__).parents[2]
FORMATS = ["json", "msgpack"]
FAULTS = [("pwrite", errno.ENOSPC), ("pwrite", errno.EIO), ("fdatasync", errno.EIO)]


class Log(msgspec.Struct):
    """Each transaction adds one entry and counts it."""

    count: int = 0
    entries: dict[str, list[int]] = {}


class Injector:
    """Counts calls to one FileOps method and fails the `at`-th with `error`."""

    def __init__(self, method: str, at: int, error: int) -> None:
        self.method, self.at, self.error = method, at, error
        self.calls = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Wrap the method on the FileOps class (every file kanta opens uses it)."""
        original = getattr(FileOps, self.method)

        def faulty(ops: FileOps, *args: Any) -> Any:
            self.calls += 1
            if self.calls == self.at:
                if self.method == "pwrite" and self.error == errno.ENOSPC and len(args[1]) > 1:
                    original(ops, args[0], args[1][: len(args[1]) // 2], args[2])  # half, then full
                raise OSError(self.error, os.strerror(self.error))
            return original(ops, *args)

        monkeypatch.setattr(FileOps, self.method, faulty)


async def _workload(path: Path, fmt: str) -> int:
    """Transactions and flushes until something fails; the last acknowledged count."""
    acked = 0
    serializer = MsgPackSerializer() if fmt == "msgpack" else None
    try:
        async with Kanta(path, Log(), serializer=serializer, flush_interval=3600) as db:
            for i in range(12):
                with db.transaction("add") as data:
                    data.count += 1
                    data.entries[f"e{data.count}"] = list(range(i * 3))
                if i % 3 == 2:
                    await db.flush()
                    acked = db.data.count
                if i == 6:
                    db.request_snapshot()
        acked = 12
    except DatabaseError:
        pass
    return acked


async def _fail_stop(path: Path, injector: Injector) -> None:
    """After a failure, every later transaction and flush raises until reopened."""
    db = Kanta(path, Log(), flush_interval=3600)
    try:
        await db.open()
    except DatabaseError:
        return
    with db.transaction("one") as data:
        data.count += 1
    with pytest.raises(DatabaseError):
        await db.flush()
    with pytest.raises(DatabaseError), db.transaction("after") as data:
        data.count += 1
    with pytest.raises(DatabaseError):
        await db.flush()
    with pytest.raises(DatabaseError):
        await db.close()
    with pytest.raises(DataIntegrityError):
        await db.flush()  # closed


async def _reopened(path: Path) -> Log:
    async with Kanta(path, Log()) as db:
        return db.data


def _clean_calls(tmp_path: Path, fmt: str, method: str, monkeypatch: pytest.MonkeyPatch) -> int:
    counter = Injector(method, 0, 0)
    with monkeypatch.context() as patch:
        counter.install(patch)
        asyncio.run(_workload(tmp_path / "clean.kantadb", fmt))
    return counter.calls


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("method", "error"), FAULTS, ids=lambda x: str(x))
def test_a_failure_at_every_io_call_loses_nothing_acknowledged(
    fmt: str, method: str, error: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _clean_calls(tmp_path, fmt, method, monkeypatch)
    assert calls >= 4
    for at in range(1, calls + 1):
        path = tmp_path / f"{method}-{at}.kantadb"
        with monkeypatch.context() as patch:
            Injector(method, at, error).install(patch)
            acked = asyncio.run(asyncio.wait_for(_workload(path, fmt), 20))
        assert acked < 12, f"the fault at call {at} was not reported"
        log = asyncio.run(_reopened(path))
        assert log.count >= acked, f"call {at}: acknowledged {acked}, found {log.count}"
        assert len(log.entries) == log.count


@pytest.mark.parametrize(("method", "error"), FAULTS, ids=lambda x: str(x))
def test_after_a_failure_the_instance_fails_stop(
    method: str, error: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.kantadb"
    asyncio.run(_reopened(path))  # created while the disk is fine
    with monkeypatch.context() as patch:
        Injector(method, 1, error).install(patch)
        asyncio.run(asyncio.wait_for(_fail_stop(path, Injector(method, 1, error)), 20))
    # A failed write is cut back; after a failed sync the (unacknowledged) record may be
    # on disk or not: the kernel's page cache decides.
    assert asyncio.run(_reopened(path)).count == (0 if method == "pwrite" else 1)


WORKLOAD = """
import asyncio, sys
sys.path[:0] = [{here!r}, {tests!r}]  # this module, and the shared helpers it imports
from test_faults import _workload
from pathlib import Path
print("acked", asyncio.run(_workload(Path(sys.argv[1]), sys.argv[2])), flush=True)
"""


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("syscall", "error"), [("pwrite64", "ENOSPC"), ("fdatasync", "EIO")], ids=lambda x: str(x)
)
def test_strace_injected_errors_lose_nothing_acknowledged(
    fmt: str, syscall: str, error: str, tmp_path: Path
) -> None:
    here = Path(__file__).parent
    script = WORKLOAD.format(here=str(here), tests=str(here.parent))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for when in range(1, 40):
        path = tmp_path / f"{syscall}-{when}.kantadb"
        inject = f"inject={syscall}:error={error}:when={when}"
        run = subprocess.run(
            ["strace", "-f", "-qq", "-o", "/dev/null", "-e", inject, *_python(script, path, fmt)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        acked = int(run.stdout.split()[-1])
        log = asyncio.run(_reopened(path))
        assert log.count >= acked and len(log.entries) == log.count
        if acked == 12:  # past the workload's last such call: every one was failed once
            assert when > 3
            return
    pytest.fail("the workload never completed")


def _python(script: str, path: Path, fmt: str) -> list[str]:
    return [sys.executable, "-c", script, str(path), fmt]
