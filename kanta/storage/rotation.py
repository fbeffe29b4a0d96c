"""Rotation: move aged-out history to a file beside the database, crash-safely.

Steps, all while the writer's lock on the database is held:
1. A rotated file left by a rotation that crashed before step 3 is recognised (its bytes
   are a prefix of the database) and removed.
2. The aged-out records are written, byte for byte, to `{stem}@{ts}.kantadb` (a valid
   database itself; `ts` is the last one's), synced, linked into place, and the directory
   synced.
3. The database is atomically replaced by a snapshot of the state after them (with their
   last `ts` and its revision), followed by the records kept; the lock moves to the new
   inode first.
Killed at any point, a reopen finds the old file intact (and redoes the rotation) or the
rotated pair complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..core.formats import Serializer
from ..core.records import SNAPSHOT_META_FORMAT, Snapshot
from ..core.replay import decode_record, replay
from ..core.retention import aged_out, is_rotated_name, rotated_names, rotation_order
from ..core.scan import RawRecord, Scan
from .logfile import LogFile
from .sidefiles import drop_stale_temps, list_beside, read_beside, remove, write_beside
from .writer import Writer


@dataclass
class Rotated:
    """The outcome of a rotation: the database's new file and content, and the history file."""

    file: LogFile
    data: bytes
    history: Path


def rotate(
    file: LogFile, serializer: Serializer, data: bytes, scan: Scan, cutoff: datetime
) -> Rotated | None:
    """Rotate out the records written at or before `cutoff`; None when there are none."""
    records = scan.records
    count = aged_out(
        records, lambda raw: decode_record(serializer, raw, file.path).ts, cutoff, _is_snapshot
    )
    if count == 0:
        return None
    head = data[: records[count - 1].end]
    fold = replay(serializer, records[:count], file.path).fold
    # Named, and its state stamped, after the last record it moves out (as kanta 0.9.x):
    # the point in history the rotated file ends at, whenever the rotation ran.
    ends_at = decode_record(serializer, records[count - 1], file.path).ts
    snapshot = Snapshot(
        ends_at, fold.version, fold.state, fold.mtime, fold.rev, SNAPSHOT_META_FORMAT
    )
    body = _rebuild(serializer, snapshot, records[count:])
    drop_stale_temps(file.path, file.ops)
    _drop_stale_rotation(file.path, data)
    history = write_beside(_candidates(file.path, ends_at), head, file.ops)
    return Rotated(file.replace_with(body), body, history)


def _is_snapshot(raw: RawRecord) -> bool:
    return raw.is_snapshot


def _rebuild(serializer: Serializer, snapshot: Snapshot, kept: list[RawRecord]) -> bytes:
    chunks = [serializer.encode(snapshot, 0)]
    offset = len(chunks[0])
    for raw in kept:
        chunk = serializer.reframe(raw, offset)
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _candidates(path: Path, ends_at: datetime) -> list[Path]:
    names = rotated_names(path.stem, ends_at)
    return [path.with_name(next(names)) for _ in range(1000)]


def _drop_stale_rotation(path: Path, data: bytes) -> None:
    """Remove the newest rotated file if it is a prefix of the database (a crashed rotation)."""
    rotated = list_beside(path, lambda name: is_rotated_name(name, path.stem))
    if not rotated:
        return
    newest = max(rotated, key=lambda p: rotation_order(p.name, path.stem))
    if data.startswith(read_beside(newest)):
        remove(newest)


def rotate_writer_file(writer: Writer, cutoff: datetime) -> Path | None:
    """Rotate the file a running writer holds (in its thread, between two batches)."""
    data = writer.file.read_from(0)
    scan = writer.serializer.scan(data)
    done = rotate(writer.file, writer.serializer, data, scan, cutoff)
    if done is None:
        return None
    first = writer.serializer.scan(done.data).records[0]  # the snapshot it starts with
    writer.adopt(
        done.file,
        state_bytes=first.end - first.byte_pos,
        replay_bytes=len(done.data) - first.end,
    )
    return done.history
