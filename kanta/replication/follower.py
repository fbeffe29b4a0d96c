"""A follower: a read-only copy of a replicated database, kept up to date from its stream.

It starts from the latest snapshot in the bucket (or the stream's first record), replays
the stream after it and then tails it: every record is checked (its seal or checksum)
and folded in as the writer's opening would fold it.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

from ..core.formats import detect
from ..core.logformat import LogFormat
from ..core.onerecord import BadRecord, one_record, seal_of
from ..core.records import Record
from ..core.replay import Fold, apply_record
from ..core.scan import RawRecord
from ..errors import DatabaseError, ReplicationError
from .options import Replication, replication_of
from .publisher import referenced_object
from .stream import Message, Stream
from .takeover import record_bytes

T = TypeVar("T")


class Follower(Generic[T]):
    """Follows a database's stream: `.data` (read-only), `.rev`, `.lag`, `wait_for(rev)`."""

    def __init__(
        self, source: str | Replication, data: T, *, type: builtins.type[T] | None = None
    ) -> None:
        self.options = replication_of(source)
        self._type: Any = type if type is not None else builtins.type(data)
        self._data = data
        self._fold = Fold(state={})
        self._log: LogFormat | None = None
        self._stale = False  # records folded in since `.data` was last decoded
        self._seq = 0  # the stream sequence folded in last
        self._offset = 0  # where the next record lies in the writer's file
        self._seal: bytes | None = None
        self._changed = asyncio.Condition()
        self._stream: Stream | None = None
        self._subscription: Any = None
        self.lag = 0  # messages the stream holds beyond the last one folded in
        self.error: DatabaseError | None = None  # why following stopped, if it did
        # Called with (revision after it, record) for every record folded in, in order.
        self.on_record: Callable[[int, Record], None] | None = None

    @property
    def data(self) -> T:
        """The state as of `rev` (decoded anew after changes; do not change it)."""
        if self._stale and self._log is not None:
            self._data = self._log.from_state(self._fold.state, self._type)
            self._stale = False
        return self._data

    @property
    def rev(self) -> int:
        """The revision folded in so far."""
        return self._fold.rev

    async def __aenter__(self) -> Follower[T]:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Catch up with the stream (from its latest snapshot) and start tailing it."""
        from nats.js.api import ConsumerConfig, DeliverPolicy

        self._stream = stream = await Stream.connect(self.options, create=False)
        try:
            first = await stream.get(1)
            if first is not None:
                head = await record_bytes(stream, first)
                self._log = detect(head, Path(self.options.stream))
                await self._start_at_snapshot(stream)
            self._subscription = await stream.js.subscribe(
                self.options.wildcard,
                stream=self.options.stream,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                config=ConsumerConfig(opt_start_seq=self._seq + 1),
                idle_heartbeat=1.0,
                cb=self._on_message,
            )
        except BaseException:
            await stream.close()
            raise

    async def _start_at_snapshot(self, stream: Stream) -> None:
        from nats.js.errors import NotFoundError

        try:
            found = await stream.js.get_msg(
                self.options.stream, subject=self.options.snapshot_subject
            )
        except NotFoundError:
            return
        message = Message(found.seq or 0, found.subject or "", found.data or b"", {})
        _name, _size, offset = referenced_object(message.data)
        self._offset = offset
        self._fold_in(message, await record_bytes(stream, message), known_seal=False)

    async def _on_message(self, msg: Any) -> None:
        if self.error is not None:
            return
        seq = msg.metadata.sequence.stream
        if seq <= self._seq:
            return  # delivered again after the consumer was recreated
        message = Message(seq, msg.subject, msg.data or b"", {})
        try:
            if seq != self._seq + 1:
                raise ReplicationError(
                    f"the stream skipped from {self._seq} to {seq}", stream=self.options.stream
                )
            data = await record_bytes(self._stream_now(), message)
            if self._log is None:  # the stream was empty when following began
                self._log = detect(data)
            self._fold_in(message, data)
        except (DatabaseError, BadRecord) as exc:
            self.error = _as_error(exc, self.options.stream, seq)
        self.lag = int(msg.metadata.num_pending or 0)
        async with self._changed:
            self._changed.notify_all()

    def _fold_in(self, message: Message, data: bytes, *, known_seal: bool = True) -> None:
        log = self._log
        assert log is not None
        # A file's first line chains to nothing; a snapshot from the bucket is checked by hash.
        prev = b"" if self._offset == 0 else (self._seal if known_seal else None)
        raw: RawRecord = one_record(log, data, self._offset, message.seq, prev)
        record = apply_record(self._fold, log, raw, None)
        if self.on_record is not None:
            self.on_record(self._fold.rev, record)
        self._seal = seal_of(log, raw, data)
        self._offset, self._seq, self._stale = raw.end, message.seq, True

    def _stream_now(self) -> Stream:
        assert self._stream is not None
        return self._stream

    async def wait_for(self, rev: int, timeout: float | None = None) -> None:
        """Wait until the follower has folded in revision `rev` (read your writes)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self.rev >= rev or self.error is not None)
        if self.error is not None and self.rev < rev:
            raise self.error

    async def close(self) -> None:
        """Stop following and drop the connection."""
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        if self._stream is not None:
            await self._stream.close()
            self._stream = None


def _as_error(exc: Exception, stream: str, seq: int) -> DatabaseError:
    if isinstance(exc, DatabaseError):
        return exc
    return ReplicationError(f"message {seq} is not an intact record: {exc}", stream=stream)
