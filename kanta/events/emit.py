"""The transaction log: one event per change, handed to `@db.logemit` and then to logging.

Nothing here costs more than the change itself unless someone asks: events are built only
when a logger would emit them or a logemit callback exists, the diff lines come from the
change (never from the whole state), and the whole-state dicts are built on demand,
from the state in memory and what later transactions replaced (`logevents.Timeline`).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import islice
from typing import TYPE_CHECKING, Any

import msgspec

from ..callbacks import Callbacks, Formats
from ..core.diff import unescape_key
from ..core.formats import Serializer
from ..core.records import Change
from ..state.tracker import REORDER, Tree
from ..tty import strip_ansi
from .event import LogEvent
from .loggers import LOGGER_NAMES, colour_for, defaults_lent, log_line, shows
from .text import Entry
from .timeline import Moment, StateDicts

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
    target = _target(log, TRANSACTION)
    if target is None or not _wanted(callbacks, target, logging.INFO):
        return None
    serializer, timeline = session.serializer, session.timeline()
    # A bulk change would otherwise format a line per entry, whoever reads the log.
    entries = list(islice(_tree_entries(tree, serializer), DIFF_LINES))
    more = _count_paths(tree) - len(entries)
    before, after = timeline.change(tree, session.data)
    states = StateDicts(partial(timeline.state, before), partial(timeline.state, after))
    event = _change_event(
        session, callbacks, record, target, extra=extra, states=states, show_diff=diff, more=more
    )
    dispatch(callbacks, event, entries)
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
    target = _target(log, TRANSACTION)
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
    dispatch(callbacks, event, [])


async def log_open(
    session: Session, callbacks: Callbacks, loaded: Loaded, *, log: bool | logging.Logger = True
) -> None:
    """Log what opening did: a new file and its bootstrap record, the migrations run, or
    (at DEBUG) that an existing file was opened. `log` may name the logger for all of it.
    """
    report = None if loaded.created else loaded.report
    if report is not None and report.applied and callbacks["logmigr"]:
        # The application reports migrations itself, whatever kanta's own log does.
        await callbacks.run_all("logmigr", callbacks.context(report=report))
    bootstrap, migration = _target(log, BOOTSTRAP), _target(log, MIGRATION)
    if bootstrap is None or migration is None:
        return
    if loaded.created:
        _announce(session, callbacks, bootstrap, "created")
        for record in loaded.changes:
            # A new state: each top-level field is one assignment.
            states = StateDicts(dict, _current(session))  # before the bootstrap: nothing
            entries = _assignment_entries
            _log_record(session, callbacks, record, bootstrap, logging.INFO, states, entries)
        return
    if report is None or not report.applied:
        _announce(session, callbacks, bootstrap, "opened", level=logging.DEBUG)
        return
    if callbacks["logmigr"]:
        return
    described = [f"{info.name} ({info.description})" for info in report.applied]
    versions = {"from_version": report.original, "to_version": report.version}
    _announce(session, callbacks, migration, "migrated", migrations=described, **versions)
    for record in loaded.changes:
        states = StateDicts(None, _current(session))
        _log_record(session, callbacks, record, migration, logging.DEBUG, states, None)


def _assignment_entries(diff: Any) -> list[Entry]:
    return list(_assignments(diff))


def _announce(
    session: Session,
    callbacks: Callbacks,
    target: logging.Logger,
    kind: str,
    level: int = logging.INFO,
    **fields: Any,
) -> None:
    if _wanted(callbacks, target, level):
        filename = str(session.path)
        event = LogEvent(
            kind=kind,
            logger=target,
            level=level,
            kanta=callbacks.owner,
            filename=filename,
            **fields,
        )
        dispatch(callbacks, event, [])


def _log_record(
    session: Session,
    callbacks: Callbacks,
    record: Change,
    target: logging.Logger,
    level: int,
    states: StateDicts,
    entries_of: Callable[[Any], list[Entry]] | None,
) -> None:
    if _wanted(callbacks, target, level):
        event = _change_event(session, callbacks, record, target, level=level, states=states)
        dispatch(callbacks, event, entries_of(event.diff) if entries_of is not None else None)


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


def _target(log: bool | logging.Logger, default: logging.Logger) -> logging.Logger | None:
    if isinstance(log, logging.Logger):
        return log
    return default if log else None


def _wanted(callbacks: Callbacks, target: logging.Logger, level: int) -> bool:
    """Whether anyone would see an event: a logemit callback, or a logger that shows it."""
    return bool(callbacks["logemit"]) or shows(target, level)


def _current(session: Session) -> Callable[[], Any]:
    """The state as opened, however later transactions change it."""
    timeline = session.timeline()
    return partial(timeline.state, timeline.now())


# -- handing it on ------------------------------------------------------------------------


def dispatch(callbacks: Callbacks, event: LogEvent, entries: list[Entry] | None) -> None:
    """Offer the event to the logemit callbacks, then (unless one handled it) to logging."""
    event.logfmt = Formats(callbacks, event.states).text
    if entries is not None:
        event._entries = entries
    emit_event(event, callbacks.emitters(event=event, states=event.states))


def emit_event(
    ev: LogEvent,
    handlers: Iterable[Callable[[LogEvent], Any]] = (),
    *,
    fallback: Callable[[LogEvent], None] | None = None,
) -> None:
    """Hand `ev` to each handler in turn, then to `fallback` (`default_emit`).

    A falsy return marks the event handled and stops the chain; a truthy one passes it on.
    A handler that raises is reported and the event gets the default formatting; logging
    never breaks the program, so a failing fallback is reported and swallowed.
    """
    handlers = list(handlers)
    with defaults_lent(ev.logger, level=bool(handlers)):
        for handler in handlers:
            try:
                if not handler(ev):
                    return
            except Exception:
                name = _name(handler)
                logger.exception("kanta: logemit callback %s failed, formatted as usual", name)
                break
        try:
            (fallback or default_emit)(ev)
        except Exception:
            logger.exception("kanta: logging a %s event failed", ev.kind)


def default_emit(ev: LogEvent) -> None:
    """Log the event as kanta does: its header, then each diff line on the `diff` child.

    One record per line, so line-oriented handlers keep working; a change of one line is
    one record, `header  path = value`, on the diff logger. Colour only on terminals.
    """
    target = ev.logger
    if target is None:
        return
    with defaults_lent(target, level=False):
        if not shows(target, ev.level):
            return
        diff_logger = target.getChild("diff")
        show = ev.show_diff and ev.kind == "change" and shows(diff_logger, ev.level)
        lines = [str(ev.header), *(ev.diff_lines if show else [])]
        if not colour_for(target, ev.level):
            lines = [strip_ansi(line) for line in lines]
        if len(lines) == 2:
            log_line(diff_logger, ev.level, lines[0] + lines[1])
            return
        log_line(target, ev.level, lines[0])
        for line in lines[1:]:
            log_line(diff_logger, ev.level, line)


def _name(handler: Any) -> str:
    return str(getattr(handler, "name", None) or getattr(handler, "__qualname__", None) or handler)


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


def _plain(value: Any, serializer: Serializer) -> Any:
    """A diff with its pre-encoded (msgspec.Raw) parts decoded."""
    if isinstance(value, msgspec.Raw):
        return serializer.decode_value(bytes(value), Any)
    if isinstance(value, dict):
        return {key: _plain(item, serializer) for key, item in value.items()}
    return value
