"""The goals run as one picture: each figure of this build against its goal, beside round one's build.

One panel per figure, milliseconds (lower is better), bars per build and a dashed line at the goal, so
a reader sees at once what moved and what is still over its goal (`perf-results/goals.png`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: (title, section, path within the section's per-build summary, goal in ms or None).
IDLE = "idle"
FIGURES: tuple[tuple[str, str, tuple[str, ...], float | None], ...] = (
    ("server time per add (mean)", IDLE, ("hey.add.server_mean_ms",), None),
    ("add p99, hey 10 workers x 50/s", IDLE, ("hey.add.p99_ms",), 4.0),
    ("add p99, hey 1 worker x 500/s", IDLE, ("hey1.add.p99_ms",), 4.0),
    ("mixed 32 conn p99", IDLE, ("mixed_32.p99_ms",), 20.0),
)


def _idle_values(report: dict[str, Any], key: str) -> dict[str, float]:
    return {name: s[key] for name, s in report["idle"]["builds"].items() if s.get(key) is not None}


def panels(report: dict[str, Any]) -> list[tuple[str, dict[str, float], float | None]]:
    """(title, {variant: ms}, goal) for every figure the report holds."""
    out: list[tuple[str, dict[str, float], float | None]] = []
    if "idle" in report:
        for title, _, (key,), goal in FIGURES:
            out.append((title, _idle_values(report, key), goal))
    if "big" in report:
        out.append(
            ("16 MiB tier: big-user search p99", {v: r["big_p99_ms"] for v, r in report["big"]["builds"].items()}, 25.0)
        )
    if "million" in report:
        layouts = report["million"]["layouts"]
        hot = {f"snapshot {n}": x["hot_p99_ms"] for n, x in layouts.items()}
        out.append(("1M memories: hot search p99", hot, 25.0))
        ready = {f"snapshot {n}": x["ready_s_no_snapshot"] * 1000 for n, x in layouts.items()}
        out.append(("1M memories: start to /readyz", ready, 10_000.0))
    if "minilm" in report:
        rows = report["minilm"]["rows"]
        out.append(("MiniLM ~500 ops/s: add p99", {v: r["add_p99_ms"] for v, r in rows.items()}, 5.0))
        out.append(("MiniLM ~500 ops/s: search p99", {v: r["search_p99_ms"] for v, r in rows.items()}, 25.0))
    return out


def plot(report: dict[str, Any], png: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = panels(report)
    cols = 3
    rows = (len(figures) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(12, 3.2 * rows), dpi=100, squeeze=False)
    for ax, (title, values, goal) in zip(axes.flat, figures, strict=False):
        names = list(values)
        ax.bar(range(len(names)), [values[n] for n in names], color="tab:blue")
        ax.set_xticks(range(len(names)), [n.replace(" (", "\n(").replace(", ", ",\n") for n in names], fontsize=6)
        if goal is not None:
            ax.axhline(goal, color="red", linestyle="--", linewidth=1, label=f"goal {goal:g} ms")
            ax.legend(fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("ms")
    for ax in list(axes.flat)[len(figures) :]:
        ax.axis("off")
    fig.suptitle(
        f"Jean Memory, round two's goals ({report['date'][:10]}, {report['machine']['cores']} cores)", fontsize=11
    )
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)
    return png
