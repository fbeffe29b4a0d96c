"""The JSON-lines log format: one record per line, snapshots prefixed with `SNAPSHOT `.

Every line we write ends with a chained checksum field `c` (see `kanta.seal`).
"""

from __future__ import annotations

from itertools import accumulate, compress, count, repeat
from operator import add
from typing import Any

import msgspec

from .chain import chain_tip, intact, looks_sealed, seal, seal_parts, tip, unseal
from .logformat import MsgspecCodec
from .records import Change, ChangeBody, Record, Snapshot
from .scan import Damage, RawRecord, Scan

SNAPSHOT_PREFIX = b"SNAPSHOT "

_encoder = msgspec.json.Encoder()
# Where a record can start inside damaged bytes: every record we (and 0.9.x) write does so.
_RECORD_STARTS = (b'{"ts":', SNAPSHOT_PREFIX + b"{")
_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError)


class _SealField(msgspec.Struct):
    """The one field of a line that says whether it carries a checksum."""

    c: Any = None


_seal_field_decoder = msgspec.json.Decoder(_SealField)
_any_decoder = msgspec.json.Decoder()


def looks_json(data: bytes) -> bool:
    """Whether file contents start like a JSON log: a record, or a snapshot's prefix."""
    return data.startswith((b"{", SNAPSHOT_PREFIX)) or (
        len(data) < len(SNAPSHOT_PREFIX) and SNAPSHOT_PREFIX.startswith(data) and bool(data)
    )


_change_decoder = msgspec.json.Decoder(Change)
_body_decoder = msgspec.json.Decoder(ChangeBody)
_snapshot_decoder = msgspec.json.Decoder(Snapshot)


class JsonSerializer(MsgspecCodec):
    """Encodes records as JSON lines and splits a JSON log into records.

    An instance follows one file: it remembers the checksum of the last line it scanned
    or wrote, which the next line it writes chains to.
    """

    name = "json"
    # JSON object keys are strings: int, UUID and other keys are written as their string form.
    str_keys = True
    _encoder = _encoder
    _decoder_kind = msgspec.json.Decoder
    _change_decoder = _change_decoder
    _snapshot_decoder = _snapshot_decoder

    def __init__(self) -> None:
        self._tip = b""

    def encode(self, record: Record, offset: int) -> bytes:
        """One record as a whole, sealed line; offset 0 starts a new chain (a new file)."""
        prefix = SNAPSHOT_PREFIX if isinstance(record, Snapshot) else b""
        return self._seal(prefix + _encoder.encode(record), offset)

    def encode_snapshot(self, record: Snapshot, state: list[bytes], offset: int) -> list[bytes]:
        """`encode` for a snapshot whose state comes in pieces: the line, in pieces."""
        if offset == 0:
            self._tip = b""
        head, tail = _around_state(SNAPSHOT_PREFIX + _encoder.encode(_placeholder(record)))
        parts, self._tip = seal_parts([head, *state, tail], self._tip)
        parts[-1] += b"\n"
        return parts

    def reframe(self, raw: RawRecord, offset: int) -> bytes:
        """A record's line for writing at `offset` of another file, sealed anew."""
        line = _line(raw)
        sealed = unseal(line)
        if sealed is None:  # a line of kanta 0.9.x: kept as it is, and the chain restarts
            self._tip = b""
            return line + b"\n"
        return self._seal(sealed[0], offset)

    def _seal(self, body: bytes, offset: int) -> bytes:
        if offset == 0:
            self._tip = b""
        line, self._tip = seal(body, self._tip)
        return line + b"\n"

    # The decoder's own method, with no Python call around it: replay calls it per record.
    decode_change = staticmethod(_change_decoder.decode)
    decode_change_body = staticmethod(_body_decoder.decode)

    def to_state(self, value: Any) -> Any:
        """A typed value in the builtin form it has on disk (string keys, base64 bytes)."""
        return msgspec.to_builtins(value, str_keys=True)

    def key_form(self, key: Any) -> Any:
        """A dict key as it is written in this format."""
        if type(key) is str:
            return key
        return next(iter(msgspec.to_builtins({key: None}, str_keys=True)))

    def scan(self, data: bytes, start: int = 0, first_position: int = 1) -> Scan:
        """Split `data[start:]` into lines and check their seals; the rest is damage.

        A line whose checksum fails, with an intact line after it, is corruption. A damaged
        end of file (a torn line, zeros, garbage) is a tail.
        """
        lines = _split(data, start)
        records = _records(lines, start, first_position, len(data))
        needs_newline = bool(records) and records[-1].end == len(data) and not data.endswith(b"\n")
        last_tip = chain_tip(lines)
        if last_tip is not None:
            # A whole file of ours, the usual case: verified in one pass, nothing to cut.
            self._tip = last_tip
            end = records[-1].end if records else start
            return Scan(records, end, None, needs_newline=needs_newline, verified=True)
        prev, unsealed = b"", len(records)
        for index, raw in enumerate(records):
            line = _line(raw)
            checked = intact(line, prev)
            if checked is None and _carries_seal(raw.payload):
                checked = False  # a `c` moved or spaced out of place: an edited line
            if checked is False:
                return self._remember_tip(self._broken_chain(data, records, index))
            if checked is None:
                unsealed = min(unsealed, index)
            prev = tip(line)
        scan = self._cut_damaged_tail(data, records, start, needs_newline)
        # Verified when the first unsealed line (if any) was part of the cut tail.
        return self._remember_tip(scan._replace(verified=unsealed >= len(scan.records)))

    def _broken_chain(self, data: bytes, records: list[RawRecord], index: int) -> Scan:
        # The damage may start before the line whose check failed: a line of ours that
        # lost its `c` and no longer decodes breaks the chain of the line after it.
        first = index
        while first > 0 and not looks_sealed(_line(records[first - 1])):
            if self._decodes(records[first - 1]):
                break
            first -= 1
        raw = records[first]
        damage = Damage(raw.byte_pos, raw.position, "checksum mismatch")
        return Scan(records[:first], raw.byte_pos, self._with_whole_after(data, damage))

    def _with_whole_after(self, data: bytes, damage: Damage) -> Damage:
        # A torn write never leaves a whole record in or after the damage; corruption may.
        return damage._replace(valid_after=self.find_whole(data, damage.byte_pos))

    def find_whole(self, data: bytes, pos: int) -> int | None:
        """The offset of the first whole record from `pos` on, if any: damage, not a tail.

        A whole record is a line that decodes as one (the line at `pos` included: a line
        that decodes but fails its checksum was changed, not torn), or the end of a line
        from where a record starts: lines run together when a newline is lost or bytes
        are inserted before one.
        """
        while pos < len(data):
            end = data.find(b"\n", pos)
            end = len(data) if end == -1 else end
            line = data[pos:end]
            if self._line_decodes(line):
                return pos
            for at in _record_starts(line):
                if self._line_decodes(line[at:]):
                    return pos + at
            pos = end + 1
        return None

    def _line_decodes(self, line: bytes) -> bool:
        """Whether a line is whole: a record, or any JSON object (which no tear leaves)."""
        snapshot = line.startswith(SNAPSHOT_PREFIX)
        payload = line[len(SNAPSHOT_PREFIX) :] if snapshot else line
        try:
            return type(_any_decoder.decode(payload)) is dict
        except RecursionError:
            # Too deep to decode; whole if it ends as an object does (a tear rarely does).
            return payload.rstrip().endswith(b"}")
        except _DECODE_ERRORS:
            return False

    def _cut_damaged_tail(
        self, data: bytes, records: list[RawRecord], start: int, needs_newline: bool
    ) -> Scan:
        # A crash can leave half a line, or blocks of zeros or garbage, after the last
        # whole record: everything after the last line that decodes is the damaged tail.
        damaged: RawRecord | None = None
        # Sealed lines were verified by the caller; only unsealed ones need decoding.
        while records and not (looks_sealed(_line(records[-1])) or self._decodes(records[-1])):
            damaged = records.pop()
            needs_newline = False
        if damaged is None:
            end = records[-1].end if records else start
            return Scan(records, end, None, needs_newline=needs_newline)
        damage = Damage(damaged.byte_pos, damaged.position, "incomplete or undecodable tail")
        return Scan(records, damaged.byte_pos, self._with_whole_after(data, damage))

    def _decodes(self, raw: RawRecord) -> bool:
        try:
            self.decode(raw)
        except _DECODE_ERRORS:
            return False
        return True

    def _remember_tip(self, scan: Scan) -> Scan:
        self._tip = tip(_line(scan.records[-1])) if scan.records else b""
        return scan


