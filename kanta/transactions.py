"""Transactions: the block that changes the state, its checks, and its commit.

Plain functions over the open `Session` and the database's callbacks; `Kanta.transaction`
runs the block generator `run`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from . import strays
from .callbacks import Callbacks
from .core.records import Change
from .errors import DatabaseError, DataIntegrityError
from .events import emit
from .session import Session
from .state.changeencoding import UnstorableChange, render, same_change
from .state.touches import Paths, flat_paths
from .state.tracker import Tree


def run(
    session: Session,
    callbacks: Callbacks,
    action: str,
    user: str | None,
    extra: Any,
    mtime: bool | datetime,
    log: bool | logging.Logger,
    logdiff: bool,
    touches: Iterable[Sequence[Any]] | None,
) -> Iterator[Any]:
    """The body of `db.transaction(...)`: yields the data to the block, then commits.

    A generator the context manager delegates to (`yield from`), so that an exception in
    the block arrives here, where it rolls the change back.
    """
    if session.in_transaction:
        raise _overlap(session, action)
    # After `db.data = ...` the whole state is compared: the replacement is recorded too.
    paths = None if touches is None or session.replaced else flat_paths(touches)
    if session.replaced:
        session.raise_stray()
    else:
        _check_untouched(session, paths)
    session.in_transaction = True
    session.open_block = (action, _whose())
    barrier = session.barrier
    try:
        if barrier is not None:
            barrier.accepting = True
        try:
            yield session.data
        finally:
            if barrier is not None:
                barrier.accepting = False
        _commit(session, callbacks, action, user, mtime, extra, log, logdiff, paths)
    except BaseException as exc:
        _rollback(session, paths)
        emit.log_abort(session, callbacks, action, user, extra, exc, log)
        raise
    finally:
        session.in_transaction = False
        session.open_block = None


def _overlap(session: Session, action: str) -> RuntimeError:
    """The error for a transaction begun while another one's block is open."""
    assert session.open_block is not None
    running, owner = session.open_block
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


def _check_untouched(session: Session, paths: Paths | None) -> None:
    session.raise_stray()
    # Under the barrier a write outside a block was refused: only its escapes can be
    # there, and the opaque values it compares at every commit (and here) cover some.
    tree = session.changes(None if session.barrier is not None else paths)
    if tree is not None:
        raise strays.undo(session, tree, "found when a transaction began")


def _rollback(session: Session, paths: Paths | None) -> None:
    session.replaced = False  # back to what the log holds, replacement included
    barrier = session.barrier
    if barrier is not None and not barrier.compare_all:
        # The logged values go back: the objects keep their identity, the registry holds.
        barrier.undo(session.tracker)
    tree = session.changes(paths)  # with a barrier: only what its log could not hold
    if tree is not None:
        session.tracker.revert(tree, session.data)
        session.restored()


def _commit(
    session: Session,
    callbacks: Callbacks,
    action: str,
    user: str | None,
    mtime: bool | datetime,
    extra: Any,
    log: bool | logging.Logger,
    logdiff: bool,
    paths: Paths | None,
) -> None:
    """Record the change; whatever raises before `accept` leaves it to be rolled back."""
    writer = session.writer
    if not session.is_open or writer is None:
        # Closed while the block awaited: nothing can be written, so it rolls back.
        raise DataIntegrityError(
            f"the database was closed during transaction {action!r}", db_path=session.path
        )
    tree = session.changes(paths)
    barrier = session.barrier
    if paths is not None or barrier is not None:
        session.audit_wanted = True  # what it did not declare or hooks miss, the audit sees
    if tree is None:
        session.replaced = False
        if barrier is not None:
            barrier.settle()
        return
    data = session.data
    try:
        diff = render(tree, data, session.type, session.serializer)
    except UnstorableChange as exc:
        raise DatabaseError(
            f"the change cannot be stored, so it was rolled back: {exc}",
            db_path=session.path,
            action=action,
        ) from exc
    validate(session, callbacks, tree, paths)
    now = callbacks.now()
    stamp = now if mtime is True else (mtime or None)
    record = Change(ts=now, a=action, v=session.version, u=user, m=stamp, diff=diff)
    if barrier is not None:
        barrier.reading = "a log callback (@db.logfmt, @db.logemit or a log handler)"
    try:
        after = emit.log_change(
            session, callbacks, record, tree, extra=extra, log=log, diff=logdiff
        )
    finally:
        if barrier is not None:
            barrier.reading = None
    if after is not None or session.states is not None:  # else no event can ask
        session.timeline().advance(tree, after)
    if barrier is not None:
        barrier.settle()  # refuses an object of another open state: still rolled back
    session.tracker.accept(tree, data)
    session.replaced = False
    writer.enqueue(record)
    session.rev += 1
    if stamp is not None:
        session.mtime = stamp


def validate(
    session: Session, callbacks: Callbacks, rendered: Tree | None, paths: Paths | None = None
) -> None:
    """Run the validators on the data; one that changed the data is a DataIntegrityError.

    `rendered` is the transaction's change tree after `render` (None at open, where
    nothing may change at all): what is about to be written must still be what is live.
    `paths` are a flat transaction's (only they are compared again, as at its commit).
    """
    if not callbacks["validate"]:
        return
    names = ", ".join(callback.name for callback in callbacks["validate"])
    barrier = session.barrier
    if barrier is not None:
        barrier.reading = f"a @db.validate callback ({names})"
    try:
        callbacks.validate(callbacks.context())
    finally:
        if barrier is not None:
            barrier.reading = None
    after = session.changes(paths)
    if after is None if rendered is None else same_change(rendered, after, session.data):
        return
    raise DataIntegrityError(
        f"a @db.validate callback ({names}) changed the data; validators must only check "
        "it, so the change was rolled back",
        db_path=session.path,
    )


def _whose() -> tuple[int, asyncio.Task[Any] | None]:
    """The thread and asyncio task running now (None outside a running event loop)."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    return threading.get_ident(), task
