"""The binary log format: MessagePack records in checksummed frames.

A file starts with a 4-byte random seed `S`. Each frame is `marker (4) | payload length
(uint32 little-endian) | checksum (8) | payload`; the marker is `S` for a snapshot and the
bytewise NOT of `S` for a change. The checksum is the first 8 bytes of BLAKE3 keyed with
`b"Kanta blake3" + domain + S + offset`, where `offset` is the frame's absolute position,
so a frame cannot be moved or replayed elsewhere unnoticed.
"""

from __future__ import annotations

import secrets
import struct
from functools import partial
from typing import Any

import blake3
import msgspec

from .logformat import MsgspecCodec
from .records import Change, ChangeBody, Record, Snapshot
from .scan import Damage, RawRecord, Scan

SEED_SIZE = 4
FRAME_HEADER = 16  # marker, length, checksum
CHECKSUM_SIZE = 8
_KEY_PREFIX = b"Kanta blake3"
_CHANGE_DOMAIN = b"DIFFRECD"
_SNAPSHOT_DOMAIN = b"SNAPSHOT"
_LENGTH = struct.Struct("<I")
_HEADER = struct.Struct(f"<{SEED_SIZE}sI{CHECKSUM_SIZE}s")  # marker, length, checksum
_OFFSET = struct.Struct("<Q")  # a frame's offset in its checksum key: offset.to_bytes(8, "little")
_new_record = partial(tuple.__new__, RawRecord)
_JSON_START = b'{"ts":"'  # how every change record of a JSON log starts

_encoder = msgspec.msgpack.Encoder()
_change_decoder = msgspec.msgpack.Decoder(Change)
_body_decoder = msgspec.msgpack.Decoder(ChangeBody)
_snapshot_decoder = msgspec.msgpack.Decoder(Snapshot)
_any_decoder = msgspec.msgpack.Decoder()
# Stands in for a snapshot's state while the rest of the record is encoded.
_STATE_PLACEHOLDER = _encoder.encode("\x00kanta: the state goes here\x00")


def invert(seed: bytes) -> bytes:
    """The bytewise NOT of a seed: the marker of change frames."""
    return bytes(byte ^ 0xFF for byte in seed)


def checksum(payload: bytes, seed: bytes, offset: int, *, snapshot: bool) -> bytes:
    """The 8-byte keyed BLAKE3 checksum of a frame at `offset`."""
    return blake3.blake3(payload, key=_key(seed, offset, snapshot)).digest(length=CHECKSUM_SIZE)


def _key(seed: bytes, offset: int, snapshot: bool) -> bytes:
    domain = _SNAPSHOT_DOMAIN if snapshot else _CHANGE_DOMAIN
    return _KEY_PREFIX + domain + seed + offset.to_bytes(8, "little")


def looks_binary(data: bytes) -> bool:
    """Whether file contents are in the binary format: the first marker matches the seed.

    Shorter contents (a torn seed or marker) cannot show it; they count as binary unless
    they are the start of a JSON change record, and hold no whole record either way.
    """
    if len(data) >= 2 * SEED_SIZE:
        seed, marker = data[:SEED_SIZE], data[SEED_SIZE : 2 * SEED_SIZE]
        return marker in (seed, invert(seed))
    # Only the start of a change record is JSON: a new file never starts with a snapshot,
    # and a seed may start with `{` or `S` as well as any other byte.
    return bool(data) and not _JSON_START.startswith(data[: len(_JSON_START)])


def torn_first_frame(data: bytes) -> bool:
    """Whether `data` is the start of a new binary log's first frame, cut short by a crash.

    At least a seed and a marker (`torn_first_write` settles shorter data): the marker
    must match the seed (a new file starts with a change) and the frame must run past
    the end of the data.
    """
    if data[SEED_SIZE : 2 * SEED_SIZE] != invert(data[:SEED_SIZE]):
        return False
    if len(data) < SEED_SIZE + FRAME_HEADER:
        return True
    (length,) = _LENGTH.unpack_from(data, 2 * SEED_SIZE)
    return bool(SEED_SIZE + FRAME_HEADER + length > len(data))


