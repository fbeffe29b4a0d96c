"""The latency plot (docs/latency.png), drawn from the latency section's rows."""

from __future__ import annotations

from pathlib import Path

from bench.report import Section

SERIES = {
    "ours ms": "kanta (this version)",
    "0.9.4 ms": "kanta 0.9.4",
    "sqlite ms": "SQLite (WAL, synchronous=NORMAL)",
    "eq pass ms": "C-level equality pass (data == copy)",
}
TARGETS = {100_000: 15.0, 1_000_000: 250.0}


def latency_plot(section: Section, path: Path, caption: str) -> str:
    """Draw the plot; returns what happened, for the output."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no plot: matplotlib is not installed (pip install matplotlib)"
    figure, axes = plt.subplots(figsize=(7.5, 5), dpi=120)
    for column, label in SERIES.items():
        points = [(r["users"], r[column]) for r in section.rows if r.get(column) is not None]
        if points:
            axes.plot(*zip(*points, strict=True), marker="o", label=label)
    targets = list(TARGETS.items())
    axes.scatter(*zip(*targets, strict=True), marker="_", s=400, color="red", label="targets")
    axes.set(xscale="log", yscale="log", xlabel="users in the state", ylabel="ms (median)")
    axes.set_title("One single-field transaction vs state size", fontsize=11)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.text(0.01, 0.01, caption, fontsize=6, color="grey")
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return f"plot written to {path}"
