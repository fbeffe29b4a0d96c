"""Callbacks registered on a Kanta instance, and their arguments injected by annotation."""

from __future__ import annotations

import fnmatch
import inspect
import logging
import typing
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar, get_args, get_origin

from .core.migrations import MigrationReport
from .errors import DatabaseError
from .events.event import DictPrev, DictState, LogEvent, LogFmt
from .events.timeline import StateDicts

logger = logging.getLogger("kanta")

# What each kind of callback may ask for, beyond the data and the Kanta instance.
SOURCES = {
    "bootstrap": (),
    "validate": (),
    "fatal_error": ("error",),
    "clock": (),
    "logfmt": ("prev", "state"),
    "logemit": ("event", "prev", "state"),
    "logmigr": ("report",),
}
MAY_BE_ASYNC = frozenset({"bootstrap", "fatal_error", "logmigr"})
_LABELS = {
    "data": "the root type",
    "kanta": "Kanta",
    "error": "DatabaseError",
    "report": "MigrationReport",
    "event": "LogEvent",
    "prev": "DictPrev",
    "state": "DictState",
}
# A logfmt function's first two free positional parameters are the value and its path; a
# logemit function's first is the event, whatever its annotation (0.9.x passes it so).
_ROLES = {"logfmt": ("value", "path"), "logemit": ("event",)}
# Parameters injected by their name when their annotation asks for nothing (as in 0.9.x).
_BY_NAME = ("prev", "state")

Formatter = Callable[[Any, str], "str | None"]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Context:
    """What callbacks of one occasion may be handed; the state dicts are built on demand."""

    db: Any
    error: BaseException | None = None
    report: MigrationReport | None = None
    event: LogEvent | None = None
    states: StateDicts | None = None

    def get(self, source: str) -> Any:
        """The value for one injection source."""
        if source == "data":
            return self.db.data
        if source == "kanta":
            return self.db
        if source in ("prev", "state"):
            states = self.states
            if states is None:
                return None
            return states.previous if source == "prev" else states.current
        return getattr(self, source)


class Callback:
    """One registered function, with the source of each of its parameters."""

    def __init__(
        self, fn: Callable[..., Any], kind: str, root_type: Any, owner_type: type | None = None
    ) -> None:
        self.fn = fn
        self.kind = kind
        self.name = getattr(fn, "__qualname__", None) or repr(fn)
        self.is_async = _is_async(fn)
        if self.is_async and kind not in MAY_BE_ASYNC:
            raise TypeError(
                f"@db.{kind} callbacks must be synchronous (they run inside synchronous code), "
                f"but {self.name} is async"
            )
        self.plan = list(_plan(fn, kind, root_type, owner_type, self.name))

    def __call__(self, ctx: Context, *roles: Any) -> Any:
        """Call the function with its arguments; `roles` are the logfmt value and path."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for name, positional, source, default in self.plan:
            if source is None:
                value = default
            elif source in ("value", "path"):
                value = roles[0 if source == "value" else 1]
            else:
                value = ctx.get(source)
            if positional:
                args.append(value)
            elif source is not None:
                kwargs[name] = value
        return self.fn(*args, **kwargs)

    async def run(self, ctx: Context) -> Any:
        """Call it and await the result if it is async."""
        result = self(ctx)
        if inspect.isawaitable(result):
            result = await result
        return result

    def run_sync(self, ctx: Context) -> Any:
        """Call a synchronous callback; a coroutine it returns is refused."""
        result = self(ctx)
        if inspect.iscoroutine(result):
            result.close()
            raise TypeError(f"@db.{self.kind} callback {self.name} returned a coroutine")
        return result


def _is_async(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    # A callable object: its __call__ decides.
    return not inspect.isroutine(fn) and inspect.iscoroutinefunction(type(fn).__call__)


Step = tuple[str, bool, str | None, Any]  # name, passed positionally, source, default


def _plan(
    fn: Callable[..., Any], kind: str, root_type: Any, owner_type: type | None, name: str
) -> Iterator[Step]:
    """Where each parameter's argument comes from; TypeError for one that cannot be filled.

    `owner_type` is the class whose instances an annotation asks for as "kanta" (Kanta).
    """
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"@db.{kind}: cannot inspect the signature of {name}") from exc
    hints = _hints(fn, root_type, owner_type)
    roles = list(_ROLES.get(kind, ()))
    # A formatter's value is not the data, whatever its annotation.
    common = ("kanta",) if roles else ("data", "kanta")
    allowed = (*common, *SOURCES[kind])
    sources = {
        p.name: _source(hints.get(p.name, p.empty), root_type, owner_type) for p in parameters
    }
    if "event" in sources.values():
        roles = []  # annotated: no other parameter is the event
    for p in parameters:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        source = sources[p.name]
        if source not in allowed and p.name in _BY_NAME and p.name in allowed:
            source = p.name
        # Passed by keyword where possible, so skipped parameters do not shift the others.
        positional = p.kind is p.POSITIONAL_ONLY
        if source not in allowed and roles and p.kind is not p.KEYWORD_ONLY:
            role = roles.pop(0)
            _check_text(kind, name, p.name, role, hints.get(p.name, p.empty))
            yield p.name, positional, role, None
        elif source in allowed:
            yield p.name, positional, source, None
        elif p.default is not p.empty:
            yield p.name, positional, None, p.default
        else:
            choices = ", ".join(_LABELS[s] for s in allowed)
            raise TypeError(
                f"@db.{kind} callback {name}: parameter {p.name!r} has neither a usable "
                f"annotation nor a default (annotate it with one of: {choices})"
            )


def _check_text(kind: str, name: str, parameter: str, role: str, annotation: Any) -> None:
    """A logfmt value or path is a text: its annotation may say str or Any, or nothing."""
    if role not in ("value", "path") or annotation is inspect.Parameter.empty:
        return
    if annotation in (str, Any) or str in get_args(annotation):
        return
    raise TypeError(
        f"@db.{kind} callback {name}: the {role} parameter {parameter!r} must be annotated "
        f"as str or Any, not {annotation!r}"
    )


def _hints(fn: Callable[..., Any], root_type: Any, owner_type: type | None) -> dict[str, Any]:
    """The parameters' annotations, string annotations resolved where possible."""
    # Names the callback's own module may not see (a root type defined in a function).
    localns = {
        getattr(root_type, "__name__", "_"): root_type,
        "Kanta": owner_type,
        "DatabaseError": DatabaseError,
        "MigrationReport": MigrationReport,
        "LogEvent": LogEvent,
        "DictPrev": DictPrev,
        "DictState": DictState,
    }
    target: Any = getattr(fn, "func", fn)  # functools.partial
    if not inspect.isroutine(target) and callable(target):
        target = target.__call__
    try:
        return typing.get_type_hints(target, localns=localns, include_extras=True)
    except Exception:  # an annotation that does not resolve: try each one on its own
        namespace = {**getattr(inspect.unwrap(target), "__globals__", {}), **localns}
        resolved = {}
        for name, annotation in getattr(target, "__annotations__", {}).items():
            try:
                resolved[name] = (
                    eval(annotation, namespace) if isinstance(annotation, str) else annotation
                )
            except Exception:
                continue
        return resolved


