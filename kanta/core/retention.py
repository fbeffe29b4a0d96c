"""Retention planning: which leading records of a log have aged out, and what to call them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

R = TypeVar("R")
STAMP = "%Y%m%dT%H%M%SZ"
ROTATED_SUFFIX = ".kantadb"


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


def rotated_names(stem: str, ends_at: datetime) -> Iterator[str]:
    """`{stem}@{ends_at}.kantadb`, then `.1`, `.2`, ... before `.kantadb` for collisions.

    `stem` is the database's name without its extension: `data`, `data.kantadb` and
    `data.db` all rotate to `data@....kantadb`, as in kanta 0.9.x.
    """
    base = f"{stem}@{ends_at.strftime(STAMP)}"
    yield base + ROTATED_SUFFIX
    number = 1
    while True:
        yield f"{base}.{number}{ROTATED_SUFFIX}"
        number += 1


def is_rotated_name(name: str, stem: str) -> bool:
    """Whether a file name is one of `rotated_names` for this database."""
    return name.startswith(f"{stem}@") and name.endswith(ROTATED_SUFFIX)


def rotation_order(name: str, stem: str) -> tuple[str, int]:
    """Sort key of a rotated file name: its timestamp, then its collision number."""
    middle = name[len(stem) + 1 : len(name) - len(ROTATED_SUFFIX)]
    stamp, _, number = middle.partition(".")
    return stamp, int(number) if number.isdigit() else 0
