"""Point-in-time restore: a database file rebuilt from its stream, up to a revision or a time."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from ..core.formats import detect
from ..core.logformat import LogFormat
from ..core.onerecord import BadRecord, one_record, seal_of
from ..core.records import Change
from ..errors import DatabaseError, ReplicationError
from ..storage.sidefiles import write_beside
from .options import Replication, replication_of
from .stream import Stream
from .takeover import record_bytes


async def restore(
    source: str | Replication,
    path: str | Path,
    *,
    rev: int | None = None,
    at: datetime | None = None,
) -> int:
    """Write a new database file at `path` holding the stream's records up to revision
    `rev` or time `at` (everything without either); the revision it ends at.

    Byte for byte the writer's file when everything is restored. `path` must not exist:
    a file is never replaced.
    """
    target = Path(path)
    if target.exists():
        raise DatabaseError("restore writes a new file; this one exists", db_path=target)
    stream = await Stream.connect(replication_of(source), create=False)
    try:
        chunks, reached = await _records_upto(stream, rev, at)
    finally:
        await stream.close()
    if not chunks:
        raise ReplicationError("the stream holds no records", stream=stream.options.stream)
    await asyncio.to_thread(write_beside, [target], b"".join(chunks))
    return reached


async def _records_upto(
    stream: Stream, rev: int | None, at: datetime | None
) -> tuple[list[bytes], int]:
    last = await stream.last_seq()
    log: LogFormat | None = None
    chunks: list[bytes] = []
    offset, revision, seal = 0, 0, b""
    for seq in range(1, last + 1):
        message = await stream.get(seq)
        if message is None:
            raise ReplicationError(
                f"message {seq} is missing from the stream", stream=stream.options.stream
            )
        data = await record_bytes(stream, message)
        log = log or detect(data)
        try:
            raw = one_record(log, data, offset, seq, seal)
        except BadRecord as exc:
            raise ReplicationError(
                f"message {seq} is not an intact record: {exc}", stream=stream.options.stream
            ) from exc
        record = log.decode(raw)
        if isinstance(record, Change):
            if (rev is not None and revision >= rev) or (at is not None and record.ts > at):
                break
            revision += 1
        chunks.append(data)
        offset, seal = raw.end, seal_of(log, raw, data) or b""
    return chunks, revision
