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
from typing import TYPE_CHECKING, Any

from .errors import DataIntegrityError
from .state.audit import audit
from .state.tracker import REORDER, Tree

if TYPE_CHECKING:
    from .database import Kanta

logger = logging.getLogger("kanta")

# The background audit takes at most this share of the event loop's time.
AUDIT_SHARE = 0.05
# How long the audit waits for an open transaction (awaiting inside its block) to end.
AUDIT_RETRY = 0.005


def undo(db: Kanta[Any], tree: Tree, found_by: str) -> DataIntegrityError:
    """Undo the stray changes in `tree`; the error that reports them."""
    assert db._tracker is not None
    db._tracker.revert(tree, db._data)
    paths = tuple(dotted_paths(tree))
    return DataIntegrityError(
        f"the state was changed outside a transaction, or outside the paths a flat "
        f"transaction declared (at {', '.join(paths)}; {found_by}); the change was undone, "
        "make it inside `with db.transaction(...)` and declare it in `touches=`",
        db_path=db.filename,
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


async def audit_in_background(ref: weakref.ref[Kanta[Any]]) -> None:
    """One whole audit pass, a slice at a time, paced to take a small share of the loop.

    Slices never run while a transaction is open (its block may await): they would take
    its uncommitted changes for stray ones.
    """
    db = ref()
    if db is None or db._tracker is None:
        return
    steps = audit(db._data, db._tracker.shadow)
    del db
    while True:
        db = ref()
        if db is None or not db._is_open:
            return
        if db._in_transaction:
            del db
            await asyncio.sleep(AUDIT_RETRY)
            continue
        started = time.perf_counter()
        found = next(steps, None)
        if found is None:
            return
        if found:
            _report(db, undo(db, found, "found by the background audit"))
        elapsed = time.perf_counter() - started
        del db
        await asyncio.sleep(elapsed * (1 / AUDIT_SHARE - 1))


def _report(db: Kanta[Any], error: DataIntegrityError) -> None:
    """Log now; the next transaction, flush or close raises it."""
    logger.error("kanta: %s", error)
    if db._stray_error is None:
        db._stray_error = error
