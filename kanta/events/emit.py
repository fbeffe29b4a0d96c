"""The transaction log: one event per change, handed to `@db.logemit` and then to logging.

Nothing here costs more than the change itself unless someone asks: events are built only
when a logger would emit them or a logemit callback exists, the diff lines come from the
change (never from the whole state), and the whole-state dicts are built on demand,
from the state in memory and what later transactions replaced (`logevents.Timeline`).
"""

from __future__ import annotations

import logging
import sys
import weakref
from collections.abc import Callable, Iterator
from functools import partial
from itertools import islice
from typing import TYPE_CHECKING, Any

import msgspec

from ..ansi import Style, use_colour
from ..callbacks import Callbacks
from ..core.diff import unescape_key
from ..core.edits import UNKNOWN, edits
from ..core.formats import Serializer
from ..core.records import Change
from ..state.tracker import REORDER, Tree
from .event import LOGGER_NAMES, KantaHandler, LogEvent, Moment, StateDicts
from .text import Entry, Formats, render

if TYPE_CHECKING:
    from ..opening import Loaded
    from ..session import Session

TRANSACTION = logging.getLogger(LOGGER_NAMES["transaction"])
# The diff lines a transaction's log entry shows at most; the rest are counted.
DIFF_LINES = 100
BOOTSTRAP = logging.getLogger(LOGGER_NAMES["bootstrap"])
MIGRATION = logging.getLogger(LOGGER_NAMES["migration"])
logger = logging.getLogger("kanta")


# -- what happened ------------------------------------------------------------------------


def log_change(
    session: Session,
    callbacks: Callbacks,
    record: Change,
    tree: Tree,
    *,
    extra: Any,
    log: bool | logging.Logger,
    diff: bool,
) -> weakref.ref[Moment] | None:
    """Log a committed transaction; call it before the tracker accepts `tree`.

    Returns the moment after it for `Timeline.advance`, weakly: once nobody holds the
    event, nothing needs to be kept for it.
    """
    target = _target(log)
    if target is None or not _wanted(callbacks, target, logging.INFO):
        return None
    serializer, timeline = session.serializer, session.timeline()
    # A bulk change would otherwise format a line per entry, whoever reads the log.
    entries = list(islice(_tree_entries(tree, serializer), DIFF_LINES))
    more = _count_paths(tree) - len(entries)
    before, after = timeline.change(tree, session.data)
    states = StateDicts(partial(timeline.state, before), partial(timeline.state, after))
    event = _change_event(
        session, callbacks, record, target, extra=extra, states=states, show_diff=diff
    )
    dispatch(callbacks, event, entries, target.getChild("diff"), more)
    return weakref.ref(after)


def log_abort(
    session: Session,
    callbacks: Callbacks,
    action: str,
    user: str | None,
    extra: Any,
    error: BaseException,
    log: bool | logging.Logger,
) -> None:
    """Log a transaction that was rolled back, at WARNING."""
    target = _target(log)
    if target is None or not _wanted(callbacks, target, logging.WARNING):
        return
    event = LogEvent(
        kind="aborted",
        logger=target,
        level=logging.WARNING,
        kanta=callbacks.owner,
        action=action,
        user=user,
        extra=extra,
        error=error,
        show_diff=False,
        filename=str(session.path),
    )
    dispatch(callbacks, event, [], None)


async def log_open(
    session: Session, callbacks: Callbacks, loaded: Loaded, *, log: bool | logging.Logger = True
) -> None:
    """Log what opening did: a new file and its bootstrap record, or the migrations run."""
    if log is False:
        return
    if loaded.created:
        _announce(session, callbacks, BOOTSTRAP, "created")
        for record in loaded.changes:
            # A new state: each top-level field is one assignment.
            states = StateDicts(dict, _current(session))  # before the bootstrap: nothing
            entries_of = _assignment_entries
            _log_record(session, callbacks, record, BOOTSTRAP, states, entries_of)
        return
    report = loaded.report
    if report is not None and callbacks["logmigr"]:
        # The application logs migrations itself.
        await callbacks.run_all("logmigr", callbacks.context(report=report))
        return
    if report is not None:
        described = [_describe(info.name, info.description) for info in report.applied]
        versions = {"from_version": report.original, "to_version": report.version}
        _announce(session, callbacks, MIGRATION, "migrated", migrations=described, **versions)
    for record in loaded.changes:
        states = StateDicts(None, _current(session))
        _log_record(session, callbacks, record, MIGRATION, states, _migration_entries)


def _assignment_entries(diff: Any) -> list[Entry]:
    return list(_assignments(diff))


def _migration_entries(diff: Any) -> list[Entry]:
    return list(_diff_entries(diff, ()))


def _announce(
    session: Session, callbacks: Callbacks, target: logging.Logger, kind: str, **fields: Any
) -> None:
    if _wanted(callbacks, target, logging.INFO):
        filename = str(session.path)
        event = LogEvent(
            kind=kind, logger=target, kanta=callbacks.owner, filename=filename, **fields
        )
        dispatch(callbacks, event, [], None)


