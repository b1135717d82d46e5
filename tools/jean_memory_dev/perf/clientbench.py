"""The Python client's cost per call over raw httpx (the goal: at most 0.2 ms), side by side in one run.

Two measurements, each for the blocking and the asyncio client and for get, add and search:

- `service`: against a real service (hash embedder, so the model is not what is timed). Raw httpx and
  the client alternate call by call, so the machine's drift (this machine is shared) falls on both; the
  overhead is the difference of the medians, shown beside the median of the paired differences (each
  client call less the raw call next to it) and the difference of the median CPU time this process
  spent per call (what the client adds is work in the caller's process; CPU time does not count the
  waits on a loaded machine, so it stays readable when wall times are noisy). Raw httpx sends the same
  request (an add carries an id, as the client's does) and parses the JSON; the client also builds its
  typed answer and runs each call under its retry controller.
- `in-process`: the same calls on `httpx.MockTransport` answering a recorded response: no network and
  no service, so only the client's own work is left in the difference, with no noise from the server.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from jean_memory_client import AsyncJeanMemory, JeanMemory
from jean_memory_dev.processes import ServiceProcess

USER = "clientbench"
OPERATIONS = ("get", "add", "search")
#: The goal from issue 23.
GOAL_MS = 0.2


def _raw_sync(http: httpx.Client, memory_id: str) -> dict[str, Callable[[], Any]]:
    def check(r: httpx.Response) -> Any:
        r.raise_for_status()
        return r.json()

    return {
        "get": lambda: check(http.get(f"/v1/memories/{memory_id}", params={"user_id": USER})),
        "add": lambda: check(
            http.post("/v1/memories", json={"user_id": USER, "content": "a fact", "id": str(uuid.uuid4())})
        ),
        "search": lambda: check(http.post("/v1/search", json={"user_id": USER, "query": "fact", "k": 5})),
    }


def _client_sync(m: JeanMemory, memory_id: str) -> dict[str, Callable[[], Any]]:
    return {
        "get": lambda: m.get(USER, memory_id),
        "add": lambda: m.add(USER, "a fact"),
        "search": lambda: m.search(USER, "fact", k=5),
    }


def _raw_async(http: httpx.AsyncClient, memory_id: str) -> dict[str, Callable[[], Awaitable[Any]]]:
    async def check(r: Awaitable[httpx.Response]) -> Any:
        response = await r
        response.raise_for_status()
        return response.json()

    return {
        "get": lambda: check(http.get(f"/v1/memories/{memory_id}", params={"user_id": USER})),
        "add": lambda: check(
            http.post("/v1/memories", json={"user_id": USER, "content": "a fact", "id": str(uuid.uuid4())})
        ),
        "search": lambda: check(http.post("/v1/search", json={"user_id": USER, "query": "fact", "k": 5})),
    }


def _client_async(m: AsyncJeanMemory, memory_id: str) -> dict[str, Callable[[], Awaitable[Any]]]:
    return {
        "get": lambda: m.get(USER, memory_id),
        "add": lambda: m.add(USER, "a fact"),
        "search": lambda: m.search(USER, "fact", k=5),
    }


def _ms(samples: list[Sample], which: int) -> float:
    return statistics.median(s[which] for s in samples) * 1000


def _row(mode: str, where: str, op: str, raw: list[Sample], client: list[Sample]) -> dict[str, Any]:
    raw_ms, client_ms = _ms(raw, 0), _ms(client, 0)
    paired = statistics.median(c[0] - r[0] for r, c in zip(raw, client, strict=True)) * 1000
    cpu = _ms(client, 1) - _ms(raw, 1)
    return {
        "mode": mode,
        "where": where,
        "operation": op,
        "calls": len(raw),
        "raw_httpx_median_ms": round(raw_ms, 4),
        "client_median_ms": round(client_ms, 4),
        "overhead_ms": round(client_ms - raw_ms, 4),
        "paired_overhead_median_ms": round(paired, 4),
        "raw_httpx_cpu_median_ms": round(_ms(raw, 1), 4),
        "client_cpu_median_ms": round(_ms(client, 1), 4),
        "cpu_overhead_ms": round(cpu, 4),
        "within_goal": client_ms - raw_ms <= GOAL_MS,
    }


#: (wall seconds, CPU seconds of this process) of one call.
Sample = tuple[float, float]
Timings = dict[str, tuple[list[Sample], list[Sample]]]


def _sync_pairs(raw: dict[str, Callable[[], Any]], client: dict[str, Callable[[], Any]], calls: int) -> Timings:
    out: Timings = {}
    for op in OPERATIONS:
        for _ in range(calls // 10):  # warm up both
            raw[op]()
            client[op]()
        times: tuple[list[Sample], list[Sample]] = ([], [])
        for i in range(calls * 2):
            which = (i + i // 2) % 2  # raw, client, client, raw, ...: neither always goes first
            fn = (raw, client)[which][op]
            cpu, start = time.process_time(), time.perf_counter()
            fn()
            times[which].append((time.perf_counter() - start, time.process_time() - cpu))
        out[op] = times
    return out


async def _async_pairs(
    raw: dict[str, Callable[[], Awaitable[Any]]], client: dict[str, Callable[[], Awaitable[Any]]], calls: int
) -> Timings:
    out: Timings = {}
    for op in OPERATIONS:
        for _ in range(calls // 10):
            await raw[op]()
            await client[op]()
        times: tuple[list[Sample], list[Sample]] = ([], [])
        for i in range(calls * 2):
            which = (i + i // 2) % 2
            fn = (raw, client)[which][op]
            cpu, start = time.process_time(), time.perf_counter()
            await fn()
            times[which].append((time.perf_counter() - start, time.process_time() - cpu))
        out[op] = times
    return out


def _recorded(url: str, memory_id: str) -> Callable[[httpx.Request], httpx.Response]:
    """The service's real answers, recorded once, replayed by a MockTransport."""
    with httpx.Client(base_url=url, timeout=30) as http:
        answers = {
            "GET": http.get(f"/v1/memories/{memory_id}", params={"user_id": USER}),
            "/v1/memories": http.post("/v1/memories", json={"user_id": USER, "content": "a fact"}),
            "/v1/search": http.post("/v1/search", json={"user_id": USER, "query": "fact", "k": 5}),
        }
    recorded = {k: (r.status_code, r.content) for k, r in answers.items()}

    def handler(request: httpx.Request) -> httpx.Response:
        status, body = recorded["GET" if request.method == "GET" else request.url.path]
        return httpx.Response(status, content=body, headers={"content-type": "application/json"})

    return handler


