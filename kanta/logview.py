"""Human-readable history: record headers and `path = value` lines, plain or in ANSI colour."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TextIO

import msgspec

from .diff import unescape_key
from .history import Entry
from .records import Snapshot

_CODES = {"dim": "2", "bold": "1", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}
_LABEL_WIDTH = 14


def use_colour(stream: TextIO) -> bool:
    """Colour on a terminal, unless NO_COLOR is set; FORCE_COLOR forces it on."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty()


class Style:
    """Wraps text in ANSI codes, or leaves it plain."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, name: str) -> str:
        """`text` in the named style."""
        return f"\x1b[{_CODES[name]}m{text}\x1b[0m" if self.colour else text


def when(moment: datetime | None) -> str:
    """A timestamp as `YYYY-mm-dd HH:MM:SS` (UTC)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "-"


def entry_lines(entry: Entry, style: Style) -> Iterator[str]:
    """The lines that show one record."""
    record = entry.record
    tag = style(f"l{entry.position:<4}", "dim")
    if isinstance(record, Snapshot):
        yield (
            f"{tag}{when(record.ts)} {style('snapshot', 'cyan')} s{entry.snapshot_number} "
            f"v{record.v} {when(record.m)} {entry.size} B"
        )
        return
    header = f"{tag}{when(record.ts)} {style(record.a or '-', 'bold')}"
    if record.u is not None:
        header += f" by {record.u}"
    header += f" r{entry.rev}"
    lines = list(diff_lines(record.diff, style))
    if len(lines) == 1 and "\n" not in lines[0]:
        yield f"{header}  {lines[0]}"
        return
    yield header
    for line in lines:
        yield "  " + line.replace("\n", "\n  ")


def diff_lines(diff: Any, style: Style, prefix: str = "") -> Iterator[str]:
    """`path = value` lines for a diff; deleted keys are marked with ✗."""
    if not isinstance(diff, dict):
        yield f"{prefix or '.'} = {short(diff)}"
        return
    if "$replace" in diff:
        yield from _assignment(prefix or ".", diff["$replace"], style)
        return
    for key in diff.get("$delete", []):
        yield f"{_join(prefix, unescape_key(key))} {style('✗', 'red')}"
    for key, value in diff.items():
        if key in ("$delete", "$insert"):
            continue
        path = _join(prefix, unescape_key(key))
        if isinstance(value, dict) and value and "$replace" not in value:
            yield from diff_lines(value, style, path)
        else:
            if isinstance(value, dict) and "$replace" in value:
                value = value["$replace"]
            yield from _assignment(path, value, style)


def _assignment(path: str, value: Any, style: Style) -> Iterator[str]:
    if isinstance(value, dict) and value:
        body = "\n".join(
            f"  {str(key) + ':':<{_LABEL_WIDTH}}{style(short(item), 'green')}"
            for key, item in value.items()
        )
        yield f"{path} =\n{body}"
    else:
        yield f"{path} = {style(short(value), 'green')}"


def _join(prefix: str, key: Any) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def short(value: Any) -> str:
    """A value in compact JSON, strings unquoted."""
    if isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()
