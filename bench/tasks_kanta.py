"""Measurements of a kanta database, run in a worker subprocess under either kanta."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
from pathlib import Path
from typing import Any

from bench.workload import (
    Data,
    User,
    build_state,
    build_users,
    close,
    database,
    flush,
    fresh_database,
    key,
    make_user,
    peak_rss_kib,
    random_keys,
    remove,
    rss_now_kib,
    runs_for,
    stopwatch,
    summary_ms,
    supports_durability,
    transaction,
    unsupported,
)

Db = Any  # a Kanta[Data] of either version


async def increment(db: Db, user_key: str, mode: str = "default") -> float:
    """One transaction `data.users[k].age += 1`; returns its duration (the flush after it
    is not timed)."""
    start = time.perf_counter()
    with transaction(db, "increment", mode, user_key) as data:
        data.users[user_key].age += 1
    elapsed = time.perf_counter() - start
    await flush(db)
    return elapsed


async def insert(db: Db, user_key: str, user: User, mode: str = "default") -> None:
    with transaction(db, "insert", mode, user_key) as data:
        data.users[user_key] = user


# -- 1. latency -----------------------------------------------------------------------------


async def latency(
    path: str,
    size: int,
    budget: float,
    low: int,
    high: int,
    mode: str = "default",
    tracking: str | None = None,
) -> dict[str, Any]:
    if skipped := unsupported(mode, tracking):
        return {"skipped": skipped}
    db = fresh_database(path, build_state(size), tracking=tracking)
    with stopwatch() as created:
        await db.open()
    await flush(db)
    keys = random_keys(size, high + 3)
    warmup = [await increment(db, k, mode) for k in keys[:3]]
    runs = runs_for(min(warmup), budget, low, high)
    timings = [await increment(db, k, mode) for k in keys[3 : 3 + runs]]
    await close(db)
    remove(Path(path))
    return {**summary_ms(timings), "create_s": created[0]}


# -- 2. throughput --------------------------------------------------------------------------


async def throughput(
    path: str, count: int, mode: str = "default", tracking: str | None = None
) -> dict[str, Any]:
    if skipped := unsupported(mode, tracking):
        return {"skipped": skipped}
    db = fresh_database(path, Data(), tracking=tracking)
    await db.open()
    for i in range(100):  # warm-up, under other keys
        await insert(db, f"warm{i}", make_user(i), mode)
    await flush(db)
    users = [(key(i), make_user(i)) for i in range(count)]
    with stopwatch() as elapsed:
        for user_key, user in users:
            await insert(db, user_key, user, mode)
        await flush(db)
    await close(db)
    remove(Path(path))
    return {"count": count, "seconds": elapsed[0], "tx_per_s": count / elapsed[0]}


# -- 3. durability and group commit ---------------------------------------------------------


async def durability(path: str, mode: str, writers: int, seconds: float) -> dict[str, Any]:
    if not supports_durability():
        return {"skipped": "this kanta has no durability= argument (yet)"}
    size = 1000
    db = fresh_database(path, build_state(size), durability=mode)
    await db.open()
    await write_for(db, size, writers, min(0.5, seconds))  # warm-up
    done, elapsed = await write_for(db, size, writers, seconds)
    await close(db)
    remove(Path(path))
    return {"transactions": done, "seconds": elapsed, "tx_per_s": done / elapsed}


async def write_for(db: Db, size: int, writers: int, seconds: float) -> tuple[int, float]:
    """`writers` tasks each commit a transaction and wait for its flush, until time is up;
    returns the number of acknowledged transactions and the time they took."""
    keys = [random_keys(size, 1024, seed=number) for number in range(writers)]
    start = time.perf_counter()
    deadline = start + seconds

    async def writer(mine: list[str]) -> int:
        done = 0
        while time.perf_counter() < deadline:
            with db.transaction("increment", user="bench") as data:
                data.users[mine[done % len(mine)]].age += 1
            await flush(db)
            done += 1
        return done

    done = sum(await asyncio.gather(*(writer(mine) for mine in keys)))
    return done, time.perf_counter() - start


# -- 4. open --------------------------------------------------------------------------------


def no_snapshots(db: Db) -> None:
    db.snapshot_policy = type(db.snapshot_policy)(ratio=1e12, min_bytes=2**62)


async def make_change_log(path: str, records: int, size: int) -> dict[str, Any]:
    """A log of one bootstrap record and `records` small changes, without any snapshot,
    and its conversion to the binary format. Needs this kanta (kanta.convert)."""
    import kanta

    db = fresh_database(path, build_state(size))
    no_snapshots(db)
    await db.open()
    for number, user_key in enumerate(random_keys(size, records), 1):
        with db.transaction("increment", user="bench") as data:
            data.users[user_key].age += 1
        if number % 1000 == 0:
            await flush(db)
    rev = db.rev
    await close(db)
    binary = Path(path).with_suffix(".msgpack.kantadb")
    remove(binary)
    kanta.convert(path, binary, to="msgpack")
    return {
        "rev": rev,
        "paths": {"json": path, "msgpack": str(binary)},
        "json_bytes": Path(path).stat().st_size,
        "binary_bytes": binary.stat().st_size,
    }


async def make_snapshot_db(path: str, size: int) -> dict[str, Any]:
    """A database whose last record is a snapshot of `size` users."""
    db = fresh_database(path, build_state(size))
    await db.open()
    db.request_snapshot()
    await close(db)
    return {"bytes": Path(path).stat().st_size}


async def open_time(
    path: str, fmt: str, repeats: int, tracking: str | None = None
) -> dict[str, Any]:
    """Open (writable, as an application does) fresh copies of the file; times `open()`."""
    if skipped := unsupported("default", tracking):
        return {"skipped": skipped}
    timings, rev, users = [], 0, 0
    for _ in range(repeats):
        copy = Path(path).with_name("open-copy.kantadb")
        shutil.copyfile(path, copy)
        db = database(copy, Data(), fmt, tracking)
        with stopwatch() as elapsed:
            await db.open()
        timings.append(elapsed[0])
        rev, users = db.rev, len(db.data.users)
        await close(db)
        del db
        remove(copy)
    return {**summary_ms(timings), "rev": rev, "users": users}


async def bulk_insert(path: str, size: int, tracking: str | None = None) -> dict[str, Any]:
    """One transaction `data.users.update(...)` of `size` prebuilt users, then a flush."""
    if skipped := unsupported("default", tracking):
        return {"skipped": skipped}
    db = fresh_database(path, Data(), tracking=tracking)
    await db.open()
    await insert(db, "warm", make_user(0))
    await flush(db)
    users = build_users(size)
    with stopwatch() as transaction, db.transaction("import", user="bench") as data:
        data.users.update(users)
    with stopwatch() as flushed:
        await flush(db)
    await close(db)
    remove(Path(path))
    return {"transaction_ms": transaction[0] * 1e3, "flush_ms": flushed[0] * 1e3}


# -- 5. memory ------------------------------------------------------------------------------


async def memory(
    path: str, size: int, source: str | None, tracking: str | None = None
) -> dict[str, Any]:
    """Peak RSS growth of a database kept open through transactions, a flush and a
    snapshot: opened from a copy of `source`, or created from a freshly built state."""
    if skipped := unsupported("default", tracking):
        return {"skipped": skipped}
    baseline = rss_now_kib()
    if source is not None:
        shutil.copyfile(source, path)
        db = database(Path(path), Data(), tracking=tracking)
    else:
        db = fresh_database(path, build_state(size), tracking=tracking)
    await db.open()
    for user_key in random_keys(size, 20):
        await increment(db, user_key)
    db.request_snapshot()
    await flush(db)
    peak = peak_rss_kib()
    await close(db)
    remove(Path(path))
    return {"baseline_kib": baseline, "growth_kib": peak - baseline}


# -- 6. event-loop stalls -------------------------------------------------------------------


async def stalls(
    path: str, source: str, size: int, seconds: float, mode: str = "default"
) -> dict[str, Any]:
    """A 1 ms ticker's longest gap while transactions, flushes and snapshots run."""
    if skipped := unsupported(mode):
        return {"skipped": skipped}
    shutil.copyfile(source, path)
    db = database(Path(path), Data())
    await db.open()
    for user_key in random_keys(size, 3, seed=2):
        await increment(db, user_key, mode)
    state = {"running": True}
    keys = random_keys(size, 100_000, seed=3)  # made before the ticker starts
    churning = churn(db, keys, seconds, state, mode)
    ticks, (busy, snapshots) = await asyncio.gather(ticker(state), churning)
    await close(db)
    remove(Path(path))
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    return {
        "transactions": len(busy),
        "snapshots": snapshots,
        "max_stall_ms": max(gaps) * 1e3,
        "p99_gap_ms": sorted(gaps)[int(0.99 * (len(gaps) - 1))] * 1e3,
        "max_stall_outside_tx_ms": max(outside(ticks, busy)) * 1e3,
        "max_tx_ms": max(end - start for start, end in busy) * 1e3,
    }


