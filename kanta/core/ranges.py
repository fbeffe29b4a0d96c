"""The `-r/--range` specs of `kanta log`: parse them, and resolve them against a file's records.

A spec is one bound (`l5`) or two bounds around `:` (half-open, `l5:l9`) or `..`
(inclusive, `l5..l8`); either bound of a pair may be left open (`l5:`, `:r3`).
Units address the file:

- `lN` the record at position N (the line in a JSON file, the frame in a binary one).
- `sN` the Nth snapshot, counted as the headers print them: from 1, or from 0 when the
  file starts with one (a rotated file); `s-1` is the last.
  As a bound `s0` is the start of the file.
- `vN` the records that leave the state at schema version N.
- `rN` the records that leave the state at revision N: the change that made it and a
  snapshot of it, if one follows.

A range clamps to what exists; a single bound must name something in the file, or
resolving raises `RangeNotFound`. Bounds of one pair may mix units (`l3:r9`).

Plain numbers (`0`, `-1`, `2:5`, `2..5`) index the records left after every other
filter (unit and time ranges, `--grep`), 0-based like a Python slice: `0` is the first,
`-1` the last, `2:5` the third to the fifth. A plain spec that selects nothing raises
`RangeNotFound`. A pair cannot mix plain and unit bounds.

Time specs select by record timestamp (UTC): `15min`, `2h`, `7d`, `2w` (also `30s`) are
the last N units before `now` (records stamped later, e.g. by a skewed clock, are kept);
an ISO point (`2026-09-28`, `2026-09`, `2026-09-28T10`, `2026-09-28T10:30`,
`2026-09-28 10:30:15`, `20260928T1030`, optionally ending in `Z`) is its whole
month, day, hour, minute or second; `start/end` runs from the start of one point's
period to the end of the other's, either end may be open (`2026-09-24/`). Past what a
datetime holds (no record is stamped there) windows are open: `1000000d`, `9999-12-31`.

This module is pure: it reads no files and no clock (`now` comes in as an argument).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "Coordinates",
    "PlainRange",
    "RangeError",
    "RangeNotFound",
    "RangeSpec",
    "Selection",
    "TimeWindow",
    "UnitRange",
    "parse_moment",
    "parse_range",
    "select",
]


class RangeError(ValueError):
    """A range spec that cannot be parsed; `spec` is the offending text."""

    def __init__(self, spec: str, message: str) -> None:
        super().__init__(f"invalid range {spec!r}: {message}")
        self.spec = spec


class RangeNotFound(RangeError):
    """A well-formed spec that names nothing that exists (the CLI's exit 2)."""

    def __init__(self, spec: str, message: str) -> None:
        ValueError.__init__(self, f"range {spec!r} not found: {message}")
        self.spec = spec


@dataclass(frozen=True)
class Coordinates:
    """Where one record sits in its file: the values range units address."""

    position: int
    rev: int
    version: int
    snapshot: int  # the record's 1-based snapshot ordinal, 0 for a change record
    ts: datetime


@dataclass(frozen=True)
class Bound:
    """One end of a range: a unit letter (`""` for a plain number) and its value."""

    unit: str
    value: int


@dataclass(frozen=True)
class UnitRange:
    """A range over the file's records in `l`, `s`, `v` or `r` units."""

    spec: str
    start: Bound | None
    stop: Bound | None
    inclusive: bool
    single: bool

    def indexes(self, records: Sequence[Coordinates]) -> range:
        """The indexes into `records` that this range selects."""
        if self.single:
            assert self.start is not None
            found = _item(self.start, records)
            if found is None:
                raise RangeNotFound(self.spec, _what_exists(self.start.unit, records))
            return found
        start = 0 if self.start is None else _cut(self.start, records, after=False)
        stop = len(records) if self.stop is None else _cut(self.stop, records, self.inclusive)
        return range(start, max(start, stop))


@dataclass(frozen=True)
class PlainRange:
    """A 0-based, Python-slice-like range over the records left after the other filters."""

    spec: str
    start: int | None
    stop: int | None
    inclusive: bool
    single: bool

    def indexes(self, count: int) -> range:
        """The indexes into a list of `count` records that this range selects."""
        if self.single:
            assert self.start is not None
            index = self.start + count if self.start < 0 else self.start
            selected = range(index, index + 1) if 0 <= index < count else range(0)
        else:
            start = 0 if self.start is None else _clamp(self.start, count)
            stop = count if self.stop is None else _clamp(self.stop, count)
            if self.inclusive and self.stop is not None:
                stop = min(stop + 1, count)
            selected = range(start, max(start, stop))
        if not selected:
            raise RangeNotFound(self.spec, f"the output has {_plural(count, 'record')}")
        return selected


@dataclass(frozen=True)
class TimeWindow:
    """Records stamped in `[start, stop)`; None leaves that end open."""

    spec: str
    start: datetime | None
    stop: datetime | None

    def contains(self, moment: datetime) -> bool:
        """Whether a record stamped `moment` falls in the window."""
        if self.start is not None and moment < self.start:
            return False
        return self.stop is None or moment < self.stop


RangeSpec = UnitRange | PlainRange | TimeWindow


@dataclass(frozen=True)
class Selection:
    """What a set of specs selects: record indexes in file order, and the unit window."""

    indexes: list[int]
    window: range


def select(
    records: Sequence[Coordinates],
    specs: Sequence[RangeSpec],
    matches: Callable[[int], bool] = lambda index: True,
    context: int = 0,
) -> Selection:
    """Apply unit and time ranges, `matches` (grep), plain ranges, then `context`, in that order.

    Context records come from the whole file, past any range, as `grep -C` would.
    """
    window = range(len(records))
    for spec in specs:
        if isinstance(spec, UnitRange):
            found = spec.indexes(records)
            window = range(max(window.start, found.start), min(window.stop, found.stop))
    windows = [spec for spec in specs if isinstance(spec, TimeWindow)]
    chosen = [
        index
        for index in window
        if all(w.contains(records[index].ts) for w in windows) and matches(index)
    ]
    # Plain specs all index the same output, and intersect like the others do.
    part = range(len(chosen))
    for spec in specs:
        if isinstance(spec, PlainRange):
            found = spec.indexes(len(chosen))
            part = range(max(part.start, found.start), min(part.stop, found.stop))
    chosen = chosen[part.start : max(part.start, part.stop)]
    if context > 0:
        chosen = _with_context(chosen, context, len(records))
    return Selection(chosen, window)


def _with_context(chosen: list[int], context: int, count: int) -> list[int]:
    around: set[int] = set()
    for index in chosen:
        around.update(range(max(0, index - context), min(count, index + context + 1)))
    return sorted(around)


# -- resolving unit bounds ---------------------------------------------------------------

_KEYS: dict[str, Callable[[Coordinates], int]] = {
    "l": lambda c: c.position,
    "v": lambda c: c.version,
    "r": lambda c: c.rev,
}


def _snapshot_index(bound: Bound, records: Sequence[Coordinates]) -> int | None:
    """Index into `records` of the snapshot a bound names, or None if there is none."""
    snapshots = [index for index, c in enumerate(records) if c.snapshot]
    # As 0.9.x counts them: a file that starts with a snapshot (rotated) calls it s0.
    first = 0 if snapshots[:1] == [0] else 1
    ordinal = bound.value + len(snapshots) if bound.value < 0 else bound.value - first
    return snapshots[ordinal] if 0 <= ordinal < len(snapshots) else None


def _cut(bound: Bound, records: Sequence[Coordinates], after: bool) -> int:
    """The index a bound cuts at: before its first record, or after its last if `after`."""
    if bound.unit == "s":
        index = _snapshot_index(bound, records)
        if index is not None:
            return index + 1 if after else index
        # Past the last snapshot, or before the first (s0, or s-N beyond the count).
        return len(records) if bound.value > 0 else 0
    key = _KEYS[bound.unit]
    for index, coordinates in enumerate(records):
        value = key(coordinates)
        if value > bound.value or (value == bound.value and not after):
            return index
    return len(records)


def _item(bound: Bound, records: Sequence[Coordinates]) -> range | None:
    """The records one bound names on its own, or None if it names nothing."""
    if bound.unit == "s":
        index = _snapshot_index(bound, records)
        return None if index is None else range(index, index + 1)
    start = _cut(bound, records, after=False)
    if start == len(records) or _KEYS[bound.unit](records[start]) != bound.value:
        return None
    return range(start, _cut(bound, records, after=True))


def _what_exists(unit: str, records: Sequence[Coordinates]) -> str:
    if not records:
        return "the file has no records"
    if unit == "s":
        return f"the file has {_plural(sum(1 for c in records if c.snapshot), 'snapshot')}"
    values = [_KEYS[unit](c) for c in records]
    return f"the file holds {unit}{min(values)}..{unit}{max(values)}"


def _clamp(value: int, count: int) -> int:
    return max(0, min(value + count if value < 0 else value, count))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# -- parsing -----------------------------------------------------------------------------

_BOUND = re.compile(r"([lsvr]?)(-?[0-9]+)")
_RELATIVE = re.compile(r"([0-9]+)(s|min|h|d|w)")
_SECONDS = {"s": 1, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_ISO = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})(?:-(?P<d>[0-9]{2})"
    r"(?:[T ](?P<h>[0-9]{2})(?::(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2}))?)?)?)?Z?"
)
_ISO_COMPACT = re.compile(
    r"(?P<y>[0-9]{4})(?P<mo>[0-9]{2})(?P<d>[0-9]{2})"
    r"T(?P<h>[0-9]{2})(?:(?P<mi>[0-9]{2})(?P<s>[0-9]{2})?)?Z?"
)


