"""ANSI styles for kanta's own log lines and CLI views: a thin layer on `kanta.tty`.

A style's name is a colour of the palette `kanta.tty.colors`, read each time text is
styled, so `colors.action = "36"` restyles kanta's own output too.
"""

from __future__ import annotations

from .tty import Line, use_color


class Style:
    """Wraps text in a palette colour, or leaves it plain."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, name: str) -> str:
        """`text` in the palette colour `name`."""
        return str(getattr(Line(), name)(text)) if self.colour else text


use_colour = use_color
