"""Benchmark history: every full benchmark run's key figures, one JSON line each, appended to the committed
`perf-results/history.jsonl`, and a plot of them across runs (`perf-results/history.png`).

`scripts/bench --full` appends and plots at its end (`bench.run`); `jean-memory-dev` users can also
rebuild the plot alone:

    python3 -m jean_memory_dev.perf.history            # plot perf-results/history.jsonl
    python3 -m jean_memory_dev.perf.history --append perf-results/bench-full.json

The figures are the product plan's, from the hash scenarios that every full run measures (so that runs
compare): creation and hot search latency, the cache hit rate under Zipf load, saturation throughput,
MiniLM's capacity, and LoCoMo recall through the service (R@5, R@10). Prometheus keeps the production
view of the same figures (the Trends dashboard, `jm:trend_*`); this file keeps the benchmark's, run
after run, in git.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jean_memory_dev.paths import ROOT

HISTORY = ROOT / "perf-results" / "history.jsonl"
PLOT = ROOT / "perf-results" / "history.png"


def _load(res: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((ld for ld in res.get("load", []) if ld["name"] == name), None)


def figures(out: dict[str, Any]) -> dict[str, float]:
    """The key figures of one full bench run (`bench.run`'s output), flat and named with their unit."""
    found: dict[str, float] = {}
    for res in out["baseline"]["results"]:
        scenario = res["scenario"]
        tag = f"{scenario['embedder']}_{scenario['memories'] // 1000}k"
        add, hot = _load(res, "add"), _load(res, "search_hot")
        if add:
            found[f"{tag}_add_mean_ms"] = add["mean_ms"]
            found[f"{tag}_add_p99_ms"] = add["p99_ms"]
        if hot:
            found[f"{tag}_hot_search_p99_ms"] = hot["p99_ms"]
        if res.get("cache_hit_rate") is not None:
            found[f"{tag}_cache_hit_rate"] = res["cache_hit_rate"]
    if out.get("sweep"):
        found["saturation_rps"] = round(max(r["rps"] for r in out["sweep"]), 1)
    capacity = out.get("capacity") or {}
    if "zipf_searches" in capacity:
        found["minilm_zipf_searches_per_s"] = capacity["zipf_searches"]["searches_per_s"]
    if "sustained_adds" in capacity:
        found["minilm_sustained_adds_per_s"] = capacity["sustained_adds"]["acknowledged_per_s"]
    recall = (out.get("recall") or {}).get("retrievers", {}).get("service", {}).get("overall", {})
    for k in (5, 10):  # LoCoMo recall through the service (perf/recall.py), MiniLM in a full run
        if f"r@{k}" in recall:
            found[f"locomo_recall_at_{k}"] = recall[f"r@{k}"]
    return found


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def entry(out: dict[str, Any], commit: str | None = None) -> dict[str, Any]:
    """One line of the history: when, on which commit and machine, and the figures."""
    baseline = out["baseline"]
    return {
        "date": baseline["date"],
        "commit": commit or _commit(),
        "kind": out.get("kind", "full"),
        "machine": baseline.get("machine", {}),
        "figures": figures(out),
    }


def append(out: dict[str, Any], path: Path = HISTORY, commit: str | None = None) -> dict[str, Any]:
    """Append this run's line (a run already recorded, by date, is not added twice)."""
    line = entry(out, commit)
    if any(e["date"] == line["date"] for e in read(path)):
        return line
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(line, sort_keys=True) + "\n")
    return line


def read(path: Path = HISTORY) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


#: What the plot draws: (panel title, unit, [(figure, label)], target or None).
PANELS: tuple[tuple[str, str, tuple[tuple[str, str], ...], float | None], ...] = (
    (
        "Memory creation (hash)",
        "ms",
        (
            ("hash_10k_add_mean_ms", "10k mean"),
            ("hash_100k_add_mean_ms", "100k mean"),
            ("hash_100k_add_p99_ms", "100k p99"),
        ),
        5.0,
    ),
    (
        "Hot search p99 (hash)",
        "ms",
        (("hash_10k_hot_search_p99_ms", "10k"), ("hash_100k_hot_search_p99_ms", "100k")),
        25.0,
    ),
    (
        "Cache hit rate (Zipf)",
        "share",
        (("hash_10k_cache_hit_rate", "hash 10k"), ("hash_100k_cache_hit_rate", "hash 100k")),
        0.9,
    ),
    (
        "Throughput",
        "requests/s",
        (("saturation_rps", "saturation (hash mix)"), ("minilm_zipf_searches_per_s", "MiniLM Zipf searches")),
        1000.0,
    ),
)


def plot(entries: Sequence[dict[str, Any]], png: Path = PLOT) -> Path:
    """One panel per figure group, one point per run (x: run date, labelled with the commit)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), dpi=100)
    labels = [f"{e['date'][:10]}\n{e['commit']}" for e in entries]
    xs = list(range(len(entries)))
    for ax, (title, unit, series, target) in zip(axes.flat, PANELS, strict=True):
        for key, label in series:
            points = [(x, e["figures"][key]) for x, e in zip(xs, entries, strict=True) if key in e["figures"]]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
        if target is not None:
            ax.axhline(target, color="red", linestyle="--", linewidth=1, label="target")
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit)
        ax.set_xticks(xs, labels, fontsize=7)
        ax.set_xlim(-0.5, max(len(entries) - 0.5, 0.5))
        ax.legend(fontsize=7)
    fig.suptitle(f"Jean Memory full benchmark runs ({len(entries)}), perf-results/history.jsonl", fontsize=11)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)
    return png


def record(out: dict[str, Any], path: Path = HISTORY, png: Path = PLOT) -> Path:
    """What a full bench run does at its end: append, then redraw the plot."""
    append(out, path)
    return plot(read(path), png)


def main(argv: list[str] | None = None, echo: Callable[[str], None] = print) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python3 -m jean_memory_dev.perf.history", description=__doc__)
    parser.add_argument("--append", type=Path, metavar="BENCH_JSON", help="append a full run's bench-full.json first")
    parser.add_argument("--commit", help="the commit it was measured on (default: HEAD)")
    args = parser.parse_args(argv)
    if args.append:
        echo(json.dumps(append(json.loads(args.append.read_text()), commit=args.commit), sort_keys=True))
    echo(f"plot: {plot(read())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
