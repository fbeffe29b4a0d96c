"""Text from a database made safe for a terminal: control characters as visible escapes.

Stored strings, keys, actions and user names are data, and may hold anything: an
escape sequence in one would retitle the terminal, clear it or overwrite lines when
the history is printed. Every human-readable output passes them through `printable`;
JSON output is safe through JSON's own escaping (`json_printable` adds DEL and C1).
`flow` shows a whole value that way, in the compact style kanta 0.9.x prints values in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec

__all__ = ["Formatter", "flow", "json_printable", "printable"]

Formatter = Callable[[Any, str], "str | None"]
"""A `@db.logfmt`-style hook: the text for a value (or key) at a dotted path, or None."""

# C0 controls, DEL and C1 controls (what a terminal acts on), the line and paragraph
# separators (line breaks to some viewers) and the bidi embeddings, overrides and
# isolates (they reorder what is shown). Accents, CJK, emoji (with their joiners) stay.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# JSON leaves DEL and C1 raw; in the UTF-8 of a JSON text they can only sit in strings.
_JSON_UNSAFE = re.compile(b"\x7f|\xc2[\x80-\x9f]")


def printable(text: str) -> str:
    """`text` with control characters as visible escapes (`\\x1b`, `\\r`); other unicode kept."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape, text)


def _escape(found: re.Match[str]) -> str:
    char = found.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def json_printable(data: bytes) -> bytes:
    """A JSON text with DEL and C1 controls in its strings as `\\u` escapes (the same value)."""
    if _JSON_UNSAFE.search(data) is None:
        return data
    return _JSON_UNSAFE.sub(_json_escape, data)


def _json_escape(found: re.Match[bytes]) -> bytes:
    return b"\\u%04x" % ord(found.group().decode())


def flow(value: Any, path: str = "", formatter: Formatter | None = None) -> str:
    """A value in 0.9.x's flow style (`{email: b@example.com}`, `[x, y]`), strings unquoted.

    `formatter` may give any part (value or key, by its dotted path) a text of its own,
    shown as it is; everything else is made printable. The empty string shows as `""`.
    """
    custom = formatter(value, path) if formatter is not None else None
    if custom is not None:
        return custom
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            child = _child_path(path, key)
            items.append(f"{flow_key(key, child, formatter)}: {flow(item, child, formatter)}")
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        parts = (flow(item, _child_path(path, i), formatter) for i, item in enumerate(value))
        return "[" + ", ".join(parts) + "]"
    if not isinstance(value, str):
        value = _scalar_text(value)
        if not isinstance(value, str):
            return printable(value.text)
    return printable(value) or '""'


def flow_key(key: Any, path: str = "", formatter: Formatter | None = None) -> str:
    """A dict key (or path element) as `flow` shows it: the formatter's text, else printable."""
    custom = formatter(key, path) if formatter is not None else None
    if custom is not None:
        return custom
    return printable(key if isinstance(key, str) else str(key)) or '""'


def _child_path(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


class _Literal(NamedTuple):
    """A scalar's text that is not a string's (`null`, `true`, `1.5`)."""

    text: str


def _scalar_text(value: Any) -> str | _Literal:
    """A string for what JSON files hold as one (bytes, datetimes, UUIDs), else a literal."""
    if isinstance(value, float):
        return _Literal(repr(value))  # as Python prints it (1e+100), which 0.9.x shows
    text = msgspec.json.encode(value, enc_hook=str).decode()
    return str(msgspec.json.decode(text)) if text.startswith('"') else _Literal(text)
