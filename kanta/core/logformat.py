"""The one interface of a log format: a value codec (how values are written and read back)
and a framer (how records become bytes of one file, and bytes records again).

Both formats implement it: `JsonSerializer` (JSON lines with a chained checksum) and
`MsgPackSerializer` (checksummed frames). The msgspec-backed half they share lives here.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from .records import Change, ChangeBody, Record, Snapshot
from .scan import RawRecord, Scan, value_decoder


class ValueCodec(Protocol):
    """How a format writes values and reads them back (what encoding a change needs)."""

    name: str  # "json" or "msgpack"
    str_keys: bool  # whether dict keys are written as strings

    def encode_value(self, value: Any) -> bytes:
        """A value as it appears inside a record."""
        ...

    def decode_value(self, data: bytes | memoryview, hint: Any) -> Any:
        """Read back an encoded value as the annotation `hint` says (validating it)."""
        ...

    def key_form(self, key: Any) -> Any:
        """A dict key as it is written in this format."""
        ...

    def to_state(self, value: Any) -> Any:
        """A typed value in the builtin form it has on disk."""
        ...

    def from_state(self, state: Any, root_type: Any) -> Any:
        """Decode an on-disk state into the root type."""
        ...


class LogFormat(ValueCodec, Protocol):
    """A value codec plus the framing of one file (an instance follows one file)."""

    def encode(self, record: Record, offset: int) -> bytes:
        """One record as it is written at `offset` (0 starts a new file)."""
        ...

    def encode_snapshot(self, record: Snapshot, state: list[bytes], offset: int) -> list[bytes]:
        """`encode` for a snapshot whose state comes in pieces, in pieces."""
        ...

    def reframe(self, raw: RawRecord, offset: int) -> bytes:
        """A record of another file, framed anew for `offset` of this one."""
        ...

    def decode(self, raw: RawRecord) -> Record:
        """Decode one record; raises msgspec.DecodeError or ValidationError."""
        ...

    def decode_change(self, payload: bytes) -> Change:
        """Decode the payload of a change record."""
        ...

    def decode_change_body(self, payload: bytes) -> ChangeBody:
        """Decode what replay needs of a change record whose checksum was verified."""
        ...

    def scan(self, data: bytes, start: int = 0, first_position: int = 1) -> Scan:
        """Split a file into records, checking them; what does not check out is damage."""
        ...

    def find_whole(self, data: bytes, pos: int) -> int | None:
        """The offset of the first whole record from `pos` on (damage, not a tail)."""
        ...


class MsgspecCodec:
    """The methods both formats share, over one msgspec encoding (set by the subclass)."""

    _encoder: Any  # msgspec.json.Encoder or msgspec.msgpack.Encoder
    _decoder_kind: Any  # msgspec.json.Decoder or msgspec.msgpack.Decoder
    _change_decoder: Any
    _snapshot_decoder: Any

    def encode_value(self, value: Any) -> bytes:
        """A value as it appears inside a record."""
        encoded: bytes = self._encoder.encode(value)
        return encoded

    def decode_value(self, data: bytes | memoryview, hint: Any) -> Any:
        """Read back an encoded value as the annotation `hint` says (validating it)."""
        return value_decoder(self._decoder_kind, hint).decode(data)

    def decode(self, raw: RawRecord) -> Record:
        """Decode one record; raises msgspec.DecodeError or ValidationError."""
        decoder = self._snapshot_decoder if raw.is_snapshot else self._change_decoder
        record: Record = decoder.decode(raw.payload)
        return record

    def from_state(self, state: Any, root_type: Any) -> Any:
        """Decode an on-disk state into the root type.

        Lenient about string forms (`"7"` for 7, base64 for bytes): JSON writes them, and
        a file converted from JSON without its types still opens in the binary format.
        """
        return msgspec.convert(state, root_type, str_keys=True)
