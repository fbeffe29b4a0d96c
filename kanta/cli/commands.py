"""The `kanta` command line: history viewer and tools, thin over the Python API.

Each subcommand is a module-level `add_parser(commands)` that adds its parser and sets
`run` (a function from the parsed options to an exit code). Adding one is writing that
function and listing it in `SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .. import __version__
from ..core.grep import GrepError
from ..core.ranges import RangeError, RangeNotFound
from ..errors import DatabaseError
from ..printable import printable
from . import log as cli_log
from . import replicas as cli_replicas
from . import stats as cli_stats
from . import tools as cli_tools
from .common import EXIT_ERROR, EXIT_PARSE, EXIT_USAGE, CliError

SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (
    cli_log.add_parser,
    cli_tools.add_show,
    cli_tools.add_diff,
    cli_tools.add_blame,
    cli_tools.add_verify,
    cli_tools.add_recover,
    cli_stats.add_stats,
    cli_tools.add_convert,
    cli_tools.add_demo,
    cli_replicas.add_follow,
    cli_replicas.add_restore,
)
_TOP_LEVEL = ("-h", "--help", "--version")
# Options whose values may start with a minus (`-r -2:`), which argparse takes for options.
_SIGNED_VALUES = ("-r", "--range")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `kanta` script and `python -m kanta`; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser, names = _parser()
    if not args or (args[0] not in names and args[0] not in _TOP_LEVEL):
        args.insert(0, "log")  # `kanta FILE` keeps meaning `kanta log FILE`
    try:
        options = parser.parse_args(_attach_signed_values(args))
    except SystemExit as exc:  # argparse exits on --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return int(options.run(options))
    except BrokenPipeError:
        # The reader went away (`kanta db | head`): stop quietly, without a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except RecursionError:
        # The file holds a value deeper than the readers go (kanta never stores one).
        where = getattr(options, "file", None) or "the file"
        print(f"kanta: {printable(str(where))}: a value is nested too deeply", file=sys.stderr)
        return EXIT_PARSE
    except Exception as exc:
        message, code = _failure(exc)
        # Messages quote paths, actions and values from the file: escape what they hold.
        print(f"kanta: {printable(message)}", file=sys.stderr)
        return code


def _attach_signed_values(args: list[str]) -> list[str]:
    """`-r -2:` as `--range=-2:`, so that argparse reads the value as a value."""
    out: list[str] = []
    for arg in args:
        if out and out[-1] in _SIGNED_VALUES and re.match(r"-[0-9]", arg):
            out[-1] = f"--range={arg}"
        else:
            out.append(arg)
    return out


def _failure(exc: Exception) -> tuple[str, int]:
    """The message and exit code for an error (re-raised if it is not one we expect)."""
    if isinstance(exc, CliError):
        return str(exc), exc.code
    if isinstance(exc, RangeNotFound):
        return str(exc), EXIT_USAGE
    if isinstance(exc, RangeError | GrepError):
        return str(exc), EXIT_ERROR
    if isinstance(exc, DatabaseError):
        # The message names the file, record position and byte offset.
        return str(exc), EXIT_PARSE if exc.byte_pos is not None else EXIT_ERROR
    if isinstance(exc, OSError):
        return str(exc), EXIT_ERROR
    raise exc


def _parser() -> tuple[argparse.ArgumentParser, set[str]]:
    parser = argparse.ArgumentParser(
        prog="kanta",
        description=f"kanta {__version__} - show and maintain kanta database files. "
        "`kanta FILE ...` is short for `kanta log FILE ...`. Human-readable output goes "
        "to standard error, data (JSON) to standard output.",
    )
    parser.add_argument("--version", action="version", version=f"kanta {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(commands)
    return parser, set(commands.choices)
