"""The stack without Docker: the service, Prometheus, Alertmanager and the webhook receiver as local
processes, from the same config files as compose (rendered with local addresses).

Prometheus scrapes the service here (Debian's Prometheus has no OTLP receiver), so rules and
dashboards see the same series as over OTLP. `fast=True` loads the drill rule files (same
expressions and thresholds, short windows) and scrapes and evaluates every second.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from jean_memory_dev.paths import ROOT
from jean_memory_dev.processes import (
    AlertmanagerServer,
    PrometheusServer,
    ReceiverProcess,
    ServiceProcess,
    render_config,
    stop_groups,
)


def timing(fast: bool) -> dict[str, str]:
    """Scrape, evaluation and notification timing: production-like, or the drill's (`fast`: 1 s)."""
    if fast:
        return {
            "PROM_SCRAPE_INTERVAL": "1s",
            "PROM_EVAL_INTERVAL": "1s",
            "AM_GROUP_WAIT": "1s",
            "AM_GROUP_INTERVAL": "2s",
            "AM_REPEAT_INTERVAL": "1h",
            "AM_WATCHDOG_REPEAT": "1h",
        }
    return {"PROM_SCRAPE_INTERVAL": "5s", "PROM_EVAL_INTERVAL": "5s"}


def stage_rules(config: Path, fast: bool) -> Path:
    """Production recording rules always (the dashboards query them); with `fast`, the drill's
    recording rules beside them (other windows, other names)."""
    rules = config / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    for old in rules.glob("*.yml"):
        old.unlink()
    sources = [ROOT / "prometheus" / "rules"] + ([ROOT / "prometheus" / "rules-fast"] if fast else [])
    for source in sources:
        for path in source.glob("*.yml"):
            (rules / f"{source.name}-{path.name}").write_text(path.read_text())
    return rules


def render_monitoring(
    config: Path,
    *,
    fast: bool,
    prometheus_port: int,
    alertmanager_port: int,
    receiver_port: int,
    targets: Mapping[str, str],
) -> None:
    """Render prometheus.yml and alertmanager.yml into `config` for local processes: the one rendering
    the native stack and the native cluster share. `targets` sets the scrape-target variables of
    prometheus/prometheus.yml (JM_SCRAPE_TARGETS, HAPROXY_METRICS_TARGETS, ...); the rest stay empty."""
    suffix = "-fast" if fast else ""
    env = {
        **timing(fast),
        "JM_SCRAPE_TARGETS": "",
        "COLLECTOR_METRICS_TARGETS": "",
        "TEMPO_METRICS_TARGETS": "",
        "HAPROXY_METRICS_TARGETS": "",
        **targets,
        "ALERTMANAGER_ADDR": f"127.0.0.1:{alertmanager_port}",
        "PROMETHEUS_ADDR": f"127.0.0.1:{prometheus_port}",
        "PROM_RULES_DIR": str(stage_rules(config, fast)),
        "PROM_ALERTS_DIR": str(ROOT / "alerts" / f"rules{suffix}"),
        "ALERT_WEBHOOK_URL": f"http://127.0.0.1:{receiver_port}",
    }
    render_config(ROOT / "prometheus" / "prometheus.yml", config / "prometheus.yml", env)
    render_config(ROOT / "alerts" / "alertmanager.yml", config / "alertmanager.yml", env)


@dataclass
class StackPorts:
    service: int = int(os.environ.get("JM_PORT", "8766"))
    prometheus: int = int(os.environ.get("PROMETHEUS_PORT", "9090"))
    alertmanager: int = int(os.environ.get("ALERTMANAGER_PORT", "9093"))
    receiver: int = int(os.environ.get("RECEIVER_PORT", "9099"))


