"""Transactions: the block that changes the state, its checks, and its commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from . import strays
from .callbacks import run_validators
from .core.formats import Serializer
from .core.records import Change, Snapshot
from .errors import DatabaseError, DataIntegrityError
from .events import emit as txlog
from .events.event import Timeline
from .state.changeencoding import UnstorableChange, render
from .state.touches import Paths, changes_at, flat_paths
from .state.tracker import Tracker, Tree
from .storage.writer import Writer

if TYPE_CHECKING:
    from .database import Kanta

T = TypeVar("T")


class Transactions(Generic[T]):
    """The transaction methods of a Kanta instance (a mixin: the state lives in Kanta)."""

    _data: T
    _path: Path
    _type: Any
    _serializer: Serializer
    _version: int
    _rev: int
    _mtime: datetime | None
    _is_open: bool
    _readonly: bool
    _in_transaction: bool
    # The open block's action and who runs it: set only while `_in_transaction`.
    _open_block: tuple[str, tuple[int, asyncio.Task[Any] | None]] | None = None
    _states: Timeline | None = None  # made on first use, again for each opening's tracker
    _tracker: Tracker | None
    _writer: Writer | None
    _audit: asyncio.Task[None] | None
    _audit_wanted: bool
    _stray_error: DataIntegrityError | None

    _clock: Callable[[], datetime]  # defined by Decorators
    _queue: Callable[[Change | Snapshot], None]  # defined by Kanta

    @property
    def _db(self) -> Kanta[Any]:
        return cast("Kanta[Any]", self)

    def check(self) -> None:
        """Raise DataIntegrityError for changes no transaction recorded, undoing them.

        Compares the whole state with what the log holds (one C-level pass); the background
        audit does the same in slices once flat transactions are in use.
        """
        if self._in_transaction:
            raise RuntimeError("check() inside a transaction would take its changes for strays")
        if not self._is_open or self._tracker is None:
            raise DataIntegrityError("the database is not open", db_path=self._path)
        pending, self._stray_error = self._stray_error, None
        tree = self._tracker.changes(self._data)
        found = strays.undo(self._db, tree, "found by a check") if tree is not None else None
        error = strays.together(pending, found)
        if error is not None:
            raise error

    def _timeline(self) -> Timeline:
        """The states log events may still ask for, over this opening's tracker."""
        tracker = self._tracker
        assert tracker is not None
        if self._states is None or self._states.tracker is not tracker:
            self._states = Timeline(tracker, self._serializer.to_state)
        return self._states

    def _raise_stray(self) -> None:
        error, self._stray_error = self._stray_error, None
        if error is not None:
            raise error

    def _start_audit(self) -> None:
        """Audit the whole state in the background if flat transactions have committed."""
        if self._audit_wanted and (self._audit is None or self._audit.done()):
            self._audit_wanted = False
            self._audit = asyncio.create_task(strays.audit_in_background(weakref.ref(self._db)))

    # -- transactions ---------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(
        self,
        action: str,
        *,
        user: str | None = None,
        extra: Any = None,
        mtime: bool | datetime = True,
        log: bool | logging.Logger = True,
        logdiff: bool = True,
        touches: Iterable[Sequence[Any]] | None = None,
    ) -> Iterator[T]:
        """Change the state inside the block; on success the change is queued for the log.

        `touches` makes it a flat transaction: a list of paths (tuples of keys and field
        names, like `("users", key)`) that the block may change. Only those are compared,
        so the cost does not grow with the state; see docs/transactions.md. The block
        must not await: another task's transaction would find this one still open.
        """
        self._check_writable()
        if self._in_transaction:
            raise self._overlap(action)
        paths = None if touches is None else flat_paths(touches)
        self._check_untouched(paths)
        self._in_transaction = True
        self._open_block = (action, _whose())
        try:
            yield self._data
            self._commit(action, user, mtime, extra, log, logdiff, paths)
        except BaseException as exc:
            self._rollback(paths)
            txlog.log_abort(self._db, action, user, extra, exc, log)
            raise
        finally:
            self._in_transaction = False
            self._open_block = None

    def _overlap(self, action: str) -> RuntimeError:
        """The error for a transaction begun while another one's block is open."""
        assert self._open_block is not None
        running, owner = self._open_block
        if owner == _whose():
            # Only the block itself (or a callback its commit runs) gets here in its task.
            return RuntimeError(
                f"nested transactions are not supported: transaction {action!r} was begun "
                f"inside the block of transaction {running!r}"
            )
        if owner[0] == threading.get_ident():
            where = "another asyncio task is still open because that block awaited"
        else:
            where = "another thread is still open"
        return RuntimeError(
            f"transaction {action!r} cannot begin: the block of transaction {running!r} in "
            f"{where}. Do not await inside a transaction block: await what it needs "
            "before it, change the data without awaiting, then `await db.flush()` after it"
        )

    def _check_writable(self) -> None:
        if not self._is_open:
            raise DataIntegrityError("the database is not open", db_path=self._path)
        if self._readonly:
            raise DataIntegrityError("the database is open read-only", db_path=self._path)
        assert self._writer is not None
        self._writer.raise_if_failed()

    def _changes(self, paths: Paths | None) -> Tree | None:
        """The changes since the last commit: everywhere, or along a flat transaction's paths."""
        assert self._tracker is not None
        if paths is None:
            return self._tracker.changes(self._data)
        return changes_at(self._tracker, self._data, paths)

    def _check_untouched(self, paths: Paths | None) -> None:
        self._raise_stray()
        tree = self._changes(paths)
        if tree is not None:
            raise strays.undo(self._db, tree, "found when a transaction began")

    def _rollback(self, paths: Paths | None) -> None:
        assert self._tracker is not None
        tree = self._changes(paths)
        if tree is not None:
            self._tracker.revert(tree, self._data)

    def _commit(
        self,
        action: str,
        user: str | None,
        mtime: bool | datetime,
        extra: Any,
        log: bool | logging.Logger,
        logdiff: bool,
        paths: Paths | None,
    ) -> None:
        """Record the change; whatever raises before `accept` leaves it to be rolled back."""
        if not self._is_open or self._writer is None:
            # Closed while the block awaited: nothing can be written, so it rolls back.
            raise DataIntegrityError(
                f"the database was closed during transaction {action!r}", db_path=self._path
            )
        tracker = self._tracker
        assert tracker is not None
        tree = self._changes(paths)
        if paths is not None:
            self._audit_wanted = True  # what it did not declare, only the audit sees
        if tree is None:
            return
        try:
            diff = render(tree, self._data, self._type, self._serializer)
        except UnstorableChange as exc:
            raise DatabaseError(
                f"the change cannot be stored, so it was rolled back: {exc}",
                db_path=self._path,
                action=action,
            ) from exc
        run_validators(self._db, tree, paths)
        now = self._clock()
        stamp = now if mtime is True else (mtime or None)
        record = Change(ts=now, a=action, v=self._version, u=user, m=stamp, diff=diff)
        after = txlog.log_change(self._db, record, tree, extra=extra, log=log, diff=logdiff)
        self._timeline().advance(tree, after)
        tracker.accept(tree, self._data)
        self._queue(record)
        self._rev += 1
        if stamp is not None:
            self._mtime = stamp


def _whose() -> tuple[int, asyncio.Task[Any] | None]:
    """The thread and asyncio task running now (None outside a running event loop)."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    return threading.get_ident(), task
