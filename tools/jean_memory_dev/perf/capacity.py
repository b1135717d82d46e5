"""Capacity with a real model: how close the service gets to the model's own throughput, what
happens past it, and how many searches it serves when queries repeat.

One run, phases side by side on the same machine:
1. model: the embedder alone in this process, micro-batches of the service's size, with the
   service's torch thread setting and with all cores: texts/s. This is the limit for adds.
2. sustained adds: the service under wrk adds offered at `overload` times the model's rate (paced
   with think time); over the window after the backlog filled, from the service's own counters:
   memories embedded/s, adds acknowledged/s, 429s and whether each carried Retry-After, and the
   largest embedding backlog seen (admission control bounds it by JM_EMBED_MAX_BACKLOG).
3. searches: once the backlog drained, wrk `zipf.lua` (Zipf over a pool of queries and over users)
   at a fixed concurrency: searches/s, p50/p99, errors, and the L1/L2 hit rates the caches earned.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from jean_memory.config import Settings
from jean_memory_dev.background import Background
from jean_memory_dev.perf.baseline import Samples, cache_hit_rates, delta, gauge, machine_facts, scrape, total
from jean_memory_dev.perf.workload import sentence
from jean_memory_dev.perf.wrkrun import run_wrk
from jean_memory_dev.processes import ServiceProcess


def model_throughput(service: Settings, threads: int, seconds: float) -> float:
    """Texts/s of the bare embedder the service is configured with (same backend, same micro-batch
    size), in this process, on the benchmark's sentences."""
    from jean_memory.embedding import make_embedder

    embedder = make_embedder(service.model_copy(update={"torch_threads": threads, "embed_subprocess": False}))
    batch = service.embed_batch_size
    embedder.warm_up()
    rng = random.Random(11)
    texts = [f"{sentence(rng)} {i}" for i in range(batch * 200)]
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        chunk = texts[done % len(texts) : done % len(texts) + batch]
        embedder.embed(chunk)
        done += len(chunk)
    return done / (time.perf_counter() - start)


