"""A million memories: one user searched hot, and the cold start, in this build.

One user holding N memories (1,000,000 in the full run; hash embedder, client-chosen ids so exact
search can be computed here) is seeded through the API and shipped to the SQLite store; the data
folder is kept under `--cache` between runs. Then, with the default 512 MB tier budget:
1. cold start with N memories in the store and no snapshot: process start to `/readyz`;
2. the user's first search (its memory-mapped SQ8 snapshot and BM25 are built from the store), then
   `queries` different searches one after another, each in vector mode (p50/p99, and recall@10 against
   exact search over the same vectors: ties with the exact 10th score count as hits) and in hybrid mode,
   the default (p50/p99); the tier's bytes, the mapped bytes, RSS;
3. a graceful stop with the user resident, and the cold start again (the snapshot is reopened, not
   rebuilt): start to `/readyz`, the first search after it, and that nothing was re-embedded.
All of it once per snapshot layout (`LAYOUTS`), on the same data: the inverted file the service builds
by default, and the flat scan of every code it replaced.
Round one could not do (2) at all: float32 vectors of a million memories (1.5 GB) exceed the whole
512 MB budget, and it loaded users whole.
"""

from __future__ import annotations

import random
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from jean_memory.embedding.hashing import HashEmbedder
from jean_memory_dev.perf.baseline import scrape, total
from jean_memory_dev.perf.goals.builds import THIS, metric, seed
from jean_memory_dev.perf.workload import sentence
from jean_memory_dev.processes import ServiceProcess

USER = "million"


def texts(n: int) -> list[str]:
    rng = random.Random(17)
    return [f"{sentence(rng)} {i}" for i in range(n)]


def seeded(n: int, cache: Path) -> tuple[Path, float | None]:
    """The data folder holding `n` memories of one user (seeded once, then reused); seeding seconds."""
    data = cache / f"million-{n}"
    done = data / ".seeded"
    if done.exists():
        return data, None
    if data.exists():
        shutil.rmtree(data)
    items: list[dict[str, object]] = [{"content": t, "id": str(uuid.UUID(int=i + 1))} for i, t in enumerate(texts(n))]
    seconds = seed(THIS, data, {USER: items}, {"JM_STM_WARM_USERS": "0"})
    done.touch()
    return data, seconds


def timed_start(data: Path, env: dict[str, str] | None = None) -> tuple[ServiceProcess, float]:
    t = time.perf_counter()
    svc = THIS.service(data, env).start(timeout_s=600)
    return svc, time.perf_counter() - t


#: The snapshot layouts, side by side on the same data: the default (an inverted file over the SQ8 codes from
#: 100,000 vectors, probing 15 % of its lists) and the flat SQ8 scan every query of the first cut made.
LAYOUTS: dict[str, dict[str, str]] = {"ivf": {}, "flat": {"JM_STM_SNAPSHOT_IVF_VECTORS": "0"}}


def run(n: int, queries: int, cache: Path) -> dict[str, Any]:
    data, seed_s = seeded(n, cache)
    embedder = HashEmbedder(384)
    rng = random.Random(23)
    query_texts = [sentence(rng, 4) for _ in range(queries)]
    vectors = np.vstack([embedder.embed(chunk) for chunk in _chunks(texts(n), 50_000)])
    exact = embedder.embed(query_texts) @ vectors.T
    del vectors
    tenth = -np.partition(-exact, 9, axis=1)[:, 9]
    out: dict[str, Any] = {"memories": n, "seed_s": seed_s and round(seed_s, 1), "queries": queries, "layouts": {}}
    for name, env in LAYOUTS.items():
        out["layouts"][name] = _layout(data, env, query_texts, exact, tenth)
    return out


