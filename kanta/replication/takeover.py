"""Opening with replication is a takeover: the local file is made to agree with the stream.

The stream is the source of truth. Records the stream holds and the file lacks are
fetched and appended. Records the file holds past the stream's last one are published,
fenced, when the stream ends where the file's agreement with it ends (a writer that
stopped before it published them: its own history); when the stream has moved on with
other records (another writer took over), they are cut into a side file beside the
database, never dropped.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import blake3

from ..core.formats import detect
from ..core.scan import RawRecord
from ..errors import DatabaseError, ReplicationError
from ..storage.logfile import LogFile
from ..storage.sidefiles import save_cut
from ..storage.writer import Frame
from .options import Replication
from .publisher import Publisher, referenced_object
from .stream import Message, Stream

logger = logging.getLogger("kanta")


@dataclass
class Reconciled:
    """What a takeover did to the local file."""

    last_seq: int  # the stream's last sequence: where this writer appends
    fetched: int = 0  # records appended from the stream
    published: int = 0  # local records the stream lacked, published
    cut: Path | None = None  # the side file holding local records another writer replaced


async def reconcile(stream: Stream, file: LogFile, now: datetime) -> Reconciled:
    """Bring the locked `file` and the stream into agreement; where appending resumes."""
    data = await asyncio.to_thread(file.read_from, 0)
    records = _records(data, file.path)
    last = await stream.last_seq()
    agreed = await _agreement(stream, data, records, min(len(records), last))
    result = Reconciled(last)
    if agreed < len(records) and agreed < last:
        keep = records[agreed - 1].end if agreed else 0
        result.cut = await asyncio.to_thread(save_cut, file, data, keep, now)
        logger.warning(
            "kanta: %s: the stream %s has other records after record %d; the file's own "
            "(%d records) were cut into %s",
            file.path,
            stream.options.stream,
            agreed,
            len(records) - agreed,
            result.cut,
        )
        records = records[:agreed]
    elif agreed < len(records):  # the stream ends where the file's extra records begin
        frames: list[Frame] = [
            _frame(data, r, agreed == 0 and i == 0) for i, r in enumerate(records[agreed:])
        ]
        publisher = Publisher(stream, last, _raise)
        await publisher.publish(frames)
        result.last_seq, result.published = publisher.expected, len(frames)
        return result
    if last > agreed:
        result.fetched = await _fetch(stream, file, agreed, last)
    return result


def _frame(data: bytes, raw: RawRecord, first: bool) -> Frame:
    """A record of the file as the writer hands it over (the first holds the file header)."""
    start = 0 if first else raw.byte_pos
    return data[start : raw.end], raw.is_snapshot, start


def _records(data: bytes, path: Path) -> list[RawRecord]:
    """The whole records of the file (a torn tail is left to opening to cut)."""
    if not data:
        return []
    scan = detect(data, path).scan(data)
    return scan.records


async def _agreement(stream: Stream, data: bytes, records: list[RawRecord], upto: int) -> int:
    """How many leading records the file and the stream share (checked from the end)."""
    for seq in range(upto, 0, -1):
        message = await stream.get(seq)
        raw = records[seq - 1]
        if message is not None and _same(
            message, data[(raw.byte_pos if seq > 1 else 0) : raw.end], stream.options
        ):
            return seq
    return 0


def _same(message: Message, record: bytes, options: Replication) -> bool:
    if message.subject == options.snapshot_subject:
        name, size, _offset = referenced_object(message.data)
        return size == len(record) and blake3.blake3(record).hexdigest() == name
    return message.data == record


async def record_bytes(stream: Stream, message: Message) -> bytes:
    """A stream message's record as the file holds it (a snapshot's, from the bucket)."""
    if message.subject != stream.options.snapshot_subject:
        return message.data
    name, size, _offset = referenced_object(message.data)
    data = await stream.get_object(name)
    if len(data) != size or blake3.blake3(data).hexdigest() != name:
        raise ReplicationError(
            f"snapshot object {name} does not match its reference (message {message.seq})",
            stream=stream.options.stream,
        )
    return data


async def _fetch(stream: Stream, file: LogFile, after: int, last: int) -> int:
    """Append the stream's messages `after`+1..`last` to the file, then sync it."""
    chunk: list[bytes] = []
    for seq in range(after + 1, last + 1):
        message = await stream.get(seq)
        if message is None:
            raise ReplicationError(
                f"message {seq} is missing from the stream (its limits removed it?), so "
                "the file cannot be brought up to date",
                stream=stream.options.stream,
            )
        chunk.append(await record_bytes(stream, message))
        if len(chunk) >= 1000 or seq == last:
            await asyncio.to_thread(file.append, chunk)
            chunk = []
    await asyncio.to_thread(file.sync)
    return last - after


async def _raise(error: DatabaseError) -> None:
    raise error
