"""Range specs: parsing, resolving each unit against records, time windows, plain slicing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kanta.core.ranges import (
    Coordinates,
    PlainRange,
    RangeError,
    RangeNotFound,
    TimeWindow,
    UnitRange,
    parse_moment,
    parse_range,
    select,
)

NOW = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
T0 = datetime(2027, 1, 1, tzinfo=UTC)


def history(kinds: str, versions: list[int] | None = None) -> list[Coordinates]:
    """Coordinates for records `kinds` ("c" change, "s" snapshot), one minute apart."""
    records, rev, snapshots = [], 0, 0
    for index, kind in enumerate(kinds):
        if kind == "c":
            rev += 1
        else:
            snapshots += 1
        version = versions[index] if versions else 0
        ts = T0 + timedelta(minutes=index)
        records.append(Coordinates(index + 1, rev, version, snapshots if kind == "s" else 0, ts))
    return records


# c c c s c c s c: positions 1..8, revisions 1 2 3 3 4 5 5 6
FILE = history("cccsccsc", versions=[0, 0, 1, 1, 1, 3, 3, 3])


def positions(
    specs: list[str],
    records: list[Coordinates] = FILE,
    matches: Callable[[int], bool] = lambda index: True,
    context: int = 0,
) -> list[int]:
    """The positions of the records that `specs` select."""
    chosen = select(records, [parse_range(spec, NOW) for spec in specs], matches, context)
    return [records[index].position for index in chosen.indexes]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("l3", [3]),
        ("l3:l5", [3, 4]),
        ("l3..l5", [3, 4, 5]),
        ("l7:", [7, 8]),
        (":l3", [1, 2]),
        ("l0:l99", [1, 2, 3, 4, 5, 6, 7, 8]),
        ("s1", [4]),
        ("s2", [7]),
        ("s-1", [7]),
        ("s-2", [4]),
        ("s1:s2", [4, 5, 6]),
        ("s1..s2", [4, 5, 6, 7]),
        (":s1", [1, 2, 3]),
        ("s0:s1", [1, 2, 3]),
        ("s-1:", [7, 8]),
        ("s3:", []),
        ("v0", [1, 2]),
        ("v1", [3, 4, 5]),
        ("v3", [6, 7, 8]),
        ("v2:", [6, 7, 8]),
        ("v1..v1", [3, 4, 5]),
        (":v3", [1, 2, 3, 4, 5]),
        ("r3", [3, 4]),
        ("r5", [6, 7]),
        ("r2:r4", [2, 3, 4]),
        ("r2..r4", [2, 3, 4, 5]),
        ("r5:", [6, 7, 8]),
        ("l2:r5", [2, 3, 4, 5]),
    ],
)
def test_unit_ranges(spec: str, expected: list[int]) -> None:
    assert positions([spec]) == expected


@pytest.mark.parametrize("spec", ["l9", "l0", "s3", "s-3", "s0", "v2", "r0", "r7"])
def test_a_single_bound_that_names_nothing_is_not_found(spec: str) -> None:
    with pytest.raises(RangeNotFound) as caught:
        positions([spec])
    assert caught.value.spec == spec


def test_several_specs_intersect() -> None:
    assert positions(["l2:l7", "r3:", "v1"]) == [3, 4, 5]
    assert positions(["l1:l3", "l5:"]) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("0", [1]),
        ("-1", [8]),
        ("2:5", [3, 4, 5]),
        ("2..5", [3, 4, 5, 6]),
        (":2", [1, 2]),
        ("-2:", [7, 8]),
        ("6:100", [7, 8]),
    ],
)
def test_plain_numbers_index_the_output_from_zero(spec: str, expected: list[int]) -> None:
    assert positions([spec]) == expected


def test_plain_numbers_index_what_the_other_filters_leave() -> None:
    # The plain spec applies after the unit range and the matcher, whichever order.
    assert positions(["0", "l3:"]) == [3]
    assert positions(["-1", "l3:"], matches=lambda i: FILE[i].snapshot == 0) == [8]
    assert positions(["0"], matches=lambda i: FILE[i].snapshot > 0) == [4]


@pytest.mark.parametrize("spec", ["8", "-9", "8:", "3:3", "5:2"])
def test_a_plain_spec_that_selects_nothing_is_not_found(spec: str) -> None:
    with pytest.raises(RangeNotFound):
        positions([spec])


def test_context_adds_records_around_each_match_from_the_whole_file() -> None:
    assert positions([], matches=lambda i: i == 4, context=1) == [4, 5, 6]
    assert positions(["l1"], context=2) == [1, 2, 3]
    assert positions([], matches=lambda i: i in (0, 7), context=1) == [1, 2, 7, 8]


def test_nothing_selected_keeps_the_unit_window() -> None:
    chosen = select(FILE, [parse_range("l3:l6", NOW)], matches=lambda i: False)
    assert chosen.indexes == []
    assert chosen.window == range(2, 5)


@pytest.mark.parametrize(
    ("spec", "start", "stop"),
    [
        ("15min", NOW - timedelta(minutes=15), None),
        ("2h", NOW - timedelta(hours=2), None),
        ("7d", NOW - timedelta(days=7), None),
        ("2w", NOW - timedelta(weeks=2), None),
        ("30s", NOW - timedelta(seconds=30), None),
        ("2026-09-28", datetime(2026, 9, 28, tzinfo=UTC), datetime(2026, 9, 29, tzinfo=UTC)),
        ("2026-12", datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        (
            "2026-09-28T10",
            datetime(2026, 9, 28, 10, tzinfo=UTC),
            datetime(2026, 9, 28, 11, tzinfo=UTC),
        ),
        (
            "2026-09-28T10:30",
            datetime(2026, 9, 28, 10, 30, tzinfo=UTC),
            datetime(2026, 9, 28, 10, 31, tzinfo=UTC),
        ),
        (
            "2026-09-28 10:30:15Z",
            datetime(2026, 9, 28, 10, 30, 15, tzinfo=UTC),
            datetime(2026, 9, 28, 10, 30, 16, tzinfo=UTC),
        ),
        (
            "20260928T1030",
            datetime(2026, 9, 28, 10, 30, tzinfo=UTC),
            datetime(2026, 9, 28, 10, 31, tzinfo=UTC),
        ),
        (
            "2026-09-24/2026-09-28",
            datetime(2026, 9, 24, tzinfo=UTC),
            datetime(2026, 9, 29, tzinfo=UTC),
        ),
        ("2026-09-24/", datetime(2026, 9, 24, tzinfo=UTC), None),
        ("/2026-09-28T10", None, datetime(2026, 9, 28, 11, tzinfo=UTC)),
    ],
)
def test_time_specs(spec: str, start: datetime | None, stop: datetime | None) -> None:
    assert parse_range(spec, NOW) == TimeWindow(spec, start, stop)


def test_time_windows_select_by_timestamp() -> None:
    # FILE's records are stamped 00:00 .. 00:07, one a minute.
    late = T0 + timedelta(minutes=7, seconds=30)
    assert positions(["20270101T0003"]) == [4]
    assert positions(["2027-01-01T00:02/2027-01-01T00:04"]) == [3, 4, 5]
    assert positions(["2027-01-01T00:06/"]) == [7, 8]
    assert select(FILE, [parse_range("3min", late)]).indexes == [5, 6, 7]
    assert positions(["2026-12-31"]) == []


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "x5",
        "l",
        "l-1",
        "v-2",
        "r-1",
        "1:l5",
        "l1:2",
        "l1..l2:l3",
        "2026-13-01",
        "2026-02-30",
        "2026-09-28T25",
        "/",
        "20260928T",
        "l1.5",
    ],
)
def test_malformed_specs_raise_a_range_error_carrying_the_text(spec: str) -> None:
    with pytest.raises(RangeError) as caught:
        parse_range(spec, NOW)
    assert caught.value.spec == spec
    assert not isinstance(caught.value, RangeNotFound)
    assert isinstance(caught.value, ValueError)


def test_parse_moment() -> None:
    assert parse_moment("r7", NOW) == 7
    assert parse_moment("2h", NOW) == NOW - timedelta(hours=2)
    assert parse_moment("2026-09-28T10:30", NOW) == datetime(2026, 9, 28, 10, 30, tzinfo=UTC)
    with pytest.raises(RangeError):
        parse_moment("7", NOW)


LAST_DAY = datetime(9999, 12, 31, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "start", "stop"),
    [
        # Past what a datetime holds the window is open: no record is stamped there.
        ("1000000d", None, None),
        ("99999999999w", None, None),
        ("99999999999999999999999s", None, None),
        ("9999-12-31", LAST_DAY, None),
        ("9999-12", datetime(9999, 12, 1, tzinfo=UTC), None),
        ("9999-12-31T23", LAST_DAY.replace(hour=23), None),
        ("9999-12-31T23:59:59", LAST_DAY.replace(hour=23, minute=59, second=59), None),
        ("99991231T2359", LAST_DAY.replace(hour=23, minute=59), None),
        ("2026-09-24/9999-12-31", datetime(2026, 9, 24, tzinfo=UTC), None),
        ("9999-12-31/", LAST_DAY, None),
        ("/9999-12-31", None, None),
        ("9999-12-30", LAST_DAY - timedelta(days=1), LAST_DAY),  # still representable
    ],
)
def test_times_past_what_a_datetime_holds_clamp_to_open_windows(
    spec: str, start: datetime | None, stop: datetime | None
) -> None:
    assert parse_range(spec, NOW) == TimeWindow(spec, start, stop)


def test_a_moment_past_what_a_datetime_holds_clamps() -> None:
    earliest = datetime.min.replace(tzinfo=UTC)
    assert parse_moment("1000000d", NOW) == parse_moment("99999999999w", NOW) == earliest
    assert parse_moment("9999-12-31T23:59:59", NOW) == datetime(
        9999, 12, 31, 23, 59, 59, tzinfo=UTC
    )
    assert parse_moment("9999-12", NOW) == datetime(9999, 12, 1, tzinfo=UTC)
    for spec in ("0000-01-01", "0000-01", "9999-12-32", "10000-01-01"):
        with pytest.raises(RangeError, match=spec):
            parse_moment(spec, NOW)
        with pytest.raises(RangeError, match=spec):
            parse_range(spec, NOW)


def test_parse_keeps_kinds_apart() -> None:
    assert isinstance(parse_range("-1", NOW), PlainRange)
    assert isinstance(parse_range("s-1", NOW), UnitRange)
    assert isinstance(parse_range("2w", NOW), TimeWindow)


# -- properties ---------------------------------------------------------------------------

kinds = st.text(alphabet="cs", min_size=0, max_size=12)
small = st.integers(min_value=-15, max_value=15)


@given(count=st.integers(0, 12), start=st.none() | small, stop=st.none() | small)
def test_plain_half_open_ranges_slice_like_python(
    count: int, start: int | None, stop: int | None
) -> None:
    spec = f"{'' if start is None else start}:{'' if stop is None else stop}"
    expected = list(range(count))[start:stop]
    if spec == ":":
        return  # no bounds at all: selects everything, the same as no spec
    parsed = parse_range(spec, NOW)
    assert isinstance(parsed, PlainRange)
    if expected:
        assert list(parsed.indexes(count)) == expected
    else:
        with pytest.raises(RangeNotFound):
            parsed.indexes(count)


@given(count=st.integers(1, 12), index=small)
def test_a_plain_single_index_is_a_python_index(count: int, index: int) -> None:
    parsed = parse_range(str(index), NOW)
    assert isinstance(parsed, PlainRange)
    if -count <= index < count:
        assert list(parsed.indexes(count)) == [list(range(count))[index]]
    else:
        with pytest.raises(RangeNotFound):
            parsed.indexes(count)


@given(kinds=kinds, unit=st.sampled_from("lr"), a=st.integers(0, 14), b=st.integers(0, 14))
def test_unit_bounds_compare_like_numbers(kinds: str, unit: str, a: int, b: int) -> None:
    records = history(kinds)

    def key(c: Coordinates) -> int:
        return c.position if unit == "l" else c.rev

    assert positions([f"{unit}{a}:{unit}{b}"], records) == [
        c.position for c in records if a <= key(c) < b
    ]
    assert positions([f"{unit}{a}..{unit}{b}"], records) == [
        c.position for c in records if a <= key(c) <= b
    ]
    named = [c.position for c in records if key(c) == a]
    if named:
        assert positions([f"{unit}{a}"], records) == named
    else:
        with pytest.raises(RangeNotFound):
            positions([f"{unit}{a}"], records)


@given(kinds=kinds, n=st.integers(-14, 14))
def test_a_snapshot_bound_names_one_snapshot(kinds: str, n: int) -> None:
    records = history(kinds)
    snapshots = [c.position for c in records if c.snapshot]
    first = 0 if kinds.startswith("s") else 1  # a leading snapshot is s0, as in 0.9.x
    ordinal = n - first if n >= 0 else n
    if (n < 0 or n >= first) and -len(snapshots) <= ordinal < len(snapshots):
        assert positions([f"s{n}"], records) == [snapshots[ordinal]]
        assert positions([f"s{n}.."], records)[0] == snapshots[ordinal]
    else:
        with pytest.raises(RangeNotFound):
            positions([f"s{n}"], records)


@given(
    kinds=kinds,
    a=st.sampled_from(["l3:", "r2..r4", "s1:", ":l5", "v0"]),
    b=st.sampled_from(["l2:l6", ":r3", "s-1..", "l4"]),
)
def test_two_specs_select_the_intersection(kinds: str, a: str, b: str) -> None:
    records = history(kinds)

    def alone(spec: str) -> set[int]:
        try:
            return set(positions([spec], records))
        except RangeNotFound:
            return set()

    try:
        both = positions([a, b], records)
    except RangeNotFound:
        return  # a single bound (l4) that is not in this file
    assert set(both) == alone(a) & alone(b)


@given(
    kinds=kinds,
    chosen=st.sets(st.integers(0, 11)),
    context=st.integers(0, 3),
)
def test_context_keeps_every_match_and_only_near_records(
    kinds: str, chosen: set[int], context: int
) -> None:
    records = history(kinds)
    got = select(records, [], matches=lambda i: i in chosen, context=context).indexes
    matches = {i for i in chosen if i < len(records)}
    assert matches <= set(got)
    assert all(any(abs(i - m) <= context for m in matches) for i in got)
    assert got == sorted(set(got))
