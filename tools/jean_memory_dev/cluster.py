"""The cluster without Docker: PostgreSQL, N replicas of the service in cluster mode, HAProxy in front,
and the native stack's Prometheus (scraping every replica and HAProxy), Alertmanager and receiver.

`make cluster` starts it in `.cluster/` (the command: `clustercommand.py`). Tests and drills use the class:

    stack = ClusterStack(tmp_path, replicas=2, env={"JM_EMBEDDER": "hash"}, fast=True)
    stack.up()
    httpx.get(f"{stack.haproxy.url}/readyz")
    stack.restart(0)   # rolling restart of one replica: SIGTERM, drain, exit, start, ready
    stack.kill(1)      # kill -9
    stack.down()

`exporters=True` (what `scripts/cluster up` does) runs Debian's exporters beside it: node (the host),
postgres (one per server, primary and standby) and blackbox (probing /readyz through HAProxy and on each
replica), scraped by Prometheus.

Replicas drain for JM_DRAIN_S (2 s): HAProxy's /readyz checks (every 500 ms, 2 failures) take a
draining replica out before it stops serving, so a rolling restart drops no request.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from jean_memory.canary import DEFAULT_PORT as CANARY_DEFAULT_PORT
from jean_memory_dev.background import side_by_side
from jean_memory_dev.exporters import BlackboxExporter, Exporter, NodeExporter, PostgresExporter
from jean_memory_dev.monitoringconfig import render_monitoring
from jean_memory_dev.paths import ROOT
from jean_memory_dev.processes import (
    AlertmanagerServer,
    CanaryProcess,
    HaproxyProcess,
    PostgresServer,
    PrometheusServer,
    ReceiverProcess,
    ReplicatedPostgres,
    ServiceProcess,
    free_port,
    stop_groups,
)

#: Seconds a replica stays up but not ready after SIGTERM: HAProxy needs 2 checks x 500 ms to notice.
DRAIN_S = "2"


def _env_port(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


@dataclass
class ClusterPorts:
    """Every port of the cluster. Front doors are fixed (same variables and defaults as `.env.example`
    and the native stack); replicas and PostgreSQL take free ports, recorded in the state file."""

    haproxy: int = field(default_factory=lambda: _env_port("HAPROXY_PORT", 8776))
    haproxy_stats: int = field(default_factory=lambda: _env_port("HAPROXY_STATS_PORT", 8404))
    prometheus: int = field(default_factory=lambda: _env_port("PROMETHEUS_PORT", 9090))
    alertmanager: int = field(default_factory=lambda: _env_port("ALERTMANAGER_PORT", 9093))
    receiver: int = field(default_factory=lambda: _env_port("RECEIVER_PORT", 9099))
    postgres: list[int] = field(default_factory=list)
    replicas: list[int] = field(default_factory=list)
    canary: int = field(default_factory=lambda: _env_port("CANARY_PORT", CANARY_DEFAULT_PORT))

    @classmethod
    def free(cls) -> ClusterPorts:
        """All free ports: for tests and drills, which may run beside a developer's cluster."""
        return cls(free_port(), free_port(), free_port(), free_port(), free_port(), canary=free_port())

    def fill(self, replicas: int, standby: bool) -> None:
        self.postgres = self.postgres or [free_port() for _ in range(2 if standby else 1)]
        self.replicas = self.replicas or [free_port() for _ in range(replicas)]


