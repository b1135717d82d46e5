"""An MCP tool call beside the same operation over `/v1`, at a stated offered rate.

`jean-memory-dev mcpbench` starts one embedded service (hash embedder, so the model is not what is
measured), seeds hot users through the API, then offers each operation at `rate` requests/s for
`seconds`, open loop (each request timed from its scheduled start), once as a `/v1` request and once
as an MCP `tools/call` (one stateless Streamable HTTP POST to `/mcp`) in each protocol era (`PATHS`);
the paths run back to back within a round, each path first in one round, and rounds are interleaved,
so a noisy neighbour touches both alike. A run's CPU time lasts until the service has settled (every
vector indexed, every row shipped): an add's background work is counted to it, not to the run after.
The median of the rounds is reported, with the MCP/`/v1` ratios of the p50, the p99 and the service's
CPU time per request (its process's user+system time over the run).

Operations: `search` (a hot, resident user), `add` (one memory), `get` (a known memory by id).

`generator="hey"` offers the load with Debian's `hey` instead (`HEY_WORKERS` paced workers, each on its
keep-alive connection), the independent check of the Python generator: hey sends one request again and
again, so each path repeats its first request (an add stores the same text each time).
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from jean_memory_dev.perf.baseline import machine_facts
from jean_memory_dev.perf.goals.builds import add_batches, settle
from jean_memory_dev.perf.heyrun import run_hey
from jean_memory_dev.perf.lifecyclebench import memory_id, text
from jean_memory_dev.perf.loadgen import RequestFactory, open_loop
from jean_memory_dev.processes import ServiceProcess, cpu_seconds

ENV = {"JM_EMBEDDER": "hash", "JM_TRACE_SAMPLE_RATIO": "0.1"}
HOT_USERS, PER_USER = 50, 100
OPERATIONS = ("search", "add", "get")
#: The two protocol eras a client may speak, by the header it sends with every request: `mcp` is
#: 2026-07-28 (what the official SDK's 2.x client negotiates: one stateless exchange, the client's
#: version and capabilities in each request's `_meta`); `mcp-2025` is 2025-06-18 after its handshake
#: (what most desktop clients send today; the SDK serves it with a transport and a task per request).
MODERN, HANDSHAKE = "2026-07-28", "2025-06-18"
PATHS = ("v1", "mcp", "mcp-2025")
ACCEPT = "application/json, text/event-stream"
TOOL = {"search": "search_memories", "add": "add_memories", "get": "get_memory"}


def headers(path: str, op: str) -> dict[str, str] | None:
    """What a client sends with each request of `op` on `path` (the modern era routes on `Mcp-Method`/`Mcp-Name`)."""
    if path == "mcp":
        return {"Accept": ACCEPT, "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": TOOL[op]}
    if path == "mcp-2025":
        return {"Accept": ACCEPT, "MCP-Protocol-Version": HANDSHAKE}
    return None


_ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "mcpbench", "version": "1"},
}


def _tool(n: int, name: str, arguments: dict[str, Any], modern: bool) -> tuple[str, str, Any]:
    """A `tools/call`; over the modern era its method and tool also travel as headers (`headers`)."""
    params: dict[str, Any] = {"name": name, "arguments": arguments}
    if modern:
        params["_meta"] = _ENVELOPE
    return ("POST", "/mcp", {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": params})


def factories(round_no: int) -> dict[str, dict[str, RequestFactory]]:
    """Request n of each operation on each path; adds get texts unique per round and path."""

    def user(n: int) -> str:
        return f"hot{n % HOT_USERS}"

    def known(n: int) -> str:
        return memory_id(n % HOT_USERS, (n * 7919) % PER_USER)

    def new(n: int, path: str) -> str:
        return f"{text(n)} ({round_no}.{path}.{n})"

    def tools(modern: bool, path: str) -> dict[str, RequestFactory]:
        return {
            "search": lambda n: _tool(n, TOOL["search"], {"user_id": user(n), "query": text(n % 40)}, modern),
            "add": lambda n: _tool(n, TOOL["add"], {"user_id": user(n), "content": new(n, path)}, modern),
            "get": lambda n: _tool(n, TOOL["get"], {"user_id": user(n), "id": known(n)}, modern),
        }

    v1: dict[str, RequestFactory] = {
        "search": lambda n: ("POST", "/v1/search", {"user_id": user(n), "query": text(n % 40)}),
        "add": lambda n: ("POST", "/v1/memories", {"user_id": user(n), "content": new(n, "v1")}),
        "get": lambda n: ("GET", f"/v1/memories/{known(n)}?user_id={user(n)}", None),
    }
    return {op: {"v1": v1[op], "mcp": tools(True, "mcp")[op], "mcp-2025": tools(False, "mcp-2025")[op]}
            for op in OPERATIONS}  # fmt: skip


def seed(url: str) -> None:
    """The hot users, 100 memories each with known ids, resident (searched once)."""
    with httpx.Client(base_url=url, timeout=600) as client:
        for u in range(HOT_USERS):
            items = [{"id": memory_id(u, i), "content": text(u * PER_USER + i)} for i in range(PER_USER)]
            add_batches(client, f"hot{u}", items)
    settle(url)
    with httpx.Client(base_url=url, timeout=60) as client:
        for u in range(HOT_USERS):
            client.post("/v1/search", json={"user_id": f"hot{u}", "query": "warm"}).raise_for_status()


def check_tools(url: str) -> None:
    """Every MCP request the load sends must succeed as a tool call, not only as HTTP (a tool error is a 200)."""
    with httpx.Client(base_url=url, timeout=30) as client:
        for op, paths in factories(-1).items():
            for path in PATHS[1:]:
                method, route, body = paths[path](1)
                answer = client.request(method, route, json=body, headers=headers(path, op)).json()
                if "error" in answer or answer["result"].get("isError"):
                    raise RuntimeError(f"mcpbench: the {op} tool call over {path} failed: {answer}")


#: hey's workers at the offered rate: each paced at rate / HEY_WORKERS.
HEY_WORKERS = 8


def _offer(url: str, make: RequestFactory, rate: float, seconds: float, name: str, hdrs: dict[str, str] | None,
           generator: str) -> dict[str, Any]:  # fmt: skip
    """One run's summary (its `requests` counted), from the chosen generator."""
    if generator == "hey":
        method, route, body = make(1)
        row = run_hey(url + route, workers=HEY_WORKERS, rate_per_worker=rate / HEY_WORKERS, seconds=seconds,
                      method=method, body=body, headers=hdrs)  # fmt: skip
        return {**row, "name": name}
    return asyncio.run(open_loop(url, make, rate, seconds, name, headers=hdrs)).summary()


