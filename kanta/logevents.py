"""The transaction log's vocabulary: events, value formatters, and the loggers' switches."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

DictPrev = Annotated[dict, "prev"]
"""Annotate a callback parameter with this to receive the state before the change."""

DictState = Annotated[dict, "state"]
"""Annotate a callback parameter with this to receive the state after the change."""

LOGGER_NAMES = {
    "transaction": "kanta.transaction",
    "diff": "kanta.transaction.diff",
    "bootstrap": "kanta.bootstrap",
    "migration": "kanta.migration",
}

# The only change importing kanta makes to logging: without a handler of the application's
# own, kanta's records are dropped instead of reaching Python's last-resort stderr handler.
logging.getLogger("kanta").addHandler(logging.NullHandler())

StateGetter = Callable[[], dict[Any, Any] | None]
_UNSET: Any = object()


class StateDicts:
    """The whole state before and after a change, as dicts, built only when first asked for.

    Building them costs what the database holds, so a transaction pays for it only when a
    callback or an event reader wants them. They can be built only while the event is
    being handled: `seal` then drops whatever was not asked for (those would show a later
    state).
    """

    def __init__(self, previous: StateGetter | None = None, current: StateGetter | None = None):
        self._getters = {"previous": previous, "current": current}
        self._values: dict[str, Any] = {}

    @property
    def previous(self) -> dict[Any, Any] | None:
        """The state before the change (None where there was none, or once sealed)."""
        return self._get("previous")

    @property
    def current(self) -> dict[Any, Any] | None:
        """The state after the change (None once sealed without having been asked for)."""
        return self._get("current")

    def _get(self, name: str) -> dict[Any, Any] | None:
        value = self._values.get(name, _UNSET)
        if value is _UNSET:
            getter = self._getters[name]
            value = self._values[name] = getter() if getter is not None else None
        return value  # type: ignore[no-any-return]

    def seal(self) -> None:
        """Keep what was built; what was not is None from now on."""
        self._getters = {"previous": None, "current": None}


class LogEvent:
    """One entry of the transaction log, as handed to `@db.logemit` callbacks.

    `kind` is "change" (a transaction, the bootstrap record or a migration record),
    "aborted" (a transaction rolled back), "created" (a new file) or "migrated" (a
    summary of the migrations run at open): the values kanta 0.9.x used. `previous` and
    `current` are built on first access, and only while the event is being handled.
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
        states: StateDicts | None = None,
        show_diff: bool = True,
        filename: str | None = None,
        from_version: int | None = None,
        to_version: int | None = None,
        migrations: list[str] | None = None,
        render: Callable[[], str] | None = None,
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
        self.states = states if states is not None else StateDicts()
        self.show_diff = show_diff
        self.filename = filename
        self.from_version = from_version
        self.to_version = to_version
        self.migrations = migrations if migrations is not None else []
        self._render = render

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
    def message(self) -> str:
        """The plain text this event is logged as."""
        return self._render() if self._render is not None else self.kind

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


def configure_logging(
    *,
    skiproot: bool = True,
    bootstrap: bool = True,
    migration: bool = True,
    transaction: bool = True,
    diff: bool = True,
    debug: bool = False,
) -> None:
    """Switch kanta's loggers on or off; with `skiproot` their records stop at kanta's handler.

    Importing kanta configures nothing (beyond a NullHandler on the `kanta` logger); this
    is the one call that changes logging setup. Calling it again changes the switches.
    """
    switches = {
        "transaction": transaction,
        "diff": diff,
        "bootstrap": bootstrap,
        "migration": migration,
    }
    level = logging.DEBUG if debug else logging.INFO
    for key, enabled in switches.items():
        log = logging.getLogger(LOGGER_NAMES[key])
        log.disabled = not enabled
        log.setLevel(level)
    root = logging.getLogger("kanta")
    root.setLevel(level)
    ours = [h for h in root.handlers if isinstance(h, KantaHandler)]
    if skiproot and not ours:
        root.addHandler(KantaHandler())
    for handler in ours if not skiproot else []:
        root.removeHandler(handler)  # the records now go to the application's handlers
    root.propagate = not skiproot


class KantaHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Plain-message handler installed by `configure_logging` (stderr at the time of logging)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Write to the current `sys.stderr` (so redirecting it, as tests do, is followed)."""
        self.stream = sys.stderr
        super().emit(record)


def use_colour(stream: Any) -> bool:
    """Colour on a terminal, unless NO_COLOR is set; FORCE_COLOR forces it on."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except (ValueError, OSError):  # a closed stream
        return False
