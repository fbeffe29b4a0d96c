"""Terminal strings: the colour palette, a line builder, display widths, colour detection.

Colours are bare SGR parameter strings (`"1;34"`, `"38;5;226"`) without the `ESC [` and
`m` framing. `Line` knows how SGR parameters stack (`0` clears everything; the stacking
attributes add up; the last foreground and background colour win), so it writes the
fewest parameters from one colour to the next and folds a needed reset into the same
escape sequence as the colour that follows it.
"""

from __future__ import annotations

import os
import re
import sys
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

ESC = "\x1b["
# CSI as ECMA-48 has it (parameters, intermediates, one final byte), and OSC (window
# titles, OSC 8 hyperlinks), which ends with BEL or with ST (ESC \).
ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


class Colors:
    """Kanta's colour palette: bare SGR parameter strings, looked up when a line is built."""

    action = "1;34"  # the action of a logged transaction
    user = "34"
    target = "38;5;250"
    snapshot = "97"
    sep = "38;5;242"
    path_prefix = "38;5;242"
    path_final = "38;5;250"
    add = "32"
    delete = "1;31"
    ellipsis = "38;5;242"
    # The names kanta's CLI views and kanta.ansi.Style use besides those of 0.9.x.
    dim = "2"
    bold = "1"
    red = "31"
    green = "32"
    yellow = "33"
    cyan = "36"
    grey = "90"
    match = "30;43"  # a grep match


colors = Colors()

_FOREGROUND = frozenset(map(str, [*range(30, 38), *range(90, 98)]))
_BACKGROUND = frozenset(map(str, [*range(40, 48), *range(100, 108)]))
_EXTENDED = {"38": "fg", "48": "bg"}
_EXTENDED_SIZE = {"5": 3, "2": 5}  # 38;5;n and 38;2;r;g;b
_PLAIN: Mapping[str, str] = {}


@lru_cache(maxsize=512)
def _state(sgr: str) -> Mapping[str, str]:
    """What `sgr` sets, from the defaults: one entry a kind of attribute, in first-set order."""
    tokens = sgr.split(";")
    state: dict[str, str] = {}
    at = 0
    while at < len(tokens):
        token = tokens[at] or "0"  # an empty parameter is 0 (ECMA-48)
        size = 1
        if token == "0":
            state.clear()
        elif token in _EXTENDED:
            size = _EXTENDED_SIZE.get(tokens[at + 1] if at + 1 < len(tokens) else "", 1)
            state[_EXTENDED[token]] = ";".join(tokens[at : at + size])
        elif token in _FOREGROUND or token in _BACKGROUND:
            state["fg" if token in _FOREGROUND else "bg"] = token
        else:  # bold, italic, ... add up; each, and any other parameter, is kept as it is
            state[token] = token
        at += size
    return state


def _transition(now: Mapping[str, str], wanted: Mapping[str, str]) -> str:
    """The SGR parameters that take a terminal from `now` to `wanted` ('' for none)."""
    if now == wanted:
        return ""
    if all(kind in wanted for kind in now):  # every attribute of `now` is overridden
        return ";".join(value for kind, value in wanted.items() if now.get(kind) != value)
    return ";".join(["0", *wanted.values()])


class Line:
    """Builds a terminal string: a call appends text, `.<colour>` colours the next call."""

    def __init__(self, palette: Colors | None = None) -> None:
        self._palette: Any = colors if palette is None else palette
        self._parts: list[str] = []
        self._shown = _PLAIN  # the attributes the terminal has after the parts so far
        self._armed = _PLAIN  # those of the next call

    def __getattr__(self, name: str) -> Line:
        """Arms the palette colour `name` for the next call."""
        if name.startswith("_"):
            raise AttributeError(name)
        sgr = getattr(self._palette, name, None)
        if sgr is None:
            raise AttributeError(f"unknown color: {name!r}")
        self._armed = _state(str(sgr))
        return self

    def __call__(self, *args: Any, width: int = 0, align: str = "left") -> Line:
        """Appends the arguments (str-converted), padded to `width` columns if given."""
        text = "".join(map(str, args))
        codes = _transition(self._shown, self._armed)
        if codes:
            self._parts.append(f"{ESC}{codes}m")
        self._parts.append(pad(text, width, align) if width else text)
        self._shown, self._armed = self._armed, _PLAIN
        return self

    def __str__(self) -> str:
        """The line so far, ending in the default colours."""
        reset = f"{ESC}0m" if self._shown else ""
        return "".join(self._parts) + reset