def _source(annotation: Any, root_type: Any, owner_type: type | None) -> str | None:
    """The injection source an annotation asks for, or None."""
    if get_origin(annotation) is Annotated:
        base, *meta = get_args(annotation)
        if base is dict and meta in (["prev"], ["state"]):
            return str(meta[0])
        annotation = base
    base = get_origin(annotation) or annotation
    if owner_type is not None and isinstance(base, type) and issubclass(base, owner_type):
        return "kanta"
    if base is LogEvent:
        return "event"
    if base is MigrationReport:
        return "report"
    if isinstance(base, type) and issubclass(base, BaseException):
        return "error" if issubclass(DatabaseError, base) else None
    if annotation is root_type or base is (get_origin(root_type) or root_type):
        return "data"
    return None


@dataclass
class BootstrapOptions:
    """Action, user and mtime of the bootstrap record."""

    action: str = "bootstrap"
    user: str | None = None
    mtime: bool | datetime = True


class FormatterEntry:
    """A `@db.logfmt` function or LogFmt class, with its path pattern."""

    def __init__(
        self, fn: Any, path: str | None, root_type: Any, owner_type: type | None = None
    ) -> None:
        self.pattern = path.split(".") if path is not None else None
        self.name = getattr(fn, "__qualname__", repr(fn))
        self.cls: type[LogFmt] | None = None
        self.callback: Callback | None = None
        if isinstance(fn, type) and issubclass(fn, LogFmt):
            self.cls = fn
            self.eager = fn.__init__ is not LogFmt.__init__ and _takes_two(fn)
        else:
            self.callback = Callback(fn, "logfmt", root_type, owner_type)

    def matches(self, path: str) -> bool:
        """Whether `path` matches the pattern, element by element."""
        if self.pattern is None:
            return True
        parts = path.split(".")
        return len(parts) == len(self.pattern) and all(
            map(fnmatch.fnmatchcase, parts, self.pattern)
        )

    def bind(self, ctx: Context) -> Formatter:
        """The formatter for one event."""
        if self.callback is not None:
            callback = self.callback
            return lambda value, path: callback(ctx, value, path)
        assert self.cls is not None
        states = ctx.states or StateDicts()
        instance = self.cls(states.previous, states.current) if self.eager else self.cls()
        instance._states = states
        return instance.resolve


def _takes_two(cls: type[LogFmt]) -> bool:
    try:
        inspect.signature(cls).bind(None, None)
    except TypeError:
        return False
    return True


