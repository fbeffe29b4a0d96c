"""Baselines, run in a worker subprocess: SQLite from the standard library, a C-level
equality pass over the state, and the memory the state alone takes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import msgspec

from bench.workload import (
    Data,
    build_state,
    build_users,
    key,
    make_user,
    peak_rss_kib,
    random_keys,
    remove,
    rss_now_kib,
    runs_for,
    stopwatch,
    summary_ms,
)

SCHEMA = "CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT, email TEXT, age INT, tags TEXT)"
INSERT = "INSERT INTO users VALUES (?, ?, ?, ?, ?)"
INCREMENT = "UPDATE users SET age = age + 1 WHERE id = ?"


def connect(path: Path) -> sqlite3.Connection:
    """WAL mode, synchronous=NORMAL: a commit is not synced (checkpoints are)."""
    remove(path)
    connection = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(SCHEMA)
    return connection


def row(user_key: str, user: Any) -> tuple[Any, ...]:
    return (user_key, user.name, user.email, user.age, msgspec.json.encode(user.tags))


def in_transaction(connection: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> None:
    connection.execute("BEGIN")
    connection.execute(sql, params)
    connection.execute("COMMIT")


def timed_increment(connection: sqlite3.Connection, user_key: str) -> float:
    start = time.perf_counter()
    in_transaction(connection, INCREMENT, (user_key,))
    return time.perf_counter() - start


def sqlite_latency(path: str, size: int, budget: float, low: int, high: int) -> dict[str, Any]:
    connection = connect(Path(path))
    connection.execute("BEGIN")
    connection.executemany(INSERT, (row(k, u) for k, u in build_users(size).items()))
    connection.execute("COMMIT")
    keys = random_keys(size, high + 3)
    warmup = [timed_increment(connection, k) for k in keys[:3]]
    runs = runs_for(min(warmup), budget, low, high)
    timings = [timed_increment(connection, k) for k in keys[3 : 3 + runs]]
    connection.close()
    remove(Path(path))
    return summary_ms(timings)


def sqlite_throughput(path: str, count: int) -> dict[str, Any]:
    connection = connect(Path(path))
    for i in range(100):
        in_transaction(connection, INSERT, row(f"warm{i}", make_user(i)))
    rows = [row(key(i), make_user(i)) for i in range(count)]
    with stopwatch() as elapsed:
        for values in rows:
            in_transaction(connection, INSERT, values)
    connection.close()
    remove(Path(path))
    return {"count": count, "seconds": elapsed[0], "tx_per_s": count / elapsed[0]}


def equality(size: int, budget: float, low: int, high: int) -> dict[str, Any]:
    """`data == copy`, the copy decoded from the state's MessagePack encoding."""
    data = build_state(size)
    copy = msgspec.msgpack.decode(msgspec.msgpack.encode(data), type=Data)

    def compare() -> float:
        start = time.perf_counter()
        same = data == copy
        elapsed = time.perf_counter() - start
        assert same
        return elapsed

    warmup = [compare() for _ in range(2)]
    runs = runs_for(min(warmup), budget, low, high)
    return summary_ms([compare() for _ in range(runs)])


def live_state(size: int) -> dict[str, Any]:
    """The RSS growth from building the state alone."""
    baseline = rss_now_kib()
    data = build_state(size)
    growth = peak_rss_kib() - baseline
    assert len(data.users) == size
    return {"baseline_kib": baseline, "growth_kib": growth}
