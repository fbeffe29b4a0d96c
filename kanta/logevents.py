"""The transaction log's vocabulary: events, value formatters, and the loggers' switches."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import msgspec

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


class LogEvent(msgspec.Struct, kw_only=True):
    """One entry of the transaction log, as handed to `@db.logemit` callbacks."""

    kind: str  # "transaction", "abort", "bootstrap" or "migration"
    logger: logging.Logger | None = None
    level: int = logging.INFO
    action: str | None = None
    user: str | None = None
    extra: Any = None
    error: BaseException | None = None
    diff: dict[Any, Any] = {}
    previous: dict[Any, Any] | None = None
    current: dict[Any, Any] | None = None
    show_diff: bool = True
    filename: str | None = None
    from_version: int | None = None
    to_version: int | None = None
    migrations: list[str] = []


class LogFmt:
    """Base class for stateful `@db.logfmt` formatters: override `resolve`."""

    def __init__(self, prev: dict[Any, Any] | None = None, state: dict[Any, Any] | None = None):
        self.prev = prev
        self.state = state

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

    Importing kanta configures nothing; this is the one call that changes logging setup.
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
    if skiproot and not any(isinstance(h, _KantaHandler) for h in root.handlers):
        root.addHandler(_KantaHandler())
    root.propagate = not skiproot


class _KantaHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Plain-message handler installed by `configure_logging` (stderr)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))
