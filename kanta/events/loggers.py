"""kanta's loggers: their names, `configure_logging`, and stderr while nothing else is set up.

Importing kanta configures no logging. kanta 0.9.x set its event loggers to INFO with a
stderr handler at import, so that its change log was "visible without any application
logging setup". Ours lends those defaults only for the time an event is emitted, and only
where the application set nothing (`defaults_lent`): INFO unless it set a level on the
logger (or on `kanta`), stderr unless it set up a handler the records reach
(`logging.basicConfig()`, a handler on `kanta`, `configure_logging()`), which then has
them instead.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator

from ..ansi import use_colour

LOGGER_NAMES = {
    "transaction": "kanta.transaction",
    "diff": "kanta.transaction.diff",
    "bootstrap": "kanta.bootstrap",
    "migration": "kanta.migration",
}


class KantaHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes the plain message to stderr, the `sys.stderr` of the moment of logging."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Write to the current `sys.stderr` (so redirecting it, as tests do, is followed)."""
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(
    *,
    skiproot: bool = True,
    bootstrap: bool = True,
    migration: bool = True,
    transaction: bool = True,
    diff: bool = True,
    debug: bool = False,
) -> None:
    """Set kanta's event loggers up as 0.9.x did at import: INFO, a plain stderr handler.

    `skiproot` keeps their records from propagating to the root logger's handlers; the
    switches turn a logger off; `debug` lifts bootstrap and migration to DEBUG (their
    "opened" line and each migration's diff). Calling it again changes the switches.
    """
    enabled = {"bootstrap": bootstrap, "migration": migration, "transaction": transaction}
    for key, on in enabled.items():
        log = logging.getLogger(LOGGER_NAMES[key])
        log.disabled = not on
        log.setLevel(logging.DEBUG if debug and key != "transaction" else logging.INFO)
        log.propagate = not skiproot
        if not any(isinstance(handler, KantaHandler) for handler in log.handlers):
            log.addHandler(KantaHandler())
    logging.getLogger(LOGGER_NAMES["diff"]).disabled = not diff


# -- 0.9.x's defaults, lent while an event is emitted ---------------------------------------

_WRITER = KantaHandler()
_LOCK = threading.Lock()
# Per logger name: the scopes open, the level to restore (None: left alone), and whether
# the stderr writer was added.
_lent: dict[str, tuple[int, int | None, bool]] = {}


@contextlib.contextmanager
def defaults_lent(target: logging.Logger | None, *, level: bool = True) -> Iterator[None]:
    """While in the block, `target` has 0.9.x's defaults where the application set none.

    A stderr handler, unless a record of it reaches a handler; with `level`, INFO, unless
    the application set a level on it or a parent below the root. The level is for what
    a `@db.logemit` callback logs on `event.logger` (kanta's own lines pass `shows` and
    `log_line`, which need no level lent: setting one costs a pass over every logger).
    Afterwards logging is as it was.
    """
    lend_level = level and target is not None and not _has_own_level(target)
    if target is None or (configured(target) and not lend_level):
        yield
        return
    _lend(target, lend_level)
    try:
        yield
    finally:
        _give_back(target)


def log_line(target: logging.Logger, level: int, message: str) -> None:
    """Log `message` on `target` if `shows` says it is shown, lent level or not."""
    if target.isEnabledFor(level):
        target.log(level, message, stacklevel=2)
    elif shows(target, level):  # INFO by 0.9.x's default, with no level set to say so
        fn, lno, func, _ = target.findCaller(stacklevel=2)
        target.handle(target.makeRecord(target.name, level, fn, lno, message, (), None, func))


def configured(target: logging.Logger) -> bool:
    """Whether a record of `target` reaches a handler the application (or kanta's setup) set."""
    current: logging.Logger | None = target
    while current is not None:
        if any(handler is not _WRITER for handler in current.handlers):
            return True
        current = current.parent if current.propagate else None
    return False


def shows(target: logging.Logger, level: int) -> bool:
    """Whether a record of `target` at `level` would be written, with the defaults lent."""
    if _has_own_level(target):
        return target.isEnabledFor(level)
    return not target.disabled and level >= logging.INFO and logging.root.manager.disable < level


def _lend(target: logging.Logger, lend_level: bool) -> None:
    with _LOCK:
        count, level, added = _lent.get(target.name, (0, None, False))
        if count == 0:
            if not configured(target):
                target.addHandler(_WRITER)
                added = True
            if lend_level:
                level = target.level
                target.setLevel(logging.INFO)
        _lent[target.name] = (count + 1, level, added)


def _give_back(target: logging.Logger) -> None:
    with _LOCK:
        count, level, added = _lent.pop(target.name)
        if count > 1:
            _lent[target.name] = (count - 1, level, added)
            return
        if added:
            target.removeHandler(_WRITER)
        if level is not None:
            target.setLevel(level)


def _has_own_level(target: logging.Logger) -> bool:
    """Whether the application set a level on `target` or a parent below the root."""
    current: logging.Logger | None = target
    while current is not None and current is not logging.root:
        if current.level != logging.NOTSET:
            return True
        current = current.parent
    return False


# -- colour --------------------------------------------------------------------------------


def colour_for(target: logging.Logger | None, level: int) -> bool:
    """ANSI colour only when every handler a record of `target` reaches writes to a terminal."""
    if target is None:
        return False
    streams = []
    current: logging.Logger | None = target
    while current is not None:
        for handler in current.handlers:
            if isinstance(handler, logging.NullHandler) or handler.level > level:
                continue
            if not isinstance(handler, logging.StreamHandler):
                return use_colour(None)  # a file, a socket, journald: FORCE_COLOR still forces
            stream = sys.stderr if isinstance(handler, KantaHandler) else handler.stream
            streams.append(stream)
        current = current.parent if current.propagate else None
    return all(use_colour(stream) for stream in streams or [sys.stderr])
