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

from .clone import DICT, LEAF, STRUCT, kind_of
from .tracker import SMALL_DICT

# Entries per encoder call: about a millisecond for small objects.
SLICE = 5_000

Encode = Callable[[Any], bytes]
Pause = Callable[[], object]


def _no_pause() -> None:
    return None


def encode_state_parts(
    state: Any, encode: Encode, size: int = SLICE, pause: Pause = _no_pause
) -> list[bytes]:
    """`encode(state)` as pieces whose concatenation is exactly those bytes.

    Large dicts come as many pieces, so that no piece is as big as the state and nobody
    needs to hold two copies of it. `state` must be a private copy (such as
    `Tracker.freeze` gives): its containers are changed meanwhile, and put back.
    """
    style = encode({})
    if style not in (b"{}", b"\x80"):
        return [encode(state)]  # a format whose maps cannot be joined like this
    slicer = _Slicer(encode, style == b"{}", size, pause)
    if kind_of(state) == DICT and len(state) > SMALL_DICT:
        return _dict_parts(state, slicer)  # a large dict at the root
    try:
        pieces = encode(slicer.take_large_dicts(state)).split(slicer.marker)
    finally:
        slicer.put_back()  # the copy may be encoded again (a write that failed is retried)
    if len(pieces) != len(slicer.taken) + 1:
        return [encode(state)]  # some value in the state reads like the marker
    parts = [pieces[0]]
    for dict_parts, piece in zip(slicer.dict_parts, pieces[1:], strict=True):
        parts += dict_parts
        parts.append(piece)
    return [part for part in parts if part]


class _Slicer:
    """Takes the large dicts out of a private copy, leaving a marker, and encodes them."""

    def __init__(self, encode: Encode, json: bool, size: int, pause: Pause) -> None:
        self.encode, self.json, self.size, self.pause = encode, json, size, pause
        self.marker = encode(_MARKER_TEXT)
        self.taken: list[tuple[Any, Any, Any]] = []  # (container, key or field, the dict)
        self.dict_parts: list[list[bytes]] = []

    def take_large_dicts(self, value: Any) -> Any:
        """`value` with its large dicts (outside other large dicts) replaced by the marker."""
        kind = kind_of(value)
        if kind == DICT:
            for key, item in value.items():
                value[key] = self._take(value, key, item)
        elif kind == STRUCT:
            for name in value.__struct_fields__:
                item = getattr(value, name)
                if kind_of(item) != LEAF:
                    force_setattr(value, name, self._take(value, name, item))
        return value

    def _take(self, container: Any, key: Any, item: Any) -> Any:
        if kind_of(item) != DICT or len(item) <= SMALL_DICT:
            return self.take_large_dicts(item)
        self.taken.append((container, key, item))
        self.dict_parts.append(_dict_parts(item, self))
        return msgspec.Raw(self.marker)

    def put_back(self) -> None:
        """Undo `take_large_dicts` (in reverse, for dicts taken out of the same container)."""
        for container, key, item in reversed(self.taken):
            if kind_of(container) == DICT:
                container[key] = item
            else:
                force_setattr(container, key, item)


# Stands in for a large dict while the rest of the state is encoded; `split` finds it.
_MARKER_TEXT = "\x00kanta: a large dict goes here\x00"


def _dict_parts(value: dict[Any, Any], slicer: _Slicer) -> list[bytes]:
    """A large dict's encoding in pieces, a slice of entries at a time."""
    entries = iter(value.items())
    parts = [b"{" if slicer.json else _map_header(len(value))]
    while chunk := dict(islice(entries, slicer.size)):
        encoded = slicer.encode(chunk)
        slicer.pause()
        if slicer.json:
            parts += [b",", encoded[1:-1]] if len(parts) > 1 else [encoded[1:-1]]
        else:
            parts.append(encoded[_map_header_size(encoded[0]) :])
    if slicer.json:
        parts.append(b"}")
    return parts


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
