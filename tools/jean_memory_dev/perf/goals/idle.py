"""The idle write path and the mixed tail, each build side by side, round by round.

Per round and build, a fresh service over the same 100,000 memories (100 users, hash embedder):
- Debian's `hey` at 10 workers x 50/s (500 req/s offered) on `/healthz`, on adds and on a hot search,
  with the server's own mean for the same requests (the HTTP duration histogram's sum / count), so
  what the client sees and what the server spends are side by side; and `hey` at 1 worker x 500/s on
  `/healthz` and adds (the same offered rate, evenly spaced instead of in bursts of 10);
- the project's Python generator (`loadgen.open_loop`) at the same 500/s on `/healthz` and adds: it
  shares the two cores with the server and its own per-request cost lands in every latency it reports;
- `wrk` at 32 connections, 20 % adds / 80 % Zipf searches: throughput at saturation and its p99.
Builds alternate within each round (the machine is shared and noisy); medians over rounds are reported,
with the add/healthz ratio computed within each run before taking the median.
"""

from __future__ import annotations

import asyncio
import random
import statistics
from pathlib import Path
from typing import Any

from jean_memory_dev.perf.baseline import Samples, delta, scrape, total
from jean_memory_dev.perf.goals.builds import Build, copy_of, seed
from jean_memory_dev.perf.heyrun import run_hey
from jean_memory_dev.perf.loadgen import open_loop
from jean_memory_dev.perf.workload import sentence
from jean_memory_dev.perf.wrkrun import run_wrk

USERS, PER_USER = 100, 1000
WORKERS, RATE_PER_WORKER = 10, 50.0
HTTP = "http_server_request_duration_seconds"


def _server_mean_ms(before: Samples, after: Samples) -> float | None:
    d = delta(before, after)
    count = total(d, f"{HTTP}_count")
    return round(total(d, f"{HTTP}_sum") / count * 1000, 3) if count else None


def _hey(
    url: str, path: str, seconds: float, body: dict[str, Any] | None = None, workers: int = WORKERS
) -> dict[str, Any]:
    """`workers` x (500/s / workers): hey's workers start together and tick on aligned timers, so 10
    workers send bursts of 10 requests every 20 ms, while one worker spaces 500/s evenly."""
    before = scrape(url)
    r = run_hey(
        url + path,
        workers=workers,
        rate_per_worker=WORKERS * RATE_PER_WORKER / workers,
        seconds=seconds,
        method="POST" if body else "GET",
        body=body,
    )
    return r | {"server_mean_ms": _server_mean_ms(before, scrape(url))}


def _ours(url: str, what: str, seconds: float) -> dict[str, Any]:
    rng = random.Random(3)

    def make(n: int) -> tuple[str, str, Any]:
        if what == "healthz":
            return ("GET", "/healthz", None)
        return ("POST", "/v1/memories", {"user_id": f"bench{1 + n % USERS}", "content": sentence(rng)})

    before = scrape(url)
    result = asyncio.run(open_loop(url, make, WORKERS * RATE_PER_WORKER, seconds, what))
    return result.summary() | {"server_mean_ms": _server_mean_ms(before, scrape(url))}


def one_round(build: Build, data: Path, seconds: float) -> dict[str, Any]:
    svc = build.service(data).start(timeout_s=300)
    try:
        url = svc.url
        add = {"user_id": "bench1", "content": "lunch with my sister on friday in paris"}
        search = {"user_id": "bench1", "query": "sister paris", "k": 10}
        for path, body in (("/healthz", None), ("/v1/memories", add), ("/v1/search", search)):  # warm up
            run_hey(url + path, workers=2, rate_per_worker=50, seconds=1, method="POST" if body else "GET", body=body)
        out: dict[str, Any] = {
            "hey": {
                "healthz": _hey(url, "/healthz", seconds),
                "add": _hey(url, "/v1/memories", seconds, add),
                "search_hot": _hey(url, "/v1/search", seconds, search),
                "healthz_after": _hey(url, "/healthz", seconds),
            },
            "hey1": {
                "healthz": _hey(url, "/healthz", seconds, workers=1),
                "add": _hey(url, "/v1/memories", seconds, add, workers=1),
            },
            "ours": {"healthz": _ours(url, "healthz", seconds), "add": _ours(url, "add", seconds)},
        }
        env = {"JM_USERS": str(USERS), "JM_QUERIES": "1000", "JM_ADD_SHARE": "0.2"}
        run_wrk(url, "zipf.lua", 32, 2, env)  # warm the caches
        out["mixed_32"] = run_wrk(url, "zipf.lua", 32, seconds, env | {"JM_STATUSES": "1"})
    finally:
        svc.stop()
    return out


