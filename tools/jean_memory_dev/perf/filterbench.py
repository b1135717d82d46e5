"""Filtered search of one large user, resident and partially resident, beside the same search unfiltered.

`jean-memory-dev filterbench` seeds one user of `memories` memories through the API (hash embedder, so the
model is not what is measured), each with `kind` (one of 20: 5 % each) and `n` (0..999), then times
searches one after the other (closed loop, one client: the latency a filter adds, not a throughput) with
filters selecting about 1 %, 5 % and 10 % of the user in the plain and the operator forms; then restarts
the service on the same folder with `JM_STM_PARTIAL_USER_VECTORS` below the user's size, so the user is
partially resident and every filter is a scan of the store (the SQL pre-filter, then the predicate).
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from jean_memory_dev.perf.baseline import machine_facts
from jean_memory_dev.perf.goals.builds import add_batches, settle
from jean_memory_dev.perf.workload import sentence
from jean_memory_dev.processes import ServiceProcess

ENV = {"JM_EMBEDDER": "hash"}
KINDS = 20

#: name -> (filters, the share of the user it selects)
FILTERS: dict[str, tuple[dict[str, Any] | None, float]] = {
    "unfiltered": (None, 1.0),
    "plain eq (5 %)": ({"kind": "k3"}, 0.05),
    "$in + range (1 %)": ({"kind": {"$in": ["k1", "k2"]}, "n": {"$gte": 100, "$lt": 200}}, 0.01),
    "$or (about 10 %)": ({"$or": [{"kind": "k5"}, {"n": {"$lt": 50}}]}, 0.0975),
    "$not + $exists (about 5 %)": ({"$not": {"kind": {"$ne": "k7"}}, "n": {"$exists": True}}, 0.05),
    "created_at range (10 %)": ({"created_at": {"$gte": 1_700_000_000}}, 0.1),
}


def items(n: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    start = 1_700_000_000 - int(0.9 * n)  # the newest 10 % on or after 1_700_000_000
    return [
        {"content": sentence(rng), "metadata": {"kind": f"k{i % KINDS}", "n": rng.randrange(1000)},
         "created_at": float(start + i)}
        for i in range(n)
    ]  # fmt: skip


def _time(client: httpx.Client, filters: dict[str, Any] | None, searches: int) -> dict[str, float]:
    rng = random.Random(11)
    took: list[float] = []
    found = 0
    for _ in range(searches):
        body: dict[str, Any] = {"user_id": "big", "query": sentence(rng), "k": 10}
        if filters is not None:
            body["filters"] = filters
        start = time.perf_counter()
        r = client.post("/v1/search", json=body)
        took.append(time.perf_counter() - start)
        r.raise_for_status()
        found += len(r.json()["results"])
    took.sort()
    return {
        "p50_ms": round(1000 * statistics.median(took), 2),
        "p95_ms": round(1000 * took[int(0.95 * (len(took) - 1))], 2),
        "mean_results": found / searches,
    }


def run(memories: int = 100_000, searches: int = 40) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="filterbench-"))
    report: dict[str, Any] = {"memories": memories, "searches_each": searches, "machine": machine_facts()}
    try:
        data = work / "data"
        svc = ServiceProcess(data, env=ENV).start(timeout_s=300)
        try:
            with httpx.Client(base_url=svc.url, timeout=600) as c:
                start = time.perf_counter()
                add_batches(c, "big", items(memories))
                settle(svc.url)
                report["seed_s"] = round(time.perf_counter() - start, 1)
                report["resident"] = {name: {"selects": share, **_time(c, f, searches)}
                                      for name, (f, share) in FILTERS.items()}  # fmt: skip
        finally:
            svc.stop()
        partial_env = {**ENV, "JM_STM_PARTIAL_USER_VECTORS": str(memories // 2), "JM_STM_WARM_USERS": "0"}
        svc = ServiceProcess(data, env=partial_env).start(timeout_s=600)
        try:
            with httpx.Client(base_url=svc.url, timeout=600) as c:
                _time(c, None, 3)  # the first read maps the snapshot
                mapped = [ln for ln in c.get("/metrics").text.splitlines() if ln.startswith("jm_stm_mapped_bytes ")]
                report["partial_mapped_bytes"] = float(mapped[0].rsplit(" ", 1)[1]) if mapped else 0.0
                if not report["partial_mapped_bytes"]:
                    raise RuntimeError("the user was not partially resident: the second half would measure nothing new")
                report["partially_resident"] = {name: {"selects": share, **_time(c, f, searches)}
                                                for name, (f, share) in FILTERS.items()}  # fmt: skip
        finally:
            svc.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def table(report: dict[str, Any]) -> str:
    lines = [
        f"filterbench: one user of {report['memories']:,} memories, {report['searches_each']} searches each "
        "(closed loop, k=10, hash embedder)",
        f"{'filter':30} {'selects':>8} {'resident p50/p95 ms':>22} {'partial p50/p95 ms':>22}",
    ]
    for name in FILTERS:
        r, p = report["resident"][name], report["partially_resident"][name]
        lines.append(
            f"{name:30} {r['selects']:>7.1%} {r['p50_ms']:>11} / {r['p95_ms']:<8} {p['p50_ms']:>11} / {p['p95_ms']:<8}"
        )
    return "\n".join(lines)