def _split(data: bytes, start: int) -> list[bytes]:
    """The lines of `data[start:]`, without their newlines."""
    lines = (data[start:] if start else data).split(b"\n")
    if lines[-1] == b"":  # after the last newline, or all of an empty file
        lines.pop()
    return lines


def _records(lines: list[bytes], start: int, position: int, size: int) -> list[RawRecord]:
    """The records of lines that start at `start` of a file of `size` bytes."""
    # Built by C-level iteration: a long log has a record for every line.
    starts = list(accumulate(map(add, map(len, lines), repeat(1)), initial=start))
    ends = starts[1:]
    if ends and ends[-1] > size:  # the last line has no newline
        ends[-1] = size
    snapshots = list(map(bytes.startswith, lines, repeat(SNAPSHOT_PREFIX)))
    payloads = lines
    if any(snapshots):
        payloads = list(lines)
        for index in compress(count(), snapshots):
            payloads[index] = lines[index][len(SNAPSHOT_PREFIX) :]
    fields = zip(count(position), starts, ends, snapshots, payloads)
    return list(map(tuple.__new__, repeat(RawRecord), fields))


def _carries_seal(payload: bytes) -> bool:
    """Whether a line not sealed in place still has a `c` field (spaced, moved, escaped)."""
    if b'"c"' not in payload and b"\\u" not in payload:
        return False  # the usual 0.9.x line, settled without decoding
    try:
        return _seal_field_decoder.decode(payload).c is not None
    except _DECODE_ERRORS:
        return False


def _record_starts(line: bytes) -> list[int]:
    """Where records may start inside a line, after its first byte, in order."""
    found: list[int] = []
    for needle in _RECORD_STARTS:
        at = line.find(needle, 1)
        while at != -1:
            found.append(at)
            at = line.find(needle, at + 1)
    return sorted(found)


def _line(raw: RawRecord) -> bytes:
    return SNAPSHOT_PREFIX + raw.payload if raw.is_snapshot else raw.payload


_STATE_PLACEHOLDER = b'"\\u0000kanta: the state goes here\\u0000"'


def _placeholder(record: Snapshot) -> Snapshot:
    return msgspec.structs.replace(record, state=msgspec.Raw(_STATE_PLACEHOLDER))


def _around_state(body: bytes) -> tuple[bytes, bytes]:
    """The bytes before and after the state (a snapshot's other fields are numbers and times)."""
    head, tail = body.split(_STATE_PLACEHOLDER)
    return head, tail
