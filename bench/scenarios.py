"""Scenarios 1 to 3 (latency, throughput, durability), and what all scenarios share: each
runs its measurements in worker subprocesses and returns a Section of results (rows,
notes, and the targets it checks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.report import Check, Row, Section, check
from bench.runner import OURS, Config, Impl, TaskFailed, TaskTimedOut, timed_run


def seconds_limit(cfg: Config) -> float:
    """The longest a 0.9.4 measurement may be projected to take before it is skipped."""
    return 20.0 if cfg.quick else 90.0


def projection(cfg: Config, last_wall: float | None, factor: float) -> str | None:
    """Why to skip a 0.9.4 run whose time, scaled from the previous one, is too long."""
    if last_wall is None or last_wall * factor <= seconds_limit(cfg):
        return None
    return f"about {last_wall * factor:.0f} s projected from the previous size"


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def attempt(
    cfg: Config, section: Section, impl: Impl, task: str, **params: Any
) -> tuple[Row, float]:
    """Run a task, once more if it hung; a failure becomes a note and an empty result."""
    for tries in (1, 2):
        try:
            return timed_run(impl, task, timeout=cfg.timeout, **params)
        except TaskTimedOut as exc:
            section.notes.append(f"{exc}" + (": retried" if tries == 1 else ""))
        except TaskFailed as exc:
            section.notes.append(str(exc))
            break
    return {}, 0.0


def skip_note(section: Section, result: Row) -> None:
    """Note (once) why a measurement was not made, e.g. no flat transactions in this kanta."""
    note = f"skipped: {result['skipped']}" if "skipped" in result else None
    if note and note not in section.notes:
        section.notes.append(note)


def retry_note(section: Section, impl: Impl, result: Row, where: str) -> None:
    if result.get("flush_retries"):
        section.notes.append(
            f"{impl.name} ({where}): flush or close raised IndexError ('pop from an empty "
            f"deque') {result['flush_retries']} times, retried; given up on "
            f"{result['flush_failures']} times: a kanta 0.9.4 bug"
        )


# -- 1. latency -----------------------------------------------------------------------------

LATENCY_COLUMNS = [
    "users",
    "ours ms",
    "ours p90",
    "flat µs",
    "flat p90 µs",
    "0.9.4 ms",
    "0.9.4 p90",
    "sqlite ms",
    "sqlite p90",
    "eq pass ms",
    "ours/eq",
    "ours/0.9.4",
    "ours/sqlite",
    "flat/sqlite",
    "runs",
]
RUNS = ("ours", "flat", "0.9.4", "sqlite")


def latency(cfg: Config) -> Section:
    section = Section(
        "latency",
        "1. One transaction `data.users[k].age += 1` vs state size (JSON log; ms, flat µs)",
        LATENCY_COLUMNS,
    )
    sizes = [1_000, 10_000] if cfg.quick else [1_000, 10_000, 100_000, 1_000_000]
    budget, low, high = (1.0, 5, 200) if cfg.quick else (5.0, 10, 500)
    timing = {"budget": budget, "low": low, "high": high}
    last_wall: dict[str, float] = {}
    for size in sizes:
        row: Row = {"users": size}
        for impl in cfg.impls:
            row |= kanta_latency(cfg, section, impl, size, timing, last_wall)
            if impl is OURS:
                row |= flat_latency(cfg, section, size, timing)
        row |= baseline_latency(cfg, section, size, timing)
        section.rows.append(latency_ratios(row))
    section.notes += [
        "ours: a default transaction (compares the whole state); flat: ours with "
        "`touches=[('users', k)]` (compares that user only), in microseconds",
        "median and 90th percentile of the transaction block alone; a flush (untimed) "
        "follows each transaction; runs = timed transactions (ours/flat/0.9.4/sqlite)",
        "sqlite: stdlib sqlite3, WAL mode, synchronous=NORMAL (commits are not fsynced), "
        "one row per user, BEGIN; UPDATE ... SET age = age + 1 WHERE id = ?; COMMIT",
        "eq pass: `data == copy` of the same state (copy decoded from its MessagePack "
        "encoding), the cost of one C-level pass over it; ratios: ours (or flat) time / "
        "other time",
    ]
    section.checks += latency_checks(section.rows)
    return section


def kanta_latency(
    cfg: Config,
    section: Section,
    impl: Impl,
    size: int,
    timing: dict[str, Any],
    last_wall: dict[str, float],
) -> Row:
    """One kanta's figures at one size; 0.9.4 is skipped when projected too slow."""
    skip = projection(cfg, last_wall.get(impl.name), 10) if impl is not OURS else None
    if skip:
        section.notes.append(f"{impl.name} at {size:,} users skipped: {skip}")
        return {}
    path = cfg.path("latency.kantadb")
    result, last_wall[impl.name] = attempt(
        cfg, section, impl, "latency", path=path, size=size, **timing
    )
    retry_note(section, impl, result, f"{size:,} users")
    return {
        f"{impl.name} ms": result.get("median_ms"),
        f"{impl.name} p90": result.get("p90_ms"),
        f"{impl.name} runs": result.get("runs", "-"),
    }


