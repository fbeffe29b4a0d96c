"""The JSON-lines format: byte-exact records, and torn or garbage tails told apart."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from filetools import strip_seals

from kanta.core.jsonlines import JsonSerializer
from kanta.core.records import Change, Snapshot

COMPAT = Path(__file__).parents[1] / "fixtures" / "compat"
JSON_FILES = sorted(p for p in COMPAT.glob("*.kantadb") if "json" in p.name)
ser = JsonSerializer()


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: p.name)
def test_reencoding_every_fixture_record_gives_the_same_line(path: Path) -> None:
    data = path.read_bytes()
    scan = ser.scan(data)
    assert scan.damage is None and scan.good_end == len(data)
    rebuilt = b"".join(ser.encode(ser.decode(raw), raw.byte_pos) for raw in scan.records)
    assert strip_seals(rebuilt) == data
    assert ser.scan(rebuilt).damage is None


def test_omitted_fields_and_timestamps() -> None:
    plain = Change(ts=datetime(2027, 1, 1, 0, 1, tzinfo=UTC))
    assert strip_seals(ser.encode(plain, 0)) == b'{"ts":"2027-01-01T00:01:00Z"}\n'
    micro = Change(ts=datetime(2027, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), a="x", v=2, u="me")
    line = b'{"ts":"2027-05-06T07:08:09.123456Z","a":"x","v":2,"u":"me"}\n'
    assert strip_seals(ser.encode(micro, 0)) == line
    snap = Snapshot(ts=plain.ts, v=0, state={}, r=3, k=1)
    line = b'SNAPSHOT {"ts":"2027-01-01T00:01:00Z","v":0,"state":{},"r":3,"k":1}\n'
    assert strip_seals(ser.encode(snap, 0)) == line


def _sample() -> bytes:
    return (COMPAT / "types.json.kantadb").read_bytes()


def test_every_truncation_keeps_the_whole_records_before_it() -> None:
    data = _sample()
    ends = [raw.end for raw in ser.scan(data).records]
    for size in range(len(data)):
        scan = ser.scan(data[:size])
        whole = [end for end in ends if end <= size]
        # A last record cut just before its newline is whole: it is kept, the newline added.
        kept = scan.good_end if not scan.needs_newline else scan.good_end + 1
        assert kept in ([*whole, size + 1] if scan.needs_newline else [0, *whole])
        assert scan.damage is None or scan.damage.byte_pos == (whole[-1] if whole else 0)


@pytest.mark.parametrize(
    "tail", [b"\x00" * 4096, b"\x00" * 3, b"garbage\n\xff\xfe\n{", b'{"ts": 12}\n', b"\n\n"]
)
def test_zero_and_garbage_tails_are_cut_at_the_last_record(tail: bytes) -> None:
    data = _sample()
    scan = ser.scan(data + tail)
    assert scan.good_end == len(data)
    assert len(scan.records) == 12
    assert scan.damage is not None and scan.damage.byte_pos == len(data)


def test_a_whole_last_record_without_its_newline_is_kept() -> None:
    data = _sample()
    scan = ser.scan(data[:-1])
    assert scan.damage is None and scan.needs_newline and len(scan.records) == 12


def test_invalid_utf8_in_a_line_is_damage_not_a_crash(tmp_path: Path) -> None:
    from kanta.errors import ReplayError
    from kanta.history import read_history

    data = _sample()
    bad = data + b'{"ts":"2027-01-01T00:00:00Z","a":"\xa0"}\n'
    scan = ser.scan(bad)
    assert scan.damage is not None and scan.damage.byte_pos == len(data)
    middle = data.replace(b'"a":"counter"', b'"a":"c\xa0unter"')
    path = tmp_path / "x.kantadb"
    path.write_bytes(middle)
    with pytest.raises(ReplayError) as caught:
        list(read_history(path).entries())
    assert caught.value.line_number == 11
