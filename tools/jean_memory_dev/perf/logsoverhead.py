"""The overhead of exporting logs over OTLP, side by side with today's telemetry, on the mixed load.

Variants, interleaved round by round (this machine is shared and noisy; medians are reported), each a
fresh service process (hash embedder) driven by wrk on the add+search mix at a fixed concurrency:

- `off`: no telemetry, the baseline every share is taken against;
- `lean`: today's default (sample 0.1), nothing exported: the telemetry overhead already stated;
- `lean + OTLP` and `lean + OTLP + logs`: exporting traces and metrics to a receiver, with logs export off
  and on: their difference is what logs export adds on this load (which logs few lines: the slow-operation
  line and any refused request);
- the same pair with `JM_SLOW_OP_MS=0`, so that every operation writes its performance line: the bound for a
  load that logs on every request;
- compose's configuration: every trace sent (sample 1.0, for the collector's tail sampling) with logs.

"Points" are percentage points of the `off` throughput: `(1 - rps / rps_off) * 100`.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from jean_memory_dev.perf.otlpsink import CountingSink
from jean_memory_dev.perf.overhead import WORKLOADS, wrk
from jean_memory_dev.processes import ServiceProcess

LEAN = {"JM_TELEMETRY": "lean", "JM_TRACE_SAMPLE_RATIO": "0.1"}
EXPORT = {**LEAN, "OTEL_METRIC_EXPORT_INTERVAL": "15000"}  # compose's interval; the endpoint is the sink's
EVERY_OP = {"JM_SLOW_OP_MS": "0"}
VARIANTS: dict[str, dict[str, str]] = {
    "off": {"JM_TELEMETRY": "off"},
    "lean (no export)": LEAN,
    "lean + OTLP, logs off": {**EXPORT, "JM_OTLP_LOGS": "false"},
    "lean + OTLP + logs": {**EXPORT, "JM_OTLP_LOGS": "true"},
    "every op logged: lean + OTLP, logs off": {**EXPORT, **EVERY_OP, "JM_OTLP_LOGS": "false"},
    "every op logged: lean + OTLP + logs": {**EXPORT, **EVERY_OP, "JM_OTLP_LOGS": "true"},
    "compose: sample 1.0 + OTLP + logs": {**EXPORT, "JM_TRACE_SAMPLE_RATIO": "1.0", "JM_OTLP_LOGS": "true"},
}
EXPORTING = {name for name, env in VARIANTS.items() if "OTEL_METRIC_EXPORT_INTERVAL" in env}
#: (variant with logs export, the same without): the pairs whose difference is what logs export adds.
PAIRS = (
    ("lean + OTLP + logs", "lean + OTLP, logs off"),
    ("every op logged: lean + OTLP + logs", "every op logged: lean + OTLP, logs off"),
)


def run(rounds: int = 3, seconds: float = 5.0, connections: int = 16) -> dict[str, Any]:
    workload = WORKLOADS[1]
    workdir = Path(tempfile.mkdtemp(prefix="jm-logs-overhead-"))
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    sink = CountingSink()
    try:
        for r in range(rounds):
            for i, (name, env) in enumerate(VARIANTS.items()):
                full = {"JM_EMBEDDER": "hash", **env}
                if name in EXPORTING:
                    full["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.url
                svc = ServiceProcess(workdir / f"{r}-{i}", env=full).start()
                try:
                    wrk(svc.url, workload, connections, 1.0)  # warm up: caches, code paths
                    before = sink.snapshot()[1]
                    sample = wrk(svc.url, workload, connections, seconds)
                finally:
                    svc.stop()  # flushes its last batch of records into the sink
                sample["log_records"] = float(sink.snapshot()[1] - before)
                samples[name].append(sample)
    finally:
        sink.close()
        shutil.rmtree(workdir, ignore_errors=True)
    base = statistics.median(s["rps"] for s in samples["off"])
    rows = []
    points: dict[str, float] = {}
    for name in VARIANTS:
        runs = samples[name]
        rps = statistics.median(s["rps"] for s in runs)
        points[name] = round((1 - rps / base) * 100, 1)
        rows.append(
            {
                "variant": name,
                "rps": round(rps, 1),
                "p50_ms": round(statistics.median(s["p50_ms"] for s in runs), 3),
                "p99_ms": round(statistics.median(s["p99_ms"] for s in runs), 3),
                "throughput_vs_off": round(rps / base, 3),
                "overhead_points": points[name],
                "log_records_per_run": round(statistics.median(s["log_records"] for s in runs)),
                "error_rate": max(s["error_rate"] for s in runs),
                "rps_runs": [round(s["rps"], 1) for s in runs],
            }
        )
    added = {on: round(points[on] - points[off], 1) for on, off in PAIRS}
    return {
        "workload": workload,
        "rounds": rounds,
        "seconds": seconds,
        "connections": connections,
        "rows": rows,
        "logs_export_points_added": added,
    }


def table(results: dict[str, Any]) -> str:
    lines = [
        f"workload: {results['workload']}, {results['connections']} connections, {results['seconds']} s x "
        f"{results['rounds']} rounds (medians)",
        "| telemetry | req/s | vs off | overhead (points) | p50 ms | p99 ms | log records/run | runs req/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        lines.append(
            f"| {row['variant']} | {row['rps']} | {row['throughput_vs_off']:.3f} | {row['overhead_points']} | "
            f"{row['p50_ms']} | {row['p99_ms']} | {row['log_records_per_run']} | {row['rps_runs']} |"
        )
    for on, points in results["logs_export_points_added"].items():
        lines.append(f"logs export adds {points} points ({on} vs its logs-off twin)")
    return "\n".join(lines)
