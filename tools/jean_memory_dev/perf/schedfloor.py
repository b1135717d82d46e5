"""The machine's own floor under a small request: how late a woken process runs while other work is busy.

`loopbench`'s control probes an idle service beside the loaded one and finds its p99 more than doubled
during the batches. This takes the service out altogether: two processes play ping-pong over a loopback
TCP connection (one byte each way, every `PROBE_EVERY_S`, the probe's wait being the time both sides take
to be woken and run), first with nothing else running, then beside busy processes that compute and sleep
in turns of a millisecond or two (about the share of the two cores a loaded service and its client take),
run with the normal, batch or idle scheduling policy. What the probes wait there is the kernel's and the
hypervisor's: no request handler, interpreter lock or event loop is on their path, so no change to the
service can take it away.

    jean-memory-dev schedfloor --rounds 3 --seconds 4 --load 2 --save NAME
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import socket
import time
from typing import Any

from jean_memory_dev.perf.loopbench import quantiles

PROBE_EVERY_S = 0.005
#: The busy processes' turns: compute for BUSY_S, then sleep for IDLE_S (seconds, drawn uniformly).
BUSY_S = (0.0005, 0.003)
IDLE_S = (0.0003, 0.002)
POLICIES = {"normal": os.SCHED_OTHER, "batch": os.SCHED_BATCH, "idle": os.SCHED_IDLE}


def _busy(seed: int, seconds: float, policy: int) -> None:
    os.sched_setscheduler(0, policy, os.sched_param(0))
    rng = random.Random(seed)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        until = time.perf_counter() + rng.uniform(*BUSY_S)
        while time.perf_counter() < until:
            pass
        time.sleep(rng.uniform(*IDLE_S))


def _echo(listener: socket.socket) -> None:
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while data := conn.recv(16):
        conn.sendall(data)


def probe(seconds: float, load: int, policy: int) -> list[float]:
    """Round trips (seconds) for `seconds`, beside `load` busy processes of the given policy."""
    listener = socket.create_server(("127.0.0.1", 0))
    echo = mp.Process(target=_echo, args=(listener,), daemon=True)
    echo.start()
    busy = [mp.Process(target=_busy, args=(n, seconds + 0.5, policy), daemon=True) for n in range(load)]
    for p in busy:
        p.start()
    waits: list[float] = []
    with socket.create_connection(listener.getsockname()) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        time.sleep(0.2)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            start = time.perf_counter()
            conn.sendall(b"x")
            conn.recv(16)
            waits.append(time.perf_counter() - start)
            time.sleep(PROBE_EVERY_S)
    for p in busy:
        p.join()
    echo.join(5)
    listener.close()
    return waits


def run(rounds: int = 3, seconds: float = 4.0, load: int = 2) -> dict[str, Any]:
    """Idle, then beside `load` busy processes under each policy; rounds interleaved."""
    cases = [("idle machine", 0, os.SCHED_OTHER)] + [(f"{load} busy, {name}", load, p) for name, p in POLICIES.items()]
    out: dict[str, Any] = {"rounds": [], "load": load, "seconds": seconds, "busy_s": BUSY_S, "idle_s": IDLE_S}
    pooled: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    for n in range(rounds):
        for name, busy, policy in cases if n % 2 == 0 else list(reversed(cases)):
            waits = probe(seconds, busy, policy)
            pooled[name] += waits
            measured = quantiles(waits)
            out["rounds"].append({"round": n, "case": name, **measured})
            print(f"  round {n} {name}: " + _fmt(measured), flush=True)
    out["pooled"] = {name: quantiles(waits) for name, waits in pooled.items()}
    return out


def _fmt(q: dict[str, float]) -> str:
    return f"p50 {q['p50_ms']:.3f} / p99 {q['p99_ms']:.3f} / max {q['max_ms']:.3f} ms ({q['n']} probes)"


def table(report: dict[str, Any]) -> str:
    lines = ["| case | p50 / p99 / max (ms) |", "|---|---|"]
    for name, q in report["pooled"].items():
        lines.append(f"| {name} | {q['p50_ms']:.3f} / {q['p99_ms']:.3f} / {q['max_ms']:.3f} |")
    return "\n".join(lines)
