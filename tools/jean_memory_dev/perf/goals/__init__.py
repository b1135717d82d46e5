"""Round two's performance goals, each measured side by side with the previous state in one run.

`jean-memory-dev goals` (also part of `scripts/bench --full`):
- idle: the idle write path with `hey` (add p50 within 1.3x of `/healthz`, p99 <= 4 ms), the same
  loads through the project's Python generator (why the two disagree), and the mixed 20/80 Zipf load
  at 32 connections (>= 4,000 req/s, p99 <= 20 ms); round one's build beside this one;
- big: a user bigger than a 16 MiB tier beside 20 small users (big p99 <= 25 ms, small users stay);
- million: one user with a million memories (hot p99 <= 25 ms, tier <= 512 MB, recall@10 >= 0.95) and
  the cold start (< 10 s to `/readyz`, nothing re-embedded);
- minilm: the default model at ~500 mixed operations/s (add p99 <= 5 ms, hot search p99 <= 25 ms);
- overhead: telemetry off / lean / stock, re-measured (perf/overhead.py).
Each section's module says exactly what it does; the report is one JSON with the machine's facts.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jean_memory_dev.perf import overhead
from jean_memory_dev.perf.baseline import machine_facts
from jean_memory_dev.perf.goals import bigusers, idle, million, minilm
from jean_memory_dev.perf.goals.builds import THIS, Build, previous
from jean_memory_dev.perf.goals.plot import plot

__all__ = ["SECTIONS", "plot", "run", "tables"]

SECTIONS = ("idle", "big", "million", "minilm", "overhead")


def run(
    sections: tuple[str, ...] = SECTIONS,
    *,
    rounds: int = 3,
    seconds: float = 10.0,
    memories: int = 1_000_000,
    cache: Path | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="jm-goals-"))
    report: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine_facts()}
    try:
        before = previous(work)
        builds: list[Build] = [b for b in (before, THIS) if b is not None]
        report["builds"] = [b.name for b in builds]
        for section in sections:
            progress(f"goals: {section} ({datetime.now(UTC):%H:%M:%S})")
            if section == "idle":
                report["idle"] = idle.run(builds, work, rounds, seconds)
            elif section == "big":
                report["big"] = bigusers.run(builds, THIS, work)
            elif section == "million":
                report["million"] = million.run(memories, 500, cache or work)
            elif section == "minilm":
                report["minilm"] = minilm.run(builds, THIS, work, seconds)
            elif section == "overhead":
                report["overhead"] = overhead.run(rounds=rounds, seconds=seconds / 2)
            else:
                raise ValueError(f"unknown section {section!r}: one of {', '.join(SECTIONS)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def tables(report: dict[str, Any]) -> str:
    parts = [f"{report['date']}, {report['machine']['cpu']}, {report['machine']['cores']} cores"]
    for key, table in (
        ("idle", idle.table),
        ("big", bigusers.table),
        ("million", million.table),
        ("minilm", minilm.table),
        ("overhead", overhead.table),
    ):
        if key in report:
            parts += ["", table(report[key])]
    return "\n".join(parts)
