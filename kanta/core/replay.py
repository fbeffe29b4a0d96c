"""Replay: fold log records into the state, revision, schema version and mtime they describe."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import compress, islice
from operator import attrgetter
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from ..errors import ReplayError
from .logformat import LogFormat
from .patch import PatchError, apply_in_place
from .records import SNAPSHOT_META_FORMAT, Change, Record, Snapshot
from .scan import RawRecord

_end = attrgetter("end")
_byte_pos = attrgetter("byte_pos")
_is_snapshot = attrgetter("is_snapshot")


@dataclass
class Fold:
    """The running result of applying records in order."""

    state: Any
    rev: int = 0
    version: int = 0
    mtime: datetime | None = None
    changes_seen: int = 0  # change records folded, for legacy snapshots whose `r` is untrusted

    def apply(self, record: Record) -> None:
        """Advance by one decoded record; raises PatchError for a diff that does not apply."""
        if isinstance(record, Snapshot):
            self.take_snapshot(record)
            return
        self.state = apply_in_place(self.state, record.diff)
        self.rev += 1
        self.changes_seen += 1
        self.version = record.v
        if record.m is not None:
            self.mtime = record.m

    def take_snapshot(self, snapshot: Snapshot, changes_before: int | None = None) -> None:
        """Reset to a snapshot's state; legacy snapshots count the change records before them."""
        self.state = snapshot.state
        self.version = snapshot.v
        self.mtime = snapshot.m
        if changes_before is not None:
            self.changes_seen = changes_before
        self.rev = snapshot.r if snapshot.k >= SNAPSHOT_META_FORMAT else self.changes_seen


@dataclass
class Replayed:
    """What opening a log needs: the folded result and how much of it was replayed."""

    fold: Fold
    snapshot_index: int | None  # index into the records of the snapshot replay started from
    replayed_bytes: int  # bytes of change records after that snapshot
    base_bytes: int  # size of that snapshot, or of the first record: a measure of the state
    last_ts: datetime | None


def last_snapshot_index(records: Sequence[RawRecord]) -> int | None:
    """Index of the last snapshot record, or None."""
    # Walked from the end at C speed: a long log without snapshots has many records to pass.
    found = compress(range(len(records) - 1, -1, -1), map(_is_snapshot, reversed(records)))
    return next(found, None)


TOO_DEEP = "a value in the record is nested too deeply to read"


def decode_record(log: LogFormat, raw: RawRecord, db_path: Path | None) -> Record:
    """Decode one record, turning decoder errors into a ReplayError that says where."""
    try:
        return log.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise record_error(log, raw, db_path, f"unreadable record: {exc}") from exc
    except RecursionError:
        raise record_error(log, raw, db_path, TOO_DEEP) from None


def record_error(log: LogFormat, raw: RawRecord, db_path: Path | None, message: str) -> ReplayError:
    """A ReplayError naming the file, the record and its byte offset."""
    line = raw.position if log.name == "json" else None
    return ReplayError(
        message, db_path=db_path, line_number=line, position=raw.position, byte_pos=raw.byte_pos
    )


def apply_record(fold: Fold, log: LogFormat, raw: RawRecord, db_path: Path | None) -> Record:
    """Decode one record and fold it in, with errors that say where."""
    record = decode_record(log, raw, db_path)
    try:
        fold.apply(record)
    except RecursionError:
        raise record_error(log, raw, db_path, TOO_DEEP) from None
    except PatchError as exc:
        action = record.a if isinstance(record, Change) else None
        error = record_error(log, raw, db_path, f"diff does not apply at {exc.path}: {exc}")
        error.action = action
        raise error from exc
    return record


class Step(NamedTuple):
    """One record of `fold_each`, just folded in."""

    raw: RawRecord
    record: Record
    before: Any  # the state before it: a snapshot replaces it, a change patches it in place
    rev_before: int


def fold_each(
    log: LogFormat, records: Iterable[RawRecord], db_path: Path | None, fold: Fold
) -> Iterator[Step]:
    """Fold records into `fold` one at a time, yielding each once it is folded in.

    The per-record way, for history, convert and verify; `replay` is the fast way an open
    takes, and both apply a record as `apply_record` does.
    """
    for raw in records:
        before, rev_before = fold.state, fold.rev
        record = apply_record(fold, log, raw, db_path)
        yield Step(raw, record, before, rev_before)


def replay(
    log: LogFormat,
    records: Sequence[RawRecord],
    db_path: Path | None = None,
    *,
    verified: bool = False,
) -> Replayed:
    """Replay from the last snapshot (or the start) to the end of `records`.

    `verified`: a checksum vouched for every record's bytes (`Scan.verified`), so change
    records need not have their `ts`, `a` and `u` decoded and validated.
    """
    start = last_snapshot_index(records)
    if start is None:
        fold = Fold(state={})
        base_bytes = records[0].end - records[0].byte_pos if records else 0
        first = 0
        last_ts = None
    else:
        snapshot = decode_record(log, records[start], db_path)
        assert isinstance(snapshot, Snapshot)
        fold, base_bytes = start_at_snapshot(records, start, snapshot)
        first = start + 1
        last_ts = snapshot.ts
    changes = records[first:]
    ts = fold_changes(fold, log, changes, db_path, verified=verified)
    if ts is not None:
        last_ts = ts
    replayed_bytes = sum(map(_end, changes)) - sum(map(_byte_pos, changes))
    return Replayed(fold, start, replayed_bytes, base_bytes, last_ts)


def start_at_snapshot(
    records: Sequence[RawRecord], start: int, snapshot: Snapshot
) -> tuple[Fold, int]:
    """The fold at `records[start]`, decoded as `snapshot`, and the size of that record."""
    fold = Fold(state={})
    changes_before = start - sum(map(_is_snapshot, islice(records, start)))
    fold.take_snapshot(snapshot, changes_before)
    return fold, records[start].end - records[start].byte_pos


def fold_changes(
    fold: Fold,
    log: LogFormat,
    records: Sequence[RawRecord],
    db_path: Path | None,
    *,
    verified: bool = False,
) -> datetime | None:
    """Fold in change records (no snapshots) as `apply_record` does; the last one's `ts`.

    One loop with no call per record beyond decoding and patching: opening a long log
    spends its time here.
    """
    if not records:
        return None
    decode = log.decode_change_body if verified else log.decode_change
    state, mtime = fold.state, fold.mtime
    try:
        for raw in records:
            record = decode(raw.payload)
            state = apply_in_place(state, record.diff)
            if record.m is not None:
                mtime = record.m
        # A verified record was decoded without `ts`: decode the last one in full for it.
        last = record if isinstance(record, Change) else decode_record(log, raw, db_path)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise record_error(log, raw, db_path, f"unreadable record: {exc}") from exc
    except RecursionError:
        raise record_error(log, raw, db_path, TOO_DEEP) from None
    except PatchError as exc:
        error = record_error(log, raw, db_path, f"diff does not apply at {exc.path}: {exc}")
        error.action = _action(log, raw)
        raise error from exc
    assert isinstance(last, Change)
    fold.state, fold.mtime, fold.version = state, mtime, last.v
    fold.rev += len(records)
    fold.changes_seen += len(records)
    return last.ts


def _action(log: LogFormat, raw: RawRecord) -> str | None:
    """The action of a change record, for an error about it; None if it does not decode."""
    try:
        record = decode_record(log, raw, None)
    except ReplayError:
        return None
    return record.a if isinstance(record, Change) else None
