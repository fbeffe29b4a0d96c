"""The Kanta database: a typed state in memory, its history in an append-only log file."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import os
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, Generic, Literal, TypeVar, overload

import msgspec

from . import opening, strays, transactions
from .callbacks import BootstrapOptions, Callbacks
from .core.formats import Serializer, chosen_format
from .core.jsonlines import JsonSerializer
from .core.retention import window
from .core.snapshotpolicy import SnapshotPolicy
from .errors import DatabaseError, DataIntegrityError
from .events import emit
from .replication import attach
from .replication.options import Replication, replication_of
from .replication.stream import wait_closed
from .session import Session, flush_periodically, install, writable
from .storage import rotation
from .storage.logfile import LogFile
from .storage.writer import DURABILITY, Durability

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger("kanta")
# The action of the record `close()` writes for a `db.data = ...` nothing recorded since.
REPLACED = "replace data"
# How a commit finds what changed: the state's objects report their writes ("barrier"), or
# the whole state is compared with the shadow copy ("compare", 0.9.x's way).
Tracking = Literal["barrier", "compare"]
TRACKING: tuple[Tracking, ...] = ("barrier", "compare")


class Kanta(Generic[T]):
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
        tracking: Tracking | None = None,
        replicate: str | Replication | None = None,
    ) -> None:
        self._path = Path(filename)
        self._type: Any = type if type is not None else builtins.type(data)
        config = getattr(self._type, "__struct_config__", None)
        if config is not None and config.array_like:
            # Its diffs would be lists, which the log format cannot apply to a root.
            raise TypeError(f"the root type {self._type.__name__} cannot be array_like")
        self._migrations = migrations
        self.flush_interval = flush_interval
        self.retention = window(retention)
        if durability not in DURABILITY:
            raise ValueError(f"durability must be one of {DURABILITY}, not {durability!r}")
        self.durability: Durability = durability
        self.tracking: Tracking = tracking_mode(tracking, self._type)
        # The stream every record is published to (docs/replication.md), or None.
        self.replicate = replication_of(replicate) if replicate is not None else None
        if self.replicate is not None and self.retention is not None:
            # Rotation rewrites the file; the stream keeps history by its own limits.
            raise ValueError(
                "retention cannot be combined with replicate: set the stream's max_age"
            )
        self.ctx = SimpleNamespace()
        self.snapshot_policy = SnapshotPolicy()
        self._callbacks = Callbacks(self._type, self, Kanta)
        # The root object and the last opening's coordinates: what the properties show
        # while no session is open (before the first open, and after close).
        self._data = data
        self._serializer = chosen_format(serializer) if serializer is not None else JsonSerializer()
        self._version = 0
        self._rev: int | None = None  # None until the first open: 0.9.x refuses to guess
        self._mtime: datetime | None = None
        self._session: Session | None = None  # from open to close

    # -- properties -----------------------------------------------------------------------

    @property
    def data(self) -> T:
        """The live root object (the one passed in, updated in place)."""
        return self._data

    @data.setter
    def data(self, value: T) -> None:
        """Replace the root object; the next transaction records the difference."""
        if isinstance(self._type, type) and not isinstance(value, self._type):
            raise TypeError(f"db.data must be a {self._type.__name__}, not {type(value).__name__}")
        session = self._session
        if session is not None and session.is_open:
            if session.readonly:
                message = "the database is open read-only"
                raise DataIntegrityError(message, db_path=self._path, action="data")
            session.data = value
            session.replaced = not session.in_transaction
            if session.barrier is not None:
                session.barrier.replace_root(value)
        self._data = value

    @property
    def version(self) -> int:
        """The schema version of the state."""
        return self._version if self._session is None else self._session.version

    @property
    def rev(self) -> int:
        """The revision: change records since the empty state."""
        if self._session is not None:
            return self._session.rev
        if self._rev is None:
            message = "the revision is known once the database has been opened"
            raise DataIntegrityError(message, db_path=self._path, action="rev")
        return self._rev

    @property
    def mtime(self) -> datetime | None:
        """The last modification time recorded by a transaction."""
        return self._mtime if self._session is None else self._session.mtime

    @property
    def filename(self) -> Path:
        """The database file's path."""
        return self._path

    @property
    def serializer(self) -> Serializer:
        """The format of the open file (or of new files before opening)."""
        return self._serializer

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def replication_lag(self) -> int:
        """Records written locally that the stream has not acknowledged (0 without one)."""
        session = self._session
        return session.replica.lag if session is not None and session.replica else 0

    async def __aenter__(self) -> Kanta[T]:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(
        self, *, create: bool = True, readonly: bool = False, log: bool | logging.Logger = True
    ) -> None:
        """Open (or create) the file, replay it, migrate, and start the background writer.

        `log` is for what opening logs (created, opened, migrated): False silences it, a
        `logging.Logger` takes it instead of kanta's own loggers.
        """
        if self._session is not None and self._session.is_open:
            raise DataIntegrityError(
                "the database is already open", db_path=self._path, action="open"
            )
        file = await asyncio.to_thread(LogFile.open, self._path, create=create, readonly=readonly)
        session = None
        stream = None
        try:
            if self.replicate is not None and not readonly:
                stream, last_seq = await attach.take_over(
                    self.replicate, file, self._callbacks.now()
                )
            try:
                loaded = await opening.load(self._opening(), file, create=create, readonly=readonly)
                assert loaded.file is not None
                file = loaded.file  # a rotation at open replaces it
                session = self._start(loaded, readonly)
                if stream is not None and session.writer is not None:
                    report = partial(self._report_failure, session)
                    session.replica = attach.attach(session.writer, stream, last_seq, report)
            except RecursionError:
                message = "the stored state is nested too deeply to load"
                raise DatabaseError(message, db_path=self._path) from None
            transactions.validate(session, self._callbacks, None)
            if session.writer is not None and loaded.records_to_write:
                await session.writer.flush()
        except BaseException:
            if session is not None:
                session.is_open = False
                if session.writer is not None:
                    await self._report_failure(session)
                    await session.writer.wait_idle()
                    session.writer.close()
                    session.writer = None
                self._end(session)
            await wait_closed(stream)
            await asyncio.to_thread(opening.give_up, file, create)
            raise
        if not readonly:
            session.stopping = asyncio.Event()
            flush = weakref.WeakMethod(self._background_flush)
            every = flush_periodically(flush, session.stopping, self.flush_interval)
            session.background = asyncio.create_task(every)
        await emit.log_open(session, self._callbacks, loaded, log=log)

    def _opening(self) -> opening.Setup:
        """What opening the file needs from this instance."""
        config = (self._type, self._serializer, self._migrations, self.retention)
        return opening.Setup(self._path, self._data, *config, self._callbacks)

    def _start(self, loaded: opening.Loaded, readonly: bool) -> Session:
        # The instance takes the loaded coordinates first: they stay, as the data moved
        # into the root object does, even if what follows fails.
        self._data = install(self._data, loaded.live)
        self._serializer = loaded.serializer
        self._version, self._rev, self._mtime = loaded.version, loaded.rev, loaded.mtime
        barrier = self.tracking == "barrier"
        start = Session.start(self._path, self._data, self._type, loaded, readonly, barrier)
        self._session = start
        return start

    def _end(self, session: Session) -> None:
        """Drop a session that is over, keeping its coordinates for the properties."""
        self._version, self._rev, self._mtime = session.version, session.rev, session.mtime
        if session.barrier is not None:
            session.barrier.release()  # the state's objects are plain-acting again
            session.barrier = None
        if self._session is session:  # not one a new open made meanwhile
            self._session = None

    async def close(self) -> None:
        """Flush everything queued, stop the writer and release the file (idempotent)."""
        session = self._session
        if session is None or not session.is_open:
            return
        unrecorded = self._record_replacement(session)
        stray: Exception | None = None
        if session.writer is not None:
            stray = strays.last_check(session)
        stray = stray or unrecorded
        session.is_open = False
        error: Exception | None = None
        try:
            if session.writer is not None:
                sync = self.durability != "none"
                error = await session.stop(partial(self._flush_queue, session, sync=sync))
        finally:
            if session.file is not None:
                await asyncio.to_thread(session.file.close)
            session.file = None
            session.writer = None
            self._end(session)
            if session.replica is not None:
                await wait_closed(session.replica.stream)
        if error is not None:
            raise error
        if stray is not None:
            raise stray

    def _record_replacement(self, session: Session) -> Exception | None:
        """At close: record a `db.data = ...` no transaction has recorded yet.

        Returns the error that refused it (a validator, say), to raise once all is released.
        """
        if not session.replaced or session.in_transaction or session.writer is None:
            return None
        try:
            with self.transaction(REPLACED):
                pass
        except Exception as exc:
            return exc
        return None

    def __del__(self) -> None:
        session = getattr(self, "_session", None)
        if session is not None and session.is_open:
            warnings.warn(
                f"Kanta database {self._path} was never closed; queued records may be lost",
                ResourceWarning,
                stacklevel=1,
            )

    async def flush(self) -> None:
        """Write everything queued so far; with durability "fsync", sync it too."""
        session = writable(self._session, self._path, "flush")
        await self._flush_queue(session, sync=self.durability == "fsync")
        session.raise_stray()

    async def rotate(self) -> Path | None:
        """Move history older than the retention window beside the database, now.

        Returns the rotated file, or None when there is no retention or nothing is old
        enough. Runs in the writer's thread, between two batches, holding the lock.
        """
        session = writable(self._session, self._path, "rotate")
        if self.retention is None:
            return None
        await self._flush_queue(session, sync=self.durability != "none")
        writer = session.writer
        assert writer is not None
        cutoff = self._callbacks.now() - self.retention
        history = await writer.run(partial(rotation.rotate_writer_file, writer, cutoff))
        session.file = writer.file
        return history

    def request_snapshot(self) -> None:
        """Write a snapshot with the next flush (also the one `close()` does)."""
        if self._session is not None:
            self._session.snapshot_requested = True

    async def _flush_queue(self, session: Session, *, sync: bool) -> None:
        try:
            await session.flush(self.snapshot_policy, self._callbacks.now, sync=sync)
        except Exception:
            await self._report_failure(session)
            raise

    async def _report_failure(self, session: Session) -> None:
        """Hand a failed write to the @db.fatal_error handlers, once per failure."""
        error = session.writer.error if session.writer is not None else None
        if error is None or error is session.reported_failure:
            return  # no write failed, or this failure was already reported
        session.reported_failure = error
        await self._callbacks.run_all("fatal_error", self._callbacks.context(error=error))

    async def _background_flush(self) -> float | None:
        """One periodic flush: the wait until the next, or None once writing has failed."""
        session = self._session
        writer = session.writer if session is not None else None
        assert session is not None and writer is not None
        strays.start_audit(session)
        sync = self.durability != "none"
        if not (writer.pending or session.snapshot_requested or (sync and writer.unsynced)):
            return self.flush_interval
        try:
            await self._flush_queue(session, sync=sync)
        except DatabaseError as exc:
            logger.error("kanta: background write to %s failed: %s", self._path, exc)
            return None
        return self.flush_interval

    # -- transactions ---------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(
        self,
        action: str,
        *,
        user: str | None = None,
        extra: Any = None,
        mtime: bool | datetime = True,
        log: bool | logging.Logger = True,
        logdiff: bool = True,
        touches: Iterable[Sequence[Any]] | None = None,
    ) -> Iterator[T]:
        """Change the state inside the block; on success the change is queued for the log.

        `touches` makes it a flat transaction: a list of paths (tuples of keys and field
        names, like `("users", key)`) that the block may change. Only those are compared,
        so the cost does not grow with the state; see docs/transactions.md. The block
        must not await: another task's transaction would find this one still open.
        """
        session = writable(self._session, self._path, action)
        callbacks = self._callbacks
        yield from transactions.run(
            session, callbacks, action, user, extra, mtime, log, logdiff, touches
        )

    def check(self) -> None:
        """Raise DataIntegrityError for changes no transaction recorded, undoing them.

        Compares the whole state with what the log holds (one C-level pass); the background
        audit does the same in slices once flat transactions are in use.
        """
        strays.check(self._session, self._path)

    # -- callback decorators: each returns the function unchanged --------------------------

    @overload
    def bootstrap(self, fn: F) -> F: ...
    @overload
    def bootstrap(
        self,
        fn: None = None,
        *,
        action: str = "bootstrap",
        user: str | None = None,
        mtime: bool | datetime = True,
    ) -> Callable[[F], F]: ...
    def bootstrap(
        self,
        fn: Any = None,
        *,
        action: str = "bootstrap",
        user: str | None = None,
        mtime: bool | datetime = True,
    ) -> Any:
        """Fill in a new database: runs when `open()` creates the file, before its first record.

        `action`, `user` and `mtime` describe that bootstrap record (the last decorator
        given them wins). Sync or async; an error removes the new file and propagates.
        """
        if fn is None:
            self._callbacks.bootstrap_options = BootstrapOptions(action, user, mtime)
        return self._callbacks.register("bootstrap", fn)

    @overload
    def validate(self, fn: F) -> F: ...
    @overload
    def validate(self, fn: None = None) -> Callable[[F], F]: ...
    def validate(self, fn: Any = None) -> Any:
        """Check the data after open and after each changing transaction (sync only).

        An exception rolls the transaction back (or aborts the open) and propagates; a
        validator must not change the data.
        """
        return self._callbacks.register("validate", fn)

    @overload
    def fatal_error(self, fn: F) -> F: ...
    @overload
    def fatal_error(self, fn: None = None) -> Callable[[F], F]: ...
    def fatal_error(self, fn: Any = None) -> Any:
        """Called once per failed write to disk, with the DatabaseError (sync or async)."""
        return self._callbacks.register("fatal_error", fn)

    @overload
    def clock(self, fn: F) -> F: ...
    @overload
    def clock(self, fn: None = None) -> Callable[[F], F]: ...
    def clock(self, fn: Any = None) -> Any:
        """Replace the UTC clock for every timestamp: a sync function returning a datetime."""
        return self._callbacks.register("clock", fn)

    @overload
    def logfmt(self, fn: F) -> F: ...
    @overload
    def logfmt(self, fn: None = None, *, path: str | None = None) -> Callable[[F], F]: ...
    def logfmt(self, fn: Any = None, *, path: str | None = None) -> Any:
        """Prettify a value, path element or user (path "$user") in log output (sync only).

        Takes the value, then optionally its dotted path, and DictPrev/DictState parameters;
        returns a text or None (the next formatter is asked). `path` is a pattern of
        shell-style wildcards, one per dotted element ("users.*"). A LogFmt subclass is
        instantiated once per event.
        """
        return self._callbacks.register("logfmt", fn, path=path)

    @overload
    def logemit(self, fn: F) -> F: ...
    @overload
    def logemit(self, fn: None = None) -> Callable[[F], F]: ...
    def logemit(self, fn: Any = None) -> Any:
        """Receive each LogEvent (sync only); return falsy when handled, truthy to log it."""
        return self._callbacks.register("logemit", fn)

    @overload
    def logmigr(self, fn: F) -> F: ...
    @overload
    def logmigr(self, fn: None = None) -> Callable[[F], F]: ...
    def logmigr(self, fn: Any = None) -> Any:
        """Receive the MigrationReport after migrations ran, instead of the migration log."""
        return self._callbacks.register("logmigr", fn)


def callbacks_of(db: Kanta[Any]) -> Callbacks:
    """The callbacks registered on a database (for the CLI's `-k`)."""
    return db._callbacks


def configuration(db: Kanta[Any]) -> tuple[Any, ModuleType | str | None]:
    """The root type and the migrations a database was made with (for the CLI's `-k`)."""
    return db._type, db._migrations


def tracking_mode(asked: Tracking | None, root_type: Any) -> Tracking:
    """The tracking a database uses: as asked, else $KANTA_TRACKING, else the barrier.

    A root that is not a Struct (a plain dict) has no class to hook: it is compared
    (`tracking="compare"`), and refused when the barrier was asked for by name.
    """
    chosen = asked if asked is not None else os.environ.get("KANTA_TRACKING") or "barrier"
    if chosen not in TRACKING:
        raise ValueError(f"tracking must be one of {TRACKING}, not {chosen!r}")
    struct_root = isinstance(root_type, type) and issubclass(root_type, msgspec.Struct)
    if chosen == "barrier" and not struct_root:
        if asked == "barrier":
            raise TypeError(
                "tracking='barrier' needs a msgspec.Struct root to watch; a plain dict "
                "root is compared whole: use tracking='compare'"
            )
        return "compare"
    return chosen
