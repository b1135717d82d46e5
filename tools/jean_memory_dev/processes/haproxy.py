"""HAProxy in front of the cluster's replicas: its configuration rendered from haproxy/haproxy.cfg, its stats
read to wait until the replicas are UP (or DOWN)."""

from __future__ import annotations

import csv
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import httpx

from jean_memory_dev.paths import ROOT
from jean_memory_dev.processes.spawn import free_port, render_config, spawn, stop_group, wait_http


class HaproxyProcess:
    """HAProxy in front of local replicas, from haproxy/haproxy.cfg rendered with their loopback ports.

    `servers` maps a server name to its port; HAProxy routes by `/readyz`, so `wait_servers()` is how a
    caller knows which replicas take traffic. Its own metrics are at `metrics_url`, the stats page at
    `stats_url`.
    """

    TEMPLATE = ROOT / "haproxy" / "haproxy.cfg"

    def __init__(
        self, folder: Path, servers: Mapping[str, int], port: int | None = None, stats_port: int | None = None
    ) -> None:
        self.folder = folder
        self.servers = dict(servers)
        self.port = port or free_port()
        self.stats_port = stats_port or free_port()
        self.config = folder / "haproxy.cfg"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stats_url(self) -> str:
        return f"http://127.0.0.1:{self.stats_port}/stats"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.stats_port}/metrics"

    def render(self) -> Path:
        lines = [f"server {name} 127.0.0.1:{port} check" for name, port in self.servers.items()]
        env = {
            "HAPROXY_BIND": f"127.0.0.1:{self.port}",
            "HAPROXY_STATS_BIND": f"127.0.0.1:{self.stats_port}",
            "HAPROXY_SERVERS": "\n    ".join(lines),
            "HAPROXY_RESOLVERS": "",
        }
        return render_config(self.TEMPLATE, self.config, env)

    def start(self) -> HaproxyProcess:
        binary = shutil.which("haproxy")
        if not binary:
            raise FileNotFoundError("haproxy not found: run scripts/install-system")
        self.render()
        self.proc = spawn([binary, "-db", "-f", str(self.config)], self.folder / "haproxy.log")
        wait_http(self.metrics_url, 30, self.proc)
        return self

    def server_stats(self) -> dict[str, dict[str, str]]:
        """Each replica's row of HAProxy's stats CSV: `status` (UP, DOWN, MAINT, `UP 1/2`...), `stot`
        (requests sent to it), `eresp`, `wretr`, `wredis`... (see HAProxy's management guide, 9.1)."""
        r = httpx.get(f"{self.stats_url};csv", timeout=5)
        r.raise_for_status()
        rows = csv.DictReader(r.text.lstrip("# ").splitlines())
        return {row["svname"]: row for row in rows if row["pxname"] == "replicas" and row["svname"] in self.servers}

    def server_status(self) -> dict[str, str]:
        """Each replica's state as HAProxy sees it: UP, DOWN, MAINT, or a transition such as `UP 1/2`."""
        return {name: row["status"] for name, row in self.server_stats().items()}

    def wait_servers(self, status: str, names: Iterable[str] | None = None, timeout_s: float = 30.0) -> None:
        """Wait until every named server (default all) is exactly in `status` (e.g. "UP" or "DOWN")."""
        wanted = list(names or self.servers)
        deadline = time.monotonic() + timeout_s
        while True:
            seen = self.server_status()
            if all(seen.get(name) == status for name in wanted):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"HAProxy servers {wanted} not all {status} after {timeout_s}s: {seen}")
            time.sleep(0.1)

    def stop(self) -> None:
        stop_group(self.proc)
