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
        """Split `data[start:]` into lines; an unterminated last line is checked, not trusted."""
        records: list[RawRecord] = []
        position = first_position
        pos = start
        size = len(data)
        while pos < size:
            newline = data.find(b"\n", pos)
            if newline == -1:
                return _scan_last_line(self, data, pos, position, records)
            records.append(_raw(data, pos, newline, newline + 1, position))
            position += 1
            pos = newline + 1
        return Scan(records, pos, None)


def _raw(data: bytes, start: int, stop: int, end: int, position: int) -> RawRecord:
    line = data[start:stop]
    if line.startswith(SNAPSHOT_PREFIX):
        return RawRecord(position, start, end, True, line[len(SNAPSHOT_PREFIX) :])
    return RawRecord(position, start, end, False, line)


def _scan_last_line(
    log: JsonSerializer, data: bytes, pos: int, position: int, records: list[RawRecord]
) -> Scan:
    # A crash can leave a whole record without its newline, or half a record: only a
    # record that decodes completely is kept.
    raw = _raw(data, pos, len(data), len(data), position)
    try:
        log.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return Scan(records, pos, Damage(pos, position, "incomplete last line"))
    records.append(raw)
    return Scan(records, len(data), None, needs_newline=True)