def run(builds: list[Build], work: Path, rounds: int, seconds: float) -> dict[str, Any]:
    rng = random.Random(1)
    users = {f"bench{u}": [{"content": sentence(rng)} for _ in range(PER_USER)] for u in range(1, USERS + 1)}
    seeded = {b.name: work / f"idle-seed-{i}" for i, b in enumerate(builds)}
    seed_s = {b.name: round(seed(b, seeded[b.name], users, {}), 1) for b in builds}
    runs: dict[str, list[dict[str, Any]]] = {b.name: [] for b in builds}
    for r in range(rounds):
        for i, b in enumerate(builds):
            runs[b.name].append(one_round(b, copy_of(seeded[b.name], work / f"idle-{i}-{r}"), seconds))
    return {
        "memories": USERS * PER_USER,
        "offered_rps": WORKERS * RATE_PER_WORKER,
        "seconds": seconds,
        "rounds": rounds,
        "seed_s": seed_s,
        "builds": {name: summarise(rs) for name, rs in runs.items()},
        "runs": runs,
    }


def _median(values: list[float | None]) -> float | None:
    real = [v for v in values if v is not None]
    return round(statistics.median(real), 3) if real else None


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over rounds; ratios to healthz are taken within each round first."""
    out: dict[str, Any] = {}
    for gen in ("hey", "hey1", "ours"):
        for load in rounds[0][gen]:
            for key in ("p50_ms", "p99_ms", "server_mean_ms"):
                out[f"{gen}.{load}.{key}"] = _median([r[gen][load][key] for r in rounds])
        out[f"{gen}.add_over_healthz_p50"] = _median(
            [r[gen]["add"]["p50_ms"] / r[gen]["healthz"]["p50_ms"] for r in rounds]
        )
    out["hey.search_over_healthz_p50"] = _median(
        [r["hey"]["search_hot"]["p50_ms"] / r["hey"]["healthz"]["p50_ms"] for r in rounds]
    )
    for key in ("rps", "p50_ms", "p99_ms", "error_rate"):
        out[f"mixed_32.{key}"] = _median([r["mixed_32"][key] for r in rounds])
    out["mixed_32.rps_runs"] = [round(r["mixed_32"]["rps"]) for r in rounds]
    out["mixed_32.p99_runs"] = [round(r["mixed_32"]["p99_ms"], 1) for r in rounds]
    return out


def table(report: dict[str, Any]) -> str:
    names = list(report["builds"])
    lines = ["| measurement (median of rounds) | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    rows = [
        ("hey /healthz p50 / p99 ms", "hey.healthz.p50_ms", "hey.healthz.p99_ms"),
        ("hey add p50 / p99 ms", "hey.add.p50_ms", "hey.add.p99_ms"),
        ("hey hot search p50 / p99 ms", "hey.search_hot.p50_ms", "hey.search_hot.p99_ms"),
        ("hey add / healthz p50 (goal <= 1.3)", "hey.add_over_healthz_p50", None),
        ("server mean: healthz / add ms", "hey.healthz.server_mean_ms", "hey.add.server_mean_ms"),
        ("hey, 1 worker x 500/s (evenly spaced): /healthz p50 / p99 ms", "hey1.healthz.p50_ms", "hey1.healthz.p99_ms"),
        ("hey, 1 worker x 500/s: add p50 / p99 ms", "hey1.add.p50_ms", "hey1.add.p99_ms"),
        ("hey, 1 worker x 500/s: add / healthz p50", "hey1.add_over_healthz_p50", None),
        ("our generator /healthz p50 / p99 ms", "ours.healthz.p50_ms", "ours.healthz.p99_ms"),
        ("our generator add p50 / p99 ms", "ours.add.p50_ms", "ours.add.p99_ms"),
        ("our generator add / healthz p50", "ours.add_over_healthz_p50", None),
        ("mixed 20/80 Zipf, 32 conn: req/s (goal >= 4000)", "mixed_32.rps", "mixed_32.rps_runs"),
        ("mixed 20/80 Zipf, 32 conn: p50 / p99 ms (goal p99 <= 20)", "mixed_32.p50_ms", "mixed_32.p99_ms"),
    ]
    for label, a, b in rows:
        cells = []
        for name in names:
            s = report["builds"][name]
            cells.append(f"{s[a]}" + (f" / {s[b]}" if b else ""))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
