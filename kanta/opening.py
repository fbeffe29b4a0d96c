"""Opening a database file: bootstrap a new one, or replay, repair and migrate an existing one."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec

from .callbacks import Callbacks
from .core.diff import diff
from .core.formats import Serializer, fresh, serializer_for, torn_first_write
from .core.metaformat import is_legacy, upgraded
from .core.migrations import (
    Migration,
    MigrationReport,
    code_version,
    copy_state,
    load_migrations,
    missing,
    plan,
    run,
)
from .core.records import SNAPSHOT_META_FORMAT, Change, Snapshot, SnapshotHead
from .core.replay import Replayed, replay, start_at_snapshot
from .core.scan import Damage, RawRecord, Scan
from .errors import DatabaseError, DataIntegrityError, ReplayError
from .state.gcpause import gc_paused
from .state.normalise import normalisation
from .storage import rotation
from .storage.logfile import LogFile
from .storage.sidefiles import drop_stale_temps, save_cut

logger = logging.getLogger("kanta")


@dataclass(frozen=True)
class Setup:
    """What opening needs from the database: its configuration, root object and callbacks."""

    path: Path
    root: Any  # the caller's root object, which bootstrap callbacks fill in
    root_type: Any
    serializer: Serializer  # the format of a new file, and the one an existing file is told
    migrations: ModuleType | str | None
    retention: timedelta | None
    callbacks: Callbacks  # bootstrap callbacks and the clock; their owner goes to migrations

    def now(self) -> datetime:
        """The time for a new timestamp (the @db.clock callback's)."""
        return self.callbacks.now()


@dataclass
class Loaded:
    """What opening found: the typed state, its coordinates, and records still to write."""

    serializer: Serializer
    live: Any
    version: int
    rev: int
    mtime: datetime | None
    replay_bytes: int
    state_bytes: int
    records_to_write: list[Change | Snapshot] = field(default_factory=list)
    # For the log: whether the file is new, the migrations run, the change records made.
    created: bool = False
    report: MigrationReport | None = None
    changes: list[Change] = field(default_factory=list)
    file: LogFile | None = None  # the file opened, or the one a rotation replaced it with


async def load(setup: Setup, file: LogFile, *, create: bool, readonly: bool) -> Loaded:
    """Read the database file and bring it to the code's schema."""
    data = await asyncio.to_thread(file.read_from, 0)
    if not readonly:
        await asyncio.to_thread(drop_stale_temps, file.path, file.ops)
    if not data:
        if readonly or not create:
            # A DataIntegrityError, as in kanta 0.9.x: there is no database to open.
            raise DataIntegrityError("the database file is empty", db_path=file.path, action="open")
        loaded = await bootstrap(setup, fresh(setup.serializer))
    else:
        loaded = await _load_existing(setup, file, data, readonly)
    if loaded.file is None:
        loaded.file = file
    return loaded


async def bootstrap(setup: Setup, serializer: Serializer) -> Loaded:
    """A new database: the @db.bootstrap callbacks fill it in, one record holds the result."""
    version = code_version(load_migrations(setup.migrations, db_path=setup.path))
    await setup.callbacks.run("bootstrap", setup.callbacks.context())
    state = serializer.to_state(setup.root)
    live = decode_state(serializer, state, setup, position=None)
    options = setup.callbacks.bootstrap_options
    now = setup.now()
    mtime = now if options.mtime is True else (options.mtime or None)
    made = diff({}, state)
    # An empty state has no diff field at all, as 0.9.x writes it (`{}` is the default).
    change = _raw(serializer, made) if made else {}
    record = Change(ts=now, a=options.action, v=version, u=options.user, m=mtime, diff=change)
    return Loaded(serializer, live, version, 1, mtime, 0, 0, [record], True, None, [record])


async def _load_existing(setup: Setup, file: LogFile, data: bytes, readonly: bool) -> Loaded:
    serializer = serializer_for(data, setup.serializer, file.path)
    with gc_paused():  # a record object for every record: a long log makes many
        scan = serializer.scan(data)
    if scan.damage is not None and scan.damage.valid_after is not None:
        raise corruption_error(scan.damage, serializer, file.path)
    if not scan.records:
        if torn_first_write(data):
            return await _restart_torn(setup, file, data, scan, serializer, readonly)
        # Bytes, and not the start of a first record: never replaced by a new database.
        raise DatabaseError(
            f"holds no whole record ({scan.damage.reason if scan.damage else 'empty'}), "
            "and is not what a crash while creating a database leaves: another kind of "
            "file, or a database whose first record is damaged; refusing to replace it",
            db_path=file.path,
            position=1,
            byte_pos=0,
        )
    if scan.damage is not None and not readonly:
        # The clock is read here: a @db.clock callback runs on the event loop, not in a thread.
        await asyncio.to_thread(_cut_tail, file, data, scan.damage, setup.now())
    if scan.needs_newline and not readonly:
        await asyncio.to_thread(file.append, b"\n")
    if not readonly and is_legacy(serializer, scan.records):
        data = upgraded(serializer, scan.records, file.path, setup.now())
        file = await asyncio.to_thread(file.replace_with, data)
        scan = serializer.scan(data)
    opened = _at_snapshot(setup, serializer, scan.records)
    if opened is None:
        opened = _replay_and_migrate(setup, serializer, scan.records, file.path, scan.verified)
    records, fold = opened.records, opened.replayed.fold
    rev = fold.rev
    # A migration run writes a snapshot even when it changed nothing: it holds the version.
    if (records or opened.report is not None) and not readonly:
        rev += len(records)
        state_raw = _raw(serializer, opened.live)
        snapshot = Snapshot(
            setup.now(), opened.version, state_raw, fold.mtime, rev, SNAPSHOT_META_FORMAT
        )
        records.append(snapshot)
    changes = [record for record in records if isinstance(record, Change)]
    if readonly:
        records = []
    elif setup.retention is not None:
        # Last, once nothing else can fail: the state is the same before and after.
        file = await _rotate_at_open(setup, file, serializer, data, scan)
    return Loaded(
        serializer,
        opened.live,
        opened.version,
        rev,
        fold.mtime,
        opened.replayed.replayed_bytes,
        opened.replayed.base_bytes,
        records,
        report=opened.report,
        changes=changes,
        file=file,
    )


async def _restart_torn(
    setup: Setup, file: LogFile, data: bytes, scan: Scan, serializer: Serializer, readonly: bool
) -> Loaded:
    """A file a crash left while creating it: its bytes saved beside it, then a new start.

    In the file's format (a binary file keeps its seed), or, for zeros alone, the one the
    application asks for.
    """
    if readonly:
        raise DatabaseError(
            "the database file holds no whole record (a crash while it was being created)",
            db_path=file.path,
            position=1,
            byte_pos=0,
        )
    damage = scan.damage
    if not data.strip(b"\0"):
        serializer, damage = fresh(setup.serializer), Damage(0, 1, "zeros, no record")
    if damage is not None:
        await asyncio.to_thread(_cut_tail, file, data, damage, setup.now())
    return await bootstrap(setup, serializer)


@dataclass
class _Opened:
    """The state a file holds, in the code's schema, and the records that bring it there."""

    replayed: Replayed
    live: Any
    version: int
    records: list[Change | Snapshot]
    report: MigrationReport | None = None


def _replay_and_migrate(
    setup: Setup,
    serializer: Serializer,
    raws: list[RawRecord],
    path: Path,
    verified: bool = False,
) -> _Opened:
    """The general way: replay into builtins, migrate, decode into the root type, normalise."""
    with gc_paused():
        replayed = replay(serializer, raws, path, verified=verified)
    fold = replayed.fold
    stored = fold.version
    migrations = load_migrations(setup.migrations, db_path=path)
    versions = plan(stored, migrations, db_path=path)
    # What the record of this opening is measured from: the migrations change the state
    # in place, and the record holds them and msgspec's normalisation together.
    before = copy_state(fold.state) if versions else fold.state
    state, report = _migrate(setup, fold.state, stored, migrations, versions)
    version = stored if report is None else report.version
    with gc_paused():
        live = decode_state(serializer, state, setup, position=None)
        change = normalisation(serializer, before, live)
    records: list[Change | Snapshot] = []
    if change is not None:
        action = "migrate:msgspec" if report is None else f"migrate:v{version}"
        records.append(Change(ts=setup.now(), a=action, v=version, diff=_raw(serializer, change)))
    return _Opened(replayed, live, version, records, report)


def _at_snapshot(setup: Setup, serializer: Serializer, raws: list[RawRecord]) -> _Opened | None:
    """The fast way for a file that ends with a snapshot in the code's schema and in exactly
    the form the code writes it: the state decoded straight into the root type, with no
    builtin form, conversion or normalisation.

    None when any of that does not hold: the general way then gives the same result, or
    raises what it raises, in its own order.
    """
    last = raws[-1]
    if not last.is_snapshot:
        return None
    with gc_paused():
        try:
            head = serializer.decode_value(last.payload, SnapshotHead)
            if plan(head.v, load_migrations(setup.migrations, db_path=setup.path)):
                return None
            live = serializer.decode_value(memoryview(head.state), setup.root_type)
            # Written as the code writes it: re-encoding finds nothing to normalise, and the
            # general way would decode it to the same value (tests/test_replay_fast.py).
            # Compared as Raw (a memcmp): a memoryview compares item by item, 30 times slower.
            if msgspec.Raw(serializer.encode_value(live)) != head.state:
                return None
        except Exception:  # the general way raises it again, in its own order
            return None
    snapshot = Snapshot(head.ts, head.v, live, head.m, head.r, head.k)
    fold, base_bytes = start_at_snapshot(raws, len(raws) - 1, snapshot)
    replayed = Replayed(fold, len(raws) - 1, 0, base_bytes, head.ts)
    return _Opened(replayed, live, head.v, [])


async def _rotate_at_open(
    setup: Setup, file: LogFile, serializer: Serializer, data: bytes, scan: Scan
) -> LogFile:
    """Move history older than the retention window out; the file that holds the rest."""
    assert setup.retention is not None
    cutoff = setup.now() - setup.retention
    done = await asyncio.to_thread(rotation.rotate, file, serializer, data, scan, cutoff)
    return file if done is None else done.file


def _migrate(
    setup: Setup, state: Any, stored: int, migrations: dict[int, Migration], versions: list[int]
) -> tuple[Any, MigrationReport | None]:
    """Run the planned migrations on the replayed state (in place where they mutate it)."""
    if not versions:
        return state, None
    skipped = missing(stored, versions)
    if skipped:
        logger.warning(
            "kanta: %s: no migration for version%s %s; migrating from version %d runs %s",
            setup.path,
            "s" if len(skipped) > 1 else "",
            ", ".join(str(number) for number in skipped),
            stored,
            ", ".join(f"migrate_v{number}" for number in versions),
        )
    owner = setup.callbacks.owner  # what a `migrate_vN(d, kanta)` migration is handed
    return run(state, versions, migrations, stored_version=stored, kanta=owner, db_path=setup.path)


def _raw(serializer: Serializer, value: Any) -> msgspec.Raw:
    """A value encoded now: queued records must not see later changes to live objects."""
    return msgspec.Raw(serializer.encode_value(value))


def decode_state(serializer: Serializer, state: Any, setup: Setup, position: int | None) -> Any:
    """The on-disk state decoded into the root type, or a DatabaseError saying why not."""
    try:
        return serializer.from_state(state, setup.root_type)
    except msgspec.ValidationError as exc:
        name = getattr(setup.root_type, "__name__", repr(setup.root_type))
        raise DatabaseError(
            f"the stored state does not decode into {name}: {exc}",
            db_path=setup.path,
            position=position,
        ) from exc


def corruption_error(damage: Damage, serializer: Serializer, path: Path) -> DatabaseError:
    """The error for damage that valid records follow: never cut away silently."""
    line = damage.position if serializer.name == "json" else None
    return ReplayError(
        f"corrupt record ({damage.reason}) with valid records after it, from byte "
        f"{damage.valid_after}; refusing to open: `kanta recover` salvages the records "
        "before it and keeps the rest in a side file",
        db_path=path,
        line_number=line,
        position=damage.position,
        byte_pos=damage.byte_pos,
    )


def _cut_tail(file: LogFile, data: bytes, damage: Damage, now: datetime) -> Path:
    """Save the damaged tail beside the database, then truncate it away."""
    side = save_cut(file, data, damage.byte_pos, now)
    logger.warning(
        "kanta: %s: %s at byte %d (record %d); cut %d bytes, saved in %s",
        file.path,
        damage.reason,
        damage.byte_pos,
        damage.position,
        len(data) - damage.byte_pos,
        side,
    )
    return side


def give_up(file: LogFile, create: bool) -> None:
    """Release the file of a failed open; a file this open created goes away again.

    Only when this open made the name (O_EXCL), the name still holds that inode and it
    is still empty: a file that was there before, or that has bytes in it, stays.
    """
    try:
        if create and file.created and not file.readonly and file.still_ours() and not file.size:
            file.path.unlink()  # before the lock goes, so nobody starts on it meanwhile
    finally:
        file.close()
