"""Run Debian's `hey` (a Go load generator) and read its per-request CSV.

`hey -c W -q R` runs W workers, each paced at R requests/s on its own keep-alive connection: a paced,
low-overhead client, the independent yardstick for latency at a stated offered load. Percentiles are
computed from every request's response time (the CSV), not read off hey's rounded histogram.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from typing import Any

import numpy as np


def run_hey(
    url: str,
    *,
    workers: int,
    rate_per_worker: float,
    seconds: float,
    method: str = "GET",
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Latency (ms) and status counts of `workers` x `rate_per_worker` requests/s for `seconds` (with `headers`)."""
    binary = shutil.which("hey")
    if not binary:
        raise FileNotFoundError("hey not found: run scripts/install-system")
    args = [binary, "-z", f"{max(1, round(seconds))}s", "-c", str(workers), "-q", str(rate_per_worker)]
    args += ["-m", method, "-o", "csv", "-disable-compression"]
    if body is not None:
        args += ["-T", "application/json", "-d", json.dumps(body)]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    for row in csv.DictReader(io.StringIO(out)):
        statuses[row["status-code"]] = statuses.get(row["status-code"], 0) + 1
        if row["status-code"].startswith("2"):
            latencies.append(float(row["response-time"]))
    arr = np.array(latencies) * 1000 if latencies else np.array([float("nan")])
    requests = sum(statuses.values())
    return {
        "offered_rps": workers * rate_per_worker,
        "achieved_rps": round(requests / seconds, 1),
        "requests": requests,
        "p50_ms": round(float(np.percentile(arr, 50)), 3),
        "p90_ms": round(float(np.percentile(arr, 90)), 3),
        "p95_ms": round(float(np.percentile(arr, 95)), 3),
        "p99_ms": round(float(np.percentile(arr, 99)), 3),
        "error_rate": round(1 - len(latencies) / requests, 5) if requests else None,
        "statuses": statuses,
    }
