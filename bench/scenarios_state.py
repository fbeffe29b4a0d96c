"""Scenarios 4 to 6: opening, memory, and event-loop stalls, around a database of many
users (or a long log), prepared once by this kanta and shared."""

from __future__ import annotations

from bench.report import Check, Row, Section, check
from bench.runner import OURS, Config
from bench.scenarios import attempt, retry_note, skip_note

MIB = 1024.0
OPENED = "open from snapshot"


def state_users(cfg: Config) -> int:
    return 10_000 if cfg.quick else 100_000


def snapshot_db(cfg: Config, section: Section) -> str | None:
    """A database whose last record is a snapshot of `state_users` users (made once)."""
    if "snapshot" not in cfg.prepared:
        path = cfg.path("snapshot.kantadb")
        made, _ = attempt(cfg, section, OURS, "make_snapshot_db", path=path, size=state_users(cfg))
        cfg.prepared["snapshot"] = path if made else None
    return cfg.prepared["snapshot"]  # type: ignore[no-any-return]


# -- 4. open --------------------------------------------------------------------------------


def opening(cfg: Config) -> Section:
    section = Section(
        "open",
        "4. Opening: replaying a log, opening a snapshot, one big insert",
        ["measurement", "impl", "format", "ms", "records/s"],
    )
    replay_rows(cfg, section)
    users = state_users(cfg)
    source = snapshot_db(cfg, section)
    for impl in cfg.impls if source else []:
        result, _ = attempt(cfg, section, impl, "open_time", path=source, fmt="json", repeats=3)
        what = f"open snapshot of {users:,} users"
        section.rows.append(row(what, impl.name, "json", result.get("median_ms"), None))
    for impl in cfg.impls:
        path = cfg.path("insert.kantadb")
        result, _ = attempt(cfg, section, impl, "bulk_insert", path=path, size=users)
        retry_note(section, impl, result, "insert")
        what = f"insert {users:,} users, 1 transaction"
        section.rows.append(row(what, impl.name, "json", result.get("transaction_ms"), None))
        flushed = result.get("flush_ms")
        section.rows.append(row("  then its flush", impl.name, "json", flushed, None))
    section.notes += [
        "open: median of 3 writable `await db.open()` of fresh copies of the file",
        "insert: `data.users.update(prebuilt)` inside one transaction (the block's time)",
    ]
    section.checks += opening_checks(section.rows, users == 100_000)
    return section


def replay_rows(cfg: Config, section: Section) -> None:
    """Open a long log without snapshots, JSON and binary, under each kanta."""
    records = 20_000 if cfg.quick else 100_000
    path = cfg.path("replay.kantadb")
    made, _ = attempt(cfg, section, OURS, "make_change_log", path=path, records=records, size=1000)
    if not made:
        return
    what = f"replay {made['rev']:,} records"
    for fmt in ("json", "msgpack"):
        for impl in cfg.impls:
            log = made["paths"][fmt]
            result, _ = attempt(cfg, section, impl, "open_time", path=log, fmt=fmt, repeats=3)
            rate = made["rev"] / (result["median_ms"] / 1e3) if result else None
            section.rows.append(row(what, impl.name, fmt, result.get("median_ms"), rate))
    section.notes.append(
        f"the log: a bootstrap of 1,000 users, then {records:,} one-field changes and no "
        f"snapshot ({made['json_bytes'] / 2**20:.1f} MiB JSON), written by ours and "
        f"converted to binary ({made['binary_bytes'] / 2**20:.1f} MiB); both kantas read both"
    )


def row(what: str, impl: str, fmt: str, ms: float | None, rate: float | None) -> Row:
    return {"measurement": what, "impl": impl, "format": fmt, "ms": ms, "records/s": rate}


def opening_checks(rows: list[Row], full: bool) -> list[Check]:
    ours = [r for r in rows if r["impl"] == "ours"]
    checks = []
    for fmt in ("json", "msgpack"):
        rate = next((r["records/s"] for r in ours if r["format"] == fmt and r["records/s"]), None)
        target = f"replay ({fmt}) >= 500,000 records/s"
        checks.append(check(target, rate, "records/s", lambda rate: rate >= 500_000))
    for start, target in (("open snapshot", "snapshot open"), ("insert", "insert")):
        ms = next((r["ms"] for r in ours if r["measurement"].startswith(start)), None)
        target = f"{target} of 100,000 users <= 150 ms"
        checks.append(check(target, ms, "ms", lambda ms: ms <= 150, full))
    return checks


