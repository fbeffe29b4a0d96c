"""The text of a transaction log entry: its header and one aligned line per changed path.

Strings, keys, actions and users are shown through `printable` (control characters as
escapes); what a `@db.logfmt` formatter returns is the application's own, shown as is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec

from ..ansi import Style
from ..callbacks import Callbacks, FormatterEntry
from ..printable import printable
from .event import LogEvent, StateDicts

logger = logging.getLogger("kanta")

Entry = tuple[tuple[Any, ...], Any, bool]  # path, new value (builtin form), deleted


class Formats:
    """The `@db.logfmt` formatters for one event, bound on first use."""

    def __init__(self, callbacks: Callbacks, states: StateDicts) -> None:
        self._entries: list[FormatterEntry] = callbacks.formatters
        self._ctx = callbacks.context(states=states)
        self._bound: dict[int, Callable[[Any, str], str | None]] = {}
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


def render(
    event: LogEvent,
    entries: list[Entry],
    formats: Formats,
    style: Style,
    with_diff: bool,
    more: int = 0,
) -> str:
    """The log text of an event: its header, then (if wanted) one line per changed path."""
    head = header(event, formats, style)
    lines = diff_lines(entries, formats, style) if with_diff else []
    if with_diff and more:
        lines.append(style(f"... and {more:,} more", "grey"))
    if len(lines) == 1 and "\n" not in lines[0]:
        return f"{head}  {lines[0]}"
    return "\n".join([head, *("  " + line.replace("\n", "\n  ") for line in lines)])


def header(event: LogEvent, formats: Formats, style: Style) -> str:
    """`ACTION [EXTRA] by USER`, or what a file event says."""
    if event.kind == "created":
        return f"{style(str(event.filename), 'bold')} created"
    if event.kind == "migrated":
        versions = f"v{event.from_version} -> v{event.to_version}"
        return f"{style(str(event.filename), 'bold')} migrated {versions}: " + ", ".join(
            event.migrations
        )
    text = style(printable(event.action) if event.action else "-", "action")
    if event.extra is not None:
        text += " " + style(printable(str(event.extra)), "grey")
    if event.user is not None:
        user = formats.text(event.user, "$user") or printable(str(event.user))
        text += " by " + style(user, "cyan")
    if event.kind == "aborted":
        text += f" transaction aborted: {printable(str(event.error))}"
    return text


def diff_lines(entries: list[Entry], formats: Formats, style: Style) -> list[str]:
    """Aligned `path = value` lines; a deleted path is marked ✗, a new mapping is a block."""
    paths = [_path(parts, formats, style) for parts, _, _ in entries]
    width = max((size for _, size in paths), default=0)
    lines = []
    for (path, size), (parts, value, deleted) in zip(paths, entries, strict=True):
        if deleted:
            lines.append(f"{path} {style('✗', 'red')}")
            continue
        dotted = _dotted(parts)
        pad = " " * (width - size)
        custom = formats.text(value, dotted)
        if custom is None and isinstance(value, dict) and value:
            lines.append(f"{path}{pad} {style('=', 'grey')}\n" + _block(value, dotted, formats))
        else:
            shown = custom if custom is not None else show(value, dotted, formats)
            lines.append(f"{path}{pad} {style('=', 'grey')} {shown}")
    return lines


def _path(parts: tuple[Any, ...], formats: Formats, style: Style) -> tuple[str, int]:
    """A path with each element formatted, and its printed width."""
    names = [_key(key, _dotted(parts[: i + 1]), formats) for i, key in enumerate(parts)]
    text = ".".join(names) or "."
    if len(names) > 1:
        styled = style(".".join(names[:-1]) + ".", "grey") + style(names[-1], "green")
    else:
        styled = style(text, "green")
    return styled, len(text)


def _block(value: dict[Any, Any], path: str, formats: Formats) -> str:
    labels = [_key(key, f"{path}.{key}", formats) + ":" for key in value]
    width = max(map(len, labels)) + 1
    return "\n".join(
        f"  {label:<{width}}{show(item, f'{path}.{key}', formats)}"
        for label, (key, item) in zip(labels, value.items(), strict=True)
    )


def show(value: Any, path: str, formats: Formats) -> str:
    """A value in a compact flow style, each part through the formatters."""
    custom = formats.text(value, path)
    if custom is not None:
        return custom
    if isinstance(value, dict):
        items = (
            f"{_key(key, f'{path}.{key}', formats)}: {show(item, f'{path}.{key}', formats)}"
            for key, item in value.items()
        )
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return (
            "["
            + ", ".join(show(item, f"{path}.{i}", formats) for i, item in enumerate(value))
            + "]"
        )
    if isinstance(value, str):
        return printable(value) if value else '""'
    text = printable(msgspec.json.encode(value).decode())
    return text[1:-1] if text.startswith('"') else text  # datetimes, bytes, UUIDs unquoted


def _key(key: Any, path: str, formats: Formats) -> str:
    return formats.text(key, path) or printable(str(key))


def _dotted(parts: tuple[Any, ...]) -> str:
    return ".".join(map(str, parts))
