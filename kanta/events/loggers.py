"""kanta's loggers: their names, `configure_logging`, and stderr while nothing else is set up.

Importing kanta configures no logging. kanta 0.9.x promised its change log "visible
without any application logging setup", so while the application has set up no handler
that a kanta log record would reach, kanta writes its events to stderr itself, for the
time it takes to emit one (`stderr_unless_configured`). Once the application sets up
logging (`logging.basicConfig()`, a handler on `kanta`, `configure_logging()`), its
configuration decides alone.
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


# -- stderr while the application has set up nothing ----------------------------------------

_WRITER = KantaHandler()
_LOCK = threading.Lock()
_borrowed: dict[str, tuple[int, int | None]] = {}  # logger name: (scopes open, level to restore)


@contextlib.contextmanager
def stderr_unless_configured(target: logging.Logger | None) -> Iterator[None]:
    """While in the block: `target` writes to stderr at INFO if nothing else would show it.

    Covers what kanta logs and what a `@db.logemit` callback logs on `event.logger`. The
    handler and level are lent for the block only: logging stays as the application left it.
    """
    if target is None or configured(target):
        yield
        return
    _lend(target)
    try:
        yield
    finally:
        _give_back(target)


def configured(target: logging.Logger) -> bool:
    """Whether a record of `target` reaches a handler the application (or kanta's setup) set."""
    current: logging.Logger | None = target
    while current is not None:
        if any(handler is not _WRITER for handler in current.handlers):
            return True
        current = current.parent if current.propagate else None
    return False


def shows(target: logging.Logger, level: int) -> bool:
    """Whether a record of `target` at `level` would be written (by the application or us)."""
    if configured(target) or _has_own_level(target):
        return target.isEnabledFor(level)
    return not target.disabled and level >= logging.INFO and logging.root.manager.disable < level


def _lend(target: logging.Logger) -> None:
    with _LOCK:
        count, level = _borrowed.get(target.name, (0, None))
        if count == 0:
            target.addHandler(_WRITER)
            if not _has_own_level(target):
                level = target.level
                target.setLevel(logging.INFO)  # 0.9.x's level, for the block only
        _borrowed[target.name] = (count + 1, level)


def _give_back(target: logging.Logger) -> None:
    with _LOCK:
        count, level = _borrowed.pop(target.name)
        if count > 1:
            _borrowed[target.name] = (count - 1, level)
            return
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