def parse_range(text: str, now: datetime) -> RangeSpec:
    """Parse one `-r` spec; `now` anchors relative time specs. Raises RangeError."""
    spec = text.strip()
    if not spec:
        raise RangeError(text, "empty")
    if _is_time(spec):
        return _parse_time(spec, now)
    if ".." in spec and ":" in spec:
        raise RangeError(text, "use either ':' (half-open) or '..' (inclusive), not both")
    separator = ".." if ".." in spec else ":" if ":" in spec else None
    if separator is None:
        bound = _parse_bound(text, spec)
        if bound is None:
            raise RangeError(text, "empty")
        return _build(text, bound, None, inclusive=False, single=True)
    left, right = spec.split(separator, 1)
    start, stop = _parse_bound(text, left), _parse_bound(text, right)
    return _build(text, start, stop, inclusive=separator == "..", single=False)


def _build(
    text: str, start: Bound | None, stop: Bound | None, inclusive: bool, single: bool
) -> RangeSpec:
    units = {bound.unit for bound in (start, stop) if bound is not None}
    if "" in units and len(units) > 1:
        raise RangeError(text, "a range cannot mix plain numbers with l, s, v or r bounds")
    if units <= {""}:
        return PlainRange(
            text,
            None if start is None else start.value,
            None if stop is None else stop.value,
            inclusive,
            single,
        )
    return UnitRange(text, start, stop, inclusive, single)


