"""Maintenance on files no writer holds: verify a log, convert it to the other format."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import msgspec

from .core.diff import escape_key, unescape_key
from .core.formats import Serializer, detect
from .core.jsonlines import JsonSerializer
from .core.msgpackframes import MsgPackSerializer
from .core.records import Record, Snapshot
from .core.replay import Fold, fold_each
from .errors import DatabaseError
from .history import History, read_history
from .storage.logfile import LogFile
from .storage.sidefiles import save_cut


class Problem(msgspec.Struct, frozen=True):
    """One thing wrong with a file, and where."""

    byte_pos: int
    position: int  # 1-based record index (the line number in JSON files)
    message: str


class VerifyReport(msgspec.Struct):
    """What `verify` found: `ok` when every record checks out."""

    path: str
    records: int
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


def verify(path: str | Path) -> VerifyReport:
    """Check every record of a file: it decodes, applies, and agrees with every snapshot.

    Damage is reported, not raised; only a file that cannot be read raises DatabaseError.
    """
    try:
        history = read_history(path)
    except DatabaseError as exc:
        if exc.byte_pos is None:  # not read at all (missing, not a file, I/O error)
            raise
        problem = Problem(exc.byte_pos, exc.position or 1, exc.message)
        return VerifyReport(str(path), 0, [problem])
    problems: list[Problem] = []
    count = 0
    try:
        for entry in history.entries():
            count += 1
            if entry.disagreement is not None:
                problems.append(Problem(entry.raw.byte_pos, entry.position, entry.disagreement))
    except DatabaseError as exc:
        problems.append(Problem(exc.byte_pos or 0, exc.position or 0, exc.message))
    damage = history.scan.damage
    if damage is not None:
        where = (
            "" if damage.valid_after is None else f" (valid records follow at {damage.valid_after})"
        )
        problems.append(Problem(damage.byte_pos, damage.position, damage.reason + where))
    return VerifyReport(str(history.path), count, problems)


class RecoverReport(msgspec.Struct):
    """What `recover` did: records kept, bytes cut, and where the cut bytes were saved."""

    path: str
    kept: int
    cut_bytes: int
    side_file: str | None  # None when the file was clean and left untouched


def recover(path: str | Path) -> RecoverReport:
    """Cut a torn or corrupt file back to its last good record, saving what was cut.

    Takes the writer's lock (so it refuses while a writer holds the file) and never
    touches a clean file. The cut bytes go to `NAME.cut-TIME-OFFSET` beside it.
    """
    with LogFile.open(Path(path), create=False, readonly=False) as file:
        data = file.read_from(0)
        scan = detect(data).scan(data)
        if scan.damage is None:
            return RecoverReport(str(file.path), len(scan.records), 0, None)
        side = save_cut(file, data, scan.good_end, datetime.now(UTC))
        return RecoverReport(
            str(file.path), len(scan.records), len(data) - scan.good_end, str(side)
        )


def convert(src: str | Path, dst: str | Path, *, to: Literal["json", "msgpack"]) -> int:
    """Rewrite every record of `src` into a new file `dst` in the other format.

    History, revisions, versions and timestamps are kept record by record. Returns the
    number of records written. Refuses a damaged source and an existing destination.
    """
    history = read_history(src)
    if history.scan.damage is not None:
        damage = history.scan.damage
        raise DatabaseError(
            f"cannot convert a damaged file ({damage.reason}); run `kanta recover` first",
            db_path=history.path,
            position=damage.position,
            byte_pos=damage.byte_pos,
        )
    target: Serializer = MsgPackSerializer() if to == "msgpack" else JsonSerializer()
    if to not in ("json", "msgpack"):
        raise ValueError(f"unknown format {to!r}: use 'json' or 'msgpack'")
    data = _reencode(history, target)
    with LogFile.open(Path(dst), create=True, readonly=False) as out:
        if out.size:
            raise DatabaseError("the destination already exists", db_path=out.path)
        out.append(data)
        out.sync()
    return len(history.scan.records)


def _reencode(history: History, target: Serializer) -> bytes:
    chunks: list[bytes] = []
    offset = 0
    fold = Fold(state={})
    for step in fold_each(history.serializer, history.scan.records, history.path, fold):
        # Encoded at once: the next record may change in place what this one put in the
        # state. Retargeting asks the state only which keys are levels of dicts, and those
        # are the same after the record as before it.
        chunk = target.encode(_retarget(step.record, fold.state, target), offset)
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _retarget(record: Record, previous: Any, target: Serializer) -> Record:
    # Keys listed in `$delete` are values, so no encoder turns them into the target's key
    # form (7 is "7" in JSON): do it here, for the diff levels only.
    if isinstance(record, Snapshot) or not isinstance(record.diff, dict):
        return record
    return msgspec.structs.replace(record, diff=_retarget_diff(record.diff, previous, target))


def _retarget_diff(diff: dict[Any, Any], previous: Any, target: Serializer) -> dict[Any, Any]:
    if "$replace" in diff or not isinstance(previous, dict):
        return diff
    out: dict[Any, Any] = {}
    for key, value in diff.items():
        if key == "$delete":
            out[key] = [escape_key(target.key_form(unescape_key(k))) for k in value]
            continue
        old = previous.get(unescape_key(key))
        is_level = isinstance(value, dict) and isinstance(old, dict)
        out[key] = _retarget_diff(value, old, target) if is_level else value
    return out
