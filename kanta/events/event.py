"""The transaction log's vocabulary: the LogEvent handed to callbacks, and formatter types."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

from ..ansi import Style
from ..core.edits import UNKNOWN, edits
from ..printable import Formatter
from ..tty import strip_ansi
from .loggers import colour_for
from .text import Entry, diff_lines, header
from .timeline import StateDicts

DictPrev = Annotated[dict, "prev"]
"""Annotate a callback parameter with this to receive the state before the change."""

DictState = Annotated[dict, "state"]
"""Annotate a callback parameter with this to receive the state after the change."""


def _no_format(value: Any, path: str) -> str | None:
    return None


class LogEvent:
    """One entry of the transaction log, as handed to `@db.logemit` callbacks.

    `kind` is "change" (a transaction, the bootstrap record or a migration record),
    "aborted" (a transaction rolled back), "created" or "opened" (a file), or "migrated"
    (a summary of the migrations run at open), as in kanta 0.9.x. `previous` and `current`
    are the whole state before and after as dicts, built on first access, then kept.
    `header` and `diff_lines` are the default text, built on first access; set `header`
    to restyle it (`default_emit` logs the header it holds).
    """

    def __init__(
        self,
        *,
        kind: str,
        logger: logging.Logger | None = None,
        level: int = logging.INFO,
        kanta: Any = None,
        action: str | None = None,
        user: str | None = None,
        extra: Any = None,
        error: BaseException | None = None,
        diff: dict[Any, Any] | Callable[[], dict[Any, Any]] | None = None,
        previous: dict[Any, Any] | None = None,
        current: dict[Any, Any] | None = None,
        logfmt: Formatter | None = None,
        show_diff: bool = True,
        filename: str | None = None,
        from_version: int | None = None,
        to_version: int | None = None,
        migrations: list[str] | None = None,
        states: StateDicts | None = None,
        entries: list[Entry] | None = None,
        more: int = 0,
    ) -> None:
        self.kind = kind
        self.logger = logger
        self.level = level
        self.kanta = kanta
        self.action = action
        self.user = user
        self.extra = extra
        self.error = error
        self._diff = diff
        if states is None:
            states = StateDicts(lambda: previous, lambda: current)
        self.states = states
        self.logfmt: Formatter = logfmt if logfmt is not None else _no_format
        self.show_diff = show_diff
        self.filename = filename
        self.from_version = from_version
        self.to_version = to_version
        self.migrations = migrations if migrations is not None else []
        self._entries = entries
        self._more = more
        self._header: str | None = None
        self._diff_lines: list[str] | None = None

    @property
    def diff(self) -> dict[Any, Any]:
        """The change as written, its values decoded (built on first access)."""
        if callable(self._diff):
            self._diff = self._diff()
        return self._diff if self._diff is not None else {}

    @diff.setter
    def diff(self, value: dict[Any, Any]) -> None:
        self._diff = value

    @property
    def previous(self) -> dict[Any, Any] | None:
        """The whole state before the change, as a dict."""
        return self.states.previous

    @property
    def current(self) -> dict[Any, Any] | None:
        """The whole state after the change, as a dict."""
        return self.states.current

    @property
    def header(self) -> str:
        """The one-line header: `ACTION [EXTRA] by USER`, or `🛢️ FILE created` and the like."""
        if self._header is None:
            self._header = header(self, self.logfmt, self.style())
        return self._header

    @header.setter
    def header(self, value: str) -> None:
        self._header = value

    @property
    def diff_lines(self) -> list[str]:
        """The diff body, a line per changed path (`  path = value`); empty for file events."""
        if self._diff_lines is None:
            self._diff_lines = diff_lines(self.entries(), self.logfmt, self.style(), self._more)
        return self._diff_lines

    @diff_lines.setter
    def diff_lines(self, value: list[str]) -> None:
        self._diff_lines = value

    def entries(self) -> list[Entry]:
        """The changed paths the diff body shows: path, new value, deleted."""
        if self._entries is None:
            changes = edits(self.diff, UNKNOWN, ()) if self.kind == "change" else []
            self._entries = [(e.path, e.value, e.kind == "delete") for e in changes]
        return self._entries

    def style(self) -> Style:
        """Colour if every handler the event's records reach writes to a terminal."""
        return Style(colour_for(self.logger, self.level))

    @property
    def message(self) -> str:
        """The plain text of the event: its header and diff body, without colour."""
        lines = self.diff_lines if self.show_diff else []
        return strip_ansi("\n".join([self.header, *lines]))

    def __repr__(self) -> str:
        return f"LogEvent(kind={self.kind!r}, action={self.action!r}, user={self.user!r})"


class LogFmt:
    """Base class for stateful `@db.logfmt` formatters: override `resolve`.

    Registered with `db.logfmt(MyFmt)`, the class is instantiated once per log event; `prev`
    and `state` hold the whole state before and after the change as dicts, built on first
    access. A subclass with its own `__init__(prev, state)` gets them built up front.
    """

    _states: StateDicts | None = None

    def __init__(self, prev: dict[Any, Any] | None = None, state: dict[Any, Any] | None = None):
        if prev is not None:
            self.prev = prev
        if state is not None:
            self.state = state

    @property
    def prev(self) -> dict[Any, Any] | None:
        """The state before the change, as a dict."""
        if "_prev" in vars(self):
            return vars(self)["_prev"]  # type: ignore[no-any-return]
        return self._states.previous if self._states is not None else None

    @prev.setter
    def prev(self, value: dict[Any, Any] | None) -> None:
        vars(self)["_prev"] = value

    @property
    def state(self) -> dict[Any, Any] | None:
        """The state after the change, as a dict."""
        if "_state" in vars(self):
            return vars(self)["_state"]  # type: ignore[no-any-return]
        return self._states.current if self._states is not None else None

    @state.setter
    def state(self, value: dict[Any, Any] | None) -> None:
        vars(self)["_state"] = value

    def resolve(self, value: Any, path: str) -> str | None:
        """A prettier text for `value` at `path`, or None to leave it to the next formatter."""
        return None