class ClusterStack:
    """The cluster as local processes, in `folder` (configs, data, logs, state.json).

    `env` is laid over each replica's settings (JM_EMBEDDER defaults to the shell's, else minilm, as
    `make run`); `fast` gives Prometheus and Alertmanager the drill's timing; `standby` puts a
    synchronous streaming standby behind PostgreSQL and gives the replicas a two-host URL.
    A second instance on the same folder (another shell) finds the ports and pids in state.json, so
    `status()` and `down()` work from anywhere.
    """

    def __init__(
        self,
        folder: Path = ROOT / ".cluster",
        replicas: int = 3,
        env: Mapping[str, str] | None = None,
        fast: bool = False,
        ports: ClusterPorts | None = None,
        standby: bool = False,
        canary: bool = False,
        exporters: bool = False,
    ) -> None:
        self.folder = folder.resolve()
        self.config = self.folder / "config"
        self.logs = self.folder / "logs"
        self.state_file = self.folder / "state.json"
        self.fast = fast
        self.env = dict(env or {})
        state = self._read_state()
        if state:
            ports = ClusterPorts(**state["ports"])
            replicas, standby = len(ports.replicas), len(ports.postgres) == 2
        self.ports = ports or ClusterPorts()
        self.ports.fill(replicas, standby)
        self.standby = standby
        self._pg_folder = Path(state["postgres_folder"]) if state else None
        self._pg: ReplicatedPostgres | PostgresServer | None = None
        self.replicas = [self._replica(i) for i in range(replicas)]
        names = {replica_id(i): port for i, port in enumerate(self.ports.replicas)}
        self.haproxy = HaproxyProcess(self.folder / "haproxy", names, self.ports.haproxy, self.ports.haproxy_stats)
        self.receiver = ReceiverProcess(
            ROOT / "scripts" / "alert-receiver", self.logs / "alerts.jsonl", self.ports.receiver
        )
        self.alertmanager = AlertmanagerServer(
            self.config / "alertmanager.yml", self.folder / "alertmanager", self.ports.alertmanager
        )
        self.prometheus = PrometheusServer(
            self.config / "prometheus.yml", self.folder / "prometheus", self.ports.prometheus
        )
        #: The synthetic user, through HAProxy as clients come (`canary=True`: `make cluster`, the drill).
        self.canary = canary
        self.canary_process = CanaryProcess(
            self.haproxy.url, self.ports.canary, self.logs / "canary.log", fast=self.fast
        )
        self.node_exporter = NodeExporter(self.folder / "node-exporter") if exporters else None
        self.blackbox = BlackboxExporter(self.folder / "blackbox-exporter") if exporters else None
        #: One postgres exporter per server (by port: after a failover each still watches the same server).
        self.postgres_exporters = (
            [
                PostgresExporter(
                    self.folder / f"postgres-exporter-{i + 1}", f"postgresql://postgres@127.0.0.1:{port}/postgres"
                )
                for i, port in enumerate(self.ports.postgres)
            ]
            if exporters
            else []
        )

    @property
    def exporters(self) -> list[Exporter]:
        """The exporters this cluster runs (none with `exporters=False`)."""
        return [e for e in (self.node_exporter, *self.postgres_exporters, self.blackbox) if e is not None]

    # -- the parts ---------------------------------------------------------------------------------

    @property
    def postgres(self) -> PostgresServer:
        """The PostgreSQL primary (after `up()`; after a failover, the promoted standby)."""
        pg = self._postgres()
        return pg.primary if isinstance(pg, ReplicatedPostgres) else pg

    @property
    def standby_server(self) -> PostgresServer | None:
        """The synchronous standby (`standby=True`, after `up()`), else None."""
        pg = self._postgres()
        return pg.standby if isinstance(pg, ReplicatedPostgres) else None

    @property
    def ltm_url(self) -> str:
        return self._postgres().url

    @property
    def url(self) -> str:
        """The cluster's one address: HAProxy."""
        return self.haproxy.url

    def _postgres(self) -> ReplicatedPostgres | PostgresServer:
        """Made on first use, so that `status` in another shell creates no folder."""
        if self._pg is None:
            self._pg_folder = self._pg_folder or self._new_pg_folder()
            if self.standby:
                self._pg = ReplicatedPostgres(self._pg_folder, (self.ports.postgres[0], self.ports.postgres[1]))
            else:
                self._pg = PostgresServer(self.ports.postgres[0], self._pg_folder)
        return self._pg

    @property
    def _pg_temporary(self) -> bool:
        return self._pg_folder is not None and not self._pg_folder.is_relative_to(self.folder)

    def _new_pg_folder(self) -> Path:
        """`<folder>/postgres`, kept between runs, where the `postgres` user can reach it (as root,
        PostgreSQL runs as that user); else a fresh folder under /tmp, which `down()` removes."""
        target = self.folder / "postgres"
        if os.geteuid() != 0 or all(
            p.stat().st_mode & 0o001 for p in [self.folder, *self.folder.parents] if p.exists()
        ):
            return target
        folder = Path(tempfile.mkdtemp(prefix="jm-cluster-pg-"))
        shutil.chown(folder, "postgres", "postgres")
        return folder

    def _replica(self, i: int) -> ServiceProcess:
        port = self.ports.replicas[i]
        name = replica_id(i)
        env = {
            "JM_EMBEDDER": os.environ.get("JM_EMBEDDER", "minilm"),
            "JM_DRAIN_S": DRAIN_S,
            "JM_CLUSTER": "true",
            **self.env,
            "JM_REPLICA_ID": name,
        }
        return ServiceProcess(self.folder / name, env=env, port=port, log_path=self.logs / f"{name}.log")

    # -- lifecycle ---------------------------------------------------------------------------------

    def up(self) -> dict[str, str]:
        """Start everything, in dependency order; on any failure stop what started, then raise."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / ".gitignore").write_text("# made by jean-memory-dev cluster: data, configs and logs\n*\n")
        self.render()
        try:
            self._start_alerting()
            self._start_postgres()
            self._save_state()
            self._start_replicas()
            self._save_state()
            self.haproxy.start()
            self.haproxy.wait_servers("UP")
            if self.canary:
                self.canary_process.start()
            for exporter in self.exporters:
                exporter.start()
            self._start_prometheus()
        except BaseException:
            self.down()
            raise
        self._save_state()
        return self.urls()

    def _start_alerting(self) -> None:
        """The receiver and Alertmanager, first: what the replicas' alerts go to."""
        self.receiver.start()
        self.alertmanager.start()

    def _start_prometheus(self) -> None:
        """Prometheus, last: it scrapes what is running."""
        self.prometheus.start()

    def _stop_monitoring(self, before_replicas: bool) -> None:
        """Prometheus first (`before_replicas`: no alert about replicas going away on purpose), Alertmanager
        and the receiver once the replicas have stopped."""
        if before_replicas:
            self.prometheus.stop()
        else:
            self.alertmanager.stop()
            self.receiver.stop()

    def _monitoring_processes(self) -> dict[str, subprocess.Popen[bytes] | None]:
        """The monitoring's processes this cluster owns, by name (recorded in state.json for `down()`)."""
        return {
            "receiver": self.receiver.proc,
            "alertmanager": self.alertmanager.proc,
            "prometheus": self.prometheus.proc,
        }

    def scrape_targets(self) -> dict[str, str]:
        """The scrape-target variables of prometheus/prometheus.yml: every replica, HAProxy, the canary and the
        exporters where they run."""
        targets = {
            "JM_SCRAPE_TARGETS": ",".join(f"'127.0.0.1:{port}'" for port in self.ports.replicas),
            "HAPROXY_METRICS_TARGETS": f"'127.0.0.1:{self.ports.haproxy_stats}'",
        }
        if self.canary:
            targets["CANARY_TARGETS"] = f"'127.0.0.1:{self.ports.canary}'"
        if self.node_exporter and self.blackbox:
            targets |= {
                "NODE_EXPORTER_TARGETS": self.node_exporter.target,
                "POSTGRES_EXPORTER_TARGETS": ",".join(e.target for e in self.postgres_exporters),
                "PROBE_FRONT_TARGETS": f"'127.0.0.1:{self.ports.haproxy}'",
                "PROBE_REPLICA_TARGETS": ",".join(f"'127.0.0.1:{port}'" for port in self.ports.replicas),
                "BLACKBOX_EXPORTER_ADDR": f"127.0.0.1:{self.blackbox.port}",
            }
        return targets

    def render(self) -> None:
        """prometheus.yml and alertmanager.yml (the native stack's rendering, every replica, HAProxy and the
        exporters as targets) and haproxy.cfg, into the folder: what `up()` starts from."""
        render_monitoring(
            self.config,
            fast=self.fast,
            prometheus_port=self.ports.prometheus,
            alertmanager_port=self.ports.alertmanager,
            receiver_port=self.ports.receiver,
            targets=self.scrape_targets(),
        )
        self.haproxy.render()

    def _start_postgres(self) -> None:
        pg = self._postgres()
        if isinstance(pg, ReplicatedPostgres):
            pg.start()
        else:
            if not pg.initialised:
                pg.init()
            pg.start()
        for replica in self.replicas:
            replica.env.setdefault("JM_LTM_URL", pg.url)

    def _start_replicas(self) -> None:
        """The first replica alone (it creates the schema), then the others side by side."""
        self.replicas[0].start()
        side_by_side([r.start for r in self.replicas[1:]])

    def restart(self, i: int, timeout_s: float = 120.0) -> int | None:
        """Rolling restart of replica `i`: SIGTERM (it drains, finishes in flight, exits), then start it
        again and wait until it is ready and HAProxy routes to it. Returns the old process's exit status."""
        replica = self.replicas[i]
        code = replica.terminate(timeout_s)
        replica.start(timeout_s=timeout_s)
        self._save_state()
        self.haproxy.wait_servers("UP", [replica_id(i)], timeout_s)
        return code

    def restart_together(self, replicas: list[int], timeout_s: float = 120.0) -> None:
        """`restart` of several replicas side by side (they were killed together, so nothing is left to
        drain in turn), then wait until HAProxy routes to every one of them."""
        side_by_side([functools.partial(self._start_again, i, timeout_s) for i in replicas])
        self._save_state()
        self.haproxy.wait_servers("UP", [replica_id(i) for i in replicas], timeout_s)

    def _start_again(self, i: int, timeout_s: float) -> None:
        self.replicas[i].terminate(timeout_s)
        self.replicas[i].start(timeout_s=timeout_s)

    def failover(self) -> PostgresServer:
        """kill -9 of the PostgreSQL primary and promotion of its synchronous standby (`standby=True`):
        the replicas' two-host URL finds the new primary. Returns it."""
        pg = self._postgres()
        if not isinstance(pg, ReplicatedPostgres):
            raise RuntimeError("failover needs a standby: ClusterStack(..., standby=True)")
        return pg.failover()

    def kill(self, i: int) -> None:
        """kill -9 of replica `i`: no drain; HAProxy finds out from failed checks and connection errors."""
        self.replicas[i].kill()

    def down(self) -> None:
        """Stop what this object started, then (from another shell) what state.json records; remove a
        PostgreSQL folder made under /tmp. Replicas drain side by side, not one after the other."""
        self._stop_monitoring(before_replicas=True)
        self.canary_process.stop()
        for exporter in self.exporters:
            exporter.stop()
        self.haproxy.stop()
        side_by_side([r.terminate for r in self.replicas])
        self._stop_monitoring(before_replicas=False)
        state = self._read_state()
        if state:
            stop_groups(state["pids"].values())
        if self._pg is not None or state:
            self._postgres().stop()
            if self._pg_temporary and self._pg_folder:
                shutil.rmtree(self._pg_folder, ignore_errors=True)
        self.state_file.unlink(missing_ok=True)

    def status(self) -> dict[str, bool]:
        checks = {
            **{name: f"{r.url}/readyz" for name, r in zip(self.replica_names, self.replicas, strict=True)},
            "haproxy": f"{self.haproxy.url}/readyz",
            "haproxy stats": self.haproxy.metrics_url,
            "prometheus": f"{self.prometheus.url}/-/ready",
            "alertmanager": f"{self.alertmanager.url}/-/ready",
            "receiver": f"{self.receiver.url}/healthz",
        }
        out = {"postgres": all(listening(port) for port in self.ports.postgres)}
        for name, url in checks.items():
            try:
                out[name] = httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                out[name] = False
        return out

    @property
    def replica_names(self) -> list[str]:
        return [replica_id(i) for i in range(len(self.replicas))]

    def urls(self) -> dict[str, str]:
        urls = {
            "cluster (HAProxy)": self.haproxy.url,
            "HAProxy stats": self.haproxy.stats_url,
            "HAProxy metrics": self.haproxy.metrics_url,
        }
        for name, replica in zip(self.replica_names, self.replicas, strict=True):
            urls[name] = replica.url
        urls |= {
            "postgres": self.ltm_url,
            "prometheus": self.prometheus.url,
            "prometheus targets": f"{self.prometheus.url}/targets",
            "prometheus alerts": f"{self.prometheus.url}/alerts",
            "alertmanager": self.alertmanager.url,
            "receiver (delivered alerts)": f"{self.receiver.url}/alerts",
        }
        urls |= {f"{e.folder.name} metrics": f"{e.url}/metrics" for e in self.exporters}
        return urls

    # -- state, for a `down` or `status` from another shell ----------------------------------------

    def _read_state(self) -> dict[str, Any] | None:
        if not self.state_file.exists():
            return None
        state: dict[str, Any] = json.loads(self.state_file.read_text())
        return state

    def _save_state(self) -> None:
        procs = {
            **self._monitoring_processes(),
            **{name: r.proc for name, r in zip(self.replica_names, self.replicas, strict=True)},
            "haproxy": self.haproxy.proc,
            "canary": self.canary_process.proc,
            **{e.folder.name: e.proc for e in self.exporters},
        }
        pids = {name: proc.pid for name, proc in procs.items() if proc and proc.poll() is None}
        state = {"ports": asdict(self.ports), "pids": pids, "postgres_folder": str(self._pg_folder)}
        self.state_file.write_text(json.dumps(state, indent=2))


def replica_id(i: int) -> str:
    """Replica `i`'s name: its JM_REPLICA_ID, its HAProxy server name, its folder and log."""
    return f"replica-{i + 1}"


def listening(port: int) -> bool:
    """Whether something accepts connections on the loopback `port`."""
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0
