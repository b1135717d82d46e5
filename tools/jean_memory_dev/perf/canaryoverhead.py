"""What the synthetic user (the canary) costs, stated beside today's telemetry overhead.

A throughput A/B on the mixed load cannot resolve it: the mix's throughput moves by about 5 points between
runs on this shared machine, and a canary round every production interval is a handful of requests against
thousands a second. So the cost is measured by its accounts, on one service process (hash embedder, lean
telemetry, as the mix runs it), in three phases of the same length:

1. the service alone, idle: its own background work, the baseline;
2. the service with a canary whose interval is long enough that it only idles after its first round: the
   canary process's own cost between rounds (its metrics server, its event loop);
3. the service with a canary at a short interval: every round's cost, in the service (its CPU over the
   baseline) and in the canary (its CPU over its idle), per round.

Scaled to the production interval (alerts/thresholds.yaml, `canary.interval_seconds`), the canary costs
`per-round CPU / interval + idle CPU` seconds of CPU a second. Counted against one core (the service's
event loop, which bounds the mix), that is an upper bound on the points of the mix's throughput it can take:
the canary process runs on the other core in practice.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from jean_memory_dev.mixin import load
from jean_memory_dev.processes import CanaryProcess, ServiceProcess, cpu_seconds, free_port

LEAN = {"JM_TELEMETRY": "lean", "JM_TRACE_SAMPLE_RATIO": "0.1"}
#: The idle canary's interval: after its first round it only waits.
IDLE_INTERVAL_S = 3600.0


def _canary_counts(canary: CanaryProcess) -> tuple[float, float]:
    """(rounds, requests) the canary has made, from its own metrics."""
    rounds = requests = 0.0
    for family in text_string_to_metric_families(httpx.get(canary.metrics_url, timeout=10).text):
        for sample in family.samples:
            if sample.name == "jm_canary_rounds_total":
                rounds += sample.value
            elif sample.name == "jm_canary_request_duration_seconds_count":
                requests += sample.value
    return rounds, requests


def _window(pids: list[int], seconds: float) -> tuple[list[float], float]:
    """CPU seconds each process used over `seconds` of wall time, and the wall time."""
    before = [cpu_seconds(p) for p in pids]
    start = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - start
    return [cpu_seconds(p) - b for p, b in zip(pids, before, strict=True)], elapsed


def run(seconds: float = 60.0, interval_s: float = 1.0) -> dict[str, Any]:
    production_s = load().canary.schedule(False)[0]
    work = Path(tempfile.mkdtemp(prefix="jm-canary-overhead-"))
    svc = ServiceProcess(work / "data", env=LEAN).start(timeout_s=300)
    assert svc.proc is not None
    service = svc.proc.pid
    try:
        time.sleep(5)  # the start's own work out of the baseline
        (idle_service,), elapsed = _window([service], seconds)
        baseline = idle_service / elapsed

        idle = CanaryProcess(svc.url, free_port(), work / "canary-idle.log", schedule=(IDLE_INTERVAL_S, 30.0))
        idle.start()
        try:
            time.sleep(5)  # its first round, then nothing until the interval
            assert idle.proc is not None
            (_, idle_canary), elapsed = _window([service, idle.proc.pid], seconds)
            canary_idle = idle_canary / elapsed
        finally:
            idle.stop()

        busy = CanaryProcess(svc.url, free_port(), work / "canary.log", schedule=(interval_s, 30.0)).start()
        try:
            time.sleep(2 * interval_s + 2)
            assert busy.proc is not None
            rounds0, requests0 = _canary_counts(busy)
            (service_cpu, canary_cpu), elapsed = _window([service, busy.proc.pid], seconds)
            rounds1, requests1 = _canary_counts(busy)
        finally:
            busy.stop()
    finally:
        svc.terminate()
        shutil.rmtree(work, ignore_errors=True)
    rounds, requests = rounds1 - rounds0, requests1 - requests0
    service_per_round = max(0.0, service_cpu - baseline * elapsed) / rounds
    canary_per_round = max(0.0, canary_cpu - canary_idle * elapsed) / rounds
    at_production = (service_per_round + canary_per_round) / production_s + canary_idle
    return {
        "seconds": seconds,
        "measured_interval_s": interval_s,
        "production_interval_s": production_s,
        "rounds": rounds,
        "requests_per_round": requests / rounds,
        "service_idle_cpu_s_per_s": baseline,
        "canary_idle_cpu_s_per_s": canary_idle,
        "service_cpu_ms_per_round": 1000 * service_per_round,
        "canary_cpu_ms_per_round": 1000 * canary_per_round,
        "cpu_s_per_s_at_production_interval": at_production,
        "points_of_one_core_at_production_interval": 100 * at_production,
        "requests_per_s_at_production_interval": requests / rounds / production_s,
    }


def table(r: dict[str, Any]) -> str:
    return "\n".join(
        [
            "| measure | value |",
            "|---|---|",
            f"| rounds measured (interval {r['measured_interval_s']:g} s, {r['seconds']:g} s) | {r['rounds']:.0f} |",
            f"| requests a round | {r['requests_per_round']:.1f} |",
            f"| service CPU a round | {r['service_cpu_ms_per_round']:.2f} ms |",
            f"| canary process CPU a round | {r['canary_cpu_ms_per_round']:.2f} ms |",
            f"| canary process CPU idle | {1000 * r['canary_idle_cpu_s_per_s']:.3f} ms/s |",
            f"| at the production interval ({r['production_interval_s']:g} s): requests | "
            f"{r['requests_per_s_at_production_interval']:.3f} /s |",
            f"| at the production interval: CPU, points of one core | "
            f"{r['points_of_one_core_at_production_interval']:.3f} |",
        ]
    )
