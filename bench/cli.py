"""`python -m bench [--quick] [--only NAMES] ...`: run the scenarios, print the table,
write bench/results/*.csv and docs/latency.png."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import (
    plot,
    report,
    scenarios,
    scenarios_reads,
    scenarios_replication,
    scenarios_state,
)
from bench.report import Section
from bench.runner import DEFAULT_094, ROOT, Config, Impl, TaskFailed, release, run

SCENARIOS: dict[str, Callable[[Config], Section]] = {
    "latency": scenarios.latency,
    "throughput": scenarios.throughput,
    "durability": scenarios.durability,
    "open": scenarios_state.opening,
    "memory": scenarios_state.memory,
    "stalls": scenarios_state.stalls,
    "reads": scenarios_reads.reads,
    "replication": scenarios_replication.replication,
}
RESULTS = ROOT / "bench" / "results"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes only (about a minute)")
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help="comma-separated: " + ", ".join(SCENARIOS)
    )
    parser.add_argument(
        "--kanta094",
        default=os.environ.get("KANTA094_PYTHON", DEFAULT_094),
        help="python of a virtualenv with kanta 0.9.4 installed ('none': skip it)",
    )
    parser.add_argument("--workdir", type=Path, default=RESULTS, help="where the files go")
    parser.add_argument("--no-plot", action="store_true", help="do not write docs/latency.png")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    command = " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)])
    names = args.only.split(",")
    sections, header = run_scenarios(args, command, names)
    print(report.render_checks(sections))
    report.write_csv(targets_section(sections), RESULTS)
    if "latency" in names and not args.no_plot:
        latency = next(s for s in sections if s.name == "latency")
        caption = f"{command}  |  {header[0]}  |  {time.strftime('%Y-%m-%d')}"
        print(plot.latency_plot(latency, plot_path(args, latency), caption))
    print(f"CSV files in {RESULTS}")
    return 0


def plot_path(args: argparse.Namespace, latency: Section) -> Path:
    """docs/latency.png from full runs that measured 0.9.4 only; others go to results/."""
    if args.quick:
        return RESULTS / "latency-quick.png"
    if any(row.get("0.9.4 ms") is not None for row in latency.rows):
        return ROOT / "docs" / "latency.png"
    return RESULTS / "latency.png"


def run_scenarios(
    args: argparse.Namespace, command: str, names: list[str]
) -> tuple[list[Section], list[str]]:
    """Print the header, run the scenarios in a temporary folder; returns the sections."""
    args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="work-", dir=args.workdir))
    try:
        cfg = Config(quick=args.quick, workdir=workdir, old=find_094(args.kanta094))
        header = report.machine(versions(cfg), args.workdir.resolve(), ROOT)
        print("\n".join([f"# kanta benchmarks: {command}", *header, ""]), flush=True)
        return [timed(name, cfg) for name in names], header
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def timed(name: str, cfg: Config) -> Section:
    """Run one scenario; print its section and write its CSV."""
    start = time.perf_counter()
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    section = SCENARIOS[name](cfg)
    elapsed = time.perf_counter() - start
    section.notes.append(f"scenario time: {elapsed:.0f} s; {report.load()} at its end")
    print(report.render(section), flush=True)
    report.write_csv(section, RESULTS)
    return section


def find_094(python: str) -> Impl | None:
    if python == "none":
        return None
    if not Path(python).exists():
        print(f"[bench] no kanta 0.9.4 at {python}: measuring ours only", file=sys.stderr)
        return None
    return release(python)


def versions(cfg: Config) -> dict[str, str]:
    found = {}
    for impl in cfg.impls:
        try:
            described = run(impl, "describe", timeout=60)
        except TaskFailed as exc:
            print(f"[bench] {exc}: measuring ours only", file=sys.stderr)
            cfg.old = None
            continue
        found[f"kanta ({impl.name})"] = f"{described['kanta']} from {described['kanta_path']}"
        found["msgspec"] = described["msgspec"]
    return found


def targets_section(sections: list[Section]) -> Section:
    checks = [check for section in sections for check in section.checks]
    rows = [{"target": c.target, "measured": c.measured, "met": c.met} for c in checks]
    return Section("targets", "Targets", ["target", "measured", "met"], rows)
