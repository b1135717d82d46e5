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

import logging
import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
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


def _sink_process(urls: Any, stop: Any) -> None:
    sink = CountingSink()
    urls.put(sink.url)
    stop.wait()
    sink.close()


def record_cost(records: int = 20_000) -> dict[str, float]:
    """CPU per log record in this process, stderr-style JSON line alone vs with the OTLP export (handler,
    SDK batch, protobuf, HTTP POST to a receiver in another process): what a record costs the service,
    measured without the wrk load, so the shared machine's noise cannot swamp it."""
    from jean_memory.config import Settings
    from jean_memory.telemetry.core import Telemetry
    from jean_memory.telemetry.logs import JsonFormatter
    from jean_memory.telemetry.metrics import Metrics

    ctx = multiprocessing.get_context("spawn")
    urls, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=_sink_process, args=(urls, stop), daemon=True)
    child.start()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    out: dict[str, float] = {}
    try:
        with open(os.devnull, "w") as devnull:
            line = logging.StreamHandler(devnull)
            line.setFormatter(JsonFormatter())
            root.handlers[:] = [line]
            root.setLevel(logging.INFO)
            log = logging.getLogger("jean_memory.perf")
            fields = {"metric_type": "search", "duration_ms": 51.2, "user": "0123456789abcdef", "cache_hit": False}
            settings = Settings(otlp_endpoint=urls.get(timeout=30), otlp_metrics=False)
            for name in ("stderr line only", "stderr line + OTLP export"):
                telemetry = Telemetry(settings, Metrics()) if name.endswith("export") else None
                if telemetry is not None:
                    telemetry.start()
                start = time.process_time()
                for _ in range(records):
                    log.warning("slow operation", extra=fields)
                if telemetry is not None and telemetry.logs is not None:
                    telemetry.logs.provider.force_flush()
                out[name] = (time.process_time() - start) / records * 1e6
                if telemetry is not None:
                    telemetry.shutdown()
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        stop.set()
        child.join(10)
    out["otlp_export_us_per_record"] = out["stderr line + OTLP export"] - out["stderr line only"]
    return {k.replace(" ", "_").replace("+", "plus"): round(v, 2) for k, v in out.items()}


def run(rounds: int = 3, seconds: float = 5.0, connections: int = 16) -> dict[str, Any]:
    cost = record_cost()
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
    paired: dict[str, float] = {}
    for on, off in PAIRS:  # per round, the twin started just before: slow drifts of the machine cancel
        rounds_of = zip(samples[off], samples[on], samples["off"], strict=True)
        per_round = [(o["rps"] - w["rps"]) / b["rps"] * 100 for o, w, b in rounds_of]
        paired[on] = round(statistics.median(per_round), 1)
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
        "logs_export_points_added_paired": paired,
        "record_cost_us": cost,
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
        paired = results["logs_export_points_added_paired"][on]
        lines.append(f"logs export adds {points} points of medians, {paired} median of per-round pairs ({on})")
    cost = results["record_cost_us"]
    lines.append(
        f"CPU per record: {cost['stderr_line_only']} us (stderr line), {cost['stderr_line_plus_OTLP_export']} us "
        f"(with OTLP export): the export adds {cost['otlp_export_us_per_record']} us a record"
    )
    return "\n".join(lines)