def flat_latency(cfg: Config, section: Section, size: int, timing: dict[str, Any]) -> Row:
    """Ours with flat transactions (`touches=`) at one size, in microseconds."""
    path = cfg.path("latency.kantadb")
    result, _ = attempt(cfg, section, OURS, "latency", path=path, size=size, mode="flat", **timing)
    skip_note(section, result)
    return {
        "flat µs": micro(result.get("median_ms")),
        "flat p90 µs": micro(result.get("p90_ms")),
        "flat runs": result.get("runs", "-"),
    }


def micro(ms: float | None) -> float | None:
    return None if ms is None else ms * 1e3


def latency_ratios(row: Row) -> Row:
    """Fold the run counts into one column; add the ratios (time / other time)."""
    row["runs"] = "/".join(str(row.pop(f"{name} runs", "-")) for name in RUNS)
    for other in ("eq pass", "0.9.4", "sqlite"):
        row[f"ours/{other.split()[0]}"] = ratio(row.get("ours ms"), row.get(f"{other} ms"))
    flat = row.get("flat µs")
    row["flat/sqlite"] = ratio(None if flat is None else flat / 1e3, row.get("sqlite ms"))
    return row


def baseline_latency(cfg: Config, section: Section, size: int, timing: dict[str, Any]) -> Row:
    path = cfg.path("latency.sqlite")
    sqlite, _ = attempt(cfg, section, OURS, "sqlite_latency", path=path, size=size, **timing)
    equality, _ = attempt(cfg, section, OURS, "equality", size=size, **timing)
    return {
        "sqlite ms": sqlite.get("median_ms"),
        "sqlite p90": sqlite.get("p90_ms"),
        "sqlite runs": sqlite.get("runs", "-"),
        "eq pass ms": equality.get("median_ms"),
    }


def at_most(limit: float) -> Callable[[float], bool]:
    return lambda value: value <= limit


def at_least(floor: float) -> Callable[[float], bool]:
    return lambda value: value >= floor


def latency_checks(rows: list[Row]) -> list[Check]:
    by_size = {row["users"]: row for row in rows}
    checks = [
        check(
            f"default transaction at {size:,} users <= {limit:g} ms",
            by_size.get(size, {}).get("ours ms"),
            "ms",
            at_most(limit),
        )
        for size, limit in ((100_000, 15.0), (1_000_000, 250.0))
    ]
    million = by_size.get(1_000_000, {})
    target = "flat transaction at 1,000,000 users <= 50 µs"
    checks.append(check(target, million.get("flat µs"), "µs", at_most(50)))
    target = "flat transaction at 1,000,000 users within 2x of SQLite"
    share = million.get("flat/sqlite")
    checks.append(check(target, share, "x SQLite (flat/sqlite)", at_most(2)))
    return checks


# -- 2. throughput --------------------------------------------------------------------------


THROUGHPUT_COLUMNS = [
    "transactions",
    "ours tx/s",
    "flat tx/s",
    "0.9.4 tx/s",
    "sqlite tx/s",
    "ours/0.9.4",
    "ours/sqlite",
    "flat/sqlite",
]