def _log_record(
    session: Session,
    callbacks: Callbacks,
    record: Change,
    target: logging.Logger,
    states: StateDicts,
    entries_of: Callable[[Any], list[Entry]],
) -> None:
    if _wanted(callbacks, target, logging.INFO):
        event = _change_event(session, callbacks, record, target, states=states)
        dispatch(callbacks, event, entries_of(event.diff), None)


def _describe(name: str, description: str) -> str:
    return f"{name} ({description.rstrip('.')})" if description else name


def _change_event(
    session: Session, callbacks: Callbacks, record: Change, target: logging.Logger, **fields: Any
) -> LogEvent:
    serializer = session.serializer
    return LogEvent(
        kind="change",
        logger=target,
        kanta=callbacks.owner,
        action=record.a,
        user=record.u,
        diff=lambda: _plain(record.diff, serializer),  # decoded if someone asks
        filename=str(session.path),
        **fields,
    )


def _target(log: bool | logging.Logger) -> logging.Logger | None:
    if isinstance(log, logging.Logger):
        return log
    return TRANSACTION if log else None


def _wanted(callbacks: Callbacks, target: logging.Logger, level: int) -> bool:
    """Whether anyone would see an event: a logemit callback, or an enabled logger."""
    return bool(callbacks["logemit"]) or target.isEnabledFor(level)


def _current(session: Session) -> Callable[[], Any]:
    """The state as opened, however later transactions change it."""
    timeline = session.timeline()
    return partial(timeline.state, timeline.now())


# -- handing it on ------------------------------------------------------------------------


def dispatch(
    callbacks: Callbacks,
    event: LogEvent,
    entries: list[Entry],
    diff_logger: logging.Logger | None,
    more: int = 0,
) -> None:
    """Offer the event to the logemit callbacks, then (unless one handled it) to logging.

    With a `diff_logger`, the diff lines go out on it and the header alone on the event's
    logger when the diff logger is switched off; without one, both go on the event's logger.
    `more` counts the changed paths left out of `entries`.
    """
    formats = Formats(callbacks, event.states)
    # A proxy: an event holding a closure over itself would live (and keep the moments of
    # its states, and what later transactions replace) until a garbage collection.
    this = weakref.proxy(event)
    event._render = lambda: render(this, entries, formats, Style(False), this.show_diff, more)
    if not callbacks.emit(callbacks.context(event=event, states=event.states)):
        return
    target = event.logger
    if target is None or not target.isEnabledFor(event.level):
        return
    with_diff = event.show_diff and bool(entries)
    if with_diff and diff_logger is not None:
        if diff_logger.isEnabledFor(event.level):
            target = diff_logger
        else:
            with_diff = False
    style = Style(_colour(target, event.level))
    text = render(event, entries, formats, style, with_diff, more)
    target.log(event.level, text)


def _colour(target: logging.Logger, level: int) -> bool:
    """ANSI colour only when every handler the record reaches writes to a terminal."""
    streams = []
    for handler in _handlers(target):
        if isinstance(handler, logging.NullHandler) or handler.level > level:
            continue
        if not isinstance(handler, logging.StreamHandler):
            return use_colour(None)  # FORCE_COLOR still forces it
        streams.append(sys.stderr if isinstance(handler, KantaHandler) else handler.stream)
    return all(use_colour(stream) for stream in streams or [sys.stderr])


def _handlers(target: logging.Logger) -> Iterator[logging.Handler]:
    current: logging.Logger | None = target
    while current is not None:
        yield from current.handlers
        if not current.propagate:
            return
        current = current.parent


# -- from changes to entries ----------------------------------------------------------------


def _tree_entries(
    tree: Tree, serializer: Serializer, parts: tuple[Any, ...] = ()
) -> Iterator[Entry]:
    """The paths of a rendered change tree, with the new values in their on-disk form."""
    for key, op in tree.items():
        if key is REORDER:
            continue
        path = (*parts, key)
        if type(op) is dict:
            yield from _tree_entries(op, serializer, path)
        elif type(op) is tuple:
            # The read-back copy `render` left there: built anew, so later changes to the
            # live state cannot alter what this event shows.
            yield path, serializer.to_state(op[1]), False
        else:
            yield path, None, True


def _count_paths(tree: Tree) -> int:
    """How many paths a change tree changes (what `_tree_entries` would give)."""
    count = 0
    for key, op in tree.items():
        if type(op) is dict:
            count += _count_paths(op)
        elif key is not REORDER:
            count += 1
    return count


def _assignments(state: Any) -> Iterator[Entry]:
    for key, value in state.items():
        yield (unescape_key(key),), value, False


def _diff_entries(diff: Any, parts: tuple[Any, ...]) -> Iterator[Entry]:
    """The paths of an on-disk diff (where a new mapping reads as nested changes)."""
    for edit in edits(diff, UNKNOWN, parts):
        yield edit.path, edit.value, edit.kind == "delete"


def _plain(value: Any, serializer: Serializer) -> Any:
    """A diff with its pre-encoded (msgspec.Raw) parts decoded."""
    if isinstance(value, msgspec.Raw):
        return serializer.decode_value(bytes(value), Any)
    if isinstance(value, dict):
        return {key: _plain(item, serializer) for key, item in value.items()}
    return value
