"""The default embedder (MiniLM) under 500 mixed operations/s on the two shared cores.

Per variant, a fresh service with 50 users x 200 memories embedded by MiniLM; then, at the same
time for `seconds`, two paced `wrk` clients (think time per connection): adds at ~100/s (4
connections) and Zipf searches at ~400/s over 1000 queries and the 50 users (16 connections), so
each operation's latency is reported on its own. The model and the event loop share the cores;
the variants are the settings that decide how they share them: round one, this build's defaults,
a smaller embedding micro-batch (a query waits behind less) and the int8 model (less CPU per text).
"""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

from jean_memory_dev.perf.baseline import cache_hit_rates, delta, scrape
from jean_memory_dev.perf.goals.builds import Build, seed
from jean_memory_dev.perf.workload import sentence
from jean_memory_dev.perf.wrkrun import run_wrk

USERS, PER_USER = 50, 200
ADD_CONNECTIONS, SEARCH_CONNECTIONS, DELAY_MS = 4, 16, 40

#: Settings tried on this build, beside its defaults.
VARIANTS: dict[str, dict[str, str]] = {
    "defaults": {},
    "micro-batch 16": {"JM_EMBED_BATCH_SIZE": "16"},
    "onnx-int8": {"JM_EMBEDDING_BACKEND": "onnx-int8"},
}


def measure(build: Build, data: Path, env: dict[str, str], seconds: float) -> dict[str, Any]:
    svc = build.service(data, {"JM_EMBEDDER": "minilm", **env}).start(timeout_s=600)
    try:
        common = {"JM_USERS": str(USERS), "JM_QUERIES": "1000", "JM_STATUSES": "1"}
        run_wrk(svc.url, "zipf.lua", 8, 3, common)  # warm up: the model, the caches
        results: dict[str, dict[str, Any]] = {}

        def adds() -> None:
            env_adds = common | {"JM_ADD_SHARE": "1", "JM_DELAY_MS": str(DELAY_MS)}
            results["add"] = run_wrk(svc.url, "zipf.lua", ADD_CONNECTIONS, seconds, env_adds)

        before = scrape(svc.url)
        thread = threading.Thread(target=adds)
        thread.start()
        results["search"] = run_wrk(
            svc.url, "zipf.lua", SEARCH_CONNECTIONS, seconds, common | {"JM_DELAY_MS": str(DELAY_MS)}
        )
        thread.join()
        hits = cache_hit_rates(delta(before, scrape(svc.url)))
    finally:
        svc.stop()
    return {
        "offered_ops_per_s": round(results["add"]["rps"] + results["search"]["rps"], 1),
        "adds_per_s": round(results["add"]["rps"], 1),
        "searches_per_s": round(results["search"]["rps"], 1),
        "add_p50_ms": round(results["add"]["p50_ms"], 2),
        "add_p99_ms": round(results["add"]["p99_ms"], 2),
        "search_p50_ms": round(results["search"]["p50_ms"], 2),
        "search_p99_ms": round(results["search"]["p99_ms"], 2),
        "errors": {k: r["statuses"] for k, r in results.items()},
        "l1_hit_rate": hits["l1"],
        "l2_hit_rate": hits["l2"],
    }


def run(builds: list[Build], this: Build, work: Path, seconds: float) -> dict[str, Any]:
    rng = random.Random(4)
    users = {f"bench{u}": [{"content": sentence(rng)} for _ in range(PER_USER)] for u in range(1, USERS + 1)}
    rows: dict[str, Any] = {}
    for i, build in enumerate(builds):
        variants = VARIANTS if build is this else {"defaults": {}}
        for j, (name, env) in enumerate(variants.items()):
            data = work / f"minilm-{i}-{j}"  # seeded per variant: a model id of its own re-embeds nothing
            seed(build, data, users, {"JM_EMBEDDER": "minilm", **env})
            rows[f"{build.name}, {name}"] = measure(build, data, env, seconds)
    return {"seconds": seconds, "rows": rows}


def table(report: dict[str, Any]) -> str:
    lines = [
        "| MiniLM, ~500 ops/s offered (20 % adds) | ops/s | add p50 / p99 ms (goal p99 <= 5) | "
        "search p50 / p99 ms (goal p99 <= 25) | L1 / L2 hit rate |",
        "|---|---|---|---|---|",
    ]
    for name, r in report["rows"].items():
        lines.append(
            f"| {name} | {r['offered_ops_per_s']} | {r['add_p50_ms']} / {r['add_p99_ms']} | "
            f"{r['search_p50_ms']} / {r['search_p99_ms']} | {r['l1_hit_rate']} / {r['l2_hit_rate']} |"
        )
    return "\n".join(lines)
