"""Retention planning: which leading records of a log have aged out, and what to call them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

R = TypeVar("R")
STAMP = "%Y%m%dT%H%M%SZ"


def window(retention: timedelta | int | None) -> timedelta | None:
    """The retention window: a timedelta, or int days; None keeps all history."""
    if retention is None or isinstance(retention, timedelta):
        return retention
    return timedelta(days=retention)


def aged_out(
    records: Sequence[R],
    timestamp: Callable[[R], datetime],
    cutoff: datetime,
    is_snapshot: Callable[[R], bool],
) -> int:
    """How many leading records to move out: those written at or before `cutoff`.

    Stops at the first newer record, so history stays in order even if the clock once
    went backwards. Returns 0 when only an opening snapshot would move (rewriting it
    would change nothing).
    """
    count = 0
    for record in records:
        if timestamp(record) > cutoff:
            break
        count += 1
    if count == 1 and is_snapshot(records[0]):
        return 0
    return count


def rotated_names(stem: str, suffix: str, cutoff: datetime) -> Iterator[str]:
    """`{stem}@{cutoff}{suffix}`, then `.1`, `.2`, ... before the suffix for collisions."""
    base = f"{stem}@{cutoff.strftime(STAMP)}"
    yield base + suffix
    number = 1
    while True:
        yield f"{base}.{number}{suffix}"
        number += 1


def is_rotated_name(name: str, stem: str, suffix: str) -> bool:
    """Whether a file name is one of `rotated_names` for this database."""
    return name.startswith(f"{stem}@") and name.endswith(suffix)


def rotation_order(name: str, stem: str, suffix: str) -> tuple[str, int]:
    """Sort key of a rotated file name: its cutoff, then its collision number."""
    middle = name[len(stem) + 1 : len(name) - len(suffix)]
    stamp, _, number = middle.partition(".")
    return stamp, int(number) if number.isdigit() else 0
