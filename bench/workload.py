"""What every measurement shares: the schema, the states, timing statistics, and the few
places where this kanta and kanta 0.9.4 differ.

Runs inside the worker subprocesses, under either interpreter: it imports only the
standard library, msgspec and whichever `kanta` that interpreter finds.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import random
import resource
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

import kanta
from kanta import Kanta


class User(msgspec.Struct):
    name: str
    email: str
    age: int
    tags: list[str]


class Data(msgspec.Struct):
    users: dict[str, User] = {}


def key(i: int) -> str:
    return f"u{i}"


def make_user(i: int) -> User:
    # Fresh string objects per user, as decoding a file gives them.
    return User(f"user {i}", f"user{i}@example.com", i % 90, [f"tag{i % 7}", f"group{i % 3}"])


def build_users(size: int, start: int = 0) -> dict[str, User]:
    return {key(i): make_user(i) for i in range(start, start + size)}


def build_state(size: int) -> Data:
    return Data(users=build_users(size))


def random_keys(size: int, count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [key(rng.randrange(size)) for _ in range(count)]


# -- statistics -----------------------------------------------------------------------------


def summary_ms(seconds: list[float]) -> dict[str, float]:
    """Median, 90th percentile and maximum of durations, in milliseconds."""
    ordered = sorted(seconds)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {
        "median_ms": statistics.median(ordered) * 1e3,
        "p90_ms": p90 * 1e3,
        "max_ms": ordered[-1] * 1e3,
        "runs": len(ordered),
    }


def runs_for(warmup_seconds: float, budget: float, low: int, high: int) -> int:
    """How many timed runs fit the time budget, judged by one warm-up run."""
    return max(low, min(high, int(budget / max(warmup_seconds, 1e-6))))


@contextlib.contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as t:` leaves the elapsed seconds in `t[0]`."""
    elapsed: list[float] = []
    start = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed.append(time.perf_counter() - start)


def rss_now_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


# -- the two kantas -------------------------------------------------------------------------


def version() -> str:
    from importlib import metadata

    found = getattr(kanta, "__version__", None)
    return str(found) if found else metadata.version("kanta")


def describe() -> dict[str, str]:
    return {
        "kanta": version(),
        "kanta_path": str(Path(kanta.__file__).parent),
        "msgspec": msgspec.__version__,
    }


def quiet() -> None:
    """No transaction logging: both versions log every change at INFO by default."""
    logging.disable(logging.WARNING)


def supports_durability() -> bool:
    return "durability" in inspect.signature(Kanta).parameters


def supports_tracking() -> bool:
    """`Kanta(..., tracking=...)`: this kanta has it, kanta 0.9.4 does not."""
    return "tracking" in inspect.signature(Kanta).parameters


def supports_touches() -> bool:
    """Flat transactions (`touches=`): this kanta has them, kanta 0.9.4 does not."""
    return "touches" in inspect.signature(Kanta.transaction).parameters


MODES = ("default", "flat")  # a transaction comparing the whole state, or declared paths


def transaction(db: Kanta[Any], action: str, mode: str, user_key: str) -> Any:
    """`db.transaction(action, user="bench")`; in flat mode with
    `touches=[("users", user_key)]`, the one path the block changes."""
    if mode == "flat":
        return db.transaction(action, user="bench", touches=[("users", user_key)])
    return db.transaction(action, user="bench")


def unsupported(mode: str, tracking: str | None = None) -> str | None:
    """Why this kanta cannot run `mode` (with `tracking`, if named), if it cannot."""
    if mode == "flat" and not supports_touches():
        return "this kanta has no flat transactions (no touches= argument)"
    if tracking is not None and not supports_tracking():
        return "this kanta has no tracking= argument"
    return None


def serializer(fmt: str) -> Any:
    if fmt == "json":
        return None
    found = getattr(kanta, "MsgPackSerializer", None)
    if found is None:  # kanta 0.9.4 keeps it in kanta.serialization
        found = kanta.serialization.MsgPackSerializer  # type: ignore[attr-defined]
    return found()


def database(
    path: Path, data: Any, fmt: str = "json", tracking: str | None = None, **options: Any
) -> Kanta[Any]:
    """`Kanta(path, data, ...)`; `tracking=` is passed only when named, so only to ours."""
    if tracking is not None:
        if not supports_tracking():
            raise TypeError("this kanta has no tracking= argument")
        options["tracking"] = tracking
    return Kanta(path, data, serializer=serializer(fmt), **options)


def fresh_database(path: str, data: Any, **options: Any) -> Kanta[Any]:
    """A database to be created at `path` (a file left by a killed run is removed)."""
    remove(Path(path))
    return database(Path(path), data, **options)


RELEASE_094 = version() == "0.9.4"
FLUSH_RETRIES = 0  # kanta 0.9.4 only: see flush()
FLUSH_FAILURES = 0


async def flush(db: Kanta[Any]) -> None:
    """`await db.flush()`. kanta 0.9.4's flush at times raises IndexError ('pop from an
    empty deque'): it is retried, and after 10 tries given up; both are counted and
    reported. Only for 0.9.4: anything this kanta raises propagates."""
    global FLUSH_RETRIES, FLUSH_FAILURES
    if not RELEASE_094:
        await db.flush()
        return
    for _ in range(10):
        try:
            await db.flush()
            return
        except IndexError:
            FLUSH_RETRIES += 1
    FLUSH_FAILURES += 1


async def close(db: Kanta[Any]) -> None:
    """`await db.close()`; kanta 0.9.4's close re-raises its background flush's IndexError
    (see flush()): counted as a failed flush."""
    global FLUSH_RETRIES, FLUSH_FAILURES
    if not RELEASE_094:
        await db.close()
        return
    try:
        await db.close()
    except IndexError:
        FLUSH_RETRIES += 1
        FLUSH_FAILURES += 1


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
