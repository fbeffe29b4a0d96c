"""One opening of a database: the state in memory, its tracker and writer, from open to close.

`Kanta` keeps its configuration and callbacks; everything that exists only while the file
is open lives here, made by `Session.start` at open and dropped at close, and is handed
to the transaction, stray-change and log code as a parameter.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from msgspec.structs import force_setattr

from .core.formats import Serializer
from .core.records import SNAPSHOT_META_FORMAT, Change, Snapshot
from .core.snapshotpolicy import SnapshotPolicy
from .errors import DatabaseError, DataIntegrityError
from .events.timeline import Timeline
from .state.barrier import Barrier
from .state.clone import shadow_of
from .state.gcpause import gc_paused
from .state.touches import Paths, changes_at
from .state.tracker import Tracker, Tree
from .storage.logfile import LogFile
from .storage.writer import Writer

if TYPE_CHECKING:
    from .opening import Loaded
    from .replication.publisher import Publisher

# The open block's action and who runs it (thread id, asyncio task).
OpenBlock = tuple[str, tuple[int, "asyncio.Task[Any] | None"]]


@dataclass(slots=True, weakref_slot=True, eq=False)
class Session:
    """What an open database holds: the state, its coordinates, tracker, writer and file."""

    path: Path
    data: Any  # the live root object, `db.data`
    type: Any  # the root type
    serializer: Serializer  # the open file's format
    file: LogFile | None
    tracker: Tracker
    writer: Writer | None  # None when read-only, and once closed
    version: int
    rev: int
    mtime: datetime | None
    readonly: bool
    is_open: bool = True  # False from the start of `close()` (a block may still hold this)
    in_transaction: bool = False
    open_block: OpenBlock | None = None  # set only while `in_transaction`
    stray_error: DataIntegrityError | None = None  # found, not yet raised
    replaced: bool = False  # `db.data = ...` outside a transaction, not yet recorded
    snapshot_requested: bool = False
    audit: asyncio.Task[None] | None = None
    audit_wanted: bool = False  # a flat transaction committed since the last audit began
    background: asyncio.Task[None] | None = None  # the periodic flush
    stopping: asyncio.Event | None = None
    reported_failure: DatabaseError | None = None  # the write failure fatal_error was given
    states: Timeline | None = None  # made on first use by `timeline()`
    barrier: Barrier | None = None  # tracking="barrier": the state's objects report writes
    replica: Publisher | None = None  # replicate=: publishes what the writer appends

    @classmethod
    def start(
        cls,
        path: Path,
        data: Any,
        root_type: Any,
        loaded: Loaded,
        readonly: bool,
        barrier: bool = False,
    ) -> Session:
        """The session of a file just loaded into `data`; its records still to write queued.

        With `barrier`, the state's objects are registered and its containers converted.
        """
        assert loaded.file is not None
        watch = None
        if barrier and not readonly:
            watch = Barrier(path)
            with gc_paused():  # one walk: registered, converted, and the shadow made
                tracker = Tracker(watch.adopt_decoded(data))
        else:
            tracker = Tracker(shadow_of(data))
        writer = None
        if not readonly:
            writer = Writer(
                loaded.file,
                loaded.serializer,
                replay_bytes=loaded.replay_bytes,
                state_bytes=loaded.state_bytes,
            )
        session = cls(
            path,
            data,
            root_type,
            loaded.serializer,
            loaded.file,
            tracker,
            writer,
            loaded.version,
            loaded.rev,
            loaded.mtime,
            readonly,
        )
        session.barrier = watch
        if writer is not None:
            for record in loaded.records_to_write:
                writer.enqueue(record)
        return session

    def timeline(self) -> Timeline:
        """The states log events may still ask for, over this session's tracker."""
        if self.states is None:
            self.states = Timeline(self.tracker, self.serializer.to_state)
        return self.states

    def raise_stray(self) -> None:
        """Raise the stray change found meanwhile (by the audit), once."""
        error, self.stray_error = self.stray_error, None
        if error is not None:
            raise error

    def changes(self, paths: Paths | None) -> Tree | None:
        """The changes since the last commit: everywhere, or along a flat transaction's paths."""
        if self.barrier is not None:
            return self.barrier.changes(self.tracker, self.data, paths)
        if paths is None:
            return self.tracker.changes(self.data)
        return changes_at(self.tracker, self.data, paths)

    def restored(self) -> None:
        """The tracker put values back into the live state: register them afresh."""
        if self.barrier is not None:
            with gc_paused():
                self.barrier.rebuild(self.data)
            self.barrier.compare_all = False

    def queue(self, record: Change | Snapshot) -> None:
        """Queue a record whose values are already encoded (msgspec.Raw) or immutable."""
        assert self.writer is not None
        self.writer.enqueue(record)

    def queue_snapshot(self, now: datetime) -> None:
        """Queue a snapshot of a frozen copy of the state (encoded in the writer's thread)."""
        self.snapshot_requested = False
        snapshot = Snapshot(
            ts=now,
            v=self.version,
            state=self.tracker.freeze(),
            m=self.mtime,
            r=self.rev,
            k=SNAPSHOT_META_FORMAT,
        )
        self.queue(snapshot)

    async def flush(
        self, policy: SnapshotPolicy, clock: Callable[[], datetime], *, sync: bool
    ) -> None:
        """Write what is queued, then a snapshot if one was requested or the policy says so."""
        writer = self.writer
        assert writer is not None
        await writer.flush(sync=sync)
        # Decided on what is on disk now, so the log never outgrows the policy by more
        # than one flush; a snapshot costs a second write, and only when one is due.
        if self.snapshot_requested:
            await self._write_snapshot(writer, clock, sync)
        elif writer.snapshot_pending:
            # Flushers that land together share one due point: the size counters drop
            # only once the worker writes the snapshot, so they wait for that one alone.
            await writer.flush(sync=sync, upto=writer.snapshot_at)
        elif policy.due(writer.replay_bytes, writer.state_bytes):
            await self._write_snapshot(writer, clock, sync)

    async def _write_snapshot(
        self, writer: Writer, clock: Callable[[], datetime], sync: bool
    ) -> None:
        """Queue a snapshot of a frozen copy of the state and write it.

        The copy stays frozen until the writer is done with it, even if this call is
        cancelled meanwhile (a request timing out): the write goes on, shielded.
        """
        self.queue_snapshot(clock())
        written = asyncio.ensure_future(writer.flush(sync=sync))
        written.add_done_callback(partial(_release, self.tracker))
        await asyncio.shield(written)

    async def stop(self, flush: Callable[[], Awaitable[None]]) -> DatabaseError | None:
        """At close: stop the audit and the periodic flush, `flush` the rest, stop the writer.

        Returns the error the last flush raised, for close to raise once all is released.
        """
        writer = self.writer
        assert writer is not None and self.stopping is not None
        self.stopping.set()
        if self.audit is not None and self.audit is not asyncio.current_task():
            self.audit.cancel()
            await asyncio.gather(self.audit, return_exceptions=True)
        # A fatal_error handler running in the background task may close the database.
        if self.background is not None and self.background is not asyncio.current_task():
            await self.background
        error = None
        try:
            await flush()
        except DatabaseError as exc:
            error = exc
        await writer.wait_idle()
        writer.close()
        return error


