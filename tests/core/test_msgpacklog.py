"""The binary format: byte-exact frames, checksums, and damage found where it is."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kanta.core.msgpackframes import (
    FRAME_HEADER,
    SEED_SIZE,
    MsgPackSerializer,
    invert,
    looks_binary,
)
from kanta.core.records import Change, Snapshot

COMPAT = Path(__file__).parents[1] / "fixtures" / "compat"
BINARY = sorted(COMPAT.glob("*msgpack*.kantadb"))


@pytest.mark.parametrize("path", BINARY, ids=lambda p: p.name)
def test_reencoding_every_fixture_frame_gives_the_same_bytes(path: Path) -> None:
    data = path.read_bytes()
    serializer = MsgPackSerializer().for_file(data)
    scan = serializer.scan(data)
    assert scan.damage is None and scan.good_end == len(data)
    rebuilt = b""
    for raw in scan.records:
        rebuilt += serializer.encode(serializer.decode(raw), len(rebuilt))
    assert rebuilt == data


def _sample() -> tuple[MsgPackSerializer, bytes]:
    serializer = MsgPackSerializer(b"\x01\x02\x03\x04")
    now = datetime(2027, 1, 1, tzinfo=UTC)
    records = [
        Change(ts=now, a="bootstrap", m=now, diff={"n": 0, "blob": b"\x00\xff", 7: "int key"}),
        Change(ts=now, a="inc", u="me", diff={"n": 1}),
        Snapshot(ts=now, v=0, state={"n": 1, "blob": b"\x00\xff", 7: "int key"}, r=2, k=1),
        Change(ts=now, a="inc", diff={"n": 2}),
    ]
    data = b""
    for record in records:
        data += serializer.encode(record, len(data))
    return serializer, data


def test_native_keys_bytes_and_timestamps_survive() -> None:
    serializer, data = _sample()
    assert data[:SEED_SIZE] == b"\x01\x02\x03\x04"
    assert data[SEED_SIZE : 2 * SEED_SIZE] == invert(data[:SEED_SIZE])  # a change frame
    first = serializer.decode(serializer.scan(data).records[0])
    assert isinstance(first, Change)
    assert first.diff == {"n": 0, "blob": b"\x00\xff", 7: "int key"}
    assert first.ts == datetime(2027, 1, 1, tzinfo=UTC)


def test_format_detection() -> None:
    _, data = _sample()
    assert looks_binary(data)
    assert not looks_binary(b'{"ts":"2027-01-01T00:00:00Z"}\n')
    assert not looks_binary(b'SNAPSHOT {"ts":"2027-01-01T00:00:00Z"}\n')


def test_every_truncation_is_a_tail_at_the_last_whole_frame() -> None:
    serializer, data = _sample()
    ends = [raw.end for raw in serializer.scan(data).records]
    for size in range(len(data)):
        scan = serializer.scan(data[:size])
        whole = [end for end in ends if end <= size]
        assert scan.good_end == (whole[-1] if whole else (0 if size < SEED_SIZE else SEED_SIZE))
        assert len(scan.records) == len(whole)
        if scan.damage is not None:
            assert scan.damage.valid_after is None


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_changed_byte_is_detected(data_strategy: st.DataObject) -> None:
    serializer, data = _sample()
    offset = data_strategy.draw(st.integers(SEED_SIZE, len(data) - 1))
    flip = data_strategy.draw(st.integers(1, 255))
    damaged = bytearray(data)
    damaged[offset] ^= flip
    scan = serializer.scan(bytes(damaged))
    assert scan.damage is not None
    frame_start = max(
        raw.byte_pos for raw in serializer.scan(data).records if raw.byte_pos <= offset
    )
    assert scan.damage.byte_pos == frame_start
    is_last = frame_start == serializer.scan(data).records[-1].byte_pos
    if not is_last:  # valid frames follow: corruption, never a tail
        assert scan.damage.valid_after is not None
        return
    # In the last frame: a tail only when the flip left no whole frame (a length that runs
    # past the end, a payload that no longer decodes); a whole frame that fails its
    # checksum is a changed byte, which a torn write does not leave.
    length = int.from_bytes(damaged[frame_start + SEED_SIZE : frame_start + 8], "little")
    end = frame_start + FRAME_HEADER + length
    header_or_payload_broken = end > len(damaged) or not _decodes_as_record(
        bytes(damaged[frame_start + FRAME_HEADER : end])
    )
    assert (scan.damage.valid_after is None) == header_or_payload_broken
    if scan.damage.valid_after is not None:
        assert scan.damage.valid_after == frame_start


@pytest.mark.parametrize("tail", [b"\x00" * 37, b"\xde\xad\xbe\xef" * 9, b"\x01\x02"])
def test_zero_and_garbage_tails_are_tails(tail: bytes) -> None:
    serializer, data = _sample()
    scan = serializer.scan(data + tail)
    assert scan.good_end == len(data)
    assert scan.damage is not None and scan.damage.valid_after is None
    assert len(scan.records) == 4


def test_a_frame_moved_elsewhere_fails_its_checksum() -> None:
    serializer, data = _sample()
    records = serializer.scan(data).records
    second, third = records[1], records[2]
    swapped = (
        data[: second.byte_pos]
        + data[third.byte_pos : third.end]
        + data[second.byte_pos : second.end]
        + data[third.end :]
    )
    scan = serializer.scan(swapped)
    assert scan.damage is not None and scan.damage.byte_pos == second.byte_pos
    assert len(scan.records) == 1
    assert FRAME_HEADER == 16


def _decodes_as_record(payload: bytes) -> bool:
    for kind in (Change, Snapshot):
        try:
            msgspec.msgpack.decode(payload, type=kind)
        except msgspec.MsgspecError:
            continue
        return True
    return False
