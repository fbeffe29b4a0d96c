"""The open, locked database file: the only code in kanta that touches file descriptors."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from ..errors import DatabaseError, FileLockError

_READ_CHUNK = 1 << 20
# fdatasync is missing on some platforms (macOS); fsync is the safe superset there.
_fdatasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


class FileOps:
    """The os calls LogFile makes; subclass it to inject faults in tests."""

    def open(self, path: Path, flags: int, mode: int = 0o644) -> int:
        """Forward to os.open."""
        return os.open(path, flags, mode)

    def close(self, fd: int) -> None:
        """Forward to os.close."""
        os.close(fd)

    def flock(self, fd: int, operation: int) -> None:
        """Forward to fcntl.flock."""
        fcntl.flock(fd, operation)

    def pwrite(self, fd: int, data: memoryview, offset: int) -> int:
        """Forward to os.pwrite."""
        return os.pwrite(fd, data, offset)

    def pread(self, fd: int, size: int, offset: int) -> bytes:
        """Forward to os.pread."""
        return os.pread(fd, size, offset)

    def fdatasync(self, fd: int) -> None:
        """Forward to os.fdatasync (os.fsync where it is missing)."""
        _fdatasync(fd)

    def fsync(self, fd: int) -> None:
        """Forward to os.fsync."""
        os.fsync(fd)

    def ftruncate(self, fd: int, length: int) -> None:
        """Forward to os.ftruncate."""
        os.ftruncate(fd, length)

    def fstat(self, fd: int) -> os.stat_result:
        """Forward to os.fstat."""
        return os.fstat(fd)

    def stat(self, path: Path) -> os.stat_result:
        """Forward to os.stat."""
        return os.stat(path)

    def replace(self, src: Path, dst: Path) -> None:
        """Forward to os.replace."""
        os.replace(src, dst)

    def unlink(self, path: Path) -> None:
        """Forward to os.unlink."""
        os.unlink(path)

    def link(self, src: Path, dst: Path) -> None:
        """Forward to os.link (fails if `dst` exists: a create that never overwrites)."""
        os.link(src, dst)


class LogFile:
    """One open database file; when writable, it holds the exclusive flock for its lifetime."""

    def __init__(
        self, path: Path, fd: int, *, readonly: bool, created: bool, end: int, ops: FileOps
    ) -> None:
        self.path = path
        self.readonly = readonly
        self.created = created  # this open made the name (O_EXCL): only then may it remove it
        self.sync_failed = False
        self._fd = fd
        self._ops = ops
        self._mutex = threading.Lock()
        self._end = end
        self._broken: str | None = None

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        create: bool,
        readonly: bool,
        ops: FileOps | None = None,
    ) -> LogFile:
        """Open `path`; a writable open takes the exclusive lock or raises FileLockError."""
        ops = ops if ops is not None else FileOps()
        path = Path(path)
        fd, made = _open_fd(ops, path, create=create and not readonly, readonly=readonly)
        try:
            info = ops.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise DatabaseError(
                    f"not a regular file ({_file_kind(info.st_mode)}): a database is a file",
                    db_path=path,
                )
            if not readonly:
                _lock(ops, fd, path)
            if made:
                sync_dir(ops, path)
            end = info.st_size
        except BaseException as exc:
            _close_quietly(ops, fd)
            if isinstance(exc, OSError):
                raise _error(path, "cannot open database file", exc) from exc
            raise
        return cls(path, fd, readonly=readonly, created=made, end=end, ops=ops)

    @property
    def closed(self) -> bool:
        """Whether close() has been called."""
        return self._fd < 0

    @property
    def ops(self) -> FileOps:
        """The system calls this file goes through (a fault-injection seam)."""
        return self._ops

    @property
    def size(self) -> int:
        """Current size of the file on disk, in bytes."""
        try:
            return self._ops.fstat(self._live_fd()).st_size
        except OSError as exc:
            raise _error(self.path, "cannot stat database file", exc) from exc

    def read_from(self, offset: int = 0) -> bytes:
        """Return the bytes from `offset` to the end of the file."""
        if offset < 0:
            raise ValueError(f"offset must be >= 0, not {offset}")
        # A writer reads only up to its own completed appends, never a half-written one.
        limit = None if self.readonly else self._end
        chunks: list[bytes] = []
        pos = offset
        while limit is None or pos < limit:
            # A writer knows the size: one read, and no join of chunks (a large file).
            want = _READ_CHUNK if limit is None else limit - pos
            try:
                chunk = self._ops.pread(self._live_fd(), want, pos)
            except InterruptedError:
                continue
            except OSError as exc:
                raise _error(self.path, "cannot read database file", exc, pos) from exc
            if not chunk:
                break
            chunks.append(chunk)
            pos += len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def append(self, data: bytes | Sequence[bytes]) -> int:
        """Write all of `data` (bytes, or pieces in order) at the end of the file.

        Returns the offset where it starts.
        """
        pieces = [data] if isinstance(data, bytes) else data
        with self._mutex:
            fd = self._writable_fd()
            start = end = self._end
            try:
                for piece in pieces:
                    write_all(self._ops, fd, piece, end)
                    end += len(piece)
            except OSError as exc:
                raise self._undo_append(start, exc) from exc
            self._end = end
            return start

    def _undo_append(self, start: int, exc: OSError) -> DatabaseError:
        try:
            self._ops.ftruncate(self._fd, start)
        except OSError as cut_exc:
            self._broken = f"a partial append at byte {start} could not be removed"
            message = f"append failed, and so did cutting it off ({cut_exc.strerror}): torn tail"
            return _error(self.path, message, exc, start)
        return _error(self.path, "append failed; the file was cut back to its old size", exc, start)

    def sync(self) -> None:
        """Flush appended data to stable storage (fdatasync); raise DatabaseError on failure."""
        fd = self._writable_fd()
        if self.sync_failed:
            # Linux reports a writeback error once; a later "successful" sync proves nothing.
            message = "an earlier sync failed, so what is on disk is unknown: reopen the database"
            raise DatabaseError(message, db_path=self.path)
        try:
            self._ops.fdatasync(fd)
        except OSError as exc:
            self.sync_failed = True
            raise _error(self.path, "cannot sync database file", exc) from exc

    def truncate(self, size: int) -> None:
        """Cut the file to `size` bytes (removing a torn tail) and sync it."""
        if size < 0:
            raise ValueError(f"size must be >= 0, not {size}")
        with self._mutex:
            try:
                self._ops.ftruncate(self._writable_fd(), size)
            except OSError as exc:
                raise _error(self.path, "cannot truncate database file", exc, size) from exc
            self._end = size
        self.sync()

    def still_ours(self) -> bool:
        """Whether `path` still names the file this object holds (not deleted or replaced)."""
        try:
            mine = self._ops.fstat(self._live_fd())
            theirs = self._ops.stat(self.path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise _error(self.path, "cannot stat database file", exc) from exc
        return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)

    def replace_with(self, data: bytes) -> LogFile:
        """Atomically replace the file's content with `data`; return the new LogFile.

        The lock is held throughout. On success this object is closed; if only the final
        directory sync fails, it holds the new file, marked sync_failed, and raises.
        """
        with self._mutex:
            self._writable_fd()
            tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
            fd = self._write_temp(tmp, data)
            try:
                self._ops.replace(tmp, self.path)
            except OSError as exc:
                _discard(self._ops, fd, tmp)
                raise _error(self.path, "cannot rename the rewritten file into place", exc) from exc
            # From here the path names the new inode, so this object follows it until handover.
            old, self._fd, self._end = self._fd, fd, len(data)
            _close_quietly(self._ops, old)
            try:
                sync_dir(self._ops, self.path)
            except OSError as exc:
                self.sync_failed = True
                raise _error(self.path, "replaced, but the rename may not be durable", exc) from exc
            self._fd = -1
        return LogFile(self.path, fd, readonly=False, created=False, end=len(data), ops=self._ops)

    def _write_temp(self, tmp: Path, data: bytes) -> int:
        try:
            fd = self._ops.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise _error(tmp, "cannot create temporary file", exc) from exc
        try:
            # Locked before the rename, so the new inode is never visible unlocked.
            _lock(self._ops, fd, tmp)
            write_all(self._ops, fd, data, 0)
            self._ops.fsync(fd)
        except BaseException as exc:
            _discard(self._ops, fd, tmp)
            if isinstance(exc, OSError):
                raise _error(self.path, "cannot write the rewritten file", exc) from exc
            raise
        return fd

    def close(self) -> None:
        """Close the descriptor, releasing the lock; calling it again does nothing."""
        with self._mutex:
            fd, self._fd = self._fd, -1
        if fd >= 0:
            try:
                self._ops.close(fd)
            except OSError as exc:
                raise _error(self.path, "cannot close database file", exc) from exc

    def _live_fd(self) -> int:
        if self._fd < 0:
            raise DatabaseError("database file is closed", db_path=self.path)
        return self._fd

    def _writable_fd(self) -> int:
        fd = self._live_fd()
        if self.readonly:
            raise DatabaseError("database file is open read-only", db_path=self.path)
        if self._broken is not None:
            raise DatabaseError(f"{self._broken}: reopen the database", db_path=self.path)
        return fd

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            warnings.warn(f"unclosed LogFile {self.path}", ResourceWarning, stacklevel=2)
            fd, self._fd = self._fd, -1
            _close_quietly(self._ops, fd)


def _open_fd(ops: FileOps, path: Path, *, create: bool, readonly: bool) -> tuple[int, bool]:
    """Open the descriptor; also report whether this call created the file."""
    # O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever. It changes
    # nothing for a regular file, and anything else is refused once it is open.
    flags = (os.O_RDONLY if readonly else os.O_RDWR) | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        for _ in range(3):
            if create:
                # O_EXCL first: it is the only way to know that this open made the name.
                with contextlib.suppress(FileExistsError):
                    return ops.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644), True
            try:
                return ops.open(path, flags, 0o644), False
            except FileNotFoundError:
                if not create:
                    raise
                # Deleted between the two opens: try to create it again, a bounded number
                # of times, since a dangling symlink looks exactly like this forever.
        raise FileNotFoundError(errno.ENOENT, "exists but cannot be opened (dangling symlink?)")
    except FileNotFoundError as exc:
        if create:
            raise _error(path, "cannot create database file", exc) from exc
        # A FileLockError, as in kanta 0.9.x: "this file cannot be had", like a held lock.
        missing = f"database file does not exist: {exc.strerror or exc}"
        raise FileLockError(missing, db_path=path) from exc
    except OSError as exc:
        raise _error(path, "cannot open database file", exc) from exc


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _file_kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a file")


def _lock(ops: FileOps, fd: int, path: Path) -> None:
    try:
        ops.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        raise FileLockError(
            "database file is locked by another writer: kanta allows one writer process per "
            "file (the holder may be another process, or this process through a second "
            "open instance)",
            db_path=path,
        ) from exc


def write_all(ops: FileOps, fd: int, data: bytes, offset: int) -> None:
    """Write all of `data` at `offset`, through short writes and interrupted calls."""
    view = memoryview(data)
    while view:
        try:
            written = ops.pwrite(fd, view, offset)
        except InterruptedError:
            continue
        if written <= 0:
            raise OSError(errno.EIO, "write made no progress")
        view = view[written:]
        offset += written


def sync_dir(ops: FileOps, path: Path) -> None:
    """fsync the directory holding `path`, so a new or renamed entry survives power loss."""
    fd = ops.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, 0)
    try:
        ops.fsync(fd)
    finally:
        ops.close(fd)


def _discard(ops: FileOps, fd: int, tmp: Path) -> None:
    _close_quietly(ops, fd)
    # Best effort: the original is intact either way, and the name is reused next time.
    with contextlib.suppress(OSError):
        ops.unlink(tmp)


def _close_quietly(ops: FileOps, fd: int) -> None:
    # Linux releases the descriptor even when close reports an error.
    with contextlib.suppress(OSError):
        ops.close(fd)


def _error(path: Path, message: str, exc: OSError, byte_pos: int | None = None) -> DatabaseError:
    detail = exc.strerror or str(exc)
    return DatabaseError(f"{message}: {detail}", db_path=path, byte_pos=byte_pos)
