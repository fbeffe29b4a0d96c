"""Scenarios 4 to 6: opening, memory, and event-loop stalls, around a database of many
users (or a long log), prepared once by this kanta and shared."""

from __future__ import annotations

from bench.report import Check, Row, Section, check, fixed
from bench.runner import OURS, Config, Impl
from bench.scenarios import at_most, attempt, ratio, retry_note, skip_note

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

OPEN_COLUMNS = ["measurement", "impl", "tracking", "format", "ms", "records/s", "barrier/compare"]
SNAPSHOT_OPEN = "open snapshot of"


def modes(cfg: Config) -> list[tuple[Impl, str | None]]:
    """Ours with each tracking, then 0.9.4 (which has no tracking=, and compares)."""
    ours: list[tuple[Impl, str | None]] = [(OURS, "barrier"), (OURS, "compare")]
    return ours + [(impl, None) for impl in cfg.impls if impl is not OURS]


def tracked(tracking: str | None) -> dict[str, str]:
    """The worker parameter naming the tracking: ours only (0.9.4 has no tracking=)."""
    return {} if tracking is None else {"tracking": tracking}


def opening(cfg: Config) -> Section:
    section = Section(
        "open", "4. Opening: replaying a log, opening a snapshot, one big insert", OPEN_COLUMNS
    )
    replay_rows(cfg, section)
    users = state_users(cfg)
    source = snapshot_db(cfg, section)
    for impl, tracking in modes(cfg) if source else []:
        params = {"path": source, "fmt": "json", "repeats": 5, **tracked(tracking)}
        result, _ = attempt(cfg, section, impl, "open_time", **params)
        what = f"{SNAPSHOT_OPEN} {users:,} users"
        section.rows.append(row(what, impl.name, tracking, "json", result.get("median_ms")))
    for impl, tracking in modes(cfg):
        path = cfg.path("insert.kantadb")
        params = {"path": path, "size": users, **tracked(tracking)}
        result, _ = attempt(cfg, section, impl, "bulk_insert", **params)
        retry_note(section, impl, result, "insert")
        what = f"insert {users:,} users, 1 transaction"
        section.rows.append(row(what, impl.name, tracking, "json", result.get("transaction_ms")))
        flushed = result.get("flush_ms")
        section.rows.append(row("  then its flush", impl.name, tracking, "json", flushed))
    barrier_vs_compare(section.rows)
    section.notes += [
        "ours: a writable open with tracking='barrier' (the default: one walk registers "
        "the state's objects and converts its containers) or 'compare'; replays open with "
        "the default",
        "open: median of 3 (replay) or 5 (snapshot) writable `await db.open()` of fresh "
        "copies of the file",
        "insert: `data.users.update(prebuilt)` inside one transaction (the block's time); "
        "barrier/compare: ms / ms of the same measurement",
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
        for impl, tracking in modes(cfg):
            if tracking == "compare":
                continue
            log = made["paths"][fmt]
            params = {"path": log, "fmt": fmt, "repeats": 3, **tracked(tracking)}
            result, _ = attempt(cfg, section, impl, "open_time", **params)
            ms = result.get("median_ms")
            rate = made["rev"] / (ms / 1e3) if ms else None
            section.rows.append(row(what, impl.name, tracking, fmt, ms, rate))
    section.notes.append(
        f"the log: a bootstrap of 1,000 users, then {records:,} one-field changes and no "
        f"snapshot ({made['json_bytes'] / 2**20:.1f} MiB JSON), written by ours and "
        f"converted to binary ({made['binary_bytes'] / 2**20:.1f} MiB); both kantas read both"
    )


def row(
    what: str,
    impl: str,
    tracking: str | None,
    fmt: str,
    ms: float | None,
    rate: float | None = None,
) -> Row:
    return {
        "measurement": what,
        "impl": impl,
        "tracking": tracking,
        "format": fmt,
        "ms": ms,
        "records/s": rate,
    }


def barrier_vs_compare(rows: list[Row]) -> None:
    """Each barrier row's time over its compare row's (same measurement and format)."""
    compare = {(r["measurement"], r["format"]): r["ms"] for r in rows if r["tracking"] == "compare"}
    for r in rows:
        if r["tracking"] == "barrier":
            r["barrier/compare"] = ratio(r["ms"], compare.get((r["measurement"], r["format"])))


def opening_checks(rows: list[Row], full: bool) -> list[Check]:
    ours = [r for r in rows if (r["impl"], r["tracking"]) == ("ours", "barrier")]
    checks = []
    for fmt in ("json", "msgpack"):
        rate = next((r["records/s"] for r in ours if r["format"] == fmt and r["records/s"]), None)
        target = f"replay ({fmt}) >= 500,000 records/s"
        checks.append(check(target, rate, "records/s", lambda rate: rate >= 500_000))
    opened = next((r for r in ours if r["measurement"].startswith(SNAPSHOT_OPEN)), {})
    target = "snapshot open (barrier) of 100,000 users <= 150 ms"
    checks.append(check(target, opened.get("ms"), "ms", at_most(150), full))
    target = "barrier open within 1.3x of compare open (snapshot, 100,000 users)"
    share = opened.get("barrier/compare")
    checks.append(check(target, share, "x compare (barrier/compare)", at_most(1.3), full))
    inserted = next((r["ms"] for r in ours if r["measurement"].startswith("insert")), None)
    target = "insert of 100,000 users in one transaction (barrier) <= 150 ms"
    checks.append(check(target, inserted, "ms", at_most(150), full))
    return checks


# -- 5. memory ------------------------------------------------------------------------------

MEMORY_COLUMNS = ["impl", "tracking", "case", "users", "live", "peak growth", "extra", "extra/live"]


def memory(cfg: Config) -> Section:
    section = Section(
        "memory",
        "5. Memory: peak RSS growth of an open database vs the live state alone (MiB)",
        MEMORY_COLUMNS,
    )
    users = state_users(cfg)
    live, _ = attempt(cfg, section, OURS, "live_state", size=users)
    if not live:
        return section
    live_mib = live["growth_kib"] / MIB
    cases = ((OPENED, snapshot_db(cfg, section)), ("create from built state", None))
    for impl, tracking in modes(cfg):
        for case, source in cases:
            if case == OPENED and source is None:
                continue
            params = {"path": cfg.path("memory.kantadb"), "size": users, "source": source}
            result, _ = attempt(cfg, section, impl, "memory", **params, **tracked(tracking))
            growth = result["growth_kib"] / MIB if "growth_kib" in result else None
            extra = None if growth is None else growth - live_mib
            section.rows.append(
                {
                    "impl": impl.name,
                    "tracking": tracking,
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
        "building the same state alone; ours with tracking='barrier' (the default) and "
        "'compare'"
    )
    section.checks.append(memory_check(section.rows, users == 100_000))
    return section


def memory_check(rows: list[Row], full: bool) -> Check:
    """The target on the barrier's open; compare mode's figure printed beside it."""
    share = {(r["tracking"], r["case"]): r["extra/live"] for r in rows if r["impl"] == "ours"}
    compared = share.get(("compare", OPENED))
    beside = "" if compared is None else f"(compare: {fixed(compared)})"
    return check(
        "peak RSS <= live + 1.5 x live (barrier, extra/live <= 1.5, open)",
        share.get(("barrier", OPENED)),
        beside,
        at_most(1.5),
        full,
    )


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
        "default: ours's default transactions, under the write barrier (the default "
        "tracking; they compare what the block wrote, so they are cheap too), and 0.9.4's "
        "(which compare the whole state), for reference; flat: `touches=[('users', k)]`, "
        "so the stall is what snapshots, flushes, the writer thread and the garbage "
        "collector add (the target is checked on this row)",
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
