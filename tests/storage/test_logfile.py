"""Tests for kanta.storage.logfile: locking, appends, syncs and atomic rewrites on real files."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kanta.errors import DatabaseError, FileLockError
from kanta.storage.logfile import FileOps, LogFile

REPO_ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import sys
from kanta.storage.logfile import LogFile
with LogFile.open(sys.argv[1], create=True, readonly=False):
    print("locked", flush=True)
    sys.stdin.read()
"""


def fd_target(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


class FaultyOps(FileOps):
    """Real os calls, except the faults a test arms."""

    def __init__(self) -> None:
        self.write_limits: list[int] = []  # bytes each pwrite may write, in order
        self.write_errors: dict[int, OSError] = {}  # pwrite call index -> error
        self.writes = 0
        self.fail_fdatasync: OSError | None = None
        self.fail_fsync_on: str | None = None  # fail fsync on paths containing this
        self.fail_ftruncate: OSError | None = None
        self.fail_fstat: OSError | None = None
        self.fail_dir_fsync = False
        self.synced_paths: list[str] = []

    def pwrite(self, fd: int, data: memoryview, offset: int) -> int:
        index, self.writes = self.writes, self.writes + 1
        if index in self.write_errors:
            raise self.write_errors[index]
        if self.write_limits:
            data = data[: self.write_limits.pop(0)]
        return super().pwrite(fd, data, offset)

    def fdatasync(self, fd: int) -> None:
        if self.fail_fdatasync is not None:
            raise self.fail_fdatasync
        super().fdatasync(fd)

    def fsync(self, fd: int) -> None:
        target = fd_target(fd)
        self.synced_paths.append(target)
        if self.fail_fsync_on is not None and self.fail_fsync_on in target:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        if self.fail_dir_fsync and os.path.isdir(target):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        super().fsync(fd)

    def ftruncate(self, fd: int, length: int) -> None:
        if self.fail_ftruncate is not None:
            raise self.fail_ftruncate
        super().ftruncate(fd, length)

    def fstat(self, fd: int) -> os.stat_result:
        if self.fail_fstat is not None:
            raise self.fail_fstat
        return super().fstat(fd)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.kantadb"


@pytest.fixture
def writer(db: Path) -> Iterator[LogFile]:
    with LogFile.open(db, create=True, readonly=False) as file:
        yield file


def start_holder(db: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "locked\n"
    return proc


def finish(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    proc.wait(timeout=30)
    proc.stdout.close()


# --- locking -----------------------------------------------------------------------------


def test_second_open_in_same_process_is_refused(db: Path, writer: LogFile) -> None:
    with pytest.raises(FileLockError) as info:
        LogFile.open(db, create=True, readonly=False)
    assert str(db) in str(info.value)
    assert "one writer process" in str(info.value)
    assert info.value.db_path == db
    assert isinstance(info.value.__cause__, BlockingIOError)


def test_lock_is_free_after_close(db: Path) -> None:
    LogFile.open(db, create=True, readonly=False).close()
    with LogFile.open(db, create=False, readonly=False) as again:
        assert again.still_ours()


def test_close_is_idempotent(writer: LogFile) -> None:
    writer.close()
    writer.close()
    assert writer.closed
    with pytest.raises(DatabaseError, match="closed"):
        writer.append(b"x")


def test_other_process_holding_the_lock(db: Path) -> None:
    proc = start_holder(db)
    try:
        with pytest.raises(FileLockError, match="one writer process"):
            LogFile.open(db, create=True, readonly=False)
    finally:
        finish(proc)
    assert proc.returncode == 0
    LogFile.open(db, create=False, readonly=False).close()


def test_lock_is_free_after_holder_is_killed(db: Path) -> None:
    proc = start_holder(db)
    try:
        with pytest.raises(FileLockError):
            LogFile.open(db, create=True, readonly=False)
        proc.kill()
        proc.wait(timeout=30)  # reaped: the kernel has closed its descriptors
    finally:
        finish(proc)
    LogFile.open(db, create=False, readonly=False).close()


def test_readonly_open_works_while_writer_holds_lock(db: Path, writer: LogFile) -> None:
    writer.append(b"hello\n")
    with LogFile.open(db, create=False, readonly=True) as reader:
        assert reader.read_from() == b"hello\n"
        writer.append(b"world\n")
        assert reader.read_from(6) == b"world\n"
        with pytest.raises(DatabaseError, match="read-only"):
            reader.append(b"x")


def test_readonly_never_creates(db: Path) -> None:
    with pytest.raises(DatabaseError, match="does not exist") as info:
        LogFile.open(db, create=True, readonly=True)
    assert info.value.db_path == db
    assert not db.exists()


def test_missing_file_without_create(db: Path) -> None:
    with pytest.raises(DatabaseError, match="does not exist") as info:
        LogFile.open(db, create=False, readonly=False)
    assert isinstance(info.value.__cause__, FileNotFoundError)
    assert not db.exists()


def test_missing_directory_with_create(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="cannot create"):
        LogFile.open(tmp_path / "nope" / "x.kantadb", create=True, readonly=False)


def test_dangling_symlink_fails_instead_of_looping(tmp_path: Path, db: Path) -> None:
    # O_EXCL refuses any existing name, and a plain open cannot follow a dangling link.
    db.symlink_to(tmp_path / "gone" / "target")
    with pytest.raises(DatabaseError, match="cannot create"):
        LogFile.open(db, create=True, readonly=False)


def test_created_flag(db: Path) -> None:
    with LogFile.open(db, create=True, readonly=False) as file:
        assert file.created
    with LogFile.open(db, create=True, readonly=False) as file:
        # Exists but empty: made by someone else (or an earlier open), so not this open's
        # to remove when the open fails.
        assert not file.created
        file.append(b"x")
    with LogFile.open(db, create=True, readonly=False) as file:
        assert not file.created


def test_creating_syncs_the_directory(db: Path) -> None:
    ops = FaultyOps()
    LogFile.open(db, create=True, readonly=False, ops=ops).close()
    assert str(db.parent) in ops.synced_paths
    ops.synced_paths.clear()
    LogFile.open(db, create=True, readonly=False, ops=ops).close()
    assert ops.synced_paths == []  # nothing new to make durable


def test_failed_open_releases_the_descriptor(db: Path) -> None:
    db.write_bytes(b"data")
    ops = FaultyOps()
    ops.fail_fstat = OSError(errno.EIO, os.strerror(errno.EIO))
    before = open_fds()
    with pytest.raises(DatabaseError) as info:
        LogFile.open(db, create=False, readonly=False, ops=ops)
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == errno.EIO
    assert open_fds() == before
    LogFile.open(db, create=False, readonly=False).close()


def test_failed_directory_sync_on_create_releases_the_descriptor(db: Path) -> None:
    ops = FaultyOps()
    ops.fail_dir_fsync = True
    with pytest.raises(DatabaseError):
        LogFile.open(db, create=True, readonly=False, ops=ops)
    LogFile.open(db, create=False, readonly=False).close()


# --- appends and reads -------------------------------------------------------------------


def test_append_returns_offsets(db: Path, writer: LogFile) -> None:
    assert writer.append(b"abc") == 0
    assert writer.append(b"") == 3
    assert writer.append(b"defg") == 3
    assert writer.size == 7
    assert writer.read_from() == b"abcdefg"
    assert writer.read_from(5) == b"fg"
    assert writer.read_from(100) == b""
    assert db.read_bytes() == b"abcdefg"


def test_append_continues_after_existing_content(db: Path) -> None:
    db.write_bytes(b"old\n")
    with LogFile.open(db, create=False, readonly=False) as file:
        assert file.append(b"new\n") == 4
    assert db.read_bytes() == b"old\nnew\n"


def test_short_writes_still_write_everything(db: Path) -> None:
    ops = FaultyOps()
    ops.write_limits = [1, 2, 3]
    with LogFile.open(db, create=True, readonly=False, ops=ops) as file:
        assert file.append(b"0123456789") == 0
        assert ops.writes == 4
    assert db.read_bytes() == b"0123456789"


def test_interrupted_write_is_retried(db: Path) -> None:
    ops = FaultyOps()
    ops.write_errors = {0: InterruptedError(errno.EINTR, "interrupted")}
    with LogFile.open(db, create=True, readonly=False, ops=ops) as file:
        file.append(b"payload")
    assert db.read_bytes() == b"payload"


def test_enospc_part_way_restores_old_size(db: Path) -> None:
    ops = FaultyOps()
    with LogFile.open(db, create=True, readonly=False, ops=ops) as file:
        file.append(b"committed\n")
        ops.write_limits = [4]
        ops.write_errors = {ops.writes + 1: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))}
        with pytest.raises(DatabaseError) as info:
            file.append(b"torn record\n")
        assert info.value.byte_pos == 10
        assert info.value.db_path == db
        assert isinstance(info.value.__cause__, OSError)
        assert info.value.__cause__.errno == errno.ENOSPC
        assert "cut back" in str(info.value)
        assert file.size == 10
        assert file.append(b"next\n") == 10  # the file stays usable
    assert db.read_bytes() == b"committed\nnext\n"


def test_failed_rollback_is_reported_and_blocks_appends(db: Path) -> None:
    ops = FaultyOps()
    with LogFile.open(db, create=True, readonly=False, ops=ops) as file:
        ops.write_limits = [3]
        ops.write_errors = {1: OSError(errno.EIO, os.strerror(errno.EIO))}
        ops.fail_ftruncate = OSError(errno.EIO, os.strerror(errno.EIO))
        with pytest.raises(DatabaseError, match="torn tail") as info:
            file.append(b"abcdef")
        assert info.value.byte_pos == 0
        with pytest.raises(DatabaseError, match="could not be removed"):
            file.append(b"more")


def test_write_without_progress_fails(db: Path) -> None:
    ops = FaultyOps()
    ops.write_limits = [0]
    with LogFile.open(db, create=True, readonly=False, ops=ops) as file:
        with pytest.raises(DatabaseError, match="no progress"):
            file.append(b"abc")
        assert file.size == 0


def test_writer_reads_only_completed_appends(db: Path, writer: LogFile) -> None:
    writer.append(b"done")
    with db.open("ab") as other:  # bytes past our end: e.g. an append still in flight
        other.write(b"partial")
    assert writer.read_from() == b"done"
    with LogFile.open(db, create=False, readonly=True) as reader:
        assert reader.read_from() == b"donepartial"


@settings(max_examples=50, deadline=None)
@given(
    records=st.lists(st.binary(max_size=50), max_size=8),
    limits=st.lists(st.integers(min_value=1, max_value=7), max_size=30),
)
def test_appends_concatenate_under_any_short_writes(
    records: list[bytes], limits: list[int]
) -> None:
    ops = FaultyOps()
    ops.write_limits = list(limits)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "db"
        with LogFile.open(path, create=True, readonly=False, ops=ops) as file:
            offsets = [file.append(record) for record in records]
        expected = [sum(len(r) for r in records[:i]) for i in range(len(records))]
        assert offsets == expected
        assert path.read_bytes() == b"".join(records)


# --- sync and truncate -------------------------------------------------------------------


def test_sync_failure_is_sticky(db: Path) -> None:
    ops = FaultyOps()
    with LogFile.open(db, create=True, readonly=False, ops=ops) as file:
        file.append(b"x")
        ops.fail_fdatasync = OSError(errno.EIO, os.strerror(errno.EIO))
        with pytest.raises(DatabaseError) as info:
            file.sync()
        assert file.sync_failed
        assert isinstance(info.value.__cause__, OSError)
        assert info.value.__cause__.errno == errno.EIO
        ops.fail_fdatasync = None
        with pytest.raises(DatabaseError, match="earlier sync"):
            file.sync()


def test_sync_succeeds(writer: LogFile) -> None:
    writer.append(b"x")
    writer.sync()
    assert not writer.sync_failed


def test_truncate_cuts_the_tail(db: Path, writer: LogFile) -> None:
    writer.append(b"good")
    writer.append(b"torn")
    writer.truncate(4)
    assert db.read_bytes() == b"good"
    assert writer.append(b"!") == 4
    assert db.read_bytes() == b"good!"


# --- identity ------------------------------------------------------------------------------


def test_still_ours_after_unlink(db: Path, writer: LogFile) -> None:
    assert writer.still_ours()
    db.unlink()
    assert not writer.still_ours()


def test_still_ours_after_rename_over(db: Path, writer: LogFile) -> None:
    other = db.with_name("other")
    other.write_bytes(b"impostor")
    os.replace(other, db)
    assert not writer.still_ours()


# --- replace_with --------------------------------------------------------------------------


def test_replace_with_swaps_content_and_keeps_lock(db: Path) -> None:
    old = LogFile.open(db, create=True, readonly=False)
    old.append(b"a long history\n")
    new = old.replace_with(b"compacted\n")
    with new:
        assert old.closed
        assert db.read_bytes() == b"compacted\n"
        assert new.still_ours()
        assert new.read_from() == b"compacted\n"
        assert new.append(b"more\n") == 10
        with pytest.raises(FileLockError):
            LogFile.open(db, create=False, readonly=False)
        assert sorted(p.name for p in db.parent.iterdir()) == [db.name]
    assert db.read_bytes() == b"compacted\nmore\n"
    LogFile.open(db, create=False, readonly=False).close()


def test_replace_with_syncs_temp_file_and_directory(db: Path) -> None:
    ops = FaultyOps()
    with LogFile.open(db, create=True, readonly=False, ops=ops) as old:
        ops.synced_paths.clear()
        old.replace_with(b"new").close()
    assert ".tmp-" in ops.synced_paths[0]
    assert ops.synced_paths[-1] == str(db.parent)


def test_replace_with_locks_the_new_inode_before_renaming(db: Path) -> None:
    class CheckingOps(FileOps):
        def replace(self, src: Path, dst: Path) -> None:
            # A separate open conflicts with any flock held on the temp file's inode.
            probe = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
            try:
                with pytest.raises(BlockingIOError):
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(probe)
            super().replace(src, dst)

    with LogFile.open(db, create=True, readonly=False, ops=CheckingOps()) as old:
        old.replace_with(b"new").close()
    assert db.read_bytes() == b"new"


def test_replace_with_failure_leaves_original(db: Path) -> None:
    ops = FaultyOps()
    with LogFile.open(db, create=True, readonly=False, ops=ops) as file:
        file.append(b"original\n")
        ops.fail_fsync_on = ".tmp-"
        before = open_fds()
        with pytest.raises(DatabaseError) as info:
            file.replace_with(b"replacement\n")
        assert isinstance(info.value.__cause__, OSError)
        assert info.value.__cause__.errno == errno.EIO
        assert open_fds() == before
        assert sorted(p.name for p in db.parent.iterdir()) == [db.name]
        assert db.read_bytes() == b"original\n"
        assert file.still_ours()
        assert file.append(b"still writable\n") == 9
        with pytest.raises(FileLockError):
            LogFile.open(db, create=False, readonly=False)


def test_replace_with_directory_sync_failure_keeps_the_new_file_locked(db: Path) -> None:
    ops = FaultyOps()
    with LogFile.open(db, create=True, readonly=False, ops=ops) as file:
        file.append(b"original\n")
        ops.fail_dir_fsync = True
        with pytest.raises(DatabaseError, match="may not be durable"):
            file.replace_with(b"replacement\n")
        assert file.sync_failed
        assert file.still_ours()
        assert file.read_from() == b"replacement\n"
        with pytest.raises(FileLockError):
            LogFile.open(db, create=False, readonly=False)


def test_a_record_in_pieces_is_written_in_order_or_not_at_all(db: Path) -> None:
    ops = FaultyOps()
    with LogFile.open(db, create=True, readonly=False, ops=ops) as file:
        assert file.append([b"one ", b"record", b"\n"]) == 0
        ops.write_errors = {ops.writes + 2: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))}
        with pytest.raises(DatabaseError) as info:
            file.append([b"a large ", b"snapshot ", b"in pieces\n"])
        assert info.value.byte_pos == 11 and file.size == 11
        assert file.append([b"next\n"]) == 11
    assert db.read_bytes() == b"one record\nnext\n"
