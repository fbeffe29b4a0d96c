"""Reading a database's history: every record with its position, revision and the state after it.

Shared by the CLI and the Python API; read-only, it never locks or changes the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from .core.diff import exactly_equal
from .core.formats import Serializer, detect
from .core.records import SNAPSHOT_META_FORMAT, Change, Snapshot
from .core.replay import Fold, fold_each, record_error
from .core.scan import RawRecord, Scan
from .errors import DatabaseError
from .storage.logfile import LogFile


@dataclass
class Entry:
    """One record of the history and where it leaves the database."""

    raw: RawRecord
    record: Change | Snapshot
    rev: int  # revision after this record
    version: int  # schema version after this record
    snapshot_number: int  # the sN of the last snapshot so far (see `History.entries`)
    state: Any  # the state after this record (shared: copy before changing it)
    disagreement: str | None = None  # how a snapshot differs from the replay before it

    @property
    def position(self) -> int:
        """The record's 1-based position (its line in a JSON file)."""
        return self.raw.position

    @property
    def size(self) -> int:
        """The record's size in bytes."""
        return self.raw.end - self.raw.byte_pos

    @property
    def state_size(self) -> int:
        """The size of the state as compact JSON, UTF-8: the size 0.9.x shows a snapshot at."""
        return len(msgspec.json.encode(self.state, enc_hook=str))


@dataclass
class History:
    """A file's records, read once, and how it ends."""

    path: Path
    serializer: Serializer
    scan: Scan

    def entries(self, *, strict: bool = False) -> Iterator[Entry]:
        """Fold the records from the start, yielding each with the state after it.

        Snapshots are numbered as 0.9.x numbers them: from 1, or from 0 when the file starts
        with one (every rotated file), so that `s1` is the first one written after it.
        A snapshot that disagrees with the replay before it is marked on its entry, or with
        `strict` raised as a ReplayError naming the snapshot's position.
        """
        fold = Fold(state={})
        snapshots = 0
        steps = fold_each(self.serializer, self.scan.records, self.path, fold)
        for index, (raw, record, before, rev_before) in enumerate(steps):
            disagreement = None
            if isinstance(record, Snapshot) and index > 0:
                snapshots += 1
                disagreement = snapshot_disagreement(before, rev_before, record)
            if strict and disagreement is not None:
                raise self.error_at(raw, disagreement)
            entry = Entry(raw, record, fold.rev, fold.version, snapshots, fold.state)
            entry.disagreement = disagreement
            yield entry

    def error_at(self, raw: RawRecord, message: str) -> DatabaseError:
        """A ReplayError naming this file and the record."""
        return record_error(self.serializer, raw, self.path, message)


def snapshot_disagreement(replayed: Any, rev: int, snapshot: Snapshot) -> str | None:
    """How a snapshot differs from the state replayed up to it, or None if they agree."""
    if snapshot.k >= SNAPSHOT_META_FORMAT and snapshot.r != rev:
        return f"snapshot says revision {snapshot.r}, replay reached {rev}"
    if exactly_equal(replayed, snapshot.state):
        return None
    paths = ", ".join(differing_paths(replayed, snapshot.state)[:5])
    return f"snapshot state differs from the replayed state at {paths}"


def differing_paths(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two trees differ (a few are enough to point at the problem)."""
    if isinstance(a, dict) and isinstance(b, dict):
        paths: list[str] = []
        for key in list(a) + [k for k in b if k not in a]:
            here = f"{prefix}.{key}" if prefix else str(key)
            if key not in a or key not in b:
                paths.append(here)
            elif not exactly_equal(a[key], b[key]):
                paths.extend(differing_paths(a[key], b[key], here))
        return paths
    return [prefix or "."]


def read_history(path: str | Path, data: bytes | None = None) -> History:
    """Read a database file (or bytes already read from it, e.g. standard input)."""
    path = Path(path)
    if data is None:
        with LogFile.open(path, create=False, readonly=True) as file:
            data = file.read_from(0)
    serializer = detect(data)
    return History(path, serializer, serializer.scan(data))
