"""One user bigger than the short-term tier's budget, beside small users (the 16 MiB scenario).

`JM_STM_BUDGET_BYTES` = 16 MiB, one user with 30,000 memories and 20 users with 500 each (hash
embedder, everything shipped to the SQLite store). After each small user's first search (so they are
resident), 80 rounds of one big-user search (a new query each time, no result cache) and one small-user
search, sequentially: the latency of each, the users resident before and after, and the evictions
and promotions the 80 rounds cost. Builds: round one (users load whole), this build with partial
residency off (`JM_STM_PARTIAL_USER_VECTORS=0`) and this build as shipped.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from jean_memory_dev.perf.baseline import delta, scrape, total
from jean_memory_dev.perf.goals.builds import Build, metric, seed
from jean_memory_dev.perf.workload import sentence

BUDGET = 16 * 1024 * 1024
BIG, SMALL_USERS, SMALL = 30_000, 20, 500
ROUNDS = 80


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(values) * 1000, q)), 2)


def _counter(samples: dict[str, Any], name: str) -> float:
    return total(samples, f"jm_{name}") or total(samples, name)


def measure(build: Build, data: Path, env: dict[str, str]) -> dict[str, Any]:
    svc = build.service(data, {"JM_STM_BUDGET_BYTES": str(BUDGET), **env}).start(timeout_s=300)
    rng = random.Random(5)
    small = [f"small{u}" for u in range(1, SMALL_USERS + 1)]
    try:
        with httpx.Client(base_url=svc.url, timeout=120) as c:

            def search(user: str) -> float:
                t = time.perf_counter()
                c.post("/v1/search", json={"user_id": user, "query": sentence(rng, 4), "k": 10}).raise_for_status()
                return time.perf_counter() - t

            for user in small:
                search(user)
            first_big = search("big")  # round one: a promotion; this build: the snapshot's first build
            for user in small:
                search(user)
            before = scrape(svc.url)
            resident_before = metric(before, "stm_users")
            big, smalls = [], []
            for i in range(ROUNDS):
                big.append(search("big"))
                smalls.append(search(small[i % len(small)]))
            after = scrape(svc.url)
        d = delta(before, after)
        return {
            "first_big_search_ms": round(first_big * 1000, 1),
            "big_p50_ms": _pct(big, 50),
            "big_p99_ms": _pct(big, 99),
            "big_max_ms": round(max(big) * 1000, 1),
            "small_p50_ms": _pct(smalls, 50),
            "small_p99_ms": _pct(smalls, 99),
            "users_resident_before": resident_before,
            "users_resident_after": metric(after, "stm_users"),
            "evictions": _counter(d, "stm_evictions_total"),
            "promotions": _counter(d, "shuttle_promotions_total"),
            "stm_bytes": metric(after, "stm_bytes"),
            "stm_mapped_bytes": metric(after, "stm_mapped_bytes"),
        }
    finally:
        svc.stop()


def run(builds: list[Build], this: Build, work: Path) -> dict[str, Any]:
    rng = random.Random(2)
    users: dict[str, list[dict[str, object]]] = {"big": [{"content": sentence(rng)} for _ in range(BIG)]}
    users |= {f"small{u}": [{"content": sentence(rng)} for _ in range(SMALL)] for u in range(1, SMALL_USERS + 1)}
    rows: dict[str, Any] = {}
    for i, build in enumerate(builds):
        data = work / f"big-{i}"
        seed(build, data, users, {})
        variants: list[tuple[str, dict[str, str]]] = [(build.name, {})]
        if build is this:
            variants.insert(0, (f"{build.name}, partial residency off", {"JM_STM_PARTIAL_USER_VECTORS": "0"}))
        for name, env in variants:
            rows[name] = measure(build, data, env)
    return {"budget_bytes": BUDGET, "big_user": BIG, "small_users": SMALL_USERS, "rounds": ROUNDS, "builds": rows}


def table(report: dict[str, Any]) -> str:
    names = list(report["builds"])
    lines = ["| 16 MiB budget, 30k-memory user + 20 small | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    rows = [
        ("first big-user search ms", ("first_big_search_ms",)),
        ("big-user search p50 / p99 / max ms (goal p99 <= 25)", ("big_p50_ms", "big_p99_ms", "big_max_ms")),
        ("small-user search p50 / p99 ms", ("small_p50_ms", "small_p99_ms")),
        ("users resident before -> after", ("users_resident_before", "users_resident_after")),
        ("evictions / promotions in 80 rounds", ("evictions", "promotions")),
        ("tier bytes / mapped bytes", ("stm_bytes", "stm_mapped_bytes")),
    ]
    for label, keys in rows:
        sep = " -> " if "before" in label else " / "
        cells = [sep.join(str(report["builds"][n].get(k)) for k in keys) for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