def run(
    rounds: int = 3, seconds: float = 5.0, rate: float = 500.0, progress: Callable[[str], None] | None = None,
    generator: str = "python",
) -> dict[str, Any]:  # fmt: skip
    progress = progress or _say
    work = Path(tempfile.mkdtemp(prefix="jm-mcpbench-"))
    svc = ServiceProcess(work / "data", env=ENV).start(timeout_s=300)
    assert svc.proc is not None
    rows: dict[str, list[dict[str, Any]]] = {f"{op} {path}": [] for op in OPERATIONS for path in PATHS}
    try:
        progress(f"seeding {HOT_USERS} x {PER_USER} hot memories")
        seed(svc.url)
        check_tools(svc.url)
        for r in range(rounds):
            for op, paths in factories(r).items():
                for path in PATHS[r % len(PATHS) :] + PATHS[: r % len(PATHS)]:  # each path first in turn
                    cpu = cpu_seconds(svc.proc.pid)
                    row = _offer(svc.url, paths[path], rate, seconds, f"{op} {path}", headers(path, op), generator)
                    settle(svc.url)  # the run's own background work (embedding, shipping) is its cost, not the next's
                    spent = cpu_seconds(svc.proc.pid) - cpu
                    row["cpu_ms_per_request"] = round(spent * 1000 / max(1, row["requests"]), 4)
                    rows[f"{op} {path}"].append(row)
                    progress(f"round {r + 1} {op} over {path}: p50 {row['p50_ms']:.2f} ms p99 {row['p99_ms']:.2f} ms "
                             f"cpu {row['cpu_ms_per_request']:.3f} ms/req")  # fmt: skip
    finally:
        svc.terminate()
        shutil.rmtree(work, ignore_errors=True)
    summary = {name: _median(rs) for name, rs in rows.items()}
    ratios = {
        f"{op} {path}": {
            key: round(summary[f"{op} {path}"][key] / base, 3) if (base := summary[f"{op} v1"][key]) else None
            for key in ("p50_ms", "p99_ms", "cpu_ms_per_request")
        }
        for op in OPERATIONS
        for path in PATHS[1:]
    }
    return {
        "machine": machine_facts(),
        "generator": generator,
        "rate": rate,
        "seconds": seconds,
        "rounds": rounds,
        "operations": summary,
        "mcp_vs_v1": ratios,
        "raw": rows,
    }


def _say(line: str) -> None:
    print(line, flush=True)


def _median(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("achieved_rps", "p50_ms", "p95_ms", "p99_ms", "error_rate", "cpu_ms_per_request")
    return {k: round(statistics.median(r[k] for r in rows), 4) for k in keys}


def table(report: dict[str, Any]) -> str:
    lines = [
        f"MCP tool call vs /v1 at {report['rate']:g}/s offered by {report.get('generator', 'python')}, hash embedder, "
        f"median of {report['rounds']} rounds "
        f"of {report['seconds']:g} s",
        "",
        "| operation | path | achieved/s | p50 ms | p99 ms | CPU ms/req | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in report["operations"].items():
        op, path = name.split(" ")
        lines.append(
            f"| {op} | {path} | {r['achieved_rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['cpu_ms_per_request']:.3f} | {r['error_rate']:.3%} |"
        )
    lines += ["", "| operation, path | p50 vs v1 | p99 vs v1 | CPU/req vs v1 |", "|---|---|---|---|"]
    for name, ratio in report["mcp_vs_v1"].items():
        lines.append(f"| {name} | {ratio['p50_ms']} | {ratio['p99_ms']} | {ratio['cpu_ms_per_request']} |")
    return "\n".join(lines)
