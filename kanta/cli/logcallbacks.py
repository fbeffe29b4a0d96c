"""A `-k` Kanta object's `@db.logfmt` and `@db.logemit` callbacks, applied to `kanta log`.

As kanta 0.9.x's viewer does: every printed change record is offered to the logemit
callbacks as a "change" LogEvent (its user already through logfmt); one that handles it
(returns falsy) prints it itself, so the viewer prints nothing for it; one that passes it
on may have set `event.header`, which then stands for `ACTION by USER` in the record's
first line. The logfmt formatters give values, keys and the user their text, in the
display and as what `--grep` also matches.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..callbacks import Callbacks
from ..core.records import Change
from ..events.emit import TRANSACTION
from ..events.event import LogEvent, StateDicts
from ..events.text import Formats
from ..printable import Formatter

_KANTA_LOGGER = logging.getLogger("kanta")


@dataclass
class Shown:
    """What the logemit callbacks decided for one record: print it, and with which title."""

    printed: bool
    title: str | None = None


class LogCallbacks:
    """The formatters and log emitters of one Kanta object, for the records of a history."""

    def __init__(self, callbacks: Callbacks) -> None:
        self.callbacks = callbacks

    @property
    def active(self) -> bool:
        """Whether the object has any formatter or emitter (else the view is the plain one)."""
        return bool(self.callbacks.formatters or self.callbacks["logemit"])

    def states(self, previous: Any) -> StateDicts:
        """The state dicts of one record: a copy of the state before it, and after it (later).

        The viewer's fold changes the state in place, so the state before is copied now.
        """
        return _RecordStates(copy.deepcopy(previous), _After())

    def snapshot_states(self, state: Any) -> StateDicts:
        """The state dicts the formatters see at a snapshot: its state, before and after."""
        return StateDicts(lambda: state, lambda: state)

    def formatter(self, states: StateDicts) -> Formatter:
        """The logfmt chain for one record (first non-None text wins)."""
        return Formats(self.callbacks, states).text

    def offer(self, record: Change, states: StateDicts, formatter: Formatter) -> Shown:
        """Hand a change record to the logemit callbacks, as 0.9.x's viewer does."""
        if not self.callbacks["logemit"]:
            return Shown(True)
        user = record.u
        if user:
            user = formatter(user, "$user") or user
        event = LogEvent(
            kind="change",
            logger=TRANSACTION,
            kanta=self.callbacks.owner,
            action=record.a,
            user=user,
            diff=record.diff,
            states=states,
        )
        default = getattr(event, "header", None)
        with _log_to_stderr():
            printed = self.callbacks.emit(self.callbacks.context(event=event, states=states))
        header = getattr(event, "header", None)
        title = str(header) if header is not None and header != default else None
        return Shown(printed, title)


class _After:
    """Where the state after a record is put once the record is folded in."""

    state: Any = None


class _RecordStates(StateDicts):
    """StateDicts over a copied state before, and the state after once it is known."""

    def __init__(self, before: Any, after: _After) -> None:
        super().__init__(lambda: before, lambda: after.state)
        self.after = after


def record_done(states: StateDicts, state_after: Any) -> None:
    """Give a record's StateDicts the state after it (shared: read it before the next record)."""
    if isinstance(states, _RecordStates):
        states.after.state = state_after


@contextlib.contextmanager
def _log_to_stderr() -> Iterator[None]:
    """While callbacks run: what they log on kanta's loggers (and their failures) on stderr.

    0.9.x shows both; ours keeps kanta's loggers silent unless the application sets them
    up, so the viewer, being the application here, does for the time the callbacks run.
    """
    if _reaches_a_handler(TRANSACTION):
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level = _KANTA_LOGGER.level
    _KANTA_LOGGER.addHandler(handler)
    _KANTA_LOGGER.setLevel(logging.INFO)
    try:
        yield
    finally:
        _KANTA_LOGGER.removeHandler(handler)
        _KANTA_LOGGER.setLevel(level)


def _reaches_a_handler(target: logging.Logger) -> bool:
    current: logging.Logger | None = target
    while current is not None:
        if any(not isinstance(h, logging.NullHandler) for h in current.handlers):
            return True
        current = current.parent if current.propagate else None
    return False