@dataclass
class NativeStack:
    folder: Path = ROOT / ".stack"
    fast: bool = False
    ports: StackPorts = field(default_factory=StackPorts)
    service_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.folder = self.folder.resolve()
        self.config = self.folder / "config"
        self.receiver = ReceiverProcess(
            ROOT / "scripts" / "alert-receiver", self.folder / "logs" / "alerts.jsonl", self.ports.receiver
        )
        self.alertmanager = AlertmanagerServer(
            self.config / "alertmanager.yml", self.folder / "alertmanager", self.ports.alertmanager
        )
        self.service = ServiceProcess(
            self.folder / "service-data",
            env=self.service_env,
            port=self.ports.service,
            log_path=self.folder / "logs" / "service.log",
        )
        self.prometheus = PrometheusServer(
            self.config / "prometheus.yml", self.folder / "prometheus", self.ports.prometheus
        )

    @property
    def timing(self) -> dict[str, str]:
        return timing(self.fast)

    def render(self) -> None:
        render_monitoring(
            self.config,
            fast=self.fast,
            prometheus_port=self.ports.prometheus,
            alertmanager_port=self.ports.alertmanager,
            receiver_port=self.ports.receiver,
            targets={"JM_SCRAPE_TARGETS": f"'127.0.0.1:{self.ports.service}'"},
        )

    def up(self) -> dict[str, str]:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.render()
        started = []
        try:
            for proc in (self.receiver, self.alertmanager, self.service, self.prometheus):
                proc.start()
                started.append(proc)
        except BaseException:
            for proc in reversed(started):
                proc.stop()
            raise
        pids = {name: p.proc.pid for name, p in self.parts().items() if p.proc}
        (self.folder / "pids.json").write_text(json.dumps(pids))
        return self.urls()

    def parts(self) -> dict[str, ReceiverProcess | AlertmanagerServer | ServiceProcess | PrometheusServer]:
        return {
            "receiver": self.receiver,
            "alertmanager": self.alertmanager,
            "service": self.service,
            "prometheus": self.prometheus,
        }

    def urls(self) -> dict[str, str]:
        return {
            "service": self.service.url,
            "service metrics": f"{self.service.url}/metrics",
            "service dashboard": f"{self.service.url}/metrics/dashboard",
            "prometheus": self.prometheus.url,
            "prometheus alerts": f"{self.prometheus.url}/alerts",
            "alertmanager": self.alertmanager.url,
            "receiver (delivered alerts)": f"{self.receiver.url}/alerts",
        }

    def down(self) -> None:
        """Stop what this object started, or (from another process) what pids.json records."""
        for proc in (self.prometheus, self.service, self.alertmanager, self.receiver):
            proc.stop()
        pid_file = self.folder / "pids.json"
        if pid_file.exists():
            stop_groups(json.loads(pid_file.read_text()).values())
            pid_file.unlink()

    def status(self) -> dict[str, bool]:
        checks = {
            "service": f"{self.service.url}/readyz",
            "prometheus": f"{self.prometheus.url}/-/ready",
            "alertmanager": f"{self.alertmanager.url}/-/ready",
            "receiver": f"{self.receiver.url}/healthz",
        }
        out = {}
        for name, url in checks.items():
            try:
                out[name] = httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                out[name] = False
        return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="scripts/stack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--fast", action="store_true", help="drill timing: fast rules, 1 s scrape and evaluation")
    parser.add_argument("--folder", type=Path, default=ROOT / ".stack", help="data, configs and logs (default .stack)")
    args = parser.parse_args(argv)
    stack = NativeStack(args.folder, fast=args.fast)
    if args.command == "up":
        if any(stack.status().values()):
            print("a stack is already running here: scripts/stack down first", file=sys.stderr)
            return 1
        for name, url in stack.up().items():
            print(f"{name:30} {url}")
        print(f"logs: {stack.folder / 'logs'}  stop: scripts/stack down")
        return 0
    if args.command == "down":
        stack.down()
        return 0
    status = stack.status()
    for name, ok in status.items():
        print(f"{name:14} {'up' if ok else 'down'}")
    return 0 if all(status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
