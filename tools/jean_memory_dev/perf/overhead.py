"""The telemetry overhead benchmark: the same workloads with telemetry off, lean (ours) and stock.

`stock` is OpenTelemetry's FastAPI instrumentation with the same tracer provider and sampler.
Each variant is a fresh service process (hash embedder, so the model is not the bottleneck) driven
by wrk at a fixed concurrency (throughput at saturation, with p50/p99 at that load); variants are
interleaved round by round and the median of the rounds is reported, because this machine is shared
and noisy. Spans are made but not exported (no endpoint): the export happens off the request path,
and its CPU cost depends on where the collector runs.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from jean_memory_dev.perf.wrkrun import run_wrk
from jean_memory_dev.processes import ServiceProcess

VARIANTS: dict[str, dict[str, str]] = {
    "off": {"JM_TELEMETRY": "off"},
    "lean (sample 0.1)": {"JM_TELEMETRY": "lean", "JM_TRACE_SAMPLE_RATIO": "0.1"},
    "lean (sample 0.01)": {"JM_TELEMETRY": "lean", "JM_TRACE_SAMPLE_RATIO": "0.01"},
    "lean (sample 1.0)": {"JM_TELEMETRY": "lean", "JM_TRACE_SAMPLE_RATIO": "1.0"},
    "stock otel (sample 0.1)": {"JM_TELEMETRY": "stock", "JM_TRACE_SAMPLE_RATIO": "0.1"},
}
WORKLOADS = ("trivial /healthz", "add+search mix")


def wrk(url: str, workload: str, connections: int, seconds: float) -> dict[str, float]:
    """Throughput and latency of one workload; the keys the overhead and sweep tables use."""
    if workload.startswith("trivial"):
        r = run_wrk(url, "report.lua", connections, seconds, path="/healthz")
    else:
        r = run_wrk(url, "mixed.lua", connections, seconds, {"JM_ADD_SHARE": "0.5", "JM_USERS": "50"})
    return {k: r[k] for k in ("rps", "p50_ms", "p99_ms", "error_rate")}


def run(rounds: int = 3, seconds: float = 5.0, connections: int = 16) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="jm-overhead-"))
    samples: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        for r in range(rounds):
            for name, env in VARIANTS.items():
                svc = ServiceProcess(workdir / f"{r}-{len(samples)}", env={"JM_EMBEDDER": "hash", **env}).start()
                try:
                    wrk(svc.url, WORKLOADS[1], connections, 1.0)  # warm up: caches, code paths
                    for workload in WORKLOADS:
                        samples.setdefault((name, workload), []).append(wrk(svc.url, workload, connections, seconds))
                finally:
                    svc.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results: dict[str, Any] = {"rounds": rounds, "seconds": seconds, "connections": connections, "rows": []}
    for workload in WORKLOADS:
        base = statistics.median(s["rps"] for s in samples[("off", workload)])
        for name in VARIANTS:
            runs = samples[(name, workload)]
            rps = statistics.median(s["rps"] for s in runs)
            results["rows"].append(
                {
                    "workload": workload,
                    "variant": name,
                    "rps": round(rps, 1),
                    "p50_ms": round(statistics.median(s["p50_ms"] for s in runs), 3),
                    "p99_ms": round(statistics.median(s["p99_ms"] for s in runs), 3),
                    "throughput_vs_off": round(rps / base, 3),
                    "error_rate": max(s["error_rate"] for s in runs),
                    "rps_runs": [round(s["rps"], 1) for s in runs],
                }
            )
    return results


def table(results: dict[str, Any]) -> str:
    lines = [
        "| workload | telemetry | req/s (median) | vs off | p50 ms | p99 ms | runs req/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        lines.append(
            f"| {row['workload']} | {row['variant']} | {row['rps']} | {row['throughput_vs_off']:.2f} | "
            f"{row['p50_ms']} | {row['p99_ms']} | {row['rps_runs']} |"
        )
    return "\n".join(lines)
