"""Reading a database's history: every record with its position, revision and the state after it.

Shared by the CLI and the Python API; read-only, it never locks or changes the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DatabaseError
from .formats import Serializer, detect
from .framing import RawRecord, Scan
from .logfile import LogFile
from .records import Change, Snapshot
from .replay import Fold, apply_record, record_error


@dataclass
class Entry:
    """One record of the history and where it leaves the database."""

    raw: RawRecord
    record: Change | Snapshot
    rev: int  # revision after this record
    version: int  # schema version after this record
    snapshot_number: int  # 1-based count of snapshots so far (0 before the first)
    state: Any  # the state after this record (shared: copy before changing it)

    @property
    def position(self) -> int:
        """The record's 1-based position (its line in a JSON file)."""
        return self.raw.position

    @property
    def size(self) -> int:
        """The record's size in bytes."""
        return self.raw.end - self.raw.byte_pos


@dataclass
class History:
    """A file's records, read once, and how it ends."""

    path: Path
    serializer: Serializer
    scan: Scan

    def entries(self) -> Iterator[Entry]:
        """Fold the records from the start, yielding each with the state after it."""
        fold = Fold(state={})
        snapshots = 0
        for raw in self.scan.records:
            record = apply_record(fold, self.serializer, raw, self.path)
            if isinstance(record, Snapshot):
                snapshots += 1
            yield Entry(raw, record, fold.rev, fold.version, snapshots, fold.state)

    def error_at(self, raw: RawRecord, message: str) -> DatabaseError:
        """A ReplayError naming this file and the record."""
        return record_error(self.serializer, raw, self.path, message)


def read_history(path: str | Path, data: bytes | None = None) -> History:
    """Read a database file (or bytes already read from it, e.g. standard input)."""
    path = Path(path)
    if data is None:
        with LogFile.open(path, create=False, readonly=True) as file:
            data = file.read_from(0)
    serializer = detect(data)
    return History(path, serializer, serializer.scan(data))
