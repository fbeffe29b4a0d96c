"""Stray changes: made outside any transaction (or outside what a flat one declared).

They are never written as part of a transaction that did not make them. Whoever finds
one (a transaction's entry check, the background audit, `db.check()`, `close()`) undoes
it, so that memory matches the file again, and reports it as a DataIntegrityError naming
the paths.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

from .errors import DataIntegrityError
from .session import Session
from .state.audit import audit
from .state.tracker import REORDER, Tree

logger = logging.getLogger("kanta")

# The background audit takes at most this share of the event loop's time.
AUDIT_SHARE = 0.05
# How long the audit waits for an open transaction (awaiting inside its block) to end.
AUDIT_RETRY = 0.005


def check(session: Session | None, path: Path) -> None:
    """`db.check()`: raise DataIntegrityError for changes no transaction recorded, undoing them.

    Compares the whole state with what the log holds (one C-level pass); the background
    audit does the same in slices once flat transactions are in use.
    """
    if session is not None and session.in_transaction:
        raise RuntimeError("check() inside a transaction would take its changes for strays")
    if session is None or not session.is_open:
        raise DataIntegrityError("the database is not open", db_path=path)
    pending, session.stray_error = session.stray_error, None
    # After `db.data = ...` every difference is the replacement's, for the next transaction.
    tree = None if session.replaced else session.tracker.changes(session.data)
    found = undo(session, tree, "found by a check") if tree is not None else None
    error = together(pending, found)
    if error is not None:
        raise error


def last_check(session: Session) -> DataIntegrityError | None:
    """At close: a stray change still pending, or one made since the last transaction."""
    if session.in_transaction:
        return None  # closed from inside a transaction's block: it rolls back
    try:
        check(session, session.path)
    except DataIntegrityError as exc:
        return exc
    return None


def undo(session: Session, tree: Tree, found_by: str) -> DataIntegrityError:
    """Undo the stray changes in `tree`; the error that reports them."""
    session.tracker.revert(tree, session.data)
    session.restored()
    paths = tuple(dotted_paths(tree))
    return DataIntegrityError(
        f"the state was changed outside a transaction, or outside the paths a flat "
        f"transaction declared (at {', '.join(paths)}; {found_by}); the change was undone, "
        "make it inside `with db.transaction(...)` and declare it in `touches=`",
        db_path=session.path,
        paths=paths,
    )


def together(
    first: DataIntegrityError | None, second: DataIntegrityError | None
) -> DataIntegrityError | None:
    """One error reporting the stray changes of both (either may be None)."""
    if first is None or second is None:
        return first or second
    # The messages already name the file: the joined one keeps it as data only.
    error = DataIntegrityError(f"{second}; earlier: {first}", paths=first.paths + second.paths)
    error.db_path = second.db_path
    return error


def dotted_paths(tree: Tree, prefix: str = "") -> Iterator[str]:
    """The changed paths of a change tree, dotted."""
    for key, op in tree.items():
        if key is REORDER:
            continue
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(op, dict):
            yield from dotted_paths(op, path)
        else:
            yield path


def start_audit(session: Session) -> None:
    """Audit the whole state in the background if flat transactions have committed."""
    if session.audit_wanted and (session.audit is None or session.audit.done()):
        session.audit_wanted = False
        session.audit = asyncio.create_task(audit_in_background(weakref.ref(session)))


async def audit_in_background(ref: weakref.ref[Session]) -> None:
    """One whole audit pass, a slice at a time, paced to take a small share of the loop.

    Slices never run while a transaction is open (its block may await): they would take
    its uncommitted changes for stray ones. Holds the session only while auditing, so
    that a database nobody closed can still be collected.
    """
    session = ref()
    if session is None:
        return
    steps = audit(session.data, session.tracker.shadow)
    del session
    while True:
        session = ref()
        if session is None or not session.is_open or session.replaced:
            return  # a replaced root is compared whole by the next transaction
        if session.in_transaction:
            del session
            await asyncio.sleep(AUDIT_RETRY)
            continue
        started = time.perf_counter()
        found = next(steps, None)
        if found is None:
            return
        if found:
            _report(session, undo(session, found, "found by the background audit"))
        elapsed = time.perf_counter() - started
        del session
        await asyncio.sleep(elapsed * (1 / AUDIT_SHARE - 1))


def _report(session: Session, error: DataIntegrityError) -> None:
    """Log now; the next transaction, flush or close raises it."""
    logger.error("kanta: %s", error)
    if session.stray_error is None:
        session.stray_error = error
