"""Running worker tasks in fresh subprocesses, under this kanta or kanta 0.9.4."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import RESULT_PREFIX

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_094 = "/tmp/kanta-test-venv-094/bin/python"
SCRUBBED = ("PYTHONPATH", "PYTHONHOME", "KANTA_TRACKING")  # not passed on to workers


@dataclass(frozen=True)
class Impl:
    """A kanta to measure: the interpreter that runs it, and whether the repository goes
    in front of its sys.path (this kanta) or behind it (an installed release)."""

    name: str
    python: str
    repo_first: bool


OURS = Impl("ours", sys.executable, repo_first=True)


def release(python: str) -> Impl:
    return Impl("0.9.4", python, repo_first=False)


class TaskFailed(Exception):
    """A worker exited with an error or printed no result."""


class TaskTimedOut(TaskFailed):
    """A worker gave no result in time (and was killed)."""


@dataclass
class Config:
    quick: bool
    workdir: Path
    old: Impl | None  # kanta 0.9.4, if available
    prepared: dict[str, Any] = field(default_factory=dict)  # files shared by scenarios

    @property
    def impls(self) -> list[Impl]:
        return [OURS] if self.old is None else [OURS, self.old]

    @property
    def timeout(self) -> float:
        """Seconds any one worker may take: a hung one is killed (and retried once)."""
        return 60.0 if self.quick else 150.0

    def path(self, name: str) -> str:
        return str(self.workdir / name)


def run(impl: Impl, task: str, timeout: float | None = None, **params: Any) -> dict[str, Any]:
    """Run `task` in a fresh subprocess under `impl`; returns its result dict."""
    where = "0" if impl.repo_first else "len(sys.path)"
    code = (
        f"import sys; sys.path.insert({where}, {str(ROOT)!r}); import bench.worker as w; w.main()"
    )
    # Without KANTA_TRACKING, a database that names no tracking gets kanta's default.
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    try:
        done = subprocess.run(
            [impl.python, "-c", code, task, json.dumps(params)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd="/",  # nowhere near a `kanta` package
        )
    except subprocess.TimeoutExpired as exc:
        message = f"{task} under {impl.name}: no result within {timeout:.0f} s, killed"
        raise TaskTimedOut(message) from exc
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line[len(RESULT_PREFIX) :]))
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    raise TaskFailed(f"{task} under {impl.name} failed: " + " | ".join(tail))


def timed_run(impl: Impl, task: str, **params: Any) -> tuple[dict[str, Any], float]:
    """`run`, also returning the subprocess's wall time in seconds."""
    start = time.perf_counter()
    result = run(impl, task, **params)
    return result, time.perf_counter() - start
