"""The `kanta` command line: history viewer and tools, thin over the Python API."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec

from . import __version__
from .errors import DatabaseError
from .history import Entry, read_history
from .logview import Style, entry_lines, use_colour

EXIT_ERROR, EXIT_USAGE, EXIT_PARSE = 1, 2, 10
COMMANDS = ("log", "demo")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `kanta` script and `python -m kanta`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in COMMANDS and not args[0].startswith("-"):
        args.insert(0, "log")  # `kanta FILE` keeps meaning `kanta log FILE`
    parser = _parser()
    options = parser.parse_args(args)
    if options.command is None:
        parser.print_usage(sys.stderr)
        return EXIT_USAGE
    try:
        return int(options.run(options))
    except DatabaseError as exc:
        print(f"kanta: {exc}", file=sys.stderr)
        return EXIT_PARSE if exc.byte_pos is not None else EXIT_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kanta", description=__doc__)
    parser.add_argument("--version", action="version", version=f"kanta {__version__}")
    commands = parser.add_subparsers(dest="command")
    log = commands.add_parser("log", help="print the history of a database file")
    log.add_argument("file", help="database file, or - for standard input")
    log.add_argument("-q", "--quiet", action="store_true", help="print no records")
    log.add_argument("-o", "--output", help="write the final state as JSON (- for stdout)")
    log.set_defaults(run=run_log)
    demo = commands.add_parser("demo", help="create a database, change it, reopen it, show it")
    demo.add_argument("path", nargs="?", help="database file (default: a temporary one)")
    demo.set_defaults(run=run_demo)
    return parser


def run_log(options: argparse.Namespace) -> int:
    """`kanta log FILE`: print every record, then optionally the final state."""
    if options.file == "-":
        history = read_history("<stdin>", sys.stdin.buffer.read())
    else:
        path = Path(options.file)
        if not path.exists():
            print(f"kanta: {path}: no such file", file=sys.stderr)
            return EXIT_ERROR
        history = read_history(path)
    style = Style(use_colour(sys.stderr))
    last: Entry | None = None
    for entry in history.entries():
        last = entry
        if not options.quiet:
            for line in entry_lines(entry, style):
                print(line, file=sys.stderr)
    if history.scan.damage is not None:
        damage = history.scan.damage
        print(f"kanta: {damage.reason} at byte {damage.byte_pos} (ignored)", file=sys.stderr)
    if options.output is not None:
        _write_state(options.output, last.state if last is not None else {})
    return 0


def _write_state(target: str, state: object) -> None:
    text = msgspec.json.format(msgspec.json.encode(state), indent=2) + b"\n"
    if target == "-":
        sys.stdout.buffer.write(text)
        sys.stdout.flush()
    else:
        Path(target).write_bytes(text)


def run_demo(options: argparse.Namespace) -> int:
    """`kanta demo`: the whole life of a small database, printed."""
    from .demo import run

    return run(options.path)
