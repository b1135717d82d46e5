"""The monitoring's configuration for local processes: prometheus.yml and alertmanager.yml rendered from
the same templates as compose, with local addresses; the drill's fast timing or production's; the
recording rules staged beside them; Prometheus's flags. What the native stack, the native cluster and
the drill's shared monitoring all start from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from jean_memory_dev.mixin import Variant, load
from jean_memory_dev.mixin.config import duration_seconds
from jean_memory_dev.paths import ROOT
from jean_memory_dev.processes import render_config

#: How long Prometheus keeps its data unless PROMETHEUS_RETENTION says otherwise (.env.example: the same):
#: the Trends dashboard compares with a week ago, so it must cover that and the trend window.
DEFAULT_RETENTION = "30d"

#: The drill's Alertmanager cluster peer timeout: the peer at position n waits n times this for an earlier
#: peer's notification before sending its own (production keeps Alertmanager's default, 15 s).
FAST_PEER_TIMEOUT = "3s"

#: The drill's Prometheus resend delay: alerts are re-sent to Alertmanager this often and stay valid there
#: for four times as long, so a dead Prometheus's Watchdog lapses within seconds (production: 1m, 4 min).
FAST_RESEND_DELAY = "1s"


def timing(fast: bool) -> dict[str, str]:
    """Scrape, evaluation and notification timing: production-like, or the drill's (`fast`: 1 s).

    The drill's group_interval (10 s) is ten evaluations, as production's 5 minutes are twenty: two
    Prometheus replicas evaluate over their own scrapes, so when an alert clears one may still see it firing
    for a few seconds after the other resolved it (and re-send it). Alertmanager notifies the group's state
    at group_interval ticks, so a disagreement shorter than one interval is notified only when a message
    lands in the milliseconds between two peers' flushes at a tick (Alertmanager's HA flush race, which the
    drill reports: drill/flushrace.py)."""
    windows = load().windows_for(Variant.FAST if fast else Variant.PRODUCTION)
    if fast:
        return {
            "PROM_SCRAPE_INTERVAL": "1s",
            "PROM_EVAL_INTERVAL": "1s",
            "AM_GROUP_WAIT": "1500ms",  # half an evaluation off Prometheus's sends: see alerts/alertmanager.yml
            "AM_GROUP_INTERVAL": "10s",
            "AM_REPEAT_INTERVAL": "1h",
            "AM_WATCHDOG_REPEAT": windows.watchdog_repeat,
            "AM_WATCHDOG_GROUP_INTERVAL": "1s",
            # The postgres exporter takes about a second to report a server away (see prometheus.yml).
            "POSTGRES_SCRAPE_INTERVAL": "3s",
            "POSTGRES_SCRAPE_TIMEOUT": "3s",
        }
    return {
        "PROM_SCRAPE_INTERVAL": "5s",
        "PROM_EVAL_INTERVAL": "5s",
        "AM_WATCHDOG_REPEAT": windows.watchdog_repeat,
        "POSTGRES_SCRAPE_INTERVAL": "5s",
        "POSTGRES_SCRAPE_TIMEOUT": "5s",
    }


def retention() -> str:
    """PROMETHEUS_RETENTION, else 30 days: set explicitly, never Prometheus's own default (15 days)."""
    return os.environ.get("PROMETHEUS_RETENTION", DEFAULT_RETENTION)


def prometheus_args(fast: bool) -> tuple[str, ...]:
    """Flags every Prometheus of the native stacks gets: its retention, and in the drill's timing a short
    resend delay (see FAST_RESEND_DELAY)."""
    args = [f"--storage.tsdb.retention.time={retention()}"]
    if fast:
        args.append(f"--rules.alert.resend-delay={FAST_RESEND_DELAY}")
    return tuple(args)


def deadman_after_s(fast: bool) -> float:
    """Seconds without a Watchdog before the receiver's dead man's switch pages."""
    return duration_seconds(load().windows_for(Variant.FAST if fast else Variant.PRODUCTION).deadman_after)


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


def _targets(ports: Sequence[int]) -> str:
    """`'127.0.0.1:9093', '127.0.0.1:9095'`: the inside of a YAML flow list of loopback targets."""
    return ", ".join(f"'127.0.0.1:{port}'" for port in ports)


def render_monitoring(
    config: Path,
    *,
    fast: bool,
    prometheus_port: int,
    alertmanager_port: int,
    receiver_port: int,
    targets: Mapping[str, str],
    prometheus_peers: Sequence[int] = (),
    alertmanager_peers: Sequence[int] = (),
    replica: str = "prometheus-1",
    name: str = "prometheus.yml",
) -> None:
    """Render prometheus.yml (as `name`) and alertmanager.yml into `config` for local processes: the one
    rendering the native stack and the native cluster share. `targets` sets the scrape-target variables of
    prometheus/prometheus.yml (JM_SCRAPE_TARGETS, HAPROXY_METRICS_TARGETS, ...); the rest stay empty. In HA,
    each Prometheus replica is rendered with its own `replica` name and port, its peers' ports
    (`prometheus_peers`) and the other Alertmanagers of the cluster (`alertmanager_peers`)."""
    suffix = "-fast" if fast else ""
    env = {
        **timing(fast),
        "JM_SCRAPE_TARGETS": "",
        "COLLECTOR_METRICS_TARGETS": "",
        "TEMPO_METRICS_TARGETS": "",
        "HAPROXY_METRICS_TARGETS": "",
        "CANARY_TARGETS": "",
        "NODE_EXPORTER_TARGETS": "",
        "POSTGRES_EXPORTER_TARGETS": "",
        "PROBE_FRONT_TARGETS": "",
        "PROBE_REPLICA_TARGETS": "",
        "BLACKBOX_EXPORTER_ADDR": "127.0.0.1:9115",
        **targets,
        "ALERTMANAGER_ADDR": f"127.0.0.1:{alertmanager_port}",
        "ALERTMANAGER_PEER_TARGETS": _targets(alertmanager_peers),
        "PROMETHEUS_ADDR": f"127.0.0.1:{prometheus_port}",
        "PROMETHEUS_PEER_TARGETS": _targets(prometheus_peers),
        "PROM_REPLICA": replica,
        "PROM_RULES_DIR": str(stage_rules(config, fast)),
        "PROM_ALERTS_DIR": str(ROOT / "alerts" / f"rules{suffix}"),
        "ALERT_WEBHOOK_URL": f"http://127.0.0.1:{receiver_port}",
        "AM_TEMPLATES_DIR": str(ROOT / "alerts" / "templates"),
    }
    render_config(ROOT / "prometheus" / "prometheus.yml", config / name, env)
    render_config(ROOT / "alerts" / "alertmanager.yml", config / "alertmanager.yml", env)