class MsgPackSerializer(MsgspecCodec):
    """Writes and reads the framed MessagePack format with BLAKE3 checksums."""

    name = "msgpack"
    str_keys = False
    _encoder = _encoder
    _decoder_kind = msgspec.msgpack.Decoder
    _change_decoder = _change_decoder
    _snapshot_decoder = _snapshot_decoder

    def __init__(self, seed: bytes | None = None) -> None:
        self.seed = seed if seed is not None else secrets.token_bytes(SEED_SIZE)
        if len(self.seed) != SEED_SIZE:
            raise ValueError("a MessagePack log seed is 4 bytes")
        self._markers = (self.seed, invert(self.seed))

    def for_file(self, data: bytes) -> MsgPackSerializer:
        """The serializer for an existing file (its own seed), or self for a new one."""
        if len(data) >= SEED_SIZE:
            return MsgPackSerializer(data[:SEED_SIZE])
        return self

    def encode(self, record: Record, offset: int) -> bytes:
        """One frame at `offset`; the first frame of a file (offset 0) carries the seed."""
        header = b""
        if offset == 0:
            header, offset = self.seed, SEED_SIZE
        snapshot = isinstance(record, Snapshot)
        raw = RawRecord(0, offset, offset, snapshot, _encoder.encode(record))
        return header + self.reframe(raw, offset)

    def encode_snapshot(self, record: Snapshot, state: list[bytes], offset: int) -> list[bytes]:
        """`encode` for a snapshot whose state comes in pieces: the frame, in pieces."""
        header = b""
        if offset == 0:
            header, offset = self.seed, SEED_SIZE
        placeholder = msgspec.structs.replace(record, state=msgspec.Raw(_STATE_PLACEHOLDER))
        head, tail = _encoder.encode(placeholder).split(_STATE_PLACEHOLDER)
        payload = [head, *state, tail]
        hasher = blake3.blake3(key=_key(self.seed, offset, True))
        for part in payload:
            hasher.update(part)
        size = _LENGTH.pack(sum(map(len, payload)))
        return [header + self._markers[0] + size + hasher.digest(length=CHECKSUM_SIZE), *payload]

    def reframe(self, raw: RawRecord, offset: int) -> bytes:
        """A frame's payload framed anew for `offset` (the checksum key includes it)."""
        marker = self._markers[0] if raw.is_snapshot else self._markers[1]
        digest = checksum(raw.payload, self.seed, offset, snapshot=raw.is_snapshot)
        return marker + _LENGTH.pack(len(raw.payload)) + digest + raw.payload

    # The decoder's own method, with no Python call around it: replay calls it per record.
    decode_change = staticmethod(_change_decoder.decode)
    decode_change_body = staticmethod(_body_decoder.decode)

    def to_state(self, value: Any) -> Any:
        """A typed value in the builtin form it has on disk (native keys, bytes, datetimes)."""
        return _any_decoder.decode(_encoder.encode(value))

    def key_form(self, key: Any) -> Any:
        """A dict key as it is written in this format."""
        if type(key) is str or type(key) is int:
            return key
        return _any_decoder.decode(_encoder.encode(key))

    def scan(self, data: bytes, start: int = 0, first_position: int = 1) -> Scan:
        """Split `data` into frames, checking markers, lengths and checksums."""
        pos = max(start, SEED_SIZE)
        if len(data) < SEED_SIZE:
            return Scan(
                [], 0, Damage(0, first_position, "incomplete file header") if data else None
            )
        # Every frame is checksummed: what is not cut as damage below was verified.
        records = self._whole_frames(data, pos, first_position)
        if records:
            pos = records[-1].end
        position = first_position + len(records)
        while pos < len(data):
            damage = self._check_frame(data, pos, position)
            if isinstance(damage, Damage):
                after = self.find_whole(data, pos)
                return Scan(records, pos, damage._replace(valid_after=after), verified=True)
            records.append(damage)
            position += 1
            pos = damage.end
        return Scan(records, pos, None, verified=True)

    def _whole_frames(self, data: bytes, pos: int, position: int) -> list[RawRecord]:
        """The valid frames from `pos` on, up to the first that is not (or the end).

        What `_check_frame` accepts, in one loop without a call per frame beyond hashing:
        opening a long log spends much of its time here.
        """
        change_marker = self._markers[1]
        change_key = bytearray(_KEY_PREFIX + _CHANGE_DOMAIN + self.seed + bytes(8))
        snapshot_key = bytearray(_KEY_PREFIX + _SNAPSHOT_DOMAIN + self.seed + bytes(8))
        at = len(change_key) - 8  # where the key holds the frame's offset
        unpack, pack_offset, hasher = _HEADER.unpack_from, _OFFSET.pack_into, blake3.blake3
        records: list[RawRecord] = []
        append = records.append
        size = len(data)
        while pos + FRAME_HEADER <= size:
            marker, length, check = unpack(data, pos)
            end = pos + FRAME_HEADER + length
            if end > size:
                break
            if marker == change_marker:
                snapshot, key = False, change_key
            elif marker == self.seed:
                snapshot, key = True, snapshot_key
            else:
                break
            pack_offset(key, at, pos)
            payload = data[pos + FRAME_HEADER : end]
            if hasher(payload, key=key).digest(CHECKSUM_SIZE) != check:
                break
            append(_new_record((position, pos, end, snapshot, payload)))
            position += 1
            pos = end
        return records

    def find_whole(self, data: bytes, pos: int) -> int | None:
        """The offset of the first whole record from `pos` on, if any: damage, not a tail.

        A torn write leaves the start of one batch and nothing whole after it. A frame is
        whole where it verifies, or where its length fits and its payload decodes as the
        record its marker names: a frame shifted by an inserted or deleted byte no longer
        verifies (the checksum is keyed by the offset) but still decodes. The frame at
        `pos` counts whatever its marker: a whole frame that fails its checksum is a
        changed byte, which a torn write does not leave.
        """
        if self._decodes_at(data, pos):
            return pos
        candidates = [data.find(marker, pos + 1) for marker in self._markers]
        while True:
            found = [offset for offset in candidates if offset != -1]
            if not found:
                return None
            offset = min(found)
            if self._decodes_at(data, offset):
                return offset
            candidates = [data.find(marker, offset + 1) for marker in self._markers]

    def _decodes_at(self, data: bytes, pos: int) -> bool:
        """Whether a frame's length fits at `pos` and its payload decodes as a record
        (or is too deep to decode, which no tear leaves)."""
        if not _fits(data, pos):
            return False
        (length,) = _LENGTH.unpack_from(data, pos + SEED_SIZE)
        payload = data[pos + FRAME_HEADER : pos + FRAME_HEADER + length]
        return any(_decodes(decoder, payload) for decoder in (_change_decoder, _snapshot_decoder))

    def _check_frame(self, data: bytes, pos: int, position: int) -> RawRecord | Damage:
        header = data[pos : pos + FRAME_HEADER]
        marker = header[:SEED_SIZE]
        if len(header) >= SEED_SIZE and marker not in self._markers:
            return Damage(pos, position, "bad frame marker")
        if len(header) < FRAME_HEADER:
            return Damage(pos, position, "incomplete frame header")
        (length,) = _LENGTH.unpack_from(header, SEED_SIZE)
        end = pos + FRAME_HEADER + length
        if end > len(data):
            return Damage(pos, position, "incomplete frame")
        payload = data[pos + FRAME_HEADER : end]
        snapshot = marker == self.seed
        if checksum(payload, self.seed, pos, snapshot=snapshot) != header[8:FRAME_HEADER]:
            return Damage(pos, position, "checksum mismatch")
        return RawRecord(position, pos, end, snapshot, payload)


def _fits(data: bytes, pos: int) -> bool:
    """Whether a frame header at `pos` gives a length that ends within the data."""
    if pos + FRAME_HEADER > len(data):
        return False
    (length,) = _LENGTH.unpack_from(data, pos + SEED_SIZE)
    return bool(pos + FRAME_HEADER + length <= len(data))


def _decodes(decoder: Any, payload: bytes) -> bool:
    try:
        decoder.decode(payload)
    except RecursionError:
        return True  # nested too deep to decode, but whole: a torn write leaves no such thing
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False
    return True