class Formats:
    """The `@db.logfmt` formatters for one event, bound on first use."""

    def __init__(self, callbacks: Callbacks, states: StateDicts) -> None:
        self._entries: list[FormatterEntry] = callbacks.formatters
        self._ctx = callbacks.context(states=states)
        self._bound: dict[int, Formatter] = {}
        self._broken: set[int] = set()

    def text(self, value: Any, path: str) -> str | None:
        """The first formatter's text for `value` at `path`, or None."""
        for index, entry in enumerate(self._entries):
            if index in self._broken or not entry.matches(path):
                continue
            try:
                bound = self._bound.get(index)
                if bound is None:
                    bound = self._bound[index] = entry.bind(self._ctx)
                result = bound(value, path)
            except Exception:
                # One broken formatter must not lose the log line; it sits out this event.
                logger.exception("kanta: @db.logfmt callback %s failed at %r", entry.name, path)
                self._broken.add(index)
                continue
            if result is not None:
                return str(result)
        return None


class Callbacks:
    """The callbacks of one database, per kind, in registration order.

    They are handed `owner` (the Kanta instance), which is held weakly: it holds this
    registry, and an instance nobody closed must still be collected (and warn) at once.
    `owner_type` is what a parameter annotation names to be handed it.
    """

    def __init__(
        self, root_type: Any, owner: object = None, owner_type: type | None = None
    ) -> None:
        self.root_type = root_type
        self.owner_type = owner_type
        self._owner = None if owner is None else weakref.ref(owner)
        self.by_kind: dict[str, list[Callback]] = {kind: [] for kind in SOURCES}
        self.formatters: list[FormatterEntry] = []
        self.bootstrap_options = BootstrapOptions()

    @property
    def owner(self) -> Any:
        """The instance the callbacks are handed (None without one)."""
        return None if self._owner is None else self._owner()

    def context(self, **fields: Any) -> Context:
        """What the callbacks of one occasion are handed: the owner, and `fields`."""
        return Context(self.owner, **fields)

    def add(self, kind: str, fn: Any, *, path: str | None = None) -> None:
        """Register `fn`; TypeError if its parameters cannot be filled or it may not be async."""
        if not callable(fn):
            raise TypeError(f"@db.{kind} needs a callable, not {fn!r}")
        if kind == "logemit" and isinstance(fn, type):
            raise TypeError(
                f"@db.logemit callbacks must be functions or callable objects, not the class "
                f"{fn.__qualname__}"
            )
        if kind == "logfmt":
            self.formatters.append(FormatterEntry(fn, path, self.root_type, self.owner_type))
        else:
            self.by_kind[kind].append(Callback(fn, kind, self.root_type, self.owner_type))

    def register(self, kind: str, fn: Any, **options: Any) -> Any:
        """What a `@db.<kind>` decorator returns: `fn` registered, or a decorator for one."""

        def register(function: F) -> F:
            self.add(kind, function, **options)
            return function

        return register if fn is None else register(fn)

    def now(self) -> datetime:
        """The time for a new timestamp: the last @db.clock callback's, else UTC now."""
        clocks = self.by_kind["clock"]
        if not clocks:
            return datetime.now(UTC)
        now = clocks[-1].run_sync(self.context())
        if not isinstance(now, datetime):
            raise TypeError(
                f"@db.clock callback {clocks[-1].name} returned {now!r}, not a datetime"
            )
        return now

    def __getitem__(self, kind: str) -> list[Callback]:
        return self.by_kind[kind]

    async def run(self, kind: str, ctx: Context) -> None:
        """Run every callback of `kind` in order; the first failure propagates."""
        for callback in self.by_kind[kind]:
            await callback.run(ctx)

    async def run_all(self, kind: str, ctx: Context) -> None:
        """Run every callback of `kind`; a failing one is logged and the next still runs."""
        for callback in self.by_kind[kind]:
            try:
                await callback.run(ctx)
            except Exception:
                logger.exception("kanta: @db.%s callback %s failed", kind, callback.name)

    def validate(self, ctx: Context) -> None:
        """Run the validators in order; the first failure propagates."""
        for callback in self.by_kind["validate"]:
            callback.run_sync(ctx)

    def emitters(self, ctx: Context | None = None, **fields: Any) -> list[Emitter]:
        """The logemit callbacks, bound to one occasion (`ctx`, else one made of `fields`)."""
        context = ctx if ctx is not None else self.context(**fields)
        return [Emitter(callback, context) for callback in self.by_kind["logemit"]]


class Emitter:
    """A logemit callback bound to one occasion: called with the event, as `emit_event` does."""

    def __init__(self, callback: Callback, ctx: Context) -> None:
        self.callback = callback
        self.ctx = ctx
        self.name = callback.name

    def __call__(self, event: LogEvent) -> Any:
        """Run the callback with its injected arguments."""
        return self.callback.run_sync(self.ctx)