def throughput(cfg: Config) -> Section:
    section = Section(
        "throughput",
        "2. Throughput: N single-insert transactions from an empty state, then one flush",
        THROUGHPUT_COLUMNS,
    )
    last_wall: dict[str, float] = {}
    for count in [1_000] if cfg.quick else [1_000, 10_000]:
        row: Row = {"transactions": count}
        for impl in cfg.impls:
            row |= kanta_throughput(cfg, section, impl, count, last_wall)
        flat, _ = attempt(
            cfg,
            section,
            OURS,
            "throughput",
            path=cfg.path("tput.kantadb"),
            count=count,
            mode="flat",
        )
        skip_note(section, flat)
        row["flat tx/s"] = flat.get("tx_per_s")
        sqlite, _ = attempt(
            cfg, section, OURS, "sqlite_throughput", path=cfg.path("tput.sqlite"), count=count
        )
        row["sqlite tx/s"] = sqlite.get("tx_per_s")
        row["ours/0.9.4"] = ratio(row.get("ours tx/s"), row.get("0.9.4 tx/s"))
        row["ours/sqlite"] = ratio(row.get("ours tx/s"), row.get("sqlite tx/s"))
        row["flat/sqlite"] = ratio(row.get("flat tx/s"), row.get("sqlite tx/s"))
        section.rows.append(row)
    section.notes += [
        "ours: default transactions; flat: ours with `touches=[('users', k)]`",
        "tx/s over the N transactions plus the final `await db.flush()` (sqlite: one "
        "INSERT per BEGIN/COMMIT, same settings as above); ratios: tx/s / other tx/s",
    ]
    section.checks += throughput_checks(section.rows[-1])
    return section


def kanta_throughput(
    cfg: Config, section: Section, impl: Impl, count: int, last_wall: dict[str, float]
) -> Row:
    """One kanta's default-mode rate; 0.9.4 is skipped when projected too slow."""
    # Each insert costs more as the state grows: project quadratically.
    skip = projection(cfg, last_wall.get(impl.name), 100) if impl is not OURS else None
    if skip:
        section.notes.append(f"{impl.name} with {count:,} transactions skipped: {skip}")
        return {}
    result, last_wall[impl.name] = attempt(
        cfg, section, impl, "throughput", path=cfg.path("tput.kantadb"), count=count
    )
    retry_note(section, impl, result, f"N={count:,}")
    return {f"{impl.name} tx/s": result.get("tx_per_s")}


def throughput_checks(last: Row) -> list[Check]:
    where = f"tx/s at N={last['transactions']:,}"
    return [
        check(f">= {floor:,} tx/s ({mode} mode)", last.get(column), where, at_least(floor))
        for column, mode, floor in (("ours tx/s", "default", 20_000), ("flat tx/s", "flat", 50_000))
    ]


# -- 3. durability --------------------------------------------------------------------------


GROUP_COMMIT = "fsync >= 1/4 of none at 100 writers"


def durability(cfg: Config) -> Section:
    section = Section(
        "durability",
        "3. Durability and group commit: W writers, each `transaction` then `await flush()`",
        ["writers", "fsync tx/s", "interval tx/s", "none tx/s", "fsync/none"],
    )
    seconds = 1.0 if cfg.quick else 3.0
    for writers in (1, 10, 100):
        row: Row = {"writers": writers}
        for mode in ("fsync", "interval", "none"):
            result, _ = attempt(
                cfg,
                section,
                OURS,
                "durability",
                path=cfg.path("durability.kantadb"),
                mode=mode,
                writers=writers,
                seconds=seconds,
            )
            if "skipped" in result:
                section.notes.append(f"skipped: {result['skipped']}")
                section.checks.append(check(GROUP_COMMIT, None, "", bool))
                return section
            row[f"{mode} tx/s"] = result.get("tx_per_s")
        row["fsync/none"] = ratio(row.get("fsync tx/s"), row.get("none tx/s"))
        section.rows.append(row)
    section.notes.append(
        f"ours only, 1,000 users, `data.users[k].age += 1`; {seconds:g} s per point after a "
        "warm-up; a transaction counts once its flush returned; `interval` (fsync on the "
        "background flush only) for reference"
    )
    share = section.rows[-1].get("fsync/none")
    section.checks.append(check(GROUP_COMMIT, share, "", lambda share: share >= 0.25))
    return section
