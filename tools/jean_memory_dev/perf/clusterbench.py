"""Cluster mode against embedded mode, and two replicas against one, measured side by side.

Every variant runs in the same process tree and round, interleaved, on the hash embedder (so the model
is not the limit), with the median of the rounds reported:

- `embedded`: one service, SQLite journal (`synchronous=NORMAL`: an acknowledgement survives a
  process crash);
- `cluster x1`: one replica over PostgreSQL (the test server runs `fsync=off`, `synchronous_commit=on`:
  the same process-crash durability as the journal's NORMAL; with fsync on, each group commit adds one
  fsync of the server's WAL);
- `haproxy x1`, `haproxy x2`: one and two replicas behind HAProxy (same proxy hop in both).

Measured: add acknowledgement p50/p99 at a stated offered rate (open loop, each request timed from its
scheduled start, with `/healthz` in the same run as the yardstick), and throughput at saturation of a
mixed workload (20 % adds, 80 % searches over 50 users) at a stated concurrency (wrk). For the cluster
variants the server-side costs per operation are taken from the replicas' counters: group commits and
version checks per second, mean group size, PostgreSQL backend CPU seconds. The load generator shares
the two cores with everything else: these are ratios on one machine, not capacities.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from jean_memory_dev.perf.baseline import delta, machine_facts, scrape, total
from jean_memory_dev.perf.loadgen import open_loop
from jean_memory_dev.perf.workload import sentence
from jean_memory_dev.perf.wrkrun import run_wrk
from jean_memory_dev.processes import HaproxyProcess, PostgresServer, ServiceProcess

HASH = {"JM_EMBEDDER": "hash", "JM_TRACE_SAMPLE_RATIO": "0.1"}
MIX = {"JM_ADD_SHARE": "0.2", "JM_USERS": "50"}
VARIANTS = ("embedded", "cluster x1", "haproxy x1", "haproxy x2")


class Setup:
    """A running variant: the URL the load goes to, and the replicas' URLs for their counters."""

    def __init__(self, url: str, replicas: list[str], postgres: PostgresServer | None) -> None:
        self.url = url
        self.replicas = replicas
        self.postgres = postgres


def _postgres_cpu(server: PostgresServer) -> float:
    """CPU seconds used so far by every PostgreSQL process of this server (postmaster and backends)."""
    pid = server.pid
    if pid is None:
        return 0.0
    root = psutil.Process(pid)
    seconds = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            seconds += t.user + t.system
        except psutil.Error:
            continue
    return seconds


@contextmanager
def running(variant: str, work: Path) -> Iterator[Setup]:
    """Start a variant from scratch (fresh data, fresh PostgreSQL) and stop it afterwards."""
    started: list[Callable[[], object]] = []
    postgres: PostgresServer | None = None
    try:
        if variant == "embedded":
            svc = ServiceProcess(work / "embedded", env=HASH).start()
            started.append(svc.stop)
            yield Setup(svc.url, [svc.url], None)
            return
        postgres = PostgresServer().init().start()
        started.append(postgres.destroy)
        n = 2 if variant.endswith("x2") else 1
        replicas = []
        for i in range(n):
            env = {**HASH, "JM_CLUSTER": "true", "JM_LTM_URL": postgres.url, "JM_REPLICA_ID": f"r{i}"}
            svc = ServiceProcess(work / f"r{i}", env=env).start()
            started.append(svc.stop)
            replicas.append(svc)
        if variant.startswith("cluster"):
            yield Setup(replicas[0].url, [r.url for r in replicas], postgres)
            return
        proxy = HaproxyProcess(work / "haproxy", {f"r{i}": r.port for i, r in enumerate(replicas)}).start()
        started.append(proxy.stop)
        proxy.wait_servers("UP")
        yield Setup(proxy.url, [r.url for r in replicas], postgres)
    finally:
        for stop in reversed(started):
            stop()


def add_latency(url: str, rate: float, seconds: float, seed: int) -> dict[str, Any]:
    """Adds at `rate`/s, open loop, with `/healthz` at the same rate before them as the yardstick."""
    rng = random.Random(seed)

    def add(n: int) -> tuple[str, str, Any]:
        return ("POST", "/v1/memories", {"user_id": f"user{n % 50}", "content": sentence(rng)})

    healthz = asyncio.run(open_loop(url, lambda n: ("GET", "/healthz", None), rate, seconds, "healthz"))
    adds = asyncio.run(open_loop(url, add, rate, seconds, "add"))
    h, a = healthz.summary(), adds.summary()
    return {
        "healthz_p50_ms": h["p50_ms"],
        "add_p50_ms": a["p50_ms"],
        "add_p99_ms": a["p99_ms"],
        "add_error_rate": a["error_rate"],
        "add_vs_healthz_p50": round(a["p50_ms"] / h["p50_ms"], 2) if h["p50_ms"] else None,
    }


