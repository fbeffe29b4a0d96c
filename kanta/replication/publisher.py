"""The writer's replica: each batch the writer appends, published to the stream in order.

The writer hands over a batch once it is in the local file (and synced). With
`ack="replicated"` the batch counts as written only once the stream acknowledges it; with
`ack="local"` it is queued here and published in the background, one batch at a time,
and `lag` counts the records not yet acknowledged. A failure of either kind stops the
writer for good (fail-stop): nothing is reported replicated that was not.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable

import blake3

from ..errors import DatabaseError, ReplicationError
from ..storage.writer import Frame
from .stream import Stream


class Publisher:
    """Publishes the writer's batches after the stream's sequence `expected`."""

    def __init__(
        self,
        stream: Stream,
        expected: int,
        on_failure: Callable[[DatabaseError], Awaitable[None]],
    ) -> None:
        self.stream = stream
        self.expected = expected  # the stream's last sequence, as far as this writer knows
        self._on_failure = on_failure
        self._backlog: deque[list[Frame]] = deque()
        self._backlog_records = 0
        self._draining: asyncio.Task[None] | None = None
        self.error: DatabaseError | None = None

    @property
    def lag(self) -> int:
        """Records written locally that the stream has not acknowledged yet."""
        return self._backlog_records

    async def send(self, frames: list[Frame]) -> None:
        """Hand over one written batch: published now ("replicated") or queued ("local")."""
        if self.error is not None:
            raise self.error
        if not frames:
            return
        if self.stream.options.ack == "replicated":
            await self.publish(frames)
            return
        self._backlog.append(frames)
        self._backlog_records += len(frames)
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while self._backlog and self.error is None:
            frames = self._backlog[0]
            try:
                await self.publish(frames)
            except DatabaseError as exc:
                self.error = exc
                await self._on_failure(exc)
                return
            self._backlog.popleft()
            self._backlog_records -= len(frames)

    async def wait_published(self) -> None:
        """Wait until the background backlog is published, or has failed."""
        if self._draining is not None:
            await asyncio.wait([self._draining])

    async def publish(self, frames: list[Frame]) -> None:
        """Publish one batch now, after the snapshots' bytes it refers to."""
        options = self.stream.options
        messages = []
        for data, is_snapshot, offset in frames:
            if is_snapshot:
                ref = await self._store_snapshot(data, offset)
                messages.append((options.snapshot_subject, ref))
            else:
                messages.append((options.subject, data))
        try:
            self.expected = await self.stream.publish(messages, self.expected)
        except DatabaseError:
            raise
        except Exception as exc:  # a broken connection surfaces as anything nats-py raises
            message = f"publish failed: {exc!r}"
            raise ReplicationError(message, stream=options.stream) from exc

    async def _store_snapshot(self, data: bytes, offset: int) -> bytes:
        """Put a snapshot's bytes in the bucket before the record that refers to them."""
        name = blake3.blake3(data).hexdigest()
        await self.stream.put_object(name, data)
        return snapshot_reference(name, len(data), offset)


def snapshot_reference(name: str, size: int, offset: int) -> bytes:
    """The stream message standing for a snapshot: the object holding its bytes, and
    where the snapshot lies in the file (a follower starting there checks what follows)."""
    ref = {"object": name, "size": size, "offset": offset}
    return json.dumps(ref, separators=(",", ":")).encode()


def referenced_object(data: bytes) -> tuple[str, int, int]:
    """The object name, size and file offset a snapshot reference names."""
    try:
        ref = json.loads(data)
        return str(ref["object"]), int(ref["size"]), int(ref["offset"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ReplicationError(f"not a snapshot reference: {data[:80]!r}") from exc
