"""Encoding a whole state for a snapshot, a slice of each large dict at a time.

One encoder call over a large state holds the GIL from start to end, so a snapshot
encoded in the writer's thread would still stop the event loop for that long. Encoding
large dicts a few thousand entries per call, with a `pause` between calls (the writer
gives the GIL away there), lets the event loop run; the slices are joined into exactly
the bytes one call would give, and the result goes into the outer value as `msgspec.Raw`.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import Any

import msgspec
from msgspec.structs import force_setattr

from .tracker import DICT, LEAF, SMALL_DICT, STRUCT, kind_of

# Entries per encoder call: about a millisecond for small objects.
SLICE = 5_000

Encode = Callable[[Any], bytes]
Pause = Callable[[], object]


def _no_pause() -> None:
    return None


def encode_state(state: Any, encode: Encode, size: int = SLICE, pause: Pause = _no_pause) -> bytes:
    """`encode(state)`, byte for byte, with each large dict encoded a slice at a time.

    `state` must be a private copy (such as `Tracker.freeze` gives): its containers outside
    large dicts are replaced, in place, by their encoded form.
    """
    style = encode({})
    if style not in (b"{}", b"\x80"):
        return encode(state)  # a format whose maps cannot be joined like this
    slicer = _Slicer(encode, style == b"{}", size, pause)
    return encode(slicer.encode_large_dicts(state))


class _Slicer:
    """Replaces the large dicts of a private copy by their encoding, a slice at a time."""

    def __init__(self, encode: Encode, json: bool, size: int, pause: Pause) -> None:
        self.encode, self.json, self.size, self.pause = encode, json, size, pause

    def encode_large_dicts(self, value: Any) -> Any:
        """`value`, its large dicts (anywhere outside other large dicts) as `msgspec.Raw`."""
        kind = kind_of(value)
        if kind == DICT:
            if len(value) > SMALL_DICT:
                return msgspec.Raw(_encode_dict(value, self))
            for key, item in value.items():
                value[key] = self.encode_large_dicts(item)
        elif kind == STRUCT:
            for name in value.__struct_fields__:
                item = getattr(value, name)
                if kind_of(item) != LEAF:
                    force_setattr(value, name, self.encode_large_dicts(item))
        return value


def _encode_dict(value: dict[Any, Any], slicer: _Slicer) -> bytes:
    entries = iter(value.items())
    parts = []
    json = slicer.json
    while chunk := dict(islice(entries, slicer.size)):
        encoded = slicer.encode(chunk)
        slicer.pause()
        parts.append(encoded[1:-1] if json else encoded[_map_header_size(encoded[0]) :])
    if json:
        return b"{" + b",".join(parts) + b"}"
    return _map_header(len(value)) + b"".join(parts)


def _map_header_size(first: int) -> int:
    """The size of a MessagePack map header, from its first byte."""
    if 0x80 <= first <= 0x8F:
        return 1
    return {0xDE: 3, 0xDF: 5}[first]


def _map_header(count: int) -> bytes:
    """The smallest MessagePack map header for `count` entries, as msgspec writes it."""
    if count < 16:
        return bytes([0x80 | count])
    if count < 1 << 16:
        return b"\xde" + count.to_bytes(2, "big")
    return b"\xdf" + count.to_bytes(4, "big")