def strip_ansi(text: str) -> str:
    """`text` without its ANSI escape sequences (CSI, SGR among them, and OSC)."""
    return ANSI_RE.sub("", text)


def _pictographic(code: int) -> bool:
    """Whether code point `code` may be drawn as an emoji (wider than text, or joined)."""
    return 0x2000 <= code <= 0x2BFF or 0x1F000 <= code <= 0x1FAFF or code in (0xA9, 0xAE)


def _zero_width(char: str) -> bool:
    """Whether `char` takes no column of its own (a mark, a format character, a jamo tail)."""
    code = ord(char)
    if 0x1160 <= code <= 0x11FF or 0xD7B0 <= code <= 0xD7FF:  # Hangul vowels and finals
        return True
    return bool(unicodedata.combining(char)) or unicodedata.category(char) in ("Mn", "Me", "Cf")


_VS16 = "\ufe0f"  # emoji presentation: the character before it is drawn two columns wide
_ZWJ = "\u200d"  # joins the emoji on both sides into one glyph
_KEYCAP_BASES = frozenset("#*0123456789")


def displaywidth(text: str) -> int:
    """The columns `text` takes on a terminal, ANSI sequences aside; emoji count as drawn."""
    plain = strip_ansi(text)
    if plain.isascii():
        return len(plain)
    total = 0
    glyph = 0  # the width of the glyph the next code point may join, 0 before the first
    base = ""  # that glyph's first code point
    joined = False  # the next code point follows a ZWJ after an emoji
    for char in plain:
        code = ord(char)
        if char == _VS16:
            if glyph == 1 and (_pictographic(ord(base)) or base in _KEYCAP_BASES):
                total, glyph = total + 1, 2
        elif char == _ZWJ:
            joined = glyph == 2 and _pictographic(ord(base))
        elif joined or (0x1F3FB <= code <= 0x1F3FF and glyph == 2 and _pictographic(ord(base))):
            joined = False  # part of the emoji before it, or its skin tone
        elif not _zero_width(char):
            glyph = 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
            total, base = total + glyph, char
    return total


def pad(text: str, width: int, align: str = "left") -> str:
    """`text` padded with spaces to `width` columns; align is "left", "right" or "center"."""
    room = width - displaywidth(text)
    if room <= 0:
        return text
    if align == "right":
        return " " * room + text
    if align == "center":
        return " " * (room // 2) + text + " " * (room - room // 2)
    return text + " " * room


class _Stderr:
    """The default stream of `use_color`: `sys.stderr` as it is when it is called."""

    def __repr__(self) -> str:
        return "sys.stderr"


_STDERR: Any = _Stderr()


def use_color(stream: Any = _STDERR) -> bool:
    """Whether to colour `stream`: NO_COLOR, FORCE_COLOR, then a terminal or the journal."""
    if stream is _STDERR:
        stream = sys.stderr
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR") not in (None, "", "0"):
        return True
    return _isatty(stream) or _journal(stream)


def _isatty(stream: Any) -> bool:
    """Whether `stream` is a terminal (a closed stream is not)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except (ValueError, OSError):
        return False


def _journal(stream: Any) -> bool:
    """Whether `stream` is the journald stream systemd names in JOURNAL_STREAM (dev:inode)."""
    try:
        device, inode = (int(part) for part in os.environ.get("JOURNAL_STREAM", "").split(":"))
        found = os.fstat(stream.fileno())
    except (AttributeError, TypeError, ValueError, OSError):
        return False
    return (found.st_dev, found.st_ino) == (device, inode)