async def ticker(state: dict[str, bool]) -> list[float]:
    ticks = [time.perf_counter()]
    while state["running"]:
        await asyncio.sleep(0.001)
        ticks.append(time.perf_counter())
    return ticks


async def churn(
    db: Db, keys: list[str], seconds: float, state: dict[str, bool], mode: str
) -> tuple[list[tuple[float, float]], int]:
    """Transactions every 5 ms, a flush every 5th, a snapshot every 20th; returns each
    transaction's (start, end) and the number of snapshots requested."""
    busy: list[tuple[float, float]] = []
    snapshots = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        user_key = keys[len(busy) % len(keys)]
        start = time.perf_counter()
        with transaction(db, "increment", mode, user_key) as data:
            data.users[user_key].age += 1
        busy.append((start, time.perf_counter()))
        if len(busy) % 20 == 0:
            db.request_snapshot()
            snapshots += 1
        if len(busy) % 5 == 0:
            await flush(db)
        await asyncio.sleep(0.005)
    state["running"] = False
    return busy, snapshots


def outside(ticks: list[float], busy: list[tuple[float, float]]) -> list[float]:
    """Each gap between ticks, less the transaction time inside it."""
    gaps, index = [], 0
    for a, b in itertools.pairwise(ticks):
        inside = 0.0
        while index < len(busy) and busy[index][1] <= a:
            index += 1
        scan = index
        while scan < len(busy) and busy[scan][0] < b:
            inside += min(b, busy[scan][1]) - max(a, busy[scan][0])
            scan += 1
        gaps.append(b - a - inside)
    return gaps
