"""`kanta log FILE` (also plain `kanta FILE`): the history view, filtered, and the state it ends at.

Two passes over the file: the first notes where each record sits and what `--grep`
matches (all `-r` specs need is known only once the file has been read), the second
prints the selected records and stops at the last one, whose state `-o`/`-d`/`-m` use.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..ansi import Style
from ..core.edits import Edit, edits
from ..core.grep import DELETED, Hits, Leaf, Pattern, key_text, leaves, match, parse_pattern
from ..core.ranges import Coordinates, Selection, parse_range, select
from ..core.records import Change, Snapshot
from ..errors import DatabaseError
from ..events.timeline import StateDicts
from ..history import Entry, History
from ..printable import Formatter, flow_key
from . import common as cli_common
from .common import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Walk,
    disagreement,
    open_history,
    report_damage,
    say,
    style,
    write_json,
)
from .logcallbacks import LogCallbacks, record_done
from .target import finish, load_target
from .view import entry_lines


def add_parser(commands: Any) -> None:
    """Add `log` and its options to the subcommands."""
    log = commands.add_parser(
        "log",
        help="print the history of a database file (the default command)",
        description=f"kanta {__version__} - read a kantadb file and print each change record "
        "to the console.",
    )
    log.add_argument("file", help="database file, or - for standard input")
    _add_state_options(log)
    log.add_argument(
        "-r",
        "--range",
        action="append",
        metavar="SPEC",
        help="select records: lN, sN, vN, rN, plain numbers (0-based, into the output "
        "left after the other filters), 15min/2h/7d/2w, ISO times and a/b time ranges; "
        "a:b is half-open, a..b inclusive; repeat to intersect",
    )
    log.add_argument(
        "-g",
        "--grep",
        action="append",
        metavar="PATTERN",
        help="keep records whose action, user, path (users.*.email) or value matches; "
        "path=value, =value and path= forms; repeat: all must match",
    )
    log.add_argument("--context", default="0", metavar="N", help="add N records around each")
    log.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the state after the last printed record as JSON (- for standard output)",
    )
    log.add_argument("-q", "--quiet", action="store_true", help="print no records")
    log.set_defaults(run=run)


def _add_state_options(parser: argparse.ArgumentParser) -> None:
    """The `-d`, `-m` and `-k` options: what to bring the selected state to."""
    parser.add_argument(
        "-d", "--data", metavar="MODULE:ATTR", help="decode the state into this root type"
    )
    parser.add_argument(
        "-m", "--migrations", metavar="MODULE", help="apply these migrations to the state"
    )
    parser.add_argument(
        "-k",
        "--kanta",
        metavar="MODULE[:ATTR]",
        help="take root type and migrations from this Kanta object (ATTR defaults to kanta)",
    )


def run(options: argparse.Namespace) -> int:
    """Print the selected records; then write, migrate or decode the state they end at."""
    if options.kanta is not None and (options.data or options.migrations):
        raise CliError("-k/--kanta takes the type and migrations; drop -d and -m", EXIT_USAGE)
    moment = cli_common.now()
    specs = [parse_range(spec, moment) for spec in options.range or ()]
    patterns = [parse_pattern(pattern) for pattern in options.grep or ()]
    context = _context(options.context)
    target = load_target(options.data, options.migrations, options.kanta)
    hooks = target.log_callbacks if target.log_callbacks and target.log_callbacks.active else None
    _check_output(options.output, options.file)
    history = open_history(options.file)
    survey = _survey(history, patterns, hooks)
    selection = select(survey.coordinates, specs, survey.matches, context)
    end = _show(history, selection, survey.hits, options.quiet, hooks)
    report_damage(history)
    # As other damage does, a snapshot that disagrees with the replay ends the run
    # (exit 10) once the records have printed: no state is written, as none is certain.
    for error in (survey.disagreement, survey.error):
        if error is not None:
            raise error
    if target.root_type is None and target.migrations is None and options.output is None:
        return EXIT_OK
    if not selection.indexes:
        say(f"kanta: no record selected; using the state {end.where}, where the ranges end")
    value = finish(history, end.state, end.version, target, end.where, options.quiet)
    if options.output is not None:
        write_json(options.output, value)
    return EXIT_OK


def _check_output(output: str | None, name: str) -> None:
    """Refuse `-o` naming the database itself: the JSON would overwrite its history."""
    if output in (None, "-") or name == "-":
        return
    assert output is not None
    try:
        same = Path(output).samefile(name)
    except OSError:  # either does not exist (yet): they cannot be the same file
        return
    if same:
        raise CliError(f"-o {output}: that is the database file; give another file or -")


def _context(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        # A usage error (exit 2), as 0.9.x's argparse makes it.
        raise CliError(f"--context needs a number of records (0 or more), not {text!r}", EXIT_USAGE)
    return count


@dataclass
class _Survey:
    """The first pass: where each record sits, and what the grep patterns found in it."""

    coordinates: list[Coordinates] = field(default_factory=list)
    hits: dict[int, Hits] = field(default_factory=dict)
    grep: bool = False
    error: DatabaseError | None = None  # the record the history stops at, if it does
    disagreement: DatabaseError | None = None  # the first snapshot the replay disagrees with

    def matches(self, index: int) -> bool:
        """Whether the record at `index` passes the grep patterns."""
        return not self.grep or index in self.hits


def _survey(history: History, patterns: Sequence[Pattern], hooks: LogCallbacks | None) -> _Survey:
    survey = _Survey(grep=bool(patterns))
    walk = Walk(history)
    snapshots = 0  # the 1-based ordinal that ranges count snapshots by
    try:
        while walk.index < len(walk):
            # What a change removes is read before folding it in removes it.
            index = walk.index
            found, states = _before(walk, hooks) if patterns else ([], None)
            entry = walk.advance()
            survey.disagreement = survey.disagreement or disagreement(history, entry)
            snapshots += isinstance(entry.record, Snapshot)
            survey.coordinates.append(_coordinates(entry, snapshots))
            hits = _grep(entry, patterns, found, hooks, states) if patterns else None
            if hits is not None:
                survey.hits[index] = hits
    except DatabaseError as exc:
        # The records before a bad one still print; the error ends the run (exit 10).
        survey.error = exc
    return survey


def _before(walk: Walk, hooks: LogCallbacks | None) -> tuple[list[Leaf], StateDicts | None]:
    """The leaves of the next change, deletions with what they delete, and its state dicts."""
    if walk.history.scan.records[walk.index].is_snapshot:
        return [], None
    record = walk.peek()
    assert isinstance(record, Change)
    found = [leaf for edit in edits(record.diff, walk.state) for leaf in _edit_leaves(edit)]
    return found, hooks.states(walk.state) if hooks is not None else None


def _coordinates(entry: Entry, snapshots: int) -> Coordinates:
    snapshot = snapshots if isinstance(entry.record, Snapshot) else 0
    return Coordinates(entry.position, entry.rev, entry.version, snapshot, entry.record.ts)


def _grep(
    entry: Entry,
    patterns: Sequence[Pattern],
    found: list[Leaf],
    hooks: LogCallbacks | None,
    states: StateDicts | None,
) -> Hits | None:
    record = entry.record
    if isinstance(record, Snapshot):
        found = list(leaves(entry.state))
        if hooks is None:
            return match(patterns, found)
        formatter = hooks.formatter(hooks.snapshot_states(entry.state))
        return match(patterns, found, views=lambda leaf: [_formatted(leaf, formatter)])
    if hooks is None or states is None:
        return match(patterns, found, action=record.a, user=record.u)
    record_done(states, entry.state)
    formatter = hooks.formatter(states)
    shown_user = formatter(record.u, "$user") if record.u else None
    return match(
        patterns,
        found,
        action=record.a,
        user=record.u,
        views=lambda leaf: [_formatted(leaf, formatter)],
        users=[shown_user] if shown_user is not None else [],
    )


def _formatted(leaf: Leaf, formatter: Formatter) -> Leaf:
    """A leaf as the `-k` object's logfmt shows it: each path element, and the value."""
    path = tuple(
        flow_key(element, ".".join(leaf.path[: depth + 1]), formatter)
        for depth, element in enumerate(leaf.path)
    )
    value = leaf.value
    if value is not DELETED:
        value = formatter(value, ".".join(leaf.path)) or value
    return Leaf(path, value)


