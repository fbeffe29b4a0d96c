"""Text from a database made safe for a terminal: control characters as visible escapes.

Stored strings, keys, actions and user names are data, and may hold anything: an
escape sequence in one would retitle the terminal, clear it or overwrite lines when
the history is printed. Every human-readable output passes them through `printable`;
JSON output is safe through JSON's own escaping (`json_printable` adds DEL and C1).
"""

from __future__ import annotations

import re

__all__ = ["json_printable", "printable"]

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
