"""The two record kinds of a kanta log: a change (a diff) and a snapshot (a whole state)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

# Meta format of snapshots we write: `r` is trustworthy. Legacy snapshots have k == 0.
SNAPSHOT_META_FORMAT = 1


class Change(msgspec.Struct, omit_defaults=True):
    """A change record: who did what, when, and the diff it made."""

    ts: datetime
    a: str = ""
    v: int = 0
    u: str | None = None
    m: datetime | None = None
    diff: Any = {}


class ChangeBody(msgspec.Struct, omit_defaults=True):
    """What replay needs of a change record whose bytes a checksum vouched for.

    Decoding skips `ts`, `a` and `u`: a small change record decodes in about two thirds
    of the time, which makes replaying a long log a few percent quicker.
    """

    v: int = 0
    m: datetime | None = None
    diff: Any = {}


class Snapshot(msgspec.Struct, omit_defaults=True):
    """A snapshot record: the whole state at revision `r`."""

    ts: datetime
    v: int
    state: Any
    m: datetime | None = None
    r: int = 0
    k: int = 0


class SnapshotHead(msgspec.Struct, omit_defaults=True):
    """A snapshot record with its state left encoded, to be decoded straight into a type."""

    ts: datetime
    v: int
    state: msgspec.Raw
    m: datetime | None = None
    r: int = 0
    k: int = 0


Record = Change | Snapshot
