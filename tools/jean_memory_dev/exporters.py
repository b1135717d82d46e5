"""The Prometheus exporters from Debian, as local processes: node (the host), postgres (one per PostgreSQL
server, primary and standby) and blackbox (probes of `/readyz` from outside the service).

The same releases run as images in compose (compose.yaml pins them); scripts/install-system installs the
Debian packages. Each exporter listens on loopback on its own port; `target` is what Prometheus scrapes.

    node = NodeExporter(folder / "node-exporter").start()
    pg = PostgresExporter(folder / "postgres-exporter-1", "postgresql://postgres@127.0.0.1:5432/postgres").start()
    probe = BlackboxExporter(folder / "blackbox-exporter").start()
    httpx.get(f"{probe.url}/probe", params={"module": PROBE_MODULE, "target": "http://127.0.0.1:8776/readyz"})
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from jean_memory_dev.paths import ROOT
from jean_memory_dev.processes import free_port, kill_group, spawn, stop_group, wait_http

#: The blackbox exporter's config: the `http_readyz` module Prometheus's `blackbox` job asks for.
BLACKBOX_CONFIG = ROOT / "blackbox-exporter" / "blackbox.yml"
PROBE_MODULE = "http_readyz"

#: The node exporter's collectors: what the Host dashboard and alerts read, and nothing that walks
#: thousands of files on a shared CI machine every second (the drill scrapes every second).
NODE_COLLECTORS = ("cpu", "meminfo", "filesystem", "loadavg", "diskstats", "netdev", "vmstat", "uname")


def _binary(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: run scripts/install-system")
    return found


class Exporter:
    """One exporter process on a loopback port; `start()` waits until it answers `/metrics`."""

    binary = ""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def target(self) -> str:
        """`'127.0.0.1:PORT'`: a scrape target, quoted for prometheus.yml's flow lists."""
        return f"'127.0.0.1:{self.port}'"

    def args(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        return None

    def start(self) -> Exporter:
        cmd = [_binary(self.binary), f"--web.listen-address=127.0.0.1:{self.port}", *self.args()]
        self.proc = spawn(cmd, self.folder / f"{self.binary}.log", self.env())
        wait_http(f"{self.url}/metrics", 30, self.proc)
        return self

    def metrics(self) -> str:
        import httpx

        r = httpx.get(f"{self.url}/metrics", timeout=10)
        r.raise_for_status()
        return r.text

    def stop(self) -> None:
        stop_group(self.proc)

    def kill(self) -> None:
        kill_group(self.proc)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class NodeExporter(Exporter):
    """The host's CPU, memory, filesystems, disks and network (`node_*`)."""

    binary = "prometheus-node-exporter"

    def args(self) -> list[str]:
        return ["--collector.disable-defaults", *(f"--collector.{c}" for c in NODE_COLLECTORS)]


class PostgresExporter(Exporter):
    """One PostgreSQL server's `pg_up`, connections (`pg_stat_activity_count`, `pg_settings_max_connections`),
    replication (`pg_replication_lag_seconds`, `pg_replication_is_replica`) and database statistics. One per
    server, so that a stopped standby shows as `pg_up == 0` on its own exporter."""

    binary = "prometheus-postgres-exporter"

    def __init__(self, folder: Path, dsn: str, port: int | None = None) -> None:
        super().__init__(folder, port)
        self.dsn = dsn

    def args(self) -> list[str]:
        return []

    def env(self) -> dict[str, str]:
        sep = "&" if "?" in self.dsn else "?"
        # The exporter's own connection must not count against the limit it watches more than once.
        return {"DATA_SOURCE_NAME": f"{self.dsn}{sep}sslmode=disable", "PATH": "/usr/bin:/bin"}


class BlackboxExporter(Exporter):
    """Probes on demand (`/probe?module=http_readyz&target=URL`): `probe_success`, `probe_duration_seconds`,
    `probe_http_status_code`."""

    binary = "prometheus-blackbox-exporter"

    def args(self) -> list[str]:
        return [f"--config.file={BLACKBOX_CONFIG}"]
