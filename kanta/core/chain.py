"""Chained checksums for JSON lines: a field `c`, last in every record we write.

`c` is 16 hex digits of BLAKE3 over the previous line's `c` and this line without its
`c`, so changing any byte of a line, or removing or swapping a line in the middle, breaks
the chain, while cutting whole lines off the end leaves a valid file. A line without `c`
(written by kanta 0.9.x, which ignores the field) restarts the chain. Verifying needs no
JSON decoding: `c` sits at a fixed place before the closing brace.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from operator import eq, getitem

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


def seal_parts(parts: list[bytes], prev: bytes) -> tuple[list[bytes], bytes]:
    """`seal` for a record given in pieces (a large snapshot), without joining them."""
    hasher = blake3.blake3(prev)
    for part in parts:
        hasher.update(part)
    check = hasher.digest(length=_DIGITS // 2).hex().encode()
    return [*parts[:-1], parts[-1][:-1] + _MARK + check + b'"}'], check


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


_BIG = 1 << 16  # a line this long is hashed in place, not copied first
_MARK_AT = slice(-SUFFIX, -SUFFIX + len(_MARK))
_DIGITS_AT = slice(-_DIGITS - 2, -2)


def chain_tip(lines: Sequence[bytes]) -> bytes | None:
    """The last line's `c` if every line is sealed and intact after the one before it
    (the first after none; b"" for no lines), else None.

    What `intact` and `tip` say of each line in turn, for a whole file of ours, with one
    hasher reused: creating a hasher costs more than hashing a short line.
    """
    if not _all_shaped(lines):
        return None
    hasher = blake3.blake3()
    reset, update, checksum = hasher.reset, hasher.update, hasher.digest
    prev = b""
    for line in lines:
        reset()
        if len(line) < _BIG:
            update(prev + line[:-SUFFIX] + b"}")
        else:
            update(prev)
            update(memoryview(line)[:-SUFFIX])
            update(b"}")
        prev = checksum(_DIGITS // 2).hex().encode()
        if line[_DIGITS_AT] != prev:
            return None
    return prev


def _all_shaped(lines: Sequence[bytes]) -> bool:
    # Each line ends in `,"c":"` + 16 characters + `"}`; the characters are checked by hashing.
    if not lines:
        return True
    return (
        min(map(len, lines)) > SUFFIX
        and all(map(eq, map(getitem, lines, repeat(_MARK_AT)), repeat(_MARK)))
        and all(map(bytes.endswith, lines, repeat(b'"}')))
    )
