"""Search of one large user, filtered and not, resident and partially resident, build beside build.

`jean-memory-dev filterbench` seeds one user of `memories` memories through the API (hash embedder, so the
model is not what is measured), each with `kind` (one of 20: 5 % each) and `n` (0..999), once (`cache`
keeps the data folder for later runs). Then each build (this one, and `against`: another checkout, by its
`PYTHONPATH`) serves the same folder in turn, its snapshot built anew, and is timed searching one after
the other (closed loop, one client: the latency a filter adds, not a throughput) in hybrid mode (the
default) and vector mode, and listing pages of 20 (following the cursor), with filters selecting about
1 %, 5 % and 10 % in the plain and the operator forms:

- **partially resident** (`JM_STM_PARTIAL_USER_VECTORS` below the user's size, every user past it in a
  real deployment): vectors and BM25 from the user's snapshot, records from the store;
- **resident** (`JM_STM_PARTIAL_USER_VECTORS=0`, this build only, users up to `RESIDENT_UP_TO`): the
  whole user in RAM.
"""

from __future__ import annotations

import functools
import json
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from jean_memory.embedding.hashing import HashEmbedder
from jean_memory.filters import Limits, compile_filter
from jean_memory.memory import Memory
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


class Exact:
    """Exact search of the seeded memories, for the vector rows' recall: their float32 hash vectors (the
    service's embedder), each filter's selection by the grammar's own predicate."""

    def __init__(self, n: int) -> None:
        seeded = items(n)
        self._embedder = HashEmbedder(384)
        self._row = {item["content"]: i for i, item in enumerate(seeded)}
        self._memories = [
            Memory(str(i), "big", item["content"], item["metadata"], 0.5, item["created_at"])
            for i, item in enumerate(seeded)
        ]
        texts = [item["content"] for item in seeded]
        self._vectors = np.vstack([self._embedder.embed(texts[i : i + 50_000]) for i in range(0, n, 50_000)])
        self._selected: dict[str, np.ndarray] = {}

    def recall(self, name: str, filters: dict[str, Any] | None, queries: list[str], found: list[list[str]]) -> float:
        """recall@10: the share of the results whose exact score reaches the query's tenth best among the
        memories the filter selects (so ties at the tenth count as found)."""
        if name not in self._selected:
            compiled = compile_filter(filters, Limits())
            picked = [i for i, m in enumerate(self._memories) if compiled is None or compiled.matches(m)]
            self._selected[name] = np.array(picked, dtype=np.int64)
        chosen = self._selected[name]
        hits = 0
        for query, contents in zip(queries, found, strict=True):
            scores = self._vectors @ self._embedder.embed([query])[0]
            tenth = -np.partition(-scores[chosen], 9)[9]
            hits += sum(1 for content in contents if scores[self._row[content]] >= tenth - 1e-5)
        return round(hits / (10 * len(queries)), 4)


def _time(
    client: httpx.Client, filters: dict[str, Any] | None, searches: int, mode: str
) -> tuple[dict[str, float], list[str], list[list[str]]]:
    """Latencies, and the queries with their results' contents."""
    rng = random.Random(11)
    took: list[float] = []
    queries: list[str] = []
    found: list[list[str]] = []
    for _ in range(searches):
        body: dict[str, Any] = {"user_id": "big", "query": sentence(rng), "k": 10, "mode": mode}
        if filters is not None:
            body["filters"] = filters
        r = _timed(took, functools.partial(client.post, "/v1/search", json=body))
        queries.append(body["query"])
        found.append([h["content"] for h in r.json()["results"]])
    stats = {**_percentiles(took), "mean_results": sum(len(f) for f in found) / searches}
    return stats, queries, found


def _timed(took: list[float], send: Callable[[], httpx.Response]) -> httpx.Response:
    """`send()`'s response, its time appended to `took`."""
    start = time.perf_counter()
    r = send()
    took.append(time.perf_counter() - start)
    r.raise_for_status()
    return r


def _percentiles(took: list[float]) -> dict[str, float]:
    ordered = sorted(took)
    return {
        "p50_ms": round(1000 * statistics.median(ordered), 2),
        "p99_ms": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 2),
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


def _time_list(client: httpx.Client, filters: dict[str, Any], pages: int) -> dict[str, float]:
    """Latencies of `pages` filtered list pages of 20, one after the other, following the cursor (from the
    first page again at the end)."""
    took: list[float] = []
    cursor: str | None = None
    for _ in range(pages):
        params = {"user_id": "big", "limit": "20", "filters": json.dumps(filters)}
        if cursor is not None:
            params["cursor"] = cursor
        cursor = _timed(took, functools.partial(client.get, "/v1/memories", params=params)).json()["next_cursor"]
    return _percentiles(took)


def _measure(data: Path, env: dict[str, str], searches: int, exact: Exact) -> dict[str, Any]:
    """One build serving `data` (its snapshot built anew): the first search, then every filter and mode
    (recall@10 against `exact` in vector mode)."""
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
            out["searches"] = {}
            for name, (f, share) in FILTERS.items():
                for mode in MODES:
                    stats, queries, found = _time(c, f, searches, mode)
                    if mode == "vector":
                        stats["recall_at_10"] = exact.recall(name, f, queries, found)
                    out["searches"][f"{name} / {mode}"] = {"selects": share, **stats}
                if f is not None:
                    out["searches"][f"{name} / list page"] = {"selects": share, **_time_list(c, f, searches)}
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
        exact = Exact(memories)
        for name, env in builds.items():
            measured = _measure(data, {**env, **partial}, searches, exact)
            if not measured["mapped_bytes"]:
                raise RuntimeError("the user was not partially resident: nothing new would be measured")
            report["runs"][f"{name}, partially resident"] = measured
        if memories <= RESIDENT_UP_TO:
            resident = {"JM_STM_PARTIAL_USER_VECTORS": "0"}
            report["runs"]["this build, resident"] = _measure(data, resident, searches, exact)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def table(report: dict[str, Any]) -> str:
    runs = report["runs"]
    lines = [
        f"filterbench: one user of {report['memories']:,} memories, {report['searches_each']} searches each "
        "(closed loop, k=10, hash embedder), p50 / p99 ms; in vector mode, recall@10 against exact search",
        "| search | selects | " + " | ".join(runs) + " |",
        "|---|---|" + "---|" * len(runs),
        "| first search (builds the snapshot) | | "
        + " | ".join(f"{r['first_search_s']} s" for r in runs.values())
        + " |",
    ]
    for key, first in next(iter(runs.values()))["searches"].items():
        cells = " | ".join(_cell(r["searches"][key]) for r in runs.values())
        lines.append(f"| {key} | {first['selects']:.1%} | {cells} |")
    return "\n".join(lines)


def _cell(row: dict[str, Any]) -> str:
    recall = f", recall {row['recall_at_10']}" if "recall_at_10" in row else ""
    return f"{row['p50_ms']} / {row['p99_ms']}{recall}"