# -- 5. memory ------------------------------------------------------------------------------


def memory(cfg: Config) -> Section:
    section = Section(
        "memory",
        "5. Memory: peak RSS growth of an open database vs the live state alone (MiB)",
        ["impl", "case", "users", "live", "peak growth", "extra", "extra/live"],
    )
    users = state_users(cfg)
    live, _ = attempt(cfg, section, OURS, "live_state", size=users)
    if not live:
        return section
    live_mib = live["growth_kib"] / MIB
    cases = ((OPENED, snapshot_db(cfg, section)), ("create from built state", None))
    for impl in cfg.impls:
        for case, source in cases:
            if case == OPENED and source is None:
                continue
            path = cfg.path("memory.kantadb")
            result, _ = attempt(cfg, section, impl, "memory", path=path, size=users, source=source)
            growth = result["growth_kib"] / MIB if result else None
            extra = None if growth is None else growth - live_mib
            section.rows.append(
                {
                    "impl": impl.name,
                    "case": case,
                    "users": users,
                    "live": live_mib,
                    "peak growth": growth,
                    "extra": extra,
                    "extra/live": None if extra is None else extra / live_mib,
                }
            )
    section.notes.append(
        "each in a fresh subprocess: peak RSS (getrusage) less the RSS after imports; the "
        "database sees 20 transactions, flushes and a snapshot; live = RSS growth from "
        "building the same state alone"
    )
    opened = next((r for r in section.rows if (r["impl"], r["case"]) == ("ours", OPENED)), {})
    section.checks.append(
        check(
            "peak RSS <= live + 1.5 x live (extra/live <= 1.5, open)",
            opened.get("extra/live"),
            "",
            lambda share: share <= 1.5,
            users == 100_000,
        )
    )
    return section


# -- 6. stalls ------------------------------------------------------------------------------


STALL_COLUMNS = [
    "impl",
    "mode",
    "users",
    "transactions",
    "snapshots",
    "max stall",
    "p99 gap",
    "max stall outside tx",
    "max tx",
]
STALL_TARGET = "loop stall < 20 ms with 100,000 users while snapshots and flushes run (flat)"


def stalls(cfg: Config) -> Section:
    section = Section(
        "stalls",
        "6. Event-loop stalls: longest gap of a 1 ms ticker during transactions (ms)",
        STALL_COLUMNS,
    )
    users, seconds = state_users(cfg), 2.0 if cfg.quick else 5.0
    source = snapshot_db(cfg, section)
    runs = [(OURS, "default"), (OURS, "flat")] + [
        (i, "default") for i in cfg.impls if i is not OURS
    ]
    for impl, mode in runs if source else []:
        params = {"source": source, "size": users, "seconds": seconds, "mode": mode}
        path = cfg.path("stalls.kantadb")
        result, _ = attempt(cfg, section, impl, "stalls", path=path, **params)
        retry_note(section, impl, result, "stalls")
        skip_note(section, result)
        section.rows.append(stall_row(impl.name, mode, users, result))
    section.notes += [
        f"{seconds:g} s of: a transaction every 5 ms, a flush every 5th, "
        "`db.request_snapshot()` every 20th; a transaction runs on the loop, so the "
        "longest one bounds the stall from below ('outside tx' subtracts it)",
        "default: transactions compare the whole state (for reference); flat: "
        "`touches=[('users', k)]`, so the stall is what snapshots, flushes, the writer "
        "thread and the garbage collector add (the target is checked on this row)",
    ]
    flat = next((r for r in section.rows if (r["impl"], r["mode"]) == ("ours", "flat")), {})
    stall = flat.get("max stall")
    section.checks.append(check(STALL_TARGET, stall, "ms", lambda ms: ms < 20, users == 100_000))
    return section


def stall_row(impl: str, mode: str, users: int, result: Row) -> Row:
    return {
        "impl": impl,
        "mode": mode,
        "users": users,
        "transactions": result.get("transactions"),
        "snapshots": result.get("snapshots"),
        "max stall": result.get("max_stall_ms"),
        "p99 gap": result.get("p99_gap_ms"),
        "max stall outside tx": result.get("max_stall_outside_tx_ms"),
        "max tx": result.get("max_tx_ms"),
    }
