"""The background writer: queued records reach the file from one worker thread, in order.

Records are framed in the worker, at the offset where they land: the binary format's
checksums depend on it, and whatever changes the file in between (a rotation) happens
in the same thread, between two batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Literal, Protocol, TypeVar

import msgspec

from ..core.formats import Serializer
from ..core.records import Record, Snapshot
from ..errors import DatabaseError, ReplicationError
from ..state.stateparts import encode_state_parts
from .logfile import LogFile

T = TypeVar("T")

Durability = Literal["fsync", "interval", "none"]
DURABILITY: tuple[Durability, ...] = ("fsync", "interval", "none")


Frame = tuple[bytes, bool, int]  # one record's bytes as written, whether a snapshot, offset


class Replica(Protocol):
    """Where the writer hands each written batch next (replication): its records' bytes."""

    async def send(self, frames: list[Frame]) -> None:
        """Take one batch; a batch counts as written once this returns."""
        ...

    async def wait_published(self) -> None:
        """Wait until everything taken is published (or failed)."""
        ...


class Writer:
    """Queues records and appends them, with a sync, off the event loop.

    At most one batch is in the worker thread at a time. A flush waits for it, and the
    next batch takes everything queued meanwhile: callers that flush together share one
    write and one sync (group commit). Progress is counted in records (queued, written,
    synced), so a flush returns exactly when what was queued before it is on disk, and a
    cancelled flush never makes a record be handed over twice. After a failed write or
    sync every later flush fails: nothing is reported written that was not.
    """

    def __init__(
        self, file: LogFile, serializer: Serializer, *, replay_bytes: int = 0, state_bytes: int = 0
    ) -> None:
        self.file = file
        self.serializer = serializer
        # What opening would replay: change bytes since the last snapshot, and its size.
        self.replay_bytes = replay_bytes
        self.state_bytes = state_bytes
        self._queue: list[Record] = []
        self._queued = self._written = self._synced = 0  # records, counted since opening
        # Records queued up to and including the last snapshot: the counters above drop
        # only when the worker frames it, so until then a second one would duplicate it.
        self.snapshot_at = 0
        self._unwritten: list[Record] = []  # handed over, then failed
        self._inflight: asyncio.Future[Any] | None = None
        self._unsynced = False  # (worker) written since the last sync
        self._failed_in_worker = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kanta-writer")
        self.error: DatabaseError | None = None
        self.replica: Replica | None = None  # replication: batches go there once written

    @property
    def unsynced(self) -> bool:
        """Whether records were written since the last sync."""
        return self._written > self._synced

    @property
    def pending(self) -> int:
        """Number of records not yet known to be written."""
        return self._queued - self._written

    @property
    def snapshot_pending(self) -> bool:
        """Whether a queued snapshot is not written yet."""
        return self._written < self.snapshot_at

    def enqueue(self, record: Record) -> None:
        """Queue one record (never blocks); its values must not change any more."""
        self._queue.append(record)
        self._queued += 1
        if isinstance(record, Snapshot):
            self.snapshot_at = self._queued

    async def flush(self, *, sync: bool = True, upto: int | None = None) -> None:
        """Write everything queued so far, and sync it (with `sync`), before returning.

        With `upto`, only the first `upto` records queued since opening. Raises
        DatabaseError if that fails. A sync also covers earlier unsynced writes.
        """
        target = self._queued if upto is None else min(upto, self._queued)
        while True:
            self.raise_if_failed()
            if (self._synced if sync else self._written) >= target:
                return
            if self._inflight is None:
                self._start_batch(sync)
            inflight = self._inflight
            assert inflight is not None
            if inflight.done():
                # Finished, but its accounting callback has not run yet: awaiting a done
                # future would not yield, so give the loop a turn instead of spinning.
                await asyncio.sleep(0)
                continue
            # Shielded: cancelling a flush must not cancel the accounting of a batch.
            with contextlib.suppress(DatabaseError):
                await asyncio.shield(inflight)

    def _start_batch(self, sync: bool) -> None:
        batch, self._queue = self._queue, []
        upto = self._queued
        future: asyncio.Future[Any]
        if self.replica is None:
            job = partial(self._write, batch, sync)
            future = asyncio.get_running_loop().run_in_executor(self._executor, job)
        else:
            appended = partial(self._write, batch, False)
            replicated = self._write_and_replicate(appended, self.replica, sync)
            future = asyncio.ensure_future(replicated)
        future.add_done_callback(partial(self._done, batch, upto, sync))
        self._inflight = future

    async def _write_and_replicate(
        self, append: Callable[[], list[Frame]], replica: Replica, sync: bool
    ) -> None:
        """Append the batch, then sync it while the replica publishes it: both must succeed.

        The stream may hold a batch whose local sync then fails: it is reported failed
        (fail-stop), and a takeover fetches it back from the stream, the source of truth.
        """
        loop = asyncio.get_running_loop()
        frames = await loop.run_in_executor(self._executor, append)
        synced = loop.run_in_executor(self._executor, partial(self._write, [], sync))
        published = asyncio.ensure_future(replica.send(frames))
        outcomes = await asyncio.gather(synced, published, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    def fail(self, error: DatabaseError) -> None:
        """Stop writing for good because of `error` (a background publish that failed)."""
        if self.error is None:
            self.error = error

    def raise_if_failed(self) -> None:
        """Raise a fresh DatabaseError if an earlier write failed (fail-stop)."""
        if isinstance(self.error, ReplicationError):
            raise copy.copy(self.error)  # FencedError stays one, for `except FencedError`
        if self.error is not None:
            unwritten = len(self._unwritten) + len(self._queue)
            raise DatabaseError(
                f"writing failed earlier ({self.error.message}); {unwritten} records "
                "are not on disk and no further writes are attempted: reopen the database",
                db_path=self.file.path,
            ) from self.error

    def _done(
        self, batch: list[Record], upto: int, sync: bool, future: asyncio.Future[Any]
    ) -> None:
        self._inflight = None
        error = None if future.cancelled() else future.exception()
        if error is None:
            self._written = upto
            if sync:
                self._synced = upto
            return
        self._unwritten.extend(batch)
        if self.error is None:
            self.error = (
                error
                if isinstance(error, DatabaseError)
                else DatabaseError(f"write failed: {error!r}", db_path=self.file.path)
            )

    def _write(self, batch: list[Record], sync: bool) -> list[Frame]:
        if self._failed_in_worker:
            raise DatabaseError("not written: an earlier write failed", db_path=self.file.path)
        try:
            if not self.file.still_ours():
                raise DatabaseError(
                    "the database file was deleted or replaced while this writer held it",
                    db_path=self.file.path,
                )
            frames: list[Frame] = []
            if batch:
                parts, frames = self._frame(batch)
                self.file.append(parts)
                self._unsynced = True
            if sync and self._unsynced:
                self.file.sync()
                self._unsynced = False
        except BaseException:
            self._failed_in_worker = True
            raise
        return frames

    def _frame(self, batch: list[Record]) -> tuple[list[bytes], list[Frame]]:
        """The bytes to append, and each record's bytes for the replica (if there is one)."""
        offset = self.file.size
        parts: list[bytes] = []
        frames: list[Frame] = []
        for record in batch:
            pieces = self._encode(record, offset)
            size = sum(map(len, pieces))
            if self.replica is not None:
                whole = pieces[0] if len(pieces) == 1 else b"".join(pieces)
                frames.append((whole, isinstance(record, Snapshot), offset))
            parts += pieces
            offset += size
            if isinstance(record, Snapshot):
                self.replay_bytes, self.state_bytes = 0, size
            else:
                self.replay_bytes += size
        # Small records go out in one write; a large snapshot's pieces are written as they
        # are, so that no second copy of it is made.
        return (parts if len(parts) > len(batch) else [b"".join(parts)]), frames

    def _encode(self, record: Record, offset: int) -> list[bytes]:
        if isinstance(record, Snapshot) and not isinstance(record.state, msgspec.Raw):
            # A frozen copy of the state (Tracker.freeze): encoded here, off the loop.
            encode = self.serializer.encode_value
            state = encode_state_parts(record.state, encode, pause=_give_the_gil_away)
            return self.serializer.encode_snapshot(record, state, offset)
        return [self.serializer.encode(record, offset)]

    def adopt(self, file: LogFile, *, state_bytes: int, replay_bytes: int) -> None:
        """Go on with `file`, which replaced the one held (a rotation), and its sizes.

        Called in the writer's thread (from a job given to `run`), between two batches.
        """
        self.file = file
        self.state_bytes, self.replay_bytes = state_bytes, replay_bytes

    async def run(self, job: Callable[[], T]) -> T:
        """Run `job` in the worker thread, after everything handed over before it."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, job)

    async def wait_idle(self) -> None:
        """Wait until the worker has finished everything handed over (errors ignored),
        and the replica has published it."""
        if self._inflight is not None:
            await asyncio.wait([self._inflight])
        if self.replica is not None:
            await self.replica.wait_published()

    def close(self) -> None:
        """Stop the worker thread; call after `wait_idle`."""
        self._executor.shutdown(wait=True)


def _give_the_gil_away() -> None:
    """Let a thread waiting for the GIL (the event loop) run now, not after 5 ms."""
    time.sleep(0)
