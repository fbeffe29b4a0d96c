"""Worker subprocess entry: `main()` runs one task named on the command line and prints
its result as one JSON line prefixed with RESULT_PREFIX.

Started by bench.runner with the repository on sys.path (in front for this kanta, at
the end for kanta 0.9.4, so that the installed 0.9.4 wins), never as `python -m`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
from collections.abc import Callable
from typing import Any

from bench import RESULT_PREFIX, tasks_baseline, tasks_kanta, tasks_reads, workload

TASKS: dict[str, Callable[..., Any]] = {
    "describe": workload.describe,
    "latency": tasks_kanta.latency,
    "throughput": tasks_kanta.throughput,
    "durability": tasks_kanta.durability,
    "make_change_log": tasks_kanta.make_change_log,
    "make_snapshot_db": tasks_kanta.make_snapshot_db,
    "open_time": tasks_kanta.open_time,
    "bulk_insert": tasks_kanta.bulk_insert,
    "memory": tasks_kanta.memory,
    "stalls": tasks_kanta.stalls,
    "reads": tasks_reads.reads,
    "sqlite_latency": tasks_baseline.sqlite_latency,
    "sqlite_throughput": tasks_baseline.sqlite_throughput,
    "equality": tasks_baseline.equality,
    "live_state": tasks_baseline.live_state,
}


def main() -> None:
    name, params = sys.argv[1], json.loads(sys.argv[2])
    workload.quiet()
    task = TASKS[name]
    result = asyncio.run(task(**params)) if inspect.iscoroutinefunction(task) else task(**params)
    if workload.FLUSH_RETRIES:
        result["flush_retries"] = workload.FLUSH_RETRIES
        result["flush_failures"] = workload.FLUSH_FAILURES
    print(RESULT_PREFIX + json.dumps(result), flush=True)
