"""Scenario 7: what reading the state costs under the write barrier and in compare mode."""

from __future__ import annotations

from bench.report import Row, Section, check
from bench.runner import OURS, Config
from bench.scenarios import at_most, attempt, ratio, skip_note
from bench.scenarios_state import snapshot_db, state_users

READS = {  # the worker's name of each read: what one operation is
    "attribute": "`u.age`, every user",
    "lookup": "`data.users[k]`, every key",
    "index": "`u.tags[0]`, every user",
    "items": "`for k, u in data.users.items()`, per entry",
    "tags": "`for t in u.tags`, per tag",
    "encode_user": "`msgspec.json.encode(u)`, every user",
    "encode_users": "`msgspec.json.encode(data.users)`, once",
    "handler": "handler-like read, random k",
}
TRACKINGS = ("barrier", "compare")
HANDLER_TARGET = "handler-like read within 1.10x of compare mode"


def reads(cfg: Config) -> Section:
    section = Section(
        "reads",
        "7. Reads of an open state outside transactions, barrier vs compare (ns per operation)",
        ["read", "barrier ns", "compare ns", "barrier/compare"],
    )
    users = state_users(cfg)
    source = snapshot_db(cfg, section)
    budget, low, high = (0.2, 5, 50) if cfg.quick else (1.0, 10, 200)
    found: dict[str, Row] = {}
    kinds = []
    for tracking in TRACKINGS if source else ():
        params = {"source": source, "size": users, "budget": budget, "low": low, "high": high}
        path = cfg.path("reads.kantadb")
        result, _ = attempt(cfg, section, OURS, "reads", path=path, tracking=tracking, **params)
        skip_note(section, result)
        found[tracking] = result.get("ns", {})
        if "containers" in result:
            kinds.append(f"{tracking}: {result['containers']}")
    for name, what in READS.items():
        barrier, compare = (found.get(tracking, {}).get(name) for tracking in TRACKINGS)
        section.rows.append(
            {
                "read": what,
                "barrier ns": barrier,
                "compare ns": compare,
                "barrier/compare": ratio(barrier, compare),
            }
        )
    section.notes += [
        f"{users:,} users, opened (writable) from the snapshot file with each tracking, one "
        "subprocess each; no transaction open. The state's dict and lists as opened: "
        + "; ".join(kinds),
        "ns per operation: the fastest pass of a Python loop over the whole state (loop "
        f"included), after 2 warm-up passes, passes fitted to {budget:g} s per read "
        f"({low} to {high})",
        "handler-like: for each of as many random keys as users, `if k in data.users: "
        "msgspec.json.encode(data.users[k])` (one membership test, one lookup, one encode)",
    ]
    handler = section.rows[-1]["barrier/compare"]
    unit = "x compare (barrier/compare)"
    section.checks.append(check(HANDLER_TARGET, handler, unit, at_most(1.10), users == 100_000))
    return section
