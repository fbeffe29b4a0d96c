"""The Kanta database: a typed state in memory, its history in an append-only log file."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import warnings
import weakref
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, Generic, TypeVar

import msgspec
from msgspec.structs import force_setattr

from . import opening as loading
from .callbacks import Callbacks, Context, run_validators
from .core.formats import Serializer
from .core.jsonlines import JsonSerializer
from .core.records import SNAPSHOT_META_FORMAT, Change, Snapshot
from .core.retention import window
from .core.snapshotpolicy import SnapshotPolicy
from .decorators import Decorators
from .errors import DatabaseError, DataIntegrityError
from .events import emit as txlog
from .state.clone import shadow_of
from .state.tracker import Tracker
from .storage import rotation
from .storage.logfile import LogFile
from .storage.writer import DURABILITY, Durability, Writer
from .transactions import Transactions

T = TypeVar("T")
logger = logging.getLogger("kanta")


class Kanta(Decorators, Transactions[T], Generic[T]):
    """A typed state kept in memory and persisted as an append-only, audited log."""

    def __init__(
        self,
        filename: str | Path,
        data: T,
        *,
        type: builtins.type[T] | None = None,
        migrations: ModuleType | str | None = None,
        serializer: Serializer | None = None,
        flush_interval: float = 0.1,
        retention: timedelta | int | None = None,
        durability: Durability = "fsync",
    ) -> None:
        self._path = Path(filename)
        self._data = data
        self._type: Any = type if type is not None else builtins.type(data)
        config = getattr(self._type, "__struct_config__", None)
        if config is not None and config.array_like:
            # Its diffs would be lists, which the log format cannot apply to a root.
            raise TypeError(f"the root type {self._type.__name__} cannot be array_like")
        self._migrations = migrations
        self._serializer = serializer if serializer is not None else JsonSerializer()
        self.flush_interval = flush_interval
        self.retention = window(retention)
        if durability not in DURABILITY:
            raise ValueError(f"durability must be one of {DURABILITY}, not {durability!r}")
        self.durability: Durability = durability
        self.ctx = SimpleNamespace()
        self.snapshot_policy = SnapshotPolicy()
        self._callbacks = Callbacks(self._type)
        self._reported_failure: DatabaseError | None = None
        self._version = 0
        self._rev = 0
        self._mtime: datetime | None = None
        self._is_open = False
        self._readonly = False
        self._in_transaction = False
        self._snapshot_requested = False
        self._file: LogFile | None = None
        self._writer: Writer | None = None
        self._tracker: Tracker | None = None
        self._background: asyncio.Task[None] | None = None
        self._audit: asyncio.Task[None] | None = None
        self._audit_wanted = False
        self._stray_error: DataIntegrityError | None = None
        self._stopping: asyncio.Event | None = None

    # -- properties -----------------------------------------------------------------------

    @property
    def data(self) -> T:
        """The live root object (the one passed in, updated in place)."""
        return self._data

    @property
    def version(self) -> int:
        """The schema version of the state."""
        return self._version

    @property
    def rev(self) -> int:
        """The revision: change records since the empty state."""
        return self._rev

    @property
    def mtime(self) -> datetime | None:
        """The last modification time recorded by a transaction."""
        return self._mtime

    @property
    def filename(self) -> Path:
        """The database file's path."""
        return self._path

    @property
    def serializer(self) -> Serializer:
        """The format of the open file (or of new files before opening)."""
        return self._serializer

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Kanta[T]:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self, *, create: bool = True, readonly: bool = False) -> None:
        """Open (or create) the file, replay it, migrate, and start the background writer."""
        if self._is_open:
            raise DataIntegrityError("the database is already open", db_path=self._path)
        file = await asyncio.to_thread(LogFile.open, self._path, create=create, readonly=readonly)
        try:
            try:
                loaded = await loading.load(self, file, create=create, readonly=readonly)
                assert loaded.file is not None
                file = loaded.file  # a rotation at open replaces it
                self._start(loaded, readonly)
            except RecursionError:
                message = "the stored state is nested too deeply to load"
                raise DatabaseError(message, db_path=self._path) from None
            run_validators(self, None)
            if self._writer is not None and loaded.records_to_write:
                await self._writer.flush()
        except BaseException:
            self._is_open = False
            if self._writer is not None:
                await self._report_failure()
                await self._writer.wait_idle()
                self._writer.close()
                self._writer = None
            await asyncio.to_thread(_give_up, file, create)
            raise
        if not readonly:
            self._stopping = asyncio.Event()
            self._background = asyncio.create_task(
                _flush_periodically(weakref.ref(self), self._stopping, self.flush_interval)
            )
        await txlog.log_open(self, loaded)

    def _start(self, loaded: loading.Loaded, readonly: bool) -> None:
        self._install(loaded.live)
        assert loaded.file is not None
        file = self._file = loaded.file
        self._readonly = readonly
        self._serializer = loaded.serializer
        self._version, self._rev, self._mtime = loaded.version, loaded.rev, loaded.mtime
        self._tracker = Tracker(shadow_of(self._data))
        self._snapshot_requested = False
        self._is_open = True
        if not readonly:
            self._writer = Writer(file, self._serializer)
            self._writer.replay_bytes = loaded.replay_bytes
            self._writer.state_bytes = loaded.state_bytes
            for record in loaded.records_to_write:
                self._queue(record)

    def _install(self, live: Any) -> None:
        """Move the loaded state into the caller's root object, which stays `db.data`."""
        root: Any = self._data
        if isinstance(root, msgspec.Struct) and type(root) is type(live):
            for name in root.__struct_fields__:
                force_setattr(root, name, getattr(live, name))
        elif isinstance(root, dict) and isinstance(live, dict):
            root.clear()
            root.update(live)
        else:
            self._data = live

    async def close(self) -> None:
        """Flush everything queued, stop the writer and release the file (idempotent)."""
        if not self._is_open:
            return
        stray = self._last_check() if self._writer is not None else None
        self._is_open = False
        error: DatabaseError | DataIntegrityError | None = None
        try:
            if self._writer is not None:
                error = await self._stop_writer()
        finally:
            if self._file is not None:
                await asyncio.to_thread(self._file.close)
            self._file = None
            self._writer = None
        if error is not None:
            raise error
        if stray is not None:
            raise stray

    def _last_check(self) -> DataIntegrityError | None:
        """At close: a stray change still pending, or one made since the last transaction."""
        if self._in_transaction:
            return None  # closed from inside a transaction's block: it rolls back
        try:
            self.check()
        except DataIntegrityError as exc:
            return exc
        return None

    async def _stop_writer(self) -> DatabaseError | None:
        assert self._writer is not None and self._stopping is not None
        self._stopping.set()
        if self._audit is not None and self._audit is not asyncio.current_task():
            self._audit.cancel()
            await asyncio.gather(self._audit, return_exceptions=True)
        # A fatal_error handler running in the background task may close the database.
        if self._background is not None and self._background is not asyncio.current_task():
            await self._background
        error = None
        try:
            await self._flush_queue(sync=self.durability != "none")
        except DatabaseError as exc:
            error = exc
        await self._writer.wait_idle()
        self._writer.close()
        return error

    def __del__(self) -> None:
        if getattr(self, "_is_open", False):
            warnings.warn(
                f"Kanta database {self._path} was never closed; queued records may be lost",
                ResourceWarning,
                stacklevel=1,
            )

    async def flush(self) -> None:
        """Write everything queued so far; with durability "fsync", sync it too."""
        self._check_writable()
        await self._flush_queue(sync=self.durability == "fsync")
        self._raise_stray()

    async def rotate(self) -> Path | None:
        """Move history older than the retention window beside the database, now.

        Returns the rotated file, or None when there is no retention or nothing is old
        enough. Runs in the writer's thread, between two batches, holding the lock.
        """
        self._check_writable()
        if self.retention is None:
            return None
        await self._flush_queue(sync=self.durability != "none")
        assert self._writer is not None
        cutoff = self._clock() - self.retention
        history = await self._writer.run(partial(rotation.rotate_writer_file, self._writer, cutoff))
        self._file = self._writer.file
        return history

    def request_snapshot(self) -> None:
        """Write a snapshot with the next flush (also the one `close()` does)."""
        self._snapshot_requested = True

    async def _flush_queue(self, *, sync: bool) -> None:
        writer = self._writer
        assert writer is not None
        try:
            await writer.flush(sync=sync)
            # Decided on what is on disk now, so the log never outgrows the policy by more
            # than one flush; a snapshot costs a second write, and only when one is due.
            if self._snapshot_requested:
                await self._write_snapshot(writer, sync)
            elif writer.snapshot_pending:
                # Flushers that land together share one due point: the size counters drop
                # only once the worker writes the snapshot, so they wait for that one alone.
                await writer.flush(sync=sync, upto=writer.snapshot_at)
            elif self.snapshot_policy.due(writer.replay_bytes, writer.state_bytes):
                await self._write_snapshot(writer, sync)
        except Exception:
            await self._report_failure()
            raise

    async def _write_snapshot(self, writer: Writer, sync: bool) -> None:
        """Queue a snapshot of a frozen copy of the state and write it.

        The copy stays frozen until the writer is done with it, even if this call is
        cancelled meanwhile (a request timing out): the write goes on, shielded.
        """
        tracker = self._tracker
        assert tracker is not None
        self._queue_snapshot()
        written = asyncio.ensure_future(writer.flush(sync=sync))
        written.add_done_callback(partial(_release, tracker))
        await asyncio.shield(written)

    async def _report_failure(self) -> None:
        """Hand a failed write to the @db.fatal_error handlers, once per failure."""
        error = self._writer.error if self._writer is not None else None
        if error is None or error is self._reported_failure:
            return  # no write failed, or this failure was already reported
        self._reported_failure = error
        await self._callbacks.run_all("fatal_error", Context(self, error=error))

    async def _background_flush(self) -> bool:
        """One periodic flush; False once writing has failed (the loop then stops)."""
        writer = self._writer
        assert writer is not None
        self._start_audit()
        sync = self.durability != "none"
        if not (writer.pending or self._snapshot_requested or (sync and writer.unsynced)):
            return True
        try:
            await self._flush_queue(sync=sync)
        except DatabaseError as exc:
            logger.error("kanta: background write to %s failed: %s", self._path, exc)
            return False
        return True

    # -- records --------------------------------------------------------------------------

    def _queue(self, record: Change | Snapshot) -> None:
        """Queue a record whose values are already encoded (msgspec.Raw) or immutable."""
        assert self._writer is not None
        self._writer.enqueue(record)

    def _queue_snapshot(self) -> None:
        assert self._tracker is not None
        self._snapshot_requested = False
        snapshot = Snapshot(
            ts=self._clock(),
            v=self._version,
            state=self._tracker.freeze(),  # encoded in the writer's thread
            m=self._mtime,
            r=self._rev,
            k=SNAPSHOT_META_FORMAT,
        )
        self._queue(snapshot)


async def _flush_periodically(
    ref: weakref.ref[Kanta[Any]], stopping: asyncio.Event, interval: float
) -> None:
    """Flush every `interval` seconds until stopped.

    Holds the database only while flushing, so that an instance nobody closed can still be
    collected (and warn) instead of being kept alive by its own writer.
    """
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval)
        db = ref()
        if db is None or stopping.is_set():
            return
        keep_going = await db._background_flush()
        interval = db.flush_interval
        del db
        if not keep_going:
            return


def _release(tracker: Tracker, written: asyncio.Future[None]) -> None:
    """The writer is done with a frozen copy: commits may change the shadow in place again."""
    tracker.thaw()
    if not written.cancelled():
        written.exception()  # a failure reaches the next flush or close from the writer


def _give_up(file: LogFile, create: bool) -> None:
    """Release the file of a failed open; a file this open created goes away again.

    Only when this open made the name (O_EXCL), the name still holds that inode and it
    is still empty: a file that was there before, or that has bytes in it, stays.
    """
    try:
        if create and file.created and not file.readonly and file.still_ours() and not file.size:
            file.path.unlink()  # before the lock goes, so nobody starts on it meanwhile
    finally:
        file.close()
