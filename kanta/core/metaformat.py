"""The snapshot meta format: a file whose last snapshot is legacy (k0) rewritten with k1 ones.

A legacy snapshot (written before revisions, with no `k`) carries no trustworthy `r`, so
every open counts the change records from the start of the file. The first writable open
rewrites the file, as kanta 0.9.x does, so that later opens need no count:
1. a leading snapshot keeps its data and timestamps, restamped k1 (with `r` 0 if it was
   legacy: the only count the file can tell);
2. every change record follows in order, framed anew; other snapshots are dropped (they
   repeat what the records say);
3. a closing k1 snapshot holds the final state, its `r` the revision it is at.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from .logformat import LogFormat
from .records import SNAPSHOT_META_FORMAT, Snapshot, SnapshotHead
from .replay import decode_record, replay
from .scan import RawRecord


def is_legacy(log: LogFormat, raws: list[RawRecord]) -> bool:
    """Whether the file's last snapshot is a legacy (k0) one."""
    last = next((raw for raw in reversed(raws) if raw.is_snapshot), None)
    if last is None:
        return False
    try:
        head = log.decode_value(last.payload, SnapshotHead)
    except Exception:  # a damaged snapshot: replay reports it, saying where
        return False
    return bool(head.k < SNAPSHOT_META_FORMAT)


def upgraded(log: LogFormat, raws: list[RawRecord], path: Path, now: datetime) -> bytes:
    """The whole file rewritten with k1 snapshots (see the module's docstring)."""
    fold = replay(log, raws, path).fold
    chunks: list[bytes] = []
    offset = 0
    if raws[0].is_snapshot:
        first = decode_record(log, raws[0], path)
        assert isinstance(first, Snapshot)
        base = first.r if first.k >= SNAPSHOT_META_FORMAT else 0
        restamped = Snapshot(first.ts, first.v, first.state, first.m, base, SNAPSHOT_META_FORMAT)
        chunks.append(log.encode(restamped, 0))
        offset = len(chunks[0])
    for raw in raws:
        if not raw.is_snapshot:
            chunks.append(log.reframe(raw, offset))
            offset += len(chunks[-1])
    closing = Snapshot(now, fold.version, fold.state, fold.mtime, fold.rev, SNAPSHOT_META_FORMAT)
    chunks.append(log.encode(closing, offset))
    return b"".join(chunks)
