"""The callback decorators of a Kanta instance: `@db.validate`, `@db.logfmt`, ..."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, overload

from .callbacks import BootstrapOptions, Callbacks, Context

F = TypeVar("F", bound=Callable[..., Any])


class Decorators:
    """The callback decorators of a Kanta instance; each returns the function unchanged."""

    _callbacks: Callbacks

    @overload
    def bootstrap(self, fn: F) -> F: ...
    @overload
    def bootstrap(
        self,
        fn: None = None,
        *,
        action: str = "bootstrap",
        user: str | None = None,
        mtime: bool | datetime = True,
    ) -> Callable[[F], F]: ...
    def bootstrap(
        self,
        fn: Any = None,
        *,
        action: str = "bootstrap",
        user: str | None = None,
        mtime: bool | datetime = True,
    ) -> Any:
        """Fill in a new database: runs when `open()` creates the file, before its first record.

        `action`, `user` and `mtime` describe that bootstrap record (the last decorator
        given them wins). Sync or async; an error removes the new file and propagates.
        """
        if fn is None:
            self._callbacks.bootstrap_options = BootstrapOptions(action, user, mtime)
        return self._register("bootstrap", fn)

    @overload
    def validate(self, fn: F) -> F: ...
    @overload
    def validate(self, fn: None = None) -> Callable[[F], F]: ...
    def validate(self, fn: Any = None) -> Any:
        """Check the data after open and after each changing transaction (sync only).

        An exception rolls the transaction back (or aborts the open) and propagates; a
        validator must not change the data.
        """
        return self._register("validate", fn)

    @overload
    def fatal_error(self, fn: F) -> F: ...
    @overload
    def fatal_error(self, fn: None = None) -> Callable[[F], F]: ...
    def fatal_error(self, fn: Any = None) -> Any:
        """Called once per failed write to disk, with the DatabaseError (sync or async)."""
        return self._register("fatal_error", fn)

    @overload
    def clock(self, fn: F) -> F: ...
    @overload
    def clock(self, fn: None = None) -> Callable[[F], F]: ...
    def clock(self, fn: Any = None) -> Any:
        """Replace the UTC clock for every timestamp: a sync function returning a datetime."""
        return self._register("clock", fn)

    @overload
    def logfmt(self, fn: F) -> F: ...
    @overload
    def logfmt(self, fn: None = None, *, path: str | None = None) -> Callable[[F], F]: ...
    def logfmt(self, fn: Any = None, *, path: str | None = None) -> Any:
        """Prettify a value, path element or user (path "$user") in log output (sync only).

        Takes the value, then optionally its dotted path, and DictPrev/DictState parameters;
        returns a text or None (the next formatter is asked). `path` is a pattern of
        shell-style wildcards, one per dotted element ("users.*"). A LogFmt subclass is
        instantiated once per event.
        """
        return self._register("logfmt", fn, path=path)

    @overload
    def logemit(self, fn: F) -> F: ...
    @overload
    def logemit(self, fn: None = None) -> Callable[[F], F]: ...
    def logemit(self, fn: Any = None) -> Any:
        """Receive each LogEvent (sync only); return falsy when handled, truthy to log it."""
        return self._register("logemit", fn)

    @overload
    def logmigr(self, fn: F) -> F: ...
    @overload
    def logmigr(self, fn: None = None) -> Callable[[F], F]: ...
    def logmigr(self, fn: Any = None) -> Any:
        """Receive the MigrationReport after migrations ran, instead of the migration log."""
        return self._register("logmigr", fn)

    def _register(self, kind: str, fn: Any, **options: Any) -> Any:
        def register(function: F) -> F:
            self._callbacks.add(kind, function, **options)
            return function

        return register if fn is None else register(fn)

    def _clock(self) -> datetime:
        """The time for a new timestamp: the last @db.clock callback's, else UTC now."""
        clocks = self._callbacks["clock"]
        if not clocks:
            return datetime.now(UTC)
        now = clocks[-1].run_sync(Context(self))
        if not isinstance(now, datetime):
            raise TypeError(
                f"@db.clock callback {clocks[-1].name} returned {now!r}, not a datetime"
            )
        return now