class BacklogWatch:
    """Scrapes the service every half second: the largest embedding backlog seen."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.max_backlog = 0.0
        self._loop = Background()

    def _scrape(self) -> None:
        backlog = gauge(scrape(self.url), "jm_embedding_backlog") or 0.0
        self.max_backlog = max(self.max_backlog, backlog)

    def __enter__(self) -> BacklogWatch:
        self._loop.start(self._scrape, "backlog-watch", every_s=0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.stop()


def sustained_adds(
    url: str, model_rate: float, seconds: float, overload: float, users: int, max_backlog: int
) -> dict[str, Any]:
    connections = 8
    offered = overload * model_rate
    delay_ms = connections * 1000.0 / offered
    env = {"JM_ADD_SHARE": "1", "JM_USERS": str(users), "JM_DELAY_MS": f"{delay_ms:.1f}", "JM_STATUSES": "1"}
    result: dict[str, Any] = {}
    snapshots: list[tuple[float, Samples]] = []

    def window() -> None:  # steady state: from when the backlog is (nearly) full, or half-way through
        deadline = time.monotonic() + seconds / 2
        while time.monotonic() < deadline and watch.max_backlog < 0.95 * max_backlog:
            time.sleep(0.25)
        snapshots.append((time.perf_counter(), scrape(url)))

    with BacklogWatch(url) as watch:
        timer = threading.Thread(target=window)
        timer.start()
        load = run_wrk(url, "mixed.lua", connections, seconds, env)
        end = (time.perf_counter(), scrape(url))
        timer.join()
    (t0, s0), (t1, s1) = snapshots[0], end
    d = delta(s0, s1)
    span = t1 - t0
    embedded = total(d, "jm_embedding_batch_size_sum") / span
    acked = total(d, "jm_memory_creation_duration_seconds_count") / span
    statuses = {int(k): v for k, v in load["statuses"].items()}
    refused = sum(n for code, n in statuses.items() if code in (429, 503))
    result.update(
        offered_per_s=round(offered, 1),
        window_s=round(span, 1),
        embedded_per_s=round(embedded, 1),
        acknowledged_per_s=round(acked, 1),
        ratio_to_model=round(embedded / model_rate, 3),
        statuses=statuses,
        refused=refused,
        refused_with_retry_after=load["retry_after"],
        max_backlog=watch.max_backlog,
        ack_p50_ms=round(load["p50_ms"], 3),
        ack_p99_ms=round(load["p99_ms"], 3),
    )
    return result


def zipf_searches(url: str, connections: int, seconds: float, users: int, queries: int) -> dict[str, Any]:
    env = {"JM_USERS": str(users), "JM_QUERIES": str(queries), "JM_ZIPF": "1.1", "JM_STATUSES": "1"}
    before = scrape(url)
    load = run_wrk(url, "zipf.lua", connections, seconds, env)
    d = delta(before, scrape(url))
    return {
        "connections": connections,
        "searches_per_s": round(load["ok_rps"], 1),
        "p50_ms": round(load["p50_ms"], 3),
        "p99_ms": round(load["p99_ms"], 3),
        "error_rate": round(load["error_rate"], 5),
        **{f"{level}_hit_rate": rate for level, rate in cache_hit_rates(d).items()},
        "queries_embedded": total(d, "jm_embedding_batch_size_sum"),
        "statuses": load["statuses"],
    }


def wait_for_drain(url: str, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and (gauge(scrape(url), "jm_embedding_backlog") or 0) > 0:
        time.sleep(0.5)


def run(
    embedder: str = "minilm",
    seconds: float = 30.0,
    model_seconds: float = 10.0,
    overload: float = 1.5,
    users: int = 50,
    queries: int = 1000,
    connections: int = 32,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    svc_env = {"JM_EMBEDDER": embedder, **(env or {})}
    # The service's settings as it will read them (its JM_* variables), to size the model runs alike.
    settings = Settings.model_validate({k[3:].lower(): v for k, v in svc_env.items() if k.startswith("JM_")})
    service_threads = settings.torch_threads
    model: dict[str, Any] = {
        "service_threads": service_threads,
        "backend": settings.embedding_backend.value if embedder == "minilm" else embedder,
        "per_s_service_threads": round(model_throughput(settings, service_threads, model_seconds), 1),
        "per_s_all_cores": round(model_throughput(settings, os.cpu_count() or 1, model_seconds), 1),
        "batch": settings.embed_batch_size,
    }
    work = Path(tempfile.mkdtemp(prefix="jm-capacity-"))
    try:
        svc = ServiceProcess(work / "svc", env=svc_env).start(timeout_s=300)
        try:
            adds = sustained_adds(
                svc.url, model["per_s_service_threads"], seconds, overload, users, settings.embed_max_backlog
            )
            wait_for_drain(svc.url)
            run_wrk(svc.url, "zipf.lua", connections, 3, {"JM_USERS": str(users), "JM_QUERIES": str(queries)})
            searches = zipf_searches(svc.url, connections, seconds, users, queries)
        finally:
            svc.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "embedder": embedder,
        "machine": machine_facts(),
        "env": svc_env,
        "model": model,
        "sustained_adds": adds,
        "zipf_searches": searches,
    }


def table(r: dict[str, Any]) -> str:
    m, a, s = r["model"], r["sustained_adds"], r["zipf_searches"]
    return "\n".join(
        [
            "| measurement | value |",
            "|---|---|",
            f"| model alone ({m.get('backend', 'torch')}), {m['service_threads']} thread(s) (the service's setting), "
            f"batch {m['batch']} | "
            f"{m['per_s_service_threads']} texts/s |",
            f"| model alone, all cores | {m['per_s_all_cores']} texts/s |",
            f"| adds offered (wrk, paced) | {a['offered_per_s']}/s |",
            f"| memories embedded by the service (steady state, {a['window_s']} s) | {a['embedded_per_s']}/s = "
            f"{a['ratio_to_model']:.0%} of the model alone at the same setting |",
            f"| adds acknowledged (steady state) | {a['acknowledged_per_s']}/s, p50 {a['ack_p50_ms']} ms, "
            f"p99 {a['ack_p99_ms']} ms |",
            f"| refused (429/503), with Retry-After | {a['refused']}, {a['refused_with_retry_after']} |",
            f"| largest embedding backlog seen | {a['max_backlog']:.0f} |",
            f"| Zipf searches, {s['connections']} connections | {s['searches_per_s']}/s, p50 {s['p50_ms']} ms, "
            f"p99 {s['p99_ms']} ms, errors {s['error_rate']} |",
            f"| cache hit rates during the searches | L1 {s['l1_hit_rate']}, L2 {s['l2_hit_rate']}; "
            f"{s['queries_embedded']:.0f} queries embedded |",
        ]
    )
