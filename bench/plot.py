"""The latency plot (docs/latency.png), drawn from the latency section's rows."""

from __future__ import annotations

from pathlib import Path

from bench.report import Section

SERIES = {  # column: (label, factor to ms)
    "barrier µs": ("kanta (this version), default transaction (write barrier)", 1e-3),
    "compare ms": ("kanta (this version), tracking='compare'", 1.0),
    "flat µs": ("kanta (this version), flat transaction (touches=)", 1e-3),
    "compare flat µs": ("kanta (this version), flat, tracking='compare'", 1e-3),
    "0.9.4 ms": ("kanta 0.9.4", 1.0),
    "sqlite ms": ("SQLite (WAL, synchronous=NORMAL)", 1.0),
    "eq pass ms": ("C-level equality pass (data == copy)", 1.0),
}
TARGETS = [(100_000, 15.0), (1_000_000, 250.0), (1_000_000, 0.05)]  # compare; barrier, flat


def latency_plot(section: Section, path: Path, caption: str) -> str:
    """Draw the plot; returns what happened, for the output."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no plot: matplotlib is not installed (pip install matplotlib)"
    figure, axes = plt.subplots(figsize=(7.5, 5), dpi=120)
    for column, (label, factor) in SERIES.items():
        rows = [r for r in section.rows if r.get(column) is not None]
        if rows:
            points = [(r["users"], r[column] * factor) for r in rows]
            axes.plot(*zip(*points, strict=True), marker="o", label=label)
    users, limits = [u for u, _ in TARGETS], [ms for _, ms in TARGETS]
    axes.scatter(users, limits, marker="_", s=400, color="red", label="targets")
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