def run(calls: int = 2000) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="jm-clientbench-"))
    rows: list[dict[str, Any]] = []
    try:
        svc = ServiceProcess(workdir / "data", env={"JM_EMBEDDER": "hash"}).start()
        try:
            with JeanMemory(svc.url) as m:
                m.add_many(USER, [f"fact number {i}" for i in range(1000)])
                memory_id = m.add(USER, "the memory every get reads").id
            handler = _recorded(svc.url, memory_id)
            for where in ("service", "in-process"):
                transport: dict[str, Any] = {} if where == "service" else {"transport": httpx.MockTransport(handler)}
                with (
                    httpx.Client(base_url=svc.url, timeout=30, **transport) as http,
                    httpx.Client(base_url=svc.url, timeout=30, **transport) as inner,
                    JeanMemory(http_client=inner) as m,
                ):
                    pairs = _sync_pairs(_raw_sync(http, memory_id), _client_sync(m, memory_id), calls)
                rows += [_row("sync", where, op, *pairs[op]) for op in OPERATIONS]

                async def measure(transport: dict[str, Any] = transport) -> Timings:
                    async with (
                        httpx.AsyncClient(base_url=svc.url, timeout=30, **transport) as http,
                        httpx.AsyncClient(base_url=svc.url, timeout=30, **transport) as inner,
                    ):
                        m = AsyncJeanMemory(http_client=inner)
                        return await _async_pairs(_raw_async(http, memory_id), _client_async(m, memory_id), calls)

                pairs = asyncio.run(measure())
                rows += [_row("async", where, op, *pairs[op]) for op in OPERATIONS]
        finally:
            svc.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"calls_per_side": calls, "goal_overhead_ms": GOAL_MS, "rows": rows}


def table(results: dict[str, Any]) -> str:
    lines = [
        f"client overhead per call over raw httpx (medians of {results['calls_per_side']} calls each, interleaved)",
        "| client | against | operation | raw httpx ms | client ms | overhead ms | <= 0.2 ms | paired ms "
        "| CPU overhead ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["rows"]:
        lines.append(
            f"| {r['mode']} | {r['where']} | {r['operation']} | {r['raw_httpx_median_ms']:.3f} | "
            f"{r['client_median_ms']:.3f} | {r['overhead_ms']:+.3f} | {'yes' if r['within_goal'] else 'NO'} | "
            f"{r['paired_overhead_median_ms']:+.3f} | {r['cpu_overhead_ms']:+.3f} |"
        )
    return "\n".join(lines)
