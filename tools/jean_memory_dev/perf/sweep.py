"""Latency against concurrency: closed-loop wrk at increasing connection counts, and its plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jean_memory_dev.perf.overhead import WORKLOADS, wrk
from jean_memory_dev.processes import ServiceProcess


def sweep(work: Path, levels: tuple[int, ...], seconds: float, embedder: str = "hash") -> list[dict[str, Any]]:
    svc = ServiceProcess(work / "sweep", env={"JM_EMBEDDER": embedder}).start(timeout_s=300)
    rows = []
    try:
        wrk(svc.url, WORKLOADS[1], 8, 2.0)  # warm the caches
        for c in levels:
            r = wrk(svc.url, WORKLOADS[1], c, seconds)
            rows.append({"connections": c, **{k: round(v, 4) for k, v in r.items()}})
    finally:
        svc.stop()
    return rows


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conns = [r["connections"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    ax.plot(conns, [r["p50_ms"] for r in rows], marker="o", label="p50")
    ax.plot(conns, [r["p99_ms"] for r in rows], marker="o", label="p99")
    ax.axhline(25, color="red", linestyle="--", linewidth=1, label="25 ms target (p99)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent connections (closed loop, wrk)")
    ax.set_ylabel("latency (ms)")
    ax2 = ax.twinx()
    ax2.plot(conns, [r["rps"] for r in rows], color="grey", marker="s", linestyle=":", label="throughput")
    ax2.set_ylabel("requests/s")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper left", fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
