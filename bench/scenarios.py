"""Scenarios 1 to 3 (latency, throughput, durability), and what all scenarios share: each
runs its measurements in worker subprocesses and returns a Section of results (rows,
notes, and the targets it checks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.report import Check, Row, Section, check, fixed
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

MICRO = ("barrier", "flat", "compare flat")  # the ones that cost microseconds: in µs
RUNS = ("barrier", "compare", "flat", "compare flat", "0.9.4", "sqlite")
LATENCY_RATIOS = (
    ("compare", "eq pass"),
    ("compare", "0.9.4"),
    ("barrier", "flat"),
    ("barrier", "sqlite"),
    ("flat", "sqlite"),
)
LATENCY_COLUMNS = [
    "users",
    "barrier µs",
    "barrier p90 µs",
    "compare ms",
    "compare p90",
    "flat µs",
    "flat p90 µs",
    "compare flat µs",
    "0.9.4 ms",
    "0.9.4 p90",
    "sqlite ms",
    "sqlite p90",
    "eq pass ms",
    *(f"{a}/{b.split()[0]}" for a, b in LATENCY_RATIOS),
    "runs",
]
OURS_RUNS: tuple[tuple[str, dict[str, Any]], ...] = (  # ours's columns: worker parameters
    ("barrier", {"tracking": "barrier"}),
    ("compare", {"tracking": "compare"}),
    ("flat", {"mode": "flat", "tracking": "barrier"}),
    ("compare flat", {"mode": "flat", "tracking": "compare"}),
)


def latency(cfg: Config) -> Section:
    section = Section(
        "latency",
        "1. One transaction `data.users[k].age += 1` vs state size (JSON log; ms, or µs)",
        LATENCY_COLUMNS,
    )
    sizes = [1_000, 10_000] if cfg.quick else [1_000, 10_000, 100_000, 1_000_000]
    budget, low, high = (1.0, 5, 200) if cfg.quick else (5.0, 10, 500)
    timing = {"budget": budget, "low": low, "high": high}
    last_wall: dict[str, float] = {}
    for size in sizes:
        row: Row = {"users": size}
        for name, params in OURS_RUNS:
            row |= latency_run(cfg, section, OURS, name, size, timing | params)[0]
        if cfg.old is not None:
            row |= old_latency(cfg, section, cfg.old, size, timing, last_wall)
        row |= baseline_latency(cfg, section, size, timing)
        section.rows.append(latency_ratios(row))
    section.notes += [
        "barrier: ours's default transaction (tracking='barrier', the default: the commit "
        "compares what the block wrote), in microseconds; compare: the same with "
        "tracking='compare' (the whole state compared, 0.9.x's way), in ms; flat: the "
        "barrier with `touches=[('users', k)]`, in microseconds (compare flat: the same "
        "with tracking='compare', median only)",
        "median and 90th percentile of the transaction block alone; a flush (untimed) "
        "follows each transaction; runs = timed transactions (" + "/".join(RUNS) + ")",
        "sqlite: stdlib sqlite3, WAL mode, synchronous=NORMAL (commits are not fsynced), "
        "one row per user, BEGIN; UPDATE ... SET age = age + 1 WHERE id = ?; COMMIT",
        "eq pass: `data == copy` of the same state (copy decoded from its MessagePack "
        "encoding), the cost of one C-level pass over it; ratios: time / other time",
    ]
    section.checks += latency_checks(section.rows)
    return section


def latency_run(
    cfg: Config, section: Section, impl: Impl, name: str, size: int, params: dict[str, Any]
) -> tuple[Row, float]:
    """One column's figures at one size, and the worker's wall time."""
    path = cfg.path("latency.kantadb")
    result, wall = attempt(cfg, section, impl, "latency", path=path, size=size, **params)
    retry_note(section, impl, result, f"{size:,} users")
    skip_note(section, result)
    factor = 1e3 if name in MICRO else 1.0
    median, p90 = latency_columns(name)
    return {
        median: scaled(result.get("median_ms"), factor),
        p90: scaled(result.get("p90_ms"), factor),
        f"{name} runs": result.get("runs", "-"),
    }, wall


def old_latency(
    cfg: Config,
    section: Section,
    impl: Impl,
    size: int,
    timing: dict[str, Any],
    last_wall: dict[str, float],
) -> Row:
    """kanta 0.9.4 at one size (it has no tracking=), skipped when projected too slow."""
    skip = projection(cfg, last_wall.get(impl.name), 10)
    if skip:
        section.notes.append(f"{impl.name} at {size:,} users skipped: {skip}")
        return {}
    found, last_wall[impl.name] = latency_run(cfg, section, impl, impl.name, size, timing)
    return found


def latency_columns(name: str) -> tuple[str, str]:
    """The median and p90 columns of a run: in µs for the cheap ones, else in ms."""
    return (f"{name} µs", f"{name} p90 µs") if name in MICRO else (f"{name} ms", f"{name} p90")


def scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def in_ms(row: Row, name: str) -> float | None:
    value = row.get(latency_columns(name)[0])
    return scaled(value, 1e-3) if name in MICRO else value


def latency_ratios(row: Row) -> Row:
    """Fold the run counts into one column; add the ratios (time / other time)."""
    row["runs"] = "/".join(str(row.pop(f"{name} runs", "-")) for name in RUNS)
    for a, b in LATENCY_RATIOS:
        row[f"{a}/{b.split()[0]}"] = ratio(in_ms(row, a), in_ms(row, b))
    return row


def versus(row: Row, name: str = "barrier") -> str:
    """` (0.9 x flat, 2.1 x SQLite)`: `name`'s ratios printed with a target's figure."""
    shares = ((row.get(f"{name}/{other}"), label) for other, label in BARRIER_VERSUS)
    found = [f"{fixed(share)} x {label}" for share, label in shares if share is not None]
    return f" ({', '.join(found)})" if found else ""


BARRIER_VERSUS = (("flat", "flat"), ("sqlite", "SQLite"))


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
    million = by_size.get(1_000_000, {})
    target = "default (barrier) transaction at 1,000,000 users <= 50 µs"
    checks = [check(target, million.get("barrier µs"), "µs" + versus(million), at_most(50))]
    checks += [
        check(
            f"compare-mode default transaction at {size:,} users <= {limit:g} ms",
            by_size.get(size, {}).get("compare ms"),
            "ms",
            at_most(limit),
        )
        for size, limit in ((100_000, 15.0), (1_000_000, 250.0))
    ]
    # Flat transactions are compare mode's way to cost what they change: checked there.
    flat, sqlite = million.get("compare flat µs"), million.get("sqlite ms")
    target = "compare-mode flat transaction at 1,000,000 users <= 50 µs"
    checks.append(check(target, flat, "µs", at_most(50)))
    share = flat / (sqlite * 1000) if flat is not None and sqlite else None
    target = "compare-mode flat transaction at 1,000,000 users within 2x of SQLite"
    checks.append(check(target, share, "x SQLite (compare flat/sqlite)", at_most(2)))
    return checks


# -- 2. throughput --------------------------------------------------------------------------


THROUGHPUT_RATIOS = ("barrier/flat", "barrier/sqlite", "compare/0.9.4", "flat/sqlite")
THROUGHPUT_COLUMNS = [
    "transactions",
    *(f"{name} tx/s" for name, _ in OURS_RUNS),
    "0.9.4 tx/s",
    "sqlite tx/s",
    *THROUGHPUT_RATIOS,
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
        path = cfg.path("tput.kantadb")
        for name, params in OURS_RUNS:
            found, _ = attempt(cfg, section, OURS, "throughput", path=path, count=count, **params)
            skip_note(section, found)
            row[f"{name} tx/s"] = found.get("tx_per_s")
        if cfg.old is not None:
            row |= old_throughput(cfg, section, cfg.old, count, last_wall)
        sqlite, _ = attempt(
            cfg, section, OURS, "sqlite_throughput", path=cfg.path("tput.sqlite"), count=count
        )
        row["sqlite tx/s"] = sqlite.get("tx_per_s")
        for column in THROUGHPUT_RATIOS:
            a, b = column.split("/")
            row[column] = ratio(row.get(f"{a} tx/s"), row.get(f"{b} tx/s"))
        section.rows.append(row)
    section.notes += [
        "barrier: ours's default transactions (tracking='barrier', the default); compare: "
        "tracking='compare'; flat: the barrier with `touches=[('users', k)]`; compare "
        "flat: the same with tracking='compare'",
        "tx/s over the N transactions plus the final `await db.flush()` (sqlite: one "
        "INSERT per BEGIN/COMMIT, same settings as above); ratios: tx/s / other tx/s",
    ]
    section.checks += throughput_checks(section.rows[-1])
    return section


def old_throughput(
    cfg: Config, section: Section, impl: Impl, count: int, last_wall: dict[str, float]
) -> Row:
    """kanta 0.9.4's rate; skipped when projected too slow."""
    # Each insert costs more as the state grows: project quadratically.
    skip = projection(cfg, last_wall.get(impl.name), 100)
    if skip:
        section.notes.append(f"{impl.name} with {count:,} transactions skipped: {skip}")
        return {}
    result, last_wall[impl.name] = attempt(
        cfg, section, impl, "throughput", path=cfg.path("tput.kantadb"), count=count
    )
    retry_note(section, impl, result, f"N={count:,}")
    return {f"{impl.name} tx/s": result.get("tx_per_s")}


def throughput_checks(last: Row) -> list[Check]:
    count = last["transactions"]
    where = f"tx/s at N={count:,}"
    target = ">= 20,000 single-insert tx/s at N=10,000 (default, barrier)"
    value = last.get("barrier tx/s")
    barrier = check(target, value, where + versus(last), at_least(20_000), count == 10_000)
    target = ">= 50,000 tx/s (compare-mode flat)"
    flat = check(target, last.get("compare flat tx/s"), where, at_least(50_000))
    return [barrier, flat]


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
        f"ours only (default tracking, the barrier), 1,000 users, `data.users[k].age += 1`; "
        f"{seconds:g} s per point after a warm-up; a transaction counts once its flush "
        "returned; `interval` (fsync on the background flush only) for reference"
    )
    share = section.rows[-1].get("fsync/none")
    section.checks.append(check(GROUP_COMMIT, share, "", lambda share: share >= 0.25))
    return section
