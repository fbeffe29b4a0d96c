"""Human-readable history: record headers and `path = value` lines, plain or in ANSI colour.

Everything taken from the data (values, keys, actions, users) goes through `printable`:
control characters in it are shown as escapes, never sent to the terminal.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from ..ansi import Style
from ..core.edits import Edit, edits
from ..core.grep import Hits, key_text
from ..core.records import Snapshot
from ..history import Entry
from ..printable import Formatter, flow, flow_key, printable

_LABEL_WIDTH = 14
_SNAPSHOT_MATCH_LINES = 20


def when(moment: datetime | None) -> str:
    """A timestamp as `YYYY-mm-dd HH:MM:SS` (UTC)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "-"


def short(value: Any) -> str:
    """A value in 0.9.x's flow style (`{city: Oulu}`, `[x, y]`), printable."""
    return flow(value)


# -- rendering ---------------------------------------------------------------------------


def header(
    entry: Entry,
    style: Style,
    hits: Hits | None = None,
    formatter: Formatter | None = None,
    title: str | None = None,
) -> str:
    """The first line of a record: position, time, action, user, revision (or snapshot facts).

    `title` replaces `ACTION by USER` (a logemit callback's header); `formatter` gives the
    user its `$user` text.
    """
    record = entry.record
    tag = style(f"l{entry.position:<4}", "dim")
    if isinstance(record, Snapshot):
        mtime = f" {when(record.m)}" if record.m is not None else ""
        return (
            f"{tag}{when(record.ts)} {style('snapshot', 'cyan')} s{entry.snapshot_number} "
            f"v{record.v}{mtime} {entry.state_size} B"
        )
    if title is None:
        title = _title(record.a, record.u, style, hits, formatter)
    return f"{tag}{when(record.ts)} {title} r{entry.rev}"


def _title(
    action: str | None,
    user: str | None,
    style: Style,
    hits: Hits | None,
    formatter: Formatter | None,
) -> str:
    """`ACTION by USER`, as 0.9.x shows it: an empty action as nothing, an empty user left out."""
    marked = hits is not None and hits.action
    text = style(printable(action), "match" if marked else "bold") if action else ""
    if user:
        shown = flow_key(user, "$user", formatter)
        text += f" by {style(shown, 'match') if hits is not None and hits.user else shown}"
    return text


def entry_lines(
    entry: Entry,
    style: Style,
    hits: Hits | None = None,
    changes: Sequence[Edit] | None = None,
    formatter: Formatter | None = None,
    title: str | None = None,
) -> Iterator[str]:
    """The lines that show one record.

    `changes` are the record's edits as `edits(diff, previous)` finds them against the
    state before the record; without them every non-empty dict in the diff reads as a level.
    `formatter` and `title` are those of `header` (from a `-k` Kanta object).
    """
    record = entry.record
    top = header(entry, style, hits, formatter, title)
    if isinstance(record, Snapshot):
        yield top
        if entry.disagreement is not None:
            yield "  " + style(f"warning: {printable(entry.disagreement)}", "yellow")
        if hits is not None:
            matched = snapshot_match_lines(entry.state, hits, style, formatter)
            yield from ("  " + line for line in matched)
        return
    if changes is None:
        changes = list(edits(record.diff))
    lines = [line for edit in changes for line in edit_lines(edit, style, hits, formatter)]
    if len(lines) == 1:
        yield f"{top}  {lines[0]}"
        return
    yield top
    yield from ("  " + line for line in lines)


def edit_lines(
    edit: Edit, style: Style, hits: Hits | None = None, formatter: Formatter | None = None
) -> list[str]:
    """The lines of one edit: a newly assigned dict as `path =` with indented `key: value`s."""
    path = tuple(key_text(key) for key in edit.path)
    dotted = ".".join(path)
    elements, value_hit = hits.at(path) if hits is not None else (set(), False)
    shown = path_text(path, elements, style, formatter)
    if edit.kind == "delete":
        return [f"{shown} {style('✗', 'red')}"]
    suffix = " " + style("(inserted)", "dim") if edit.kind == "insert" else ""
    custom = formatter(edit.value, dotted) if formatter is not None else None
    if custom is not None or not (isinstance(edit.value, dict) and edit.value):
        text = custom if custom is not None else flow(edit.value, dotted, formatter)
        return [f"{shown} = {value_text(text, value_hit, style)}{suffix}"]
    lines = [f"{shown} ={suffix}"]
    for key, item in edit.value.items():
        child = (*path, key_text(key))
        child_path = ".".join(child)
        child_elements, child_hit = hits.at(child) if hits is not None else (set(), False)
        name = flow_key(key, child_path, formatter)
        label = style(name, "match") if len(path) in child_elements else name
        padding = " " * max(1, _LABEL_WIDTH - len(name) - 1)
        value = flow(item, child_path, formatter)
        lines.append(f"  {label}:{padding}{value_text(value, child_hit, style)}")
    return lines


def snapshot_match_lines(
    state: Any, hits: Hits, style: Style, formatter: Formatter | None = None
) -> list[str]:
    """The records of a snapshot's state that the grep patterns matched, one line each.

    As in 0.9.x a record is what sits two levels down (`users.alice = {...}`), or a
    top-level value; the whole of it is shown in flow style.
    """
    wanted = list(dict.fromkeys(path[:2] for path in hits.leaf_paths()))
    lines = []
    for path in wanted[:_SNAPSHOT_MATCH_LINES]:
        elements, value_hit = hits.at(path)
        text = flow(_value_at(state, path), ".".join(path), formatter)
        shown = path_text(path, elements, style, formatter)
        lines.append(f"{shown} = {value_text(text, value_hit, style)}")
    if len(wanted) > _SNAPSHOT_MATCH_LINES:
        lines.append(style(f"… {len(wanted) - _SNAPSHOT_MATCH_LINES} more", "dim"))
    return lines


def _value_at(state: Any, path: tuple[str, ...]) -> Any:
    """The value at a path of key texts (keys of binary files may be ints, UUIDs, ...)."""
    node = state
    for element in path:
        if not isinstance(node, dict):
            return None
        if element in node:
            node = node[element]
            continue
        node = next((item for key, item in node.items() if key_text(key) == element), None)
    return node


def path_text(
    path: tuple[str, ...], marked: set[int], style: Style, formatter: Formatter | None = None
) -> str:
    """A dotted path, printable, with the matched elements highlighted (`.` for the root)."""
    if not path:
        return "."
    names = [
        flow_key(element, ".".join(path[: index + 1]), formatter)
        for index, element in enumerate(path)
    ]
    return ".".join(
        style(name, "match") if index in marked else name for index, name in enumerate(names)
    )


def value_text(text: str, marked: bool, style: Style) -> str:
    """A value's text as shown after `=`: green, or highlighted when a grep pattern matched it."""
    return style(text, "match" if marked else "green")
