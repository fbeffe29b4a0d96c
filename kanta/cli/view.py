"""Human-readable history: record headers and `path = value` lines, plain or in ANSI colour.

Everything taken from the data (values, keys, actions, users) goes through `printable`:
control characters in it are shown as escapes, never sent to the terminal.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import msgspec

from ..ansi import Style
from ..core.edits import UNKNOWN, Edit, edits
from ..core.grep import Hits, key_text, leaves
from ..core.records import Snapshot
from ..history import Entry
from ..printable import printable

_LABEL_WIDTH = 14
_SNAPSHOT_MATCH_LINES = 20


def when(moment: datetime | None) -> str:
    """A timestamp as `YYYY-mm-dd HH:MM:SS` (UTC)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "-"


def short(value: Any) -> str:
    """A value in compact JSON, strings unquoted (the empty string as `""`), printable."""
    if isinstance(value, str):
        return printable(value) or '""'
    text = msgspec.json.encode(value, enc_hook=str).decode()
    # Bytes, datetimes and UUIDs (in binary files) show as the strings JSON files hold.
    return short(msgspec.json.decode(text)) if text.startswith('"') else printable(text)


# -- rendering ---------------------------------------------------------------------------


def header(entry: Entry, style: Style, hits: Hits | None = None) -> str:
    """The first line of a record: position, time, action, user, revision (or snapshot facts)."""
    record = entry.record
    tag = style(f"l{entry.position:<4}", "dim")
    if isinstance(record, Snapshot):
        return (
            f"{tag}{when(record.ts)} {style('snapshot', 'cyan')} s{entry.snapshot_number} "
            f"v{record.v} {when(record.m)} {entry.size} B"
        )
    marked = hits is not None and hits.action
    action = printable(record.a) if record.a else "-"
    text = f"{tag}{when(record.ts)} {style(action, 'match' if marked else 'bold')}"
    if record.u is not None:
        user = printable(record.u)
        text += f" by {style(user, 'match') if hits is not None and hits.user else user}"
    return f"{text} r{entry.rev}"


def entry_lines(
    entry: Entry, style: Style, hits: Hits | None = None, changes: Sequence[Edit] | None = None
) -> Iterator[str]:
    """The lines that show one record.

    `changes` are the record's edits as `edits(diff, previous)` finds them against the
    state before the record; without them every non-empty dict in the diff reads as a level.
    """
    record = entry.record
    top = header(entry, style, hits)
    if isinstance(record, Snapshot):
        yield top
        if entry.disagreement is not None:
            yield "  " + style(f"warning: {printable(entry.disagreement)}", "yellow")
        if hits is not None:
            yield from ("  " + line for line in snapshot_match_lines(entry.state, hits, style))
        return
    if changes is None:
        changes = list(edits(record.diff))
    lines = [line for edit in changes for line in edit_lines(edit, style, hits)]
    if len(lines) == 1:
        yield f"{top}  {lines[0]}"
        return
    yield top
    yield from ("  " + line for line in lines)


def diff_lines(
    diff: Any, style: Style, previous: Any = UNKNOWN, hits: Hits | None = None
) -> list[str]:
    """`path = value` lines for a diff; deleted keys are marked with ✗."""
    lines: list[str] = []
    for edit in edits(diff, previous):
        lines.extend(edit_lines(edit, style, hits))
    return lines


def edit_lines(edit: Edit, style: Style, hits: Hits | None = None) -> list[str]:
    """The lines of one edit: a newly assigned dict as `path =` with indented `key: value`s."""
    path = tuple(key_text(key) for key in edit.path)
    elements, value_hit = hits.at(path) if hits is not None else (set(), False)
    shown = path_text(path, elements, style)
    if edit.kind == "delete":
        return [f"{shown} {style('✗', 'red')}"]
    suffix = " " + style("(inserted)", "dim") if edit.kind == "insert" else ""
    if not (isinstance(edit.value, dict) and edit.value):
        return [f"{shown} = {value_text(edit.value, value_hit, style)}{suffix}"]
    lines = [f"{shown} ={suffix}"]
    for key, item in edit.value.items():
        child = (*path, key_text(key))
        child_elements, child_hit = hits.at(child) if hits is not None else (set(), False)
        name = printable(key_text(key))
        label = style(name, "match") if len(path) in child_elements else name
        padding = " " * max(1, _LABEL_WIDTH - len(name) - 1)
        lines.append(f"  {label}:{padding}{value_text(item, child_hit, style)}")
    return lines


def snapshot_match_lines(state: Any, hits: Hits, style: Style) -> list[str]:
    """The `path = value` lines of a snapshot's state that the grep patterns matched."""
    wanted = hits.leaf_paths()
    values = {leaf.path: leaf.value for leaf in leaves(state)}
    lines = []
    for path in wanted[:_SNAPSHOT_MATCH_LINES]:
        elements, value_hit = hits.at(path)
        value = value_text(values.get(path), value_hit, style)
        lines.append(f"{path_text(path, elements, style)} = {value}")
    if len(wanted) > _SNAPSHOT_MATCH_LINES:
        lines.append(style(f"… {len(wanted) - _SNAPSHOT_MATCH_LINES} more", "dim"))
    return lines


def path_text(path: tuple[str, ...], marked: set[int], style: Style) -> str:
    """A dotted path, printable, with the matched elements highlighted (`.` for the root)."""
    if not path:
        return "."
    return ".".join(
        style(printable(element), "match") if index in marked else printable(element)
        for index, element in enumerate(path)
    )


def value_text(value: Any, marked: bool, style: Style) -> str:
    """A value as shown after `=`: green, or highlighted when a grep pattern matched it."""
    return style(short(value), "match" if marked else "green")