def _parse_bound(text: str, part: str) -> Bound | None:
    if not part:
        return None
    match = _BOUND.fullmatch(part)
    if match is None:
        raise RangeError(text, f"{part!r} is not a bound (lN, sN, vN, rN or a number)")
    unit, value = match.group(1), int(match.group(2))
    if value < 0 and unit in _KEYS:
        raise RangeError(text, f"{unit}N does not count from the end; only sN and plain numbers do")
    return Bound(unit, value)


def _is_time(spec: str) -> bool:
    # A leading minus stays a negative plain index; everything date-like is a time.
    return bool(
        "/" in spec
        or _RELATIVE.fullmatch(spec)
        or re.match(r"[0-9]{4}-", spec)
        or re.match(r"[0-9]{8}T", spec)
    )


def _parse_time(spec: str, now: datetime) -> TimeWindow:
    relative = _RELATIVE.fullmatch(spec)
    if relative is not None:
        return TimeWindow(spec, _ago(now, relative), None)
    if "/" in spec:
        left, right = spec.split("/", 1)
        if not left and not right:
            raise RangeError(spec, "a time range needs at least one end")
        start = _period(spec, left)[0] if left else None
        stop = _period(spec, right)[1] if right else None
        return TimeWindow(spec, start, stop)
    return TimeWindow(spec, *_period(spec, spec))


def parse_moment(text: str, now: datetime) -> int | datetime:
    """A point in a history: `rN` (a revision), or a time (an ISO point's start, `2h` ago)."""
    spec = text.strip()
    if re.fullmatch(r"r[0-9]+", spec):
        return int(spec[1:])
    relative = _RELATIVE.fullmatch(spec)
    if relative is not None:
        return _ago(now, relative) or datetime.min.replace(tzinfo=UTC)
    return _period(text, spec)[0]


def _ago(now: datetime, relative: re.Match[str]) -> datetime | None:
    """`now` less a `15min`-like span, or None if that is before the earliest datetime."""
    try:
        return now - timedelta(seconds=int(relative.group(1)) * _SECONDS[relative.group(2)])
    except OverflowError:
        return None


def _period(text: str, point: str) -> tuple[datetime, datetime | None]:
    """The start and (exclusive) end of the period an ISO point denotes; no end past 9999."""
    match = _ISO.fullmatch(point) or _ISO_COMPACT.fullmatch(point)
    if match is None:
        raise RangeError(
            text, f"{point!r} is not a time (2026-09-28, 2026-09-28T10:30, 20260928T1030, 2h)"
        )
    parts = {key: int(value) for key, value in match.groupdict().items() if value is not None}
    try:
        start = datetime(
            parts["y"],
            parts["mo"],
            parts.get("d", 1),
            parts.get("h", 0),
            parts.get("mi", 0),
            parts.get("s", 0),
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise RangeError(text, f"{point!r}: {exc}") from None
    return start, _period_end(start, parts)


def _period_end(start: datetime, parts: dict[str, int]) -> datetime | None:
    try:
        for key, step in (("s", 1), ("mi", 60), ("h", 3600), ("d", 86400)):
            if key in parts:
                return start + timedelta(seconds=step)
        if start.month == 12:
            return start.replace(year=start.year + 1, month=1)
        return start.replace(month=start.month + 1)
    except (OverflowError, ValueError):  # the period ends after the year 9999
        return None
