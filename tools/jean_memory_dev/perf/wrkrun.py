"""Run wrk with one of the Lua workloads in `wrk/` and parse the JSON line they all end with.

wrk is a C load generator: it costs the two shared cores far less than a Python client would, which
matters when the server and the load share them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).parent / "wrk"


def run_wrk(
    url: str, script: str, connections: int, seconds: float, env: dict[str, str] | None = None, path: str = ""
) -> dict[str, Any]:
    """`script` is a file in wrk/ (`report.lua` alone: GET `url + path`); env configures the script."""
    binary = shutil.which("wrk")
    if not binary:
        raise FileNotFoundError("wrk not found: run scripts/install-system")
    args = [binary, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", str(SCRIPTS / script)]
    full_env = {"JM_WRK_DIR": str(SCRIPTS), **(env or {})}
    out = subprocess.run(
        [*args, url + path], capture_output=True, text=True, timeout=seconds + 60, env=full_env, check=True
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("JSON "))
    raw = json.loads(line[5:])
    seconds_run = raw["duration_us"] / 1e6
    return {
        "rps": raw["requests"] / seconds_run,
        "ok_rps": (raw["requests"] - raw["errors"]) / seconds_run,
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "mean_ms": raw["mean_us"] / 1000,
        "requests": raw["requests"],
        "error_rate": raw["errors"] / max(1, raw["requests"]),
        "statuses": raw["statuses"],
        "retry_after": raw["retry_after"],
    }
