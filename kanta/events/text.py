"""The text of a transaction log entry: its header and one line per changed path.

Strings, keys, actions and users are shown through `printable` (control characters as
escapes); what a `@db.logfmt` formatter returns is the application's own, shown as is.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from ..ansi import Style
from ..printable import Formatter, printable

Entry = tuple[tuple[Any, ...], Any, bool]  # path, new value (builtin form), deleted


class Described(Protocol):
    """What a header is made of (a LogEvent)."""

    kind: str
    action: str | None
    user: str | None
    extra: Any
    error: BaseException | None
    filename: str | None
    from_version: int | None
    to_version: int | None
    migrations: list[str]


FILE_EVENTS = ("created", "opened", "migrated")


def header(event: Described, formats: Formatter, style: Style) -> str:
    """`ACTION [EXTRA] by USER`, or what a file event says (`🛢️ FILE created`)."""
    if event.kind in FILE_EVENTS:
        text = f"🛢️ {printable(str(event.filename))} {event.kind}"
        if event.kind == "migrated":
            text += f" v{event.from_version} -> v{event.to_version}: "
            text += ", ".join(event.migrations)
        return text
    text = style(printable(event.action) if event.action else "-", "action")
    if event.extra is not None:
        text += " " + style(printable(str(event.extra)), "target")
    if event.user:
        user = formats(event.user, "$user") or printable(str(event.user))
        text += " by " + style(user, "user")
    if event.kind == "aborted":
        text += f" transaction aborted: {printable(str(event.error))}"
    return text


def diff_lines(entries: list[Entry], formats: Formatter, style: Style, more: int = 0) -> list[str]:
    """The diff body: one `  path = value` line per entry; `more` paths counted.

    A deleted path is marked ✗; a new mapping is a block, a line per key.
    """
    lines = [
        "  " + line for entry in _entry_lines(entries, formats, style) for line in entry.split("\n")
    ]
    if more:
        lines.append("  " + style(f"... and {more:,} more", "ellipsis"))
    return lines


def _entry_lines(entries: list[Entry], formats: Formatter, style: Style) -> list[str]:
    # Unpadded, as 0.9.x logs them: `path = value` reads (and greps) the same in every entry.
    lines = []
    for parts, value, deleted in entries:
        path = _path(parts, formats, style)
        if deleted:
            lines.append(f"{path} {style('✗', 'delete')}")
            continue
        dotted = _dotted(parts)
        custom = formats(value, dotted)
        if custom is None and isinstance(value, dict) and value:
            lines.append(f"{path} {style('=', 'sep')}\n" + _block(value, dotted, formats))
        else:
            shown = custom if custom is not None else show(value, dotted, formats)
            lines.append(f"{path} {style('=', 'sep')} {shown}")
    return lines


def _path(parts: tuple[Any, ...], formats: Formatter, style: Style) -> str:
    """A path with each element formatted."""
    names = [_key(key, _dotted(parts[: i + 1]), formats) for i, key in enumerate(parts)]
    if len(names) > 1:
        return style(".".join(names[:-1]) + ".", "path_prefix") + style(names[-1], "add")
    return style(".".join(names) or ".", "add")


def _block(value: dict[Any, Any], path: str, formats: Formatter) -> str:
    labels = [_key(key, f"{path}.{key}", formats) + ":" for key in value]
    width = max(map(len, labels)) + 1
    return "\n".join(
        f"  {label:<{width}}{show(item, f'{path}.{key}', formats)}"
        for label, (key, item) in zip(labels, value.items(), strict=True)
    )


def show(value: Any, path: str, formats: Formatter) -> str:
    """A value in a compact flow style, each part through the formatters."""
    custom = formats(value, path)
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


def _key(key: Any, path: str, formats: Formatter) -> str:
    return formats(key, path) or printable(str(key))


def _dotted(parts: tuple[Any, ...]) -> str:
    return ".".join(map(str, parts))
