"""The stack without Docker: the service, Prometheus, Alertmanager and the webhook receiver as local
processes, from the same config files as compose (rendered with local addresses).

Prometheus scrapes the service here (Debian's Prometheus has no OTLP receiver), so rules and
dashboards see the same series as over OTLP. `fast=True` loads the drill rule files (same
expressions and thresholds, short windows) and scrapes and evaluates every second.

`exporters=True` (what `scripts/stack up` does) also runs Debian's node exporter (the host) and blackbox
exporter (probing the service's /readyz from outside), scraped as jobs `node` and `blackbox`.

`ha=True` runs the monitoring the way the most trusted setups do (kube-prometheus): two identical
Prometheus replicas (external label `replica`, dropped from the alerts they send) and three Alertmanagers
gossiping on loopback (`--cluster.listen-address`, `--cluster.peer`), every Prometheus sending to every
Alertmanager; the receiver beside them is the dead man's switch that pages when the Watchdog stops.

    stack = NativeStack(folder, fast=True, ha=True, ports=StackPorts.free(ha=True))
    stack.up()
    stack.monitoring.prometheus[1].kill()      # kill -9 of one Prometheus replica
    stack.monitoring.alertmanagers[0].kill()   # and of one Alertmanager: the others notify
    stack.down()
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from jean_memory.canary import DEFAULT_PORT as CANARY_DEFAULT_PORT
from jean_memory_dev.exporters import BlackboxExporter, Exporter, NodeExporter
from jean_memory_dev.mixin import DEADMAN_ALERT, Alert, load, runbook_url
from jean_memory_dev.monitoringconfig import (
    FAST_PEER_TIMEOUT,
    deadman_after_s,
    prometheus_args,
    render_monitoring,
    timing,
)
from jean_memory_dev.paths import ROOT
from jean_memory_dev.processes import (
    AlertmanagerServer,
    CanaryProcess,
    PrometheusServer,
    ReceiverProcess,
    ServiceProcess,
    free_port,
    stop_groups,
)

#: How many Prometheus replicas and Alertmanagers `ha=True` runs.
HA_PROMETHEUS, HA_ALERTMANAGERS = 2, 3


def _env_port(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def _env_ports(name: str, default: str) -> list[int]:
    return [int(p) for p in os.environ.get(name, default).split(",") if p]


@dataclass
class StackPorts:
    """The stack's ports (defaults as in .env.example). HA adds a second Prometheus, two Alertmanagers and
    the three Alertmanagers' gossip ports."""

    service: int = field(default_factory=lambda: _env_port("JM_PORT", 8766))
    prometheus: int = field(default_factory=lambda: _env_port("PROMETHEUS_PORT", 9090))
    alertmanager: int = field(default_factory=lambda: _env_port("ALERTMANAGER_PORT", 9093))
    receiver: int = field(default_factory=lambda: _env_port("RECEIVER_PORT", 9099))
    prometheus_peers: list[int] = field(default_factory=lambda: [_env_port("PROMETHEUS_2_PORT", 9092)])
    alertmanager_peers: list[int] = field(
        default_factory=lambda: [_env_port("ALERTMANAGER_2_PORT", 9095), _env_port("ALERTMANAGER_3_PORT", 9096)]
    )
    alertmanager_cluster: list[int] = field(
        default_factory=lambda: _env_ports("ALERTMANAGER_CLUSTER_PORTS", "9194,9195,9196")
    )
    #: The synthetic user's metrics (CANARY_PORT; its default is the canary's own, jean_memory.canary).
    canary: int = field(default_factory=lambda: _env_port("CANARY_PORT", CANARY_DEFAULT_PORT))

    @classmethod
    def free(cls) -> StackPorts:
        """All free ports: for tests and drills, which may run beside a developer's stack."""
        return cls(
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            [free_port() for _ in range(HA_PROMETHEUS - 1)],
            [free_port() for _ in range(HA_ALERTMANAGERS - 1)],
            [free_port() for _ in range(HA_ALERTMANAGERS)],
            canary=free_port(),
        )


