"""Chained checksums for JSON lines: a field `c`, last in every record we write.

`c` is 16 hex digits of BLAKE3 over the previous line's `c` and this line without its
`c`, so changing any byte of a line, or removing or swapping a line in the middle, breaks
the chain, while cutting whole lines off the end leaves a valid file. A line without `c`
(written by kanta 0.9.x, which ignores the field) restarts the chain. Verifying needs no
JSON decoding: `c` sits at a fixed place before the closing brace.
"""

from __future__ import annotations

import blake3

_MARK = b',"c":"'
_DIGITS = 16
SUFFIX = len(_MARK) + _DIGITS + 2  # ,"c":"<digits>"}


def digest(prev: bytes, body: bytes) -> bytes:
    """The checksum of a line `body` (without `c`) that follows a line sealed with `prev`."""
    return blake3.blake3(prev + body).digest(length=_DIGITS // 2).hex().encode()


def seal(body: bytes, prev: bytes) -> tuple[bytes, bytes]:
    """Add `c` to an encoded record (a JSON object, maybe after `SNAPSHOT `): line and `c`."""
    check = digest(prev, body)
    return body[:-1] + _MARK + check + b'"}', check


def unseal(line: bytes) -> tuple[bytes, bytes] | None:
    """Split a sealed line into its body and `c`; None for a line without `c`."""
    if len(line) <= SUFFIX or not line.endswith(b'"}'):
        return None
    mark = len(line) - SUFFIX
    if line[mark : mark + len(_MARK)] != _MARK:
        return None
    return line[:mark] + b"}", line[mark + len(_MARK) : -2]


def tip(line: bytes) -> bytes:
    """What the next line chains to: this line's `c`, or nothing for a line without one."""
    sealed = unseal(line)
    return sealed[1] if sealed is not None else b""


_HEX = frozenset(b"0123456789abcdef")
_TEMPLATE = _MARK + b"?" * _DIGITS + b'"}'


def looks_sealed(line: bytes) -> bool:
    """Whether a line ends like a sealed one, allowing one damaged byte in the seal.

    So a damaged seal is not mistaken for a line without one (which is accepted as a
    line of kanta 0.9.x). Lines of 0.9.x end with `}}` or a short field: far from this.
    """
    if len(line) <= SUFFIX:
        return False
    tail = line[-SUFFIX:]
    if tail.startswith(_MARK) and tail.endswith(b'"}'):
        return True
    wrong = 0
    for index, byte in enumerate(tail):
        expected = _TEMPLATE[index]
        ok = byte in _HEX if expected == ord("?") else byte == expected
        wrong += not ok
    return wrong <= 1


def intact(line: bytes, prev: bytes) -> bool | None:
    """Whether a sealed line is exactly what sealing its body after `prev` gives.

    None for a line without a seal. The whole line is compared, so a changed byte in the
    seal itself is caught too.
    """
    if not looks_sealed(line):
        return None
    return seal(line[:-SUFFIX] + b"}", prev)[0] == line