def _edit_leaves(edit: Edit) -> Iterator[Leaf]:
    path = tuple(key_text(key) for key in edit.path)
    if edit.kind == "delete":
        # A deletion matches by what it deleted, as in 0.9.x (`-g alice` finds her removal).
        yield from leaves(edit.value, path) if edit.value is not None else [Leaf(path, DELETED)]
    else:
        yield from leaves(edit.value, path)


@dataclass
class _End:
    """The state after the last selected record, and how to name it in messages."""

    state: Any
    version: int
    where: str


def _show(
    history: History,
    selection: Selection,
    hits: dict[int, Hits],
    quiet: bool,
    hooks: LogCallbacks | None,
) -> _End:
    wanted = set() if quiet else set(selection.indexes)
    # With nothing selected, the state is the one where the unit ranges end.
    last = selection.indexes[-1] if selection.indexes else selection.window.stop - 1
    look = style()
    walk = Walk(history)
    end = _End({}, 0, "before the first record")
    printed = False
    while walk.index <= last:
        index = walk.index
        changes, states = None, None
        if index in wanted and not history.scan.records[index].is_snapshot:
            # Read against the state before the record, which folding it in will change.
            record = walk.peek()
            assert isinstance(record, Change)
            changes = list(edits(record.diff, walk.state))
            states = hooks.states(walk.state) if hooks is not None else None
        entry = walk.advance()
        end = _End(entry.state, entry.version, f"after l{entry.position} (r{entry.rev})")
        if index in wanted:
            lines = _record_lines(entry, look, hits.get(index), changes, hooks, states)
            _print_block(lines, isinstance(entry.record, Change))
            printed = True
    if printed:
        say()  # 0.9.x ends the records with a blank line
    return end


def _record_lines(
    entry: Entry,
    look: Style,
    hits: Hits | None,
    changes: list[Edit] | None,
    hooks: LogCallbacks | None,
    states: StateDicts | None,
) -> list[str]:
    """The lines of one record; none when a `-k` object's logemit callback printed it."""
    if hooks is not None and isinstance(entry.record, Snapshot):
        formatter = hooks.formatter(hooks.snapshot_states(entry.state))
        return list(entry_lines(entry, look, hits, None, formatter))
    if hooks is None or states is None or not isinstance(entry.record, Change):
        # A disagreeing snapshot shows a warning line; the run then ends with an error.
        return list(entry_lines(entry, look, hits, changes))
    record_done(states, entry.state)
    formatter = hooks.formatter(states)
    shown = hooks.offer(entry.record, states, formatter)
    if not shown.printed:
        return []
    return list(entry_lines(entry, look, hits, changes, formatter, shown.title))


def _print_block(lines: list[str], change: bool) -> None:
    """Print a record's lines; as in 0.9.x a blank line follows a change of several lines."""
    for line in lines:
        say(line)
    if change and len(lines) > 1:
        say()
