"""What every log format yields when it splits a file into records: positions, offsets, damage."""

from __future__ import annotations

from typing import Any, NamedTuple


class RawRecord(NamedTuple):
    """One record as found in the file, not yet decoded."""

    position: int  # 1-based: the line number in JSON files, the frame index in binary files
    byte_pos: int  # offset of the record's first byte
    end: int  # offset just past the record (after its newline or frame)
    is_snapshot: bool
    payload: bytes  # the encoded record, without line prefix or frame header


class Damage(NamedTuple):
    """Bytes that do not form a valid record, from `byte_pos` to the end of the file.

    A torn tail (what a crash or power cut leaves) has no valid record after it; damage
    with valid records after it is corruption, which is never cut away silently.
    """

    byte_pos: int
    position: int  # the position the damaged record would have had
    reason: str
    valid_after: int | None = None  # offset of the first valid record after the damage


class Scan(NamedTuple):
    """The records of a file, where its valid part ends, and what follows it."""

    records: list[RawRecord]
    good_end: int  # offset just past the last valid record
    damage: Damage | None  # None when the file ends cleanly at good_end
    needs_newline: bool = False  # the last record is whole but lost its final newline
    verified: bool = False  # every record's bytes matched a checksum (none of 0.9.x's lines)


_decoders: dict[tuple[type, Any], Any] = {}


def value_decoder(kind: type, hint: Any) -> Any:
    """A cached msgspec decoder of class `kind` (JSON or MessagePack) for the type `hint`."""
    try:
        return _decoders[(kind, hint)]
    except KeyError:
        decoder = _decoders[(kind, hint)] = kind(hint)
        return decoder
    except TypeError:  # an unhashable annotation: build one each time
        return kind(hint)