def mixed_throughput(setup: Setup, connections: int, seconds: float) -> dict[str, Any]:
    """The 20/80 mix at saturation; for cluster variants, what PostgreSQL did for it, per operation."""
    before = [scrape(u) for u in setup.replicas]
    cpu_before = _postgres_cpu(setup.postgres) if setup.postgres else 0.0
    started = time.perf_counter()
    r = run_wrk(setup.url, "mixed.lua", connections, seconds, MIX)
    elapsed = time.perf_counter() - started
    out: dict[str, Any] = {k: round(r[k], 3) for k in ("rps", "p50_ms", "p99_ms", "error_rate")}
    if setup.postgres is not None:
        d = [delta(b, scrape(u)) for b, u in zip(before, setup.replicas, strict=True)]
        commits = sum(total(x, "jm_cluster_commit_group_size_count") for x in d)
        ops = sum(total(x, "jm_cluster_commit_group_size_sum") for x in d)
        checks = sum(total(x, "jm_cluster_version_check_duration_seconds_count") for x in d)
        reads = sum(total(x, "jm_cluster_version_checks_total") for x in d)
        out |= {
            "pg_commits_per_s": round(commits / elapsed, 1),
            "pg_mean_group_size": round(ops / commits, 2) if commits else None,
            "pg_version_queries_per_s": round(checks / elapsed, 1),
            "reads_per_version_query": round(reads / checks, 2) if checks else None,
            "pg_cpu_ms_per_request": round(1000 * (_postgres_cpu(setup.postgres) - cpu_before) / r["requests"], 3),
        }
    return out


def run(rounds: int = 3, seconds: float = 10.0, rate: float = 500.0, connections: int = 32) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="jm-clusterbench-"))
    samples: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    try:
        for n in range(rounds):
            for variant in VARIANTS:
                with running(variant, work / f"{n}-{variant.replace(' ', '')}") as setup:
                    run_wrk(setup.url, "mixed.lua", connections, 2.0, MIX)  # warm up: users, caches
                    row = add_latency(setup.url, rate, seconds, seed=n) if not variant.startswith("haproxy") else {}
                    row |= mixed_throughput(setup, connections, seconds)
                    samples[variant].append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report: dict[str, Any] = {
        "machine": machine_facts(),
        "rounds": rounds,
        "seconds": seconds,
        "offered_adds_per_s": rate,
        "connections": connections,
        "mix": "20 % adds, 80 % searches, 50 users (wrk mixed.lua)",
        "variants": {v: _median(rows) for v, rows in samples.items()},
        "runs": samples,
    }
    v = report["variants"]
    report["ratios"] = {
        "cluster_add_p50_vs_embedded": _ratio(v["cluster x1"].get("add_p50_ms"), v["embedded"].get("add_p50_ms")),
        "cluster_throughput_vs_embedded": _ratio(v["cluster x1"]["rps"], v["embedded"]["rps"]),
        "two_replicas_vs_one": _ratio(v["haproxy x2"]["rps"], v["haproxy x1"]["rps"]),
    }
    return report


def _median(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = {k for row in rows for k, value in row.items() if isinstance(value, int | float)}
    return {k: round(statistics.median(row[k] for row in rows if row.get(k) is not None), 3) for k in sorted(keys)}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def table(report: dict[str, Any]) -> str:
    v, r = report["variants"], report["ratios"]
    lines = [
        f"| variant | add p50 / p99 at {report['offered_adds_per_s']:.0f}/s (ms) | healthz p50 | "
        f"mixed at {report['connections']} conn (req/s) | mixed p50 / p99 (ms) | PG commits/s, group | "
        "version queries/s, reads each | PG CPU ms/request |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in v.items():
        add = f"{row['add_p50_ms']} / {row['add_p99_ms']}" if "add_p50_ms" in row else "-"
        pg = f"{row['pg_commits_per_s']}, {row.get('pg_mean_group_size')}" if "pg_commits_per_s" in row else "-"
        vq = (
            f"{row['pg_version_queries_per_s']}, {row.get('reads_per_version_query')}"
            if "pg_version_queries_per_s" in row
            else "-"
        )
        lines.append(
            f"| {name} | {add} | {row.get('healthz_p50_ms', '-')} | {row['rps']:.0f} | "
            f"{row['p50_ms']} / {row['p99_ms']} | {pg} | {vq} | {row.get('pg_cpu_ms_per_request', '-')} |"
        )
    lines.append("")
    lines.append(
        f"cluster add p50 / embedded: {r['cluster_add_p50_vs_embedded']} (goal <= 1.5); "
        f"cluster mixed throughput / embedded: {r['cluster_throughput_vs_embedded']} (goal >= 0.7); "
        f"two replicas / one behind HAProxy: {r['two_replicas_vs_one']} (goal >= 1.3)"
    )
    return "\n".join(lines)
