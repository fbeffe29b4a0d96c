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

from ..core.edits import Edit, edits
from ..core.grep import DELETED, Hits, Leaf, Pattern, key_text, leaves, match, parse_pattern
from ..core.ranges import Coordinates, Selection, parse_range, select
from ..core.records import Change, Snapshot
from ..errors import DatabaseError
from ..history import Entry, History
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
from .target import finish, load_target
from .view import entry_lines


def add_parser(commands: Any) -> None:
    """Add `log` and its options to the subcommands."""
    log = commands.add_parser(
        "log",
        help="print the history of a database file (the default command)",
        description="Print the history of a database file: one block per record.",
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
    _check_output(options.output, options.file)
    history = open_history(options.file)
    survey = _survey(history, patterns)
    selection = select(survey.coordinates, specs, survey.matches, context)
    end = _show(history, selection, survey.hits, options.quiet)
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
        raise CliError(f"--context needs a number of records (0 or more), not {text!r}")
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


def _survey(history: History, patterns: Sequence[Pattern]) -> _Survey:
    survey = _Survey(grep=bool(patterns))
    try:
        for index, entry in enumerate(history.entries()):
            survey.disagreement = survey.disagreement or disagreement(history, entry)
            survey.coordinates.append(_coordinates(entry))
            hits = _grep(entry, patterns) if patterns else None
            if hits is not None:
                survey.hits[index] = hits
    except DatabaseError as exc:
        # The records before a bad one still print; the error ends the run (exit 10).
        survey.error = exc
    return survey


def _coordinates(entry: Entry) -> Coordinates:
    snapshot = entry.snapshot_number if isinstance(entry.record, Snapshot) else 0
    return Coordinates(entry.position, entry.rev, entry.version, snapshot, entry.record.ts)


def _grep(entry: Entry, patterns: Sequence[Pattern]) -> Hits | None:
    record = entry.record
    if isinstance(record, Snapshot):
        return match(patterns, list(leaves(entry.state)))
    # Called as the entry is yielded, before a later record can change the diff's values.
    found = [leaf for edit in edits(record.diff) for leaf in _edit_leaves(edit)]
    return match(patterns, found, action=record.a, user=record.u)


def _edit_leaves(edit: Edit) -> Iterator[Leaf]:
    path = tuple(key_text(key) for key in edit.path)
    if edit.kind == "delete":
        yield Leaf(path, DELETED)
    else:
        yield from leaves(edit.value, path)


@dataclass
class _End:
    """The state after the last selected record, and how to name it in messages."""

    state: Any
    version: int
    where: str


def _show(history: History, selection: Selection, hits: dict[int, Hits], quiet: bool) -> _End:
    wanted = set(selection.indexes)
    # With nothing selected, the state is the one where the unit ranges end.
    last = selection.indexes[-1] if selection.indexes else selection.window.stop - 1
    look = style()
    walk = Walk(history)
    end = _End({}, 0, "before the first record")
    while walk.index <= last:
        index = walk.index
        changes = None
        if index in wanted and not quiet and not history.scan.records[index].is_snapshot:
            # Read against the state before the record, which folding it in will change.
            record = walk.peek()
            assert isinstance(record, Change)
            changes = list(edits(record.diff, walk.state))
        entry = walk.advance()
        end = _End(entry.state, entry.version, f"after l{entry.position} (r{entry.rev})")
        if index in wanted and not quiet:
            # A disagreeing snapshot shows a warning line; the run then ends with an error.
            for line in entry_lines(entry, look, hits.get(index), changes):
                say(line)
    return end
