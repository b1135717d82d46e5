"""Search of one large user, filtered and not, resident and partially resident, build beside build.

`jean-memory-dev filterbench` seeds one user of `memories` memories through the API (hash embedder, so the
model is not what is measured), each with `kind` (one of 20: 5 % each) and `n` (0..999), once (`cache`
keeps the data folder for later runs). Then each build (this one, and `against`: another checkout, by its
`PYTHONPATH`) serves the same folder in turn, its snapshot built anew, and is timed searching one after
the other (closed loop, one client: the latency a filter adds, not a throughput) in hybrid mode (the
default) and vector mode, with filters selecting about 1 %, 5 % and 10 % in the plain and the operator
forms:

- **partially resident** (`JM_STM_PARTIAL_USER_VECTORS` below the user's size, every user past it in a
  real deployment): vectors and BM25 from the user's snapshot, records from the store;
- **resident** (`JM_STM_PARTIAL_USER_VECTORS=0`, this build only, users up to `RESIDENT_UP_TO`): the
  whole user in RAM.
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


#: The largest user also measured wholly resident (a million memories' records exceed the tier's budget).
RESIDENT_UP_TO = 200_000
MODES = ("hybrid", "vector")


def _time(client: httpx.Client, filters: dict[str, Any] | None, searches: int, mode: str) -> dict[str, float]:
    rng = random.Random(11)
    took: list[float] = []
    found = 0
    for _ in range(searches):
        body: dict[str, Any] = {"user_id": "big", "query": sentence(rng), "k": 10, "mode": mode}
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
        "p99_ms": round(1000 * took[int(0.99 * (len(took) - 1))], 2),
        "mean_results": found / searches,
    }


def _seeded(memories: int, cache: Path) -> tuple[Path, float | None]:
    data = cache / f"filterbench-{memories}"
    done = data / ".seeded"
    if done.exists():
        return data, None
    shutil.rmtree(data, ignore_errors=True)
    svc = ServiceProcess(data, env=ENV).start(timeout_s=300)
    try:
        with httpx.Client(base_url=svc.url, timeout=600) as c:
            start = time.perf_counter()
            add_batches(c, "big", items(memories))
            settle(svc.url)
            seconds = time.perf_counter() - start
    finally:
        svc.stop()
    done.touch()
    return data, seconds


def _measure(data: Path, env: dict[str, str], searches: int) -> dict[str, Any]:
    """One build serving `data` (its snapshot built anew): the first search, then every filter and mode."""
    shutil.rmtree(data / "index", ignore_errors=True)
    svc = ServiceProcess(data, env={**ENV, **env}).start(timeout_s=900)
    out: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=svc.url, timeout=900) as c:
            start = time.perf_counter()
            c.post("/v1/search", json={"user_id": "big", "query": "first", "k": 10}).raise_for_status()
            out["first_search_s"] = round(time.perf_counter() - start, 2)
            mapped = [ln for ln in c.get("/metrics").text.splitlines() if ln.startswith("jm_stm_mapped_bytes ")]
            out["mapped_bytes"] = float(mapped[0].rsplit(" ", 1)[1]) if mapped else 0.0
            out["searches"] = {
                f"{name} / {mode}": {"selects": share, **_time(c, f, searches, mode)}
                for name, (f, share) in FILTERS.items()
                for mode in MODES
            }
    finally:
        svc.stop()
    return out


def run(
    memories: int = 100_000, searches: int = 40, against: Path | None = None, cache: Path | None = None
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="filterbench-"))
    report: dict[str, Any] = {"memories": memories, "searches_each": searches, "machine": machine_facts(), "runs": {}}
    try:
        data, seconds = _seeded(memories, cache or work)
        report["seed_s"] = seconds and round(seconds, 1)
        partial = {"JM_STM_PARTIAL_USER_VECTORS": str(max(1, memories // 2)), "JM_STM_WARM_USERS": "0"}
        builds: dict[str, dict[str, str]] = {"this build": {}}
        if against is not None:
            builds[f"against {against.name}"] = {"PYTHONPATH": str(against.resolve() / "service")}
        for name, env in builds.items():
            measured = _measure(data, {**env, **partial}, searches)
            if not measured["mapped_bytes"]:
                raise RuntimeError("the user was not partially resident: nothing new would be measured")
            report["runs"][f"{name}, partially resident"] = measured
        if memories <= RESIDENT_UP_TO:
            report["runs"]["this build, resident"] = _measure(data, {"JM_STM_PARTIAL_USER_VECTORS": "0"}, searches)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def table(report: dict[str, Any]) -> str:
    runs = report["runs"]
    lines = [
        f"filterbench: one user of {report['memories']:,} memories, {report['searches_each']} searches each "
        "(closed loop, k=10, hash embedder), p50 / p99 ms",
        "| search | selects | " + " | ".join(runs) + " |",
        "|---|---|" + "---|" * len(runs),
        "| first search (builds the snapshot) | | "
        + " | ".join(f"{r['first_search_s']} s" for r in runs.values())
        + " |",
    ]
    for key, first in next(iter(runs.values()))["searches"].items():
        cells = " | ".join(f"{r['searches'][key]['p50_ms']} / {r['searches'][key]['p99_ms']}" for r in runs.values())
        lines.append(f"| {key} | {first['selects']:.1%} | {cells} |")
    return "\n".join(lines)
