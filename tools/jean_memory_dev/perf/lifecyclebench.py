"""The memory lifecycle's operations at a stated offered rate, next to today's add and search.

`jean-memory-dev lifecyclebench` starts one embedded service (hash embedder, so the model is not what
is measured), seeds it through the API, then offers each operation at `rate` requests/s for `seconds`,
open loop (each request timed from its scheduled start), with `/healthz` as the yardstick; the
operations run one after the other in each round and the rounds are interleaved, so a noisy neighbour
touches every operation alike; the median of the rounds is reported.

Operations: `healthz`; `add` (plain) and `add expires_at` (with an expiry a day away); `add dedupe`
(`"dedupe": true`: embeds on the write path to compare); `search` (hot: the user is resident); `get`;
`patch metadata` (a new version, no re-embedding); `patch content` (a new version, re-embedded);
`history` (a memory with a few versions); `export` (a user's 100 memories, streamed NDJSON); `forget`
(`DELETE /v1/memories?user_id=`: each request forgets a fresh user holding 5 memories).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from jean_memory_dev.perf.baseline import machine_facts
from jean_memory_dev.perf.goals.builds import add_batches, settle
from jean_memory_dev.perf.loadgen import RequestFactory, open_loop
from jean_memory_dev.perf.workload import sentence
from jean_memory_dev.processes import ServiceProcess

ENV = {"JM_EMBEDDER": "hash", "JM_TRACE_SAMPLE_RATIO": "0.1"}
HOT_USERS, PER_USER = 50, 100
FORGET_MEMORIES = 5
OPERATIONS = (
    "healthz",
    "add",
    "add expires_at",
    "add dedupe",
    "search",
    "get",
    "patch metadata",
    "patch content",
    "history",
    "export",
    "forget",
)


def text(n: int) -> str:
    """The n-th text: eight words, the same for the same n."""
    return sentence(random.Random(n))


def memory_id(user: int, i: int) -> str:
    """The i-th seeded memory of hot user `user`: a UUID (the API's ids are), the same every run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"jean-memory/lifecyclebench/{user}/{i}"))


def _hot(n: int) -> tuple[str, str]:
    """The n-th request's hot user and one of its memories."""
    u = n % HOT_USERS
    return f"hot{u}", memory_id(u, (n * 7919) % PER_USER)


def factories(round_no: int, far_future: int) -> dict[str, RequestFactory]:
    """Request n of each operation; ids made unique per round so that adds create and forgets find."""
    r = round_no

    def patch(n: int, body: dict[str, Any]) -> tuple[str, str, Any]:
        user, mid = _hot(n)
        return ("PATCH", f"/v1/memories/{mid}?user_id={user}", body)

    return {
        "healthz": lambda n: ("GET", "/healthz", None),
        "add": lambda n: ("POST", "/v1/memories", {"user_id": f"hot{n % HOT_USERS}", "content": text(n)}),
        "add expires_at": lambda n: (
            "POST",
            "/v1/memories",
            {"user_id": f"hot{n % HOT_USERS}", "content": text(n + 1), "expires_at": far_future},
        ),
        "add dedupe": lambda n: (
            "POST",
            "/v1/memories",
            {"user_id": f"hot{n % HOT_USERS}", "content": text(n + 2), "dedupe": True},
        ),
        "search": lambda n: ("POST", "/v1/search", {"user_id": f"hot{n % HOT_USERS}", "query": text(n % 40)}),
        "get": lambda n: ("GET", "/v1/memories/{1}?user_id={0}".format(*_hot(n)), None),
        "patch metadata": lambda n: patch(n, {"metadata": {"round": r, "n": n}}),
        "patch content": lambda n: patch(n, {"content": f"{text(n + 3)} (revised in round {r})"}),
        "history": lambda n: ("GET", "/v1/memories/{1}/history?user_id={0}".format(*_hot(n)), None),
        "export": lambda n: ("GET", f"/v1/memories/export?user_id=hot{n % HOT_USERS}", None),
        "forget": lambda n: ("DELETE", f"/v1/memories?user_id=gone{r}-{n}", None),
    }


def seed(url: str, forget: list[str]) -> None:
    """The hot users (100 memories each, ids known) and the users the forget runs remove."""
    with httpx.Client(base_url=url, timeout=600) as client:
        for u in range(HOT_USERS):
            items = [{"id": memory_id(u, i), "content": text(u * PER_USER + i)} for i in range(PER_USER)]
            add_batches(client, f"hot{u}", items)
        for name in forget:
            add_batches(client, name, [{"content": text(i)} for i in range(FORGET_MEMORIES)])
    settle(url)


def run(
    rounds: int = 3, seconds: float = 5.0, rate: float = 500.0, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="jm-lifecycle-"))
    per_round = int(rate * seconds)
    svc = ServiceProcess(work / "data", env=ENV).start(timeout_s=300)
    rows: dict[str, list[dict[str, Any]]] = {op: [] for op in OPERATIONS}
    try:
        progress(f"seeding {HOT_USERS} x {PER_USER} hot memories and {rounds * per_round} users to forget")
        seed(svc.url, [f"gone{r}-{n}" for r in range(rounds) for n in range(per_round)])
        far_future = int(time.time()) + 86_400
        with httpx.Client(base_url=svc.url, timeout=60) as client:  # warm every hot user (resident)
            for u in range(HOT_USERS):
                client.post("/v1/search", json={"user_id": f"hot{u}", "query": "warm"}).raise_for_status()
        for r in range(rounds):
            make = factories(r, far_future)
            for op in OPERATIONS:
                result = asyncio.run(open_loop(svc.url, make[op], rate, seconds, name=op))
                rows[op].append(result.summary())
                progress(f"round {r + 1} {op}: p50 {result.pct(50):.2f} ms p99 {result.pct(99):.2f} ms")
    finally:
        svc.terminate()
        shutil.rmtree(work, ignore_errors=True)
    summary = {op: _median(rs) for op, rs in rows.items()}
    healthz = summary["healthz"]["p50_ms"]
    for row in summary.values():
        row["p50_vs_healthz"] = round(row["p50_ms"] / healthz, 2) if healthz else None
    return {
        "machine": machine_facts(),
        "rate": rate,
        "seconds": seconds,
        "rounds": rounds,
        "operations": summary,
        "raw": rows,
    }


def _not_2xx(row: dict[str, Any]) -> float:
    """Share of answers that were not 2xx (a 404 would mean the bench measured the wrong thing)."""
    bad = sum(n for status, n in row["statuses"].items() if not 200 <= int(status) < 300)
    return bad / row["requests"] if row["requests"] else 0.0


def _median(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("achieved_rps", "p50_ms", "p95_ms", "p99_ms", "error_rate")
    out = {k: round(statistics.median(r[k] for r in rows), 3) for k in keys}
    out["not_2xx"] = round(max(_not_2xx(r) for r in rows), 5)
    return out


def table(report: dict[str, Any]) -> str:
    lines = [
        f"Lifecycle operations at {report['rate']:g}/s offered, hash embedder, median of {report['rounds']} rounds "
        f"of {report['seconds']:g} s",
        "",
        "| operation | achieved/s | p50 ms | p99 ms | p50 / healthz | errors | not 2xx |",
        "|---|---|---|---|---|---|---|",
    ]
    for op, r in report["operations"].items():
        lines.append(
            f"| {op} | {r['achieved_rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['p50_vs_healthz']} | {r['error_rate']:.3%} | {r['not_2xx']:.3%} |"
        )
    return "\n".join(lines)
