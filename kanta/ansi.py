"""ANSI styles for people reading a terminal: the log lines kanta emits and the CLI's views."""

from __future__ import annotations

import os
from typing import Any

_CODES = {
    "dim": "2",
    "bold": "1",
    "action": "1;34",  # the action of a logged transaction: bold blue
    "red": "31",
    "green": "32",
    "yellow": "33",
    "cyan": "36",
    "grey": "90",
    "match": "30;43",  # a grep match
}


class Style:
    """Wraps text in ANSI codes, or leaves it plain."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, name: str) -> str:
        """`text` in the named style."""
        return f"\x1b[{_CODES[name]}m{text}\x1b[0m" if self.colour else text


def use_colour(stream: Any) -> bool:
    """Colour on a terminal, unless NO_COLOR is set; FORCE_COLOR forces it on."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except (ValueError, OSError):  # a closed stream
        return False
