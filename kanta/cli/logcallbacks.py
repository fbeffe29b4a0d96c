"""A `-k` Kanta object's `@db.logfmt` and `@db.logemit` callbacks, applied to `kanta log`.

As kanta 0.9.x's viewer does: every printed change record is offered to the logemit
callbacks as a "change" LogEvent (its user already through logfmt); one that handles it
(returns falsy) prints it itself, so the viewer prints nothing for it; one that passes it
on may have set `event.header`, which then stands for `ACTION by USER` in the record's
first line. The logfmt formatters give values, keys and the user their text, in the
display and as what `--grep` also matches.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ..callbacks import Callbacks, Formats
from ..core.records import Change
from ..events.emit import TRANSACTION, emit_event
from ..events.event import LogEvent
from ..events.timeline import StateDicts
from ..printable import Formatter


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
            logfmt=formatter,
        )
        default = event.header
        shown = Shown(False)

        def passed(event: LogEvent) -> None:  # every callback passed it on: the viewer prints it
            shown.printed = True

        emit_event(event, self.callbacks.emitters(event=event, states=states), fallback=passed)
        if event.header != default:
            shown.title = event.header
        return shown


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
