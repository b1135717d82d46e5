"""Open-loop load at a constant offered rate, and closed-loop load at a fixed concurrency.

Latency is measured from each request's *scheduled* start, not from when the client got round to
sending it, so a stalled server cannot hide its queueing delay (no coordinated omission). Latency
figures are only meaningful below saturation; throughput is measured with `closed_loop`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

#: Builds request n: (method, path, json body or None).
RequestFactory = Callable[[int], tuple[str, str, Any]]


@dataclass
class LoadResult:
    name: str
    offered_rps: float | None
    duration_s: float
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.latencies_s) + self.errors

    @property
    def achieved_rps(self) -> float:
        return self.count / self.duration_s if self.duration_s else 0.0

    def pct(self, q: float) -> float:
        """Latency percentile in milliseconds."""
        return float(np.percentile(self.latencies_s, q) * 1000) if self.latencies_s else float("nan")

    @property
    def error_rate(self) -> float:
        bad = sum(n for s, n in self.statuses.items() if s >= 500 or s == 429) + self.errors
        return bad / self.count if self.count else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "offered_rps": self.offered_rps,
            "achieved_rps": round(self.achieved_rps, 1),
            "requests": self.count,
            "p50_ms": round(self.pct(50), 3),
            "p95_ms": round(self.pct(95), 3),
            "p99_ms": round(self.pct(99), 3),
            "mean_ms": round(float(np.mean(self.latencies_s)) * 1000, 3) if self.latencies_s else None,
            "error_rate": round(self.error_rate, 5),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }


async def _send(client: httpx.AsyncClient, make: RequestFactory, n: int, result: LoadResult, start: float) -> None:
    method, path, body = make(n)
    try:
        r = await client.request(method, path, json=body)
        result.statuses[r.status_code] = result.statuses.get(r.status_code, 0) + 1
        if r.status_code < 400:
            result.latencies_s.append(time.perf_counter() - start)
        else:
            result.errors += 1
    except httpx.HTTPError:
        result.errors += 1


async def open_loop(
    url: str,
    make: RequestFactory,
    rate: float,
    duration_s: float,
    name: str = "",
    max_connections: int = 64,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """Send `rate` requests per second for `duration_s`, each at its scheduled time (with `headers`)."""
    result = LoadResult(name, rate, duration_s)
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30, headers=headers) as client:
        await client.get("/healthz")  # open a connection before the clock starts
        tasks: list[asyncio.Task[None]] = []
        t0 = time.perf_counter()
        total = int(rate * duration_s)
        for n in range(total):
            scheduled = t0 + n / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_send(client, make, n, result, scheduled)))
        await asyncio.gather(*tasks)
        result.duration_s = time.perf_counter() - t0
    return result


async def closed_loop(
    url: str, make: RequestFactory, concurrency: int, duration_s: float, name: str = ""
) -> LoadResult:
    """`concurrency` workers each sending back to back for `duration_s`: throughput at saturation."""
    result = LoadResult(name, None, duration_s)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    counter = iter(range(10**9))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        await client.get("/healthz")
        t0 = time.perf_counter()
        stop = t0 + duration_s

        async def worker() -> None:
            while time.perf_counter() < stop:
                await _send(client, make, next(counter), result, time.perf_counter())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.duration_s = time.perf_counter() - t0
    return result
