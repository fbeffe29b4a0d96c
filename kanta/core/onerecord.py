"""One record's bytes, checked on their own: what a follower reads from a stream message.

A stream message holds exactly the bytes one record has in the file. A JSON line is
checked against the seal of the line before it (when that is known: not for the first
line after a snapshot taken from the bucket, whose bytes are checked by their hash); a
binary frame against its checksum, keyed with its offset in the file.
"""

from __future__ import annotations

from .chain import intact, tip
from .jsonlines import SNAPSHOT_PREFIX
from .logformat import LogFormat
from .msgpackframes import FRAME_HEADER, SEED_SIZE, MsgPackSerializer, checksum, invert
from .scan import RawRecord


class BadRecord(ValueError):
    """The bytes are not one whole, intact record."""


def one_record(
    log: LogFormat, data: bytes, offset: int, position: int, prev: bytes | None
) -> RawRecord:
    """The record `data` holds, written at `offset` of the file; raises BadRecord.

    `prev` is the seal of the JSON line before it, or None where it is not known.
    """
    if isinstance(log, MsgPackSerializer):
        return _frame(log, data, offset, position)
    if not data.endswith(b"\n") or b"\n" in data[:-1]:
        raise BadRecord("not one whole line")
    line = data[:-1]
    if prev is not None and intact(line, prev) is False:
        raise BadRecord("its checksum does not chain to the record before it")
    snapshot = line.startswith(SNAPSHOT_PREFIX)
    payload = line[len(SNAPSHOT_PREFIX) :] if snapshot else line
    return RawRecord(position, offset, offset + len(data), snapshot, payload)


def seal_of(log: LogFormat, record: RawRecord, data: bytes) -> bytes | None:
    """What the next JSON line chains to (None for binary frames, which need nothing)."""
    return None if isinstance(log, MsgPackSerializer) else tip(data[:-1])


def _frame(log: MsgPackSerializer, data: bytes, offset: int, position: int) -> RawRecord:
    if offset == 0:  # the file's first record carries its seed
        if data[:SEED_SIZE] != log.seed:
            raise BadRecord("the file's seed does not match")
        data, offset = data[SEED_SIZE:], SEED_SIZE
    if len(data) < FRAME_HEADER:
        raise BadRecord("incomplete frame header")
    marker, payload = data[:SEED_SIZE], data[FRAME_HEADER:]
    if marker not in (log.seed, invert(log.seed)):
        raise BadRecord("bad frame marker")
    if int.from_bytes(data[SEED_SIZE:8], "little") != len(payload):
        raise BadRecord("the frame's length does not match")
    snapshot = marker == log.seed
    if checksum(payload, log.seed, offset, snapshot=snapshot) != data[8:FRAME_HEADER]:
        raise BadRecord("checksum mismatch")
    return RawRecord(position, offset, offset + len(data), snapshot, payload)