class Monitoring:
    """Prometheus (one, or an HA pair), Alertmanager (one, or a cluster of three) and the receiver.

    `prometheus[i]` and `alertmanagers[i]` are the processes; `render(targets)` writes their configs
    (`targets`: the scrape-target variables, as for `render_monitoring`). The first replica keeps the
    single stack's names (`prometheus.yml`, folders `prometheus/`, `alertmanager/`)."""

    def __init__(self, folder: Path, ports: StackPorts, *, fast: bool, ha: bool) -> None:
        self.folder = folder
        self.config = folder / "config"
        self.fast = fast
        self.ha = ha
        self.ports = ports
        config = load()
        self.receiver = ReceiverProcess(
            ROOT / "scripts" / "alert-receiver",
            folder / "logs" / "alerts.jsonl",
            ports.receiver,
            deadman_after=deadman_after_s(fast),
            extra_args=["--deadman-alert", DEADMAN_ALERT, "--deadman-runbook", runbook_url(config, Alert.WATCHDOG)],
        )
        am_ports = [ports.alertmanager, *ports.alertmanager_peers][: HA_ALERTMANAGERS if ha else 1]
        cluster = ports.alertmanager_cluster[: len(am_ports)] if ha else []
        self.alertmanagers = [
            AlertmanagerServer(
                self.config / "alertmanager.yml",
                folder / ("alertmanager" if i == 0 else f"alertmanager-{i + 1}"),
                port,
                cluster_port=cluster[i] if ha else None,
                peers=[f"127.0.0.1:{p}" for j, p in enumerate(cluster) if j != i],
                peer_timeout=FAST_PEER_TIMEOUT if fast else None,
            )
            for i, port in enumerate(am_ports)
        ]
        self.prometheus_ports = [ports.prometheus, *ports.prometheus_peers][: HA_PROMETHEUS if ha else 1]
        self.prometheus = [
            PrometheusServer(
                self.config / self.prometheus_config(i),
                folder / ("prometheus" if i == 0 else f"prometheus-{i + 1}"),
                port,
                extra_args=prometheus_args(fast),
            )
            for i, port in enumerate(self.prometheus_ports)
        ]

    @staticmethod
    def prometheus_config(i: int) -> str:
        return "prometheus.yml" if i == 0 else f"prometheus-{i + 1}.yml"

    @staticmethod
    def replica_name(i: int) -> str:
        """Prometheus replica `i`'s external `replica` label."""
        return f"prometheus-{i + 1}"

    def render(self, targets: Mapping[str, str]) -> None:
        am_ports = [am.port for am in self.alertmanagers]
        for i, port in enumerate(self.prometheus_ports):
            render_monitoring(
                self.config,
                fast=self.fast,
                prometheus_port=port,
                alertmanager_port=am_ports[0],
                receiver_port=self.ports.receiver,
                targets=targets,
                prometheus_peers=[p for p in self.prometheus_ports if p != port],
                alertmanager_peers=am_ports[1:],
                replica=self.replica_name(i),
                name=self.prometheus_config(i),
            )

    def processes(self) -> dict[str, ReceiverProcess | AlertmanagerServer | PrometheusServer]:
        """Every process by name (receiver, alertmanager, alertmanager-2, ..., prometheus, prometheus-2, ...)."""
        out: dict[str, ReceiverProcess | AlertmanagerServer | PrometheusServer] = {"receiver": self.receiver}
        out |= {am.folder.name: am for am in self.alertmanagers}
        out |= {prom.folder.name: prom for prom in self.prometheus}
        return out

    def start_alerting(self, settle: bool = True) -> None:
        """The receiver, then the Alertmanagers (each joins the ones before it); in HA, wait until the
        cluster has settled (every peer sees all the others), so that the first alerts meet one cluster.
        `settle=False` leaves that wait to the caller (`wait_settled`), which starts what it drills meanwhile."""
        self.receiver.start()
        for am in self.alertmanagers:
            am.start()
        if self.ha and settle:
            self.wait_settled()

    def wait_settled(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            states = [am.status()["cluster"] for am in self.alertmanagers]
            if all(s["status"] == "ready" and len(s["peers"]) == len(self.alertmanagers) for s in states):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Alertmanager cluster did not settle in {timeout_s:g} s: {states}")
            time.sleep(0.5)

    def start_prometheus(self) -> None:
        """Start every Prometheus replica that is not running; the running ones reload their (rendered
        again) configuration."""
        for prom in self.prometheus:
            if prom.running:
                prom.reload()
            else:
                prom.start()

    def scrape(self, targets: Mapping[str, str]) -> None:
        """Point the Prometheus replicas at `targets` (the scrape-target variables, as for `render`): a
        monitoring shared by stacks started one after the other (the drill's embedded run, then its cluster)."""
        self.render(targets)
        self.start_prometheus()

    def scrape_nothing(self, timeout_s: float = 30.0) -> None:
        """Stop scraping any stack, and wait until every running Prometheus replica has dropped the targets
        (its scrape manager applies a new target set up to 5 s after a reload): a stack taken down on purpose
        then raises no alert (a target down, a canary failing)."""
        self.scrape({})
        own = {"prometheus", "alertmanager"}
        deadline = time.monotonic() + timeout_s
        for prom in (p for p in self.prometheus if p.running):
            while prom.active_jobs() - own:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{prom.folder.name} still scrapes {sorted(prom.active_jobs() - own)}")
                time.sleep(0.2)

    def stop(self) -> None:
        for prom in self.prometheus:
            prom.stop()
        for am in self.alertmanagers:
            am.stop()
        self.receiver.stop()

    def urls(self) -> dict[str, str]:
        urls: dict[str, str] = {}
        for prom in self.prometheus:
            urls[prom.folder.name] = prom.url
        urls["prometheus alerts"] = f"{self.prometheus[0].url}/alerts"
        for am in self.alertmanagers:
            urls[am.folder.name] = am.url
        urls["receiver (delivered alerts)"] = f"{self.receiver.url}/alerts"
        return urls

    def checks(self) -> dict[str, str]:
        """What `status` asks each part: its readiness URL."""
        checks = {prom.folder.name: f"{prom.url}/-/ready" for prom in self.prometheus}
        checks |= {am.folder.name: f"{am.url}/-/ready" for am in self.alertmanagers}
        return checks | {"receiver": f"{self.receiver.url}/healthz"}


@dataclass
class NativeStack:
    folder: Path = ROOT / ".stack"
    fast: bool = False
    ports: StackPorts = field(default_factory=StackPorts)
    service_env: dict[str, str] = field(default_factory=dict)
    ha: bool = False
    #: Run the synthetic user against the service (`scripts/stack up` and the drill do; its rounds every
    #: `canary.interval_seconds`, the drill's with `fast`), scraped as its own job.
    canary: bool = False
    exporters: bool = False
    #: A monitoring already started (its alerting at least) and shared with other stacks (the drill's):
    #: `up()` points its Prometheus at this stack, `down()` points it away and leaves it running.
    shared: Monitoring | None = None

    def __post_init__(self) -> None:
        self.folder = self.folder.resolve()
        self.config = self.folder / "config"
        self.monitoring = self.shared or Monitoring(self.folder, self.ports, fast=self.fast, ha=self.ha)
        self.receiver = self.monitoring.receiver
        self.alertmanager = self.monitoring.alertmanagers[0]
        self.prometheus = self.monitoring.prometheus[0]
        self.service = ServiceProcess(
            self.folder / "service-data",
            env=self.service_env,
            port=self.ports.service,
            log_path=self.folder / "logs" / "service.log",
        )
        self.canary_process = CanaryProcess(
            self.service.url, self.ports.canary, self.folder / "logs" / "canary.log", fast=self.fast
        )
        self.node_exporter = NodeExporter(self.folder / "node-exporter") if self.exporters else None
        self.blackbox = BlackboxExporter(self.folder / "blackbox-exporter") if self.exporters else None

    @property
    def timing(self) -> dict[str, str]:
        return timing(self.fast)

    def render(self) -> None:
        targets = {"JM_SCRAPE_TARGETS": f"'127.0.0.1:{self.ports.service}'"}
        if self.canary:
            targets["CANARY_TARGETS"] = f"'127.0.0.1:{self.ports.canary}'"
        if self.node_exporter and self.blackbox:
            targets |= {
                "NODE_EXPORTER_TARGETS": self.node_exporter.target,
                "PROBE_FRONT_TARGETS": f"'127.0.0.1:{self.ports.service}'",  # one instance: it is the front door
                "BLACKBOX_EXPORTER_ADDR": f"127.0.0.1:{self.blackbox.port}",
            }
        self.monitoring.render(targets)

    def up(self) -> dict[str, str]:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.render()
        try:
            if self.shared is None:
                self.monitoring.start_alerting()
            for exporter in (self.node_exporter, self.blackbox):
                if exporter:
                    exporter.start()
            self.service.start()
            if self.canary:
                self.canary_process.start()
            self.monitoring.start_prometheus()
        except BaseException:
            self.down()
            raise
        pids = {name: p.proc.pid for name, p in self.parts().items() if p.proc}
        (self.folder / "pids.json").write_text(json.dumps(pids))
        return self.urls()

    def parts(
        self,
    ) -> dict[str, ReceiverProcess | AlertmanagerServer | ServiceProcess | PrometheusServer | CanaryProcess | Exporter]:
        canary = {"canary": self.canary_process} if self.canary else {}
        exporters = {e.folder.name: e for e in (self.node_exporter, self.blackbox) if e}
        monitoring = self.monitoring.processes() if self.shared is None else {}
        return {**monitoring, "service": self.service, **canary, **exporters}

    def urls(self) -> dict[str, str]:
        exporters = {f"{e.folder.name} metrics": f"{e.url}/metrics" for e in (self.node_exporter, self.blackbox) if e}
        return {
            "service": self.service.url,
            "service metrics": f"{self.service.url}/metrics",
            "service dashboard": f"{self.service.url}/metrics/dashboard",
            **({"canary metrics": self.canary_process.metrics_url} if self.canary else {}),
            **self.monitoring.urls(),
            **exporters,
        }

    def down(self) -> None:
        """Stop what this object started, or (from another process) what pids.json records. A shared
        monitoring stops scraping this stack first (nothing pages about a stack taken down on purpose) and
        keeps running."""
        if self.shared is not None and any(p.running for p in self.monitoring.prometheus):
            self.monitoring.scrape_nothing()
        self.canary_process.stop()
        self.service.stop()
        if self.shared is None:
            self.monitoring.stop()
        for exporter in (self.node_exporter, self.blackbox):
            if exporter:
                exporter.stop()
        pid_file = self.folder / "pids.json"
        if pid_file.exists():
            stop_groups(json.loads(pid_file.read_text()).values())
            pid_file.unlink()

    def status(self) -> dict[str, bool]:
        checks = {"service": f"{self.service.url}/readyz", **self.monitoring.checks()}
        if self.canary:
            checks["canary"] = self.canary_process.metrics_url
        out = {}
        for name, url in checks.items():
            try:
                out[name] = httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                out[name] = False
        return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="scripts/stack", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--fast", action="store_true", help="drill timing: fast rules, 1 s scrape and evaluation")
    parser.add_argument(
        "--ha",
        action="store_true",
        help="two Prometheus replicas and three clustered Alertmanagers (ports: .env.example)",
    )
    parser.add_argument("--folder", type=Path, default=ROOT / ".stack", help="data, configs and logs (default .stack)")
    parser.add_argument(
        "--no-exporters", action="store_true", help="without the node and blackbox exporters (scripts/install-system)"
    )
    args = parser.parse_args(argv)
    stack = NativeStack(args.folder, fast=args.fast, ha=args.ha, canary=True, exporters=not args.no_exporters)
    if args.command == "up":
        if any(stack.status().values()):
            print("a stack is already running here: scripts/stack down first", file=sys.stderr)
            return 1
        return print_started(stack.up(), stack.folder / "logs", "scripts/stack down")
    if args.command == "down":
        stack.down()
        return 0
    return print_status(stack.status())


def print_started(urls: dict[str, str], logs: Path, stop: str) -> int:
    """`up`'s answer: where each part listens, where its logs go and how to stop it; exit code 0."""
    for name, url in urls.items():
        print(f"{name:30} {url}")
    print(f"logs: {logs}  stop: {stop}")
    return 0


def print_status(status: dict[str, bool]) -> int:
    """`status`'s answer, a line a process, and its exit code: 0 when everything is up."""
    for name, ok in status.items():
        print(f"{name:14} {'up' if ok else 'down'}")
    return 0 if all(status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