def _layout(
    data: Path, env: dict[str, str], query_texts: list[str], exact: np.ndarray, tenth: np.ndarray
) -> dict[str, Any]:
    shutil.rmtree(data / "index", ignore_errors=True)  # no snapshot: the first cold start of the series
    out: dict[str, Any] = {}
    svc, ready_s = timed_start(data, env)
    try:
        out["ready_s_no_snapshot"] = round(ready_s, 2)
        with httpx.Client(base_url=svc.url, timeout=600) as c:
            t = time.perf_counter()
            c.post("/v1/search", json={"user_id": USER, "query": "first search", "k": 10}).raise_for_status()
            out["first_search_s"] = round(time.perf_counter() - t, 2)
            latencies: dict[str, list[float]] = {"vector": [], "hybrid": []}
            hits = 0
            for q, scores, bar in zip(query_texts, exact, tenth, strict=True):
                for mode, took in latencies.items():  # the vector leg alone (recall), then the default
                    t = time.perf_counter()
                    r = c.post("/v1/search", json={"user_id": USER, "query": q, "k": 10, "mode": mode})
                    took.append(time.perf_counter() - t)
                    r.raise_for_status()
                    if mode == "vector":
                        hits += sum(1 for h in r.json()["results"] if scores[uuid.UUID(h["id"]).int - 1] >= bar - 1e-5)
        lat = np.array(latencies["vector"]) * 1000
        hybrid = np.array(latencies["hybrid"]) * 1000
        s = scrape(svc.url)
        out |= {
            "hot_p50_ms": round(float(np.percentile(lat, 50)), 2),
            "hot_p99_ms": round(float(np.percentile(lat, 99)), 2),
            "hybrid_p50_ms": round(float(np.percentile(hybrid, 50)), 2),
            "hybrid_p99_ms": round(float(np.percentile(hybrid, 99)), 2),
            "recall_at_10": round(hits / (10 * len(query_texts)), 4),
            "stm_bytes": metric(s, "stm_bytes"),
            "stm_mapped_bytes": metric(s, "stm_mapped_bytes"),
            "rss_bytes": metric(s, "process_resident_memory_bytes"),
        }
    finally:
        svc.terminate()
    svc, ready_s = timed_start(data, env)
    try:
        out["ready_s_resident_before_stop"] = round(ready_s, 2)
        with httpx.Client(base_url=svc.url, timeout=600) as c:
            t = time.perf_counter()
            c.post("/v1/search", json={"user_id": USER, "query": query_texts[0], "k": 10}).raise_for_status()
            out["first_search_after_restart_ms"] = round((time.perf_counter() - t) * 1000, 1)
        out["embedded_after_restart"] = total(scrape(svc.url), "jm_embedding_batch_size_sum")
    finally:
        svc.terminate()
    return out


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def table(r: dict[str, Any]) -> str:
    mib = 1024 * 1024
    names = list(r["layouts"])
    rows: list[tuple[str, Any]] = [
        ("start to /readyz, no snapshot yet (goal < 10 s)", lambda x: f"{x['ready_s_no_snapshot']} s"),
        ("first search (builds the snapshot from the store)", lambda x: f"{x['first_search_s']} s"),
        (
            f"hot search p50 / p99, vector leg, {r['queries']} queries (goal p99 <= 25 ms)",
            lambda x: f"{x['hot_p50_ms']} / {x['hot_p99_ms']} ms",
        ),
        (
            "hot search p50 / p99, hybrid (the default), the same queries",
            lambda x: f"{x.get('hybrid_p50_ms', '-')} / {x.get('hybrid_p99_ms', '-')} ms",
        ),
        ("recall@10 of the vector leg against exact search (goal >= 0.95)", lambda x: f"{x['recall_at_10']}"),
        (
            "tier bytes / mapped bytes / RSS (goal tier <= 512 MB)",
            lambda x: (
                f"{(x['stm_bytes'] or 0) / mib:.0f} / {(x['stm_mapped_bytes'] or 0) / mib:.0f} / "
                f"{(x['rss_bytes'] or 0) / mib:.0f} MiB"
            ),
        ),
        (
            "start to /readyz with the user resident before the stop (goal < 10 s)",
            lambda x: f"{x['ready_s_resident_before_stop']} s",
        ),
        ("first search after that restart", lambda x: f"{x['first_search_after_restart_ms']} ms"),
        (
            "texts embedded after the restart (the first search's query is one)",
            lambda x: f"{x['embedded_after_restart']:.0f}",
        ),
    ]
    head = f"| one user, {r['memories']:,} memories (hash, SQLite store, 512 MB budget) | " + " | ".join(names) + " |"
    lines = [head, "|---|" + "---|" * len(names)]
    lines += [f"| {label} | " + " | ".join(cell(r["layouts"][n]) for n in names) + " |" for label, cell in rows]
    return "\n".join(lines)
