"""Results as sections of a table: printed aligned, written as CSV, checked against targets."""

from __future__ import annotations

import csv
import os
import platform
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Row = dict[str, Any]


@dataclass
class Check:
    """A target and what was measured against it."""

    target: str
    measured: str
    met: bool | None  # None: not measured


def check(
    target: str,
    value: float | None,
    unit: str,
    passes: Callable[[float], bool],
    applies: bool = True,
) -> Check:
    """Judge `value` against a target; left unjudged when measured at another size."""
    if value is None:
        return Check(target, "-", None)
    measured = f"{fixed(value)} {unit}".rstrip() + ("" if applies else " (quick size)")
    return Check(target, measured, passes(value) if applies else None)


@dataclass
class Section:
    name: str  # also the CSV file's stem
    title: str
    columns: list[str]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return fixed(value)
    return str(value)


def fixed(value: float) -> str:
    """About three significant digits, thousands separated."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def table(columns: list[str], rows: list[Row]) -> list[str]:
    """Aligned text: numbers to the right, words to the left."""
    cells = [[cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r.get(c), int | float | None) for r in rows) for c in columns]
    head = " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    rule = "-+-".join("-" * w for w in widths)
    body = [
        " | ".join(
            v.rjust(w) if right else v.ljust(w)
            for v, w, right in zip(r, widths, numeric, strict=True)
        ).rstrip()
        for r in cells
    ]
    return [head.rstrip(), rule, *body]


def render(section: Section) -> str:
    lines = [f"## {section.title}", ""]
    if section.rows:
        lines += table(section.columns, section.rows)
    lines += [f"* {note}" for note in section.notes]
    return "\n".join(lines) + "\n"


def render_checks(sections: list[Section]) -> str:
    checks = [check for section in sections for check in section.checks]
    verdict = {True: "met", False: "MISSED", None: "not measured"}
    rows = [{"target": c.target, "measured": c.measured, "": verdict[c.met]} for c in checks]
    return "\n".join(["## Targets", "", *table(["target", "measured", ""], rows)]) + "\n"


def write_csv(section: Section, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{section.name}.csv"
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=section.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(section.rows)
    return path


def machine(versions: dict[str, str], workdir: Path, root: Path) -> list[str]:
    """A description of where the figures come from."""
    return [
        f"machine: {os.cpu_count()} cores, {cpu_model()}, {platform.platform()}",
        f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        + ", ".join(f"{name} {version}" for name, version in versions.items()),
        tree(root),
        f"files in {workdir} ({filesystem(workdir)}); {load()} at the start",
    ]


def tree(root: Path) -> str:
    """The commit the measured kanta comes from, and whether kanta/ differs from it."""
    git = ["git", "--no-optional-locks", "-C", str(root)]
    try:
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], **QUIET).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--", "kanta"], **QUIET).stdout
    except OSError:
        return "kanta tree: unknown (no git)"
    return f"kanta tree: commit {head or '?'}" + (", kanta/ modified" if dirty.strip() else "")


QUIET: dict[str, Any] = {"capture_output": True, "text": True, "check": False}


def load() -> str:
    """The 1-minute load average: other processes competing for the cores skew timings."""
    return f"load average {os.getloadavg()[0]:.2f}"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def filesystem(path: Path) -> str:
    """The type of the filesystem holding `path` (Linux), which decides what fsync costs."""
    best, kind = "", "unknown filesystem"
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                _, point, fstype, *_ = line.split()
                inside = str(path).startswith(point.rstrip("/") + "/") or str(path) == point
                if inside and len(point) > len(best):
                    best, kind = point, fstype
    except OSError:
        pass
    return kind