def writable(session: Session | None, path: Path, action: str) -> Session:
    """The open session, if `action` (a transaction's, "flush", "rotate") may write to it."""
    if session is None or not session.is_open:
        raise DataIntegrityError("the database is not open", db_path=path, action=action)
    if session.readonly:
        raise DataIntegrityError("the database is open read-only", db_path=path, action=action)
    assert session.writer is not None
    session.writer.raise_if_failed()
    return session


async def flush_periodically(
    flush: weakref.WeakMethod[Callable[[], Coroutine[Any, Any, float | None]]],
    stopping: asyncio.Event,
    interval: float,
) -> None:
    """Flush every `interval` seconds until stopped; `flush` returns the next interval, or
    None to stop.

    Holds the database (whose method `flush` is) only while flushing, so that an instance
    nobody closed can still be collected (and warn) instead of being kept alive by its
    own writer.
    """
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval)
        method = flush()
        if method is None or stopping.is_set():
            return
        next_interval = await method()
        del method
        if next_interval is None:
            return
        interval = next_interval


def install(root: Any, live: Any) -> Any:
    """Move the loaded state into the caller's root object, which stays `db.data`.

    Returns the root object, or `live` itself for a root that cannot take it in place.
    """
    if isinstance(root, msgspec.Struct) and type(root) is type(live):
        for name in root.__struct_fields__:
            force_setattr(root, name, getattr(live, name))
        return root
    if isinstance(root, dict) and isinstance(live, dict):
        root.clear()
        root.update(live)
        return root
    return live


def _release(tracker: Tracker, written: asyncio.Future[None]) -> None:
    """The writer is done with a frozen copy: commits may change the shadow in place again."""
    tracker.thaw()
    if not written.cancelled():
        written.exception()  # a failure reaches the next flush or close from the writer
