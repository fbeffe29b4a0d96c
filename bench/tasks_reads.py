"""Reads of an open state (no transaction), run in a worker subprocess under ours."""

from __future__ import annotations

import gc
import shutil
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from bench.workload import Data, User, close, database, random_keys, remove, runs_for, unsupported

encode = msgspec.json.encode


def attribute(users: list[User]) -> None:
    for user in users:
        _ = user.age


def lookup(data: Data, keys: list[str]) -> None:
    for user_key in keys:
        _ = data.users[user_key]


def index(users: list[User]) -> None:
    for user in users:
        _ = user.tags[0]


def items(data: Data) -> None:
    for _user_key, _user in data.users.items():
        pass


def tags(users: list[User]) -> None:
    for user in users:
        for _tag in user.tags:
            pass


def encode_each(users: list[User]) -> None:
    for user in users:
        encode(user)


def encode_all(data: Data) -> None:
    encode(data.users)


def handler(data: Data, keys: list[str]) -> None:
    """What a read handler does: is the key there, get the user, encode the response."""
    for user_key in keys:
        if user_key in data.users:
            encode(data.users[user_key])


def operations(data: Data, size: int) -> dict[str, tuple[Callable[[], None], int]]:
    """Each read's loop over the state, and how many operations one pass makes."""
    users, keys = list(data.users.values()), list(data.users)
    wanted = random_keys(size, size, seed=4)
    return {
        "attribute": (partial(attribute, users), len(users)),
        "lookup": (partial(lookup, data, keys), len(keys)),
        "index": (partial(index, users), len(users)),
        "items": (partial(items, data), len(users)),
        "tags": (partial(tags, users), sum(len(user.tags) for user in users)),
        "encode_user": (partial(encode_each, users), len(users)),
        "encode_users": (partial(encode_all, data), 1),
        "handler": (partial(handler, data, wanted), len(wanted)),
    }


def best_ns(loop: Callable[[], None], count: int, budget: float, low: int, high: int) -> float:
    """Nanoseconds per operation: the fastest of the timed passes, after a warm-up."""
    gc.collect()
    passes = []
    for _ in range(2 + high):
        start = time.perf_counter()
        loop()
        passes.append(time.perf_counter() - start)
        if len(passes) >= 2 + runs_for(min(passes[:2]), budget, low, high):
            break
    return min(passes[2:]) / count * 1e9


async def reads(
    path: str, source: str, size: int, tracking: str, budget: float, low: int, high: int
) -> dict[str, Any]:
    """Time each read of `operations` on the database opened from a copy of `source`."""
    if skipped := unsupported("default", tracking):
        return {"skipped": skipped}
    shutil.copyfile(source, path)
    db = database(Path(path), Data(), tracking=tracking)
    await db.open()
    data = db.data
    ns = {
        name: best_ns(loop, count, budget, low, high)
        for name, (loop, count) in operations(data, size).items()
    }
    user = next(iter(data.users.values()))
    kinds = f"{type(data.users).__name__}/{type(user.tags).__name__}"
    await close(db)
    remove(Path(path))
    return {"ns": ns, "containers": kinds, "users": size}
