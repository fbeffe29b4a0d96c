"""The JSON-lines log format: one record per line, snapshots prefixed with `SNAPSHOT `."""

from __future__ import annotations

from typing import Any

import msgspec

from .framing import Damage, RawRecord, Scan, value_decoder
from .records import Change, Record, Snapshot

SNAPSHOT_PREFIX = b"SNAPSHOT "

_encoder = msgspec.json.Encoder()
_change_decoder = msgspec.json.Decoder(Change)
_snapshot_decoder = msgspec.json.Decoder(Snapshot)


class JsonSerializer:
    """Encodes records as JSON lines and splits a JSON log into records."""

    name = "json"
    # JSON object keys are strings: int, UUID and other keys are written as their string form.
    str_keys = True

    def header(self) -> bytes:
        """Bytes that start a new file (none: JSON logs have no header)."""
        return b""

    def encode(self, record: Record, offset: int) -> bytes:
        """One record as a whole line; `offset` is unused (JSON lines can move)."""
        del offset
        if isinstance(record, Snapshot):
            return SNAPSHOT_PREFIX + _encoder.encode(record) + b"\n"
        return _encoder.encode(record) + b"\n"

    def reframe(self, raw: RawRecord, offset: int) -> bytes:
        """A record's line as found, for writing elsewhere (JSON lines can move)."""
        del offset
        prefix = SNAPSHOT_PREFIX if raw.is_snapshot else b""
        return prefix + raw.payload + b"\n"

    def encode_value(self, value: Any) -> bytes:
        """A value as it appears inside a record."""
        return _encoder.encode(value)

    def decode_value(self, data: bytes, hint: Any) -> Any:
        """Read back an encoded value as the annotation `hint` says (validating it)."""
        return value_decoder(msgspec.json.Decoder, hint).decode(data)

    def decode(self, raw: RawRecord) -> Record:
        """Decode one record; raises msgspec.DecodeError or ValidationError."""
        if raw.is_snapshot:
            return _snapshot_decoder.decode(raw.payload)
        return _change_decoder.decode(raw.payload)

    def to_state(self, value: Any) -> Any:
        """A typed value in the builtin form it has on disk (string keys, base64 bytes)."""
        return msgspec.to_builtins(value, str_keys=True)

    def from_state(self, state: Any, root_type: Any) -> Any:
        """Decode an on-disk state into the root type."""
        return msgspec.convert(state, root_type, str_keys=True)

    def key_form(self, key: Any) -> Any:
        """A dict key as it is written in this format."""
        if type(key) is str:
            return key
        return next(iter(msgspec.to_builtins({key: None}, str_keys=True)))

    def scan(self, data: bytes, start: int = 0, first_position: int = 1) -> Scan:
        """Split `data[start:]` into lines; trailing lines that do not decode are damage."""
        records: list[RawRecord] = []
        position = first_position
        pos = start
        while True:
            newline = data.find(b"\n", pos)
            if newline == -1:
                break
            records.append(_raw(data, pos, newline, newline + 1, position))
            position += 1
            pos = newline + 1
        needs_newline = False
        if pos < len(data):
            records.append(_raw(data, pos, len(data), len(data), position))
            needs_newline = True
        return self._cut_damaged_tail(records, start, needs_newline)

    def _cut_damaged_tail(self, records: list[RawRecord], start: int, needs_newline: bool) -> Scan:
        # A crash can leave half a line, or blocks of zeros or garbage, after the last
        # whole record: everything after the last line that decodes is the damaged tail.
        damaged: RawRecord | None = None
        while records and not self._decodes(records[-1]):
            damaged = records.pop()
            needs_newline = False
        if damaged is None:
            end = records[-1].end if records else start
            return Scan(records, end, None, needs_newline=needs_newline)
        damage = Damage(damaged.byte_pos, damaged.position, "incomplete or undecodable tail")
        return Scan(records, damaged.byte_pos, damage)

    def _decodes(self, raw: RawRecord) -> bool:
        try:
            self.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return False
        return True


def _raw(data: bytes, start: int, stop: int, end: int, position: int) -> RawRecord:
    line = data[start:stop]
    if line.startswith(SNAPSHOT_PREFIX):
        return RawRecord(position, start, end, True, line[len(SNAPSHOT_PREFIX) :])
    return RawRecord(position, start, end, False, line)
