"""The monitoring in HA, as code: two Prometheus replicas (identical rules, their own `replica` label,
dropped from alerts, every alert sent to every Alertmanager) and three clustered Alertmanagers, rendered the
way the native stack and the compose `ha` profile render them; retention; the dead man's switch's settings
against the config; the receiver's switch itself (a real process, seconds)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from jean_memory_dev.mixin import DEADMAN_ALERT, Alert, Variant, load, runbook_url
from jean_memory_dev.mixin.config import duration_seconds
from jean_memory_dev.monitoringconfig import DEFAULT_RETENTION, prometheus_args
from jean_memory_dev.nativestack import HA_ALERTMANAGERS, HA_PROMETHEUS, NativeStack, StackPorts
from jean_memory_dev.processes import AlertmanagerServer, ReceiverProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
RECEIVER = ROOT / "scripts" / "alert-receiver"


def compose(*profiles: str) -> dict:
    args = [arg for profile in profiles for arg in ("--profile", profile)]
    out = subprocess.run(["docker-compose", *args, "config"], cwd=ROOT, capture_output=True, text=True, check=True)
    return yaml.safe_load(out.stdout)


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def promtool_ok(config: Path) -> None:
    result = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def check_pair(first: dict, second: dict, alertmanagers: set[str]) -> None:
    """Two replicas: same rules and scrape jobs, their own replica label, dropped from alerts, every
    Alertmanager a target of both."""
    labels = [c["global"]["external_labels"]["replica"] for c in (first, second)]
    assert labels == ["prometheus-1", "prometheus-2"]
    for config in (first, second):
        assert {"action": "labeldrop", "regex": "replica"} in config["alerting"]["alert_relabel_configs"]
        targets = {t for sc in config["alerting"]["alertmanagers"][0]["static_configs"] for t in sc["targets"]}
        assert targets == alertmanagers
        assert config["rule_files"] == first["rule_files"]
    jobs = [[j["job_name"] for j in c["scrape_configs"]] for c in (first, second)]
    assert jobs[0] == jobs[1]
    own = [next(j for j in c["scrape_configs"] if j["job_name"] == "prometheus") for c in (first, second)]
    for job in own:  # each scrapes itself and its peer
        assert len({t for sc in job["static_configs"] for t in sc["targets"]}) == 2


def test_native_ha_renders_two_replicas_and_a_cluster_of_three(tmp_path: Path) -> None:
    ports = StackPorts.free()
    stack = NativeStack(tmp_path, fast=True, ha=True, ports=ports)
    stack.render()
    configs = [stack.config / "prometheus.yml", stack.config / "prometheus-2.yml"]
    for config in configs:
        promtool_ok(config)
    first, second = (yaml.safe_load(c.read_text()) for c in configs)
    ams = {f"127.0.0.1:{p}" for p in [ports.alertmanager, *ports.alertmanager_peers]}
    check_pair(first, second, ams)
    assert len(stack.monitoring.prometheus) == HA_PROMETHEUS
    assert len(stack.monitoring.alertmanagers) == HA_ALERTMANAGERS
    gossip = [f"127.0.0.1:{p}" for p in ports.alertmanager_cluster]
    for i, am in enumerate(stack.monitoring.alertmanagers):
        args = am.cluster_args()
        assert f"--cluster.listen-address={gossip[i]}" in args
        assert {a.split("=", 1)[1] for a in args if a.startswith("--cluster.peer=")} == set(gossip) - {gossip[i]}
    result = subprocess.run(
        ["amtool", "check-config", str(stack.config / "alertmanager.yml")], capture_output=True, text=True
    )
    assert result.returncode == 0 and "1 templates" in result.stdout, result.stdout + result.stderr


def test_native_single_stack_is_unchanged_by_ha(tmp_path: Path) -> None:
    stack = NativeStack(tmp_path, ports=StackPorts.free())
    stack.render()
    assert [p.name for p in stack.config.glob("prometheus*.yml")] == ["prometheus.yml"]
    assert len(stack.monitoring.alertmanagers) == 1
    assert stack.alertmanager.cluster_args() == ["--cluster.listen-address="], "a lone Alertmanager does not gossip"


def test_compose_ha_profile_renders_the_same_pair(tmp_path: Path) -> None:
    """Run the `ha-config` service's own command here, with compose's environment and local paths."""
    config = compose("ha")
    service = config["services"]["ha-config"]
    script = service["command"][-1].replace("/repo/", f"{ROOT}/").replace("/rendered/", f"{tmp_path}/")
    env = {**os.environ, **{k: str(v) for k, v in service["environment"].items()}}
    env |= {"PROM_RULES_DIR": str(ROOT / "prometheus" / "rules"), "PROM_ALERTS_DIR": str(ROOT / "alerts" / "rules")}
    subprocess.run(["sh", "-c", script.replace("python ", f"{sys.executable} ")], env=env, check=True)
    configs = [tmp_path / "prometheus.yml", tmp_path / "prometheus-2.yml"]
    for path in configs:
        promtool_ok(path)
    first, second = (yaml.safe_load(c.read_text()) for c in configs)
    check_pair(first, second, {"alertmanager:9093", "alertmanager-2:9093", "alertmanager-3:9093"})
    services = config["services"]
    assert services["prometheus-2"]["command"][0] == "--config.file=/rendered/prometheus-2.yml"
    for name in ("alertmanager-2", "alertmanager-3"):
        assert "--cluster.peer=alertmanager:9094" in services[name]["command"], name
    assert services["prometheus"]["depends_on"]["ha-config"]["required"] is False


def test_compose_profiles_are_valid_together() -> None:
    for args in (["--profile", "ha"], ["--profile", "ha", "--profile", "cluster", "--profile", "load"]):
        result = subprocess.run(["docker-compose", *args, "config", "-q"], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    services = compose("ha")["services"]
    for name in ("prometheus-2", "alertmanager-2", "alertmanager-3"):
        assert services[name]["healthcheck"] and services[name]["deploy"]["resources"]["limits"]["memory"], name
        assert ":" in services[name]["image"] and not services[name]["image"].endswith(":latest")


def test_retention_is_set_explicitly_and_covers_the_trends() -> None:
    retention = env_example()["PROMETHEUS_RETENTION"]
    assert retention == DEFAULT_RETENTION
    config = load()
    longest = max(duration_seconds(c) for c in config.trends.compare) + duration_seconds(config.trends.window)
    assert duration_seconds(retention) > longest, "the Trends dashboard compares with data Prometheus must keep"
    assert f"--storage.tsdb.retention.time={retention}" in prometheus_args(fast=False)
    services = compose("ha")["services"]
    for name in ("prometheus", "prometheus-2"):
        assert f"--storage.tsdb.retention.time={retention}" in services[name]["command"], name


def test_watchdog_heartbeat_and_dead_mans_switch_follow_the_config() -> None:
    """alertmanager.yml's default Watchdog repeat and the receiver's default switch interval are the
    production windows of alerts/thresholds.yaml; its page is named and linked as the catalogue says."""
    windows = load().windows_for(Variant.PRODUCTION)
    template = (ROOT / "alerts" / "alertmanager.yml").read_text()
    assert f"${{AM_WATCHDOG_REPEAT:-{windows.watchdog_repeat}}}" in template
    source = RECEIVER.read_text()
    assert f"default={duration_seconds(windows.deadman_after):g}" in source.replace("300.0", "300")
    assert f'default="{DEADMAN_ALERT}"' in source
    assert runbook_url(load(), Alert.WATCHDOG) in source


def _watchdog(url: str) -> None:
    now = datetime.now(UTC)
    alert = {"status": "firing", "labels": {"alertname": Alert.WATCHDOG.value}, "startsAt": now.isoformat()}
    group = f'{{}}:{{alertname="{Alert.WATCHDOG}"}}'
    httpx.post(f"{url}/watchdog", json={"groupKey": group, "alerts": [alert]}).raise_for_status()


def test_dead_mans_switch_pages_when_the_watchdog_stops_and_resolves_when_it_returns(tmp_path: Path) -> None:
    receiver = ReceiverProcess(RECEIVER, tmp_path / "alerts.jsonl", deadman_after=1.0).start()
    try:
        time.sleep(1.5)
        assert receiver.received() == [], "not armed before the first Watchdog"
        _watchdog(receiver.url)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not [a for a in receiver.received() if a["receiver"] == "page"]:
            time.sleep(0.1)
        page = [a for a in receiver.received() if a["receiver"] == "page"]
        assert len(page) == 1 and page[0]["status"] == "firing", page
        assert page[0]["labels"] == {"alertname": DEADMAN_ALERT, "severity": "critical", "route": "page"}
        assert page[0]["annotations"]["runbook_url"].endswith("/Watchdog.md")
        _watchdog(receiver.url)
        resolved = [a for a in receiver.received() if a["receiver"] == "page" and a["status"] == "resolved"]
        assert len(resolved) == 1
        numbers = [a["notification"] for a in receiver.received()]
        assert numbers == sorted(set(numbers)), "every notification is numbered once"
        logged = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
        assert [a["status"] for a in logged if a["receiver"] == "page"] == ["firing", "resolved"]
    finally:
        receiver.stop()


def _cluster_of_two(tmp_path: Path, **env: str) -> list[AlertmanagerServer]:
    """Two real Alertmanagers clustered over loopback, with the project's config rendered with `env`."""
    config = tmp_path / "alertmanager.yml"
    subprocess.run(
        [sys.executable, "scripts/render-config", "alerts/alertmanager.yml", str(config)],
        cwd=ROOT,
        check=True,
        env={**os.environ, "AM_TEMPLATES_DIR": str(ROOT / "alerts" / "templates"), "AM_GROUP_WAIT": "1s", **env},
    )
    gossip = [free_port(), free_port()]
    peers = [
        AlertmanagerServer(
            config, tmp_path / f"am{i}", cluster_port=port, peers=[f"127.0.0.1:{gossip[1 - i]}"], peer_timeout="1s"
        )
        for i, port in enumerate(gossip)
    ]
    for am in peers:
        am.start()
    return peers


@pytest.mark.slow
def test_a_cluster_notifies_once_and_names_the_peer_that_sent_it(tmp_path: Path) -> None:
    """Prometheus sends every alert to every peer; the cluster notifies once, and the notification names the
    peer that sent it (what the drill reads to tell Alertmanager's HA flush race from a real duplicate)."""
    receiver = ReceiverProcess(RECEIVER, tmp_path / "alerts.jsonl").start()
    peers = _cluster_of_two(tmp_path, ALERT_WEBHOOK_URL=receiver.url)
    try:
        now = datetime.now(UTC)
        alert = {
            "labels": {"alertname": Alert.HIGH_ERROR_RATE.value, "severity": "critical", "service": "jean-memory"},
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(minutes=5)).isoformat(),
        }
        for am in peers:
            httpx.post(f"{am.url}/api/v2/alerts", json=[alert]).raise_for_status()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not receiver.received():
            time.sleep(0.2)
        time.sleep(3)  # past the second peer's wait (its position times the 1 s peer timeout), and then some
        got = receiver.received()
        assert len({a["notification"] for a in got}) == 1, got
        assert got[0]["receiver"] == "page" and got[0]["sender"] in {am.url for am in peers}, got[0]
    finally:
        for am in peers:
            am.stop()
        receiver.stop()


@pytest.mark.slow
def test_a_silence_made_with_amtool_on_one_peer_holds_on_every_peer(tmp_path: Path) -> None:
    """The documented maintenance silence (docs/alerting.md), against a real cluster of two."""
    peers = _cluster_of_two(tmp_path)
    try:
        instance = "127.0.0.1:8767"
        add = ["amtool", f"--alertmanager.url={peers[0].url}", "silence", "add", f"instance={instance}"]
        silence = subprocess.run(
            [*add, "--duration=30m", "--author=test", "--comment=planned restart"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert re.fullmatch(r"[0-9a-f-]{36}", silence), silence
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(s["id"] == silence for s in peers[1].silences()):
            time.sleep(0.2)
        assert any(s["id"] == silence for s in peers[1].silences()), "the silence gossips to the other peer"
        now = datetime.now(UTC)
        alert = {
            "labels": {"alertname": Alert.REPLICA_DOWN.value, "severity": "warning", "instance": instance},
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(minutes=5)).isoformat(),
        }
        httpx.post(f"{peers[1].url}/api/v2/alerts", json=[alert]).raise_for_status()
        deadline = time.monotonic() + 10
        state: list[str] = []
        while time.monotonic() < deadline:
            state = [a["status"]["state"] for a in peers[1].alerts()]
            if state == ["suppressed"]:
                break
            time.sleep(0.2)
        assert state == ["suppressed"]
        expire = ["amtool", f"--alertmanager.url={peers[1].url}", "silence", "expire", silence]
        subprocess.run(expire, check=True, capture_output=True)
    finally:
        for am in peers:
            am.stop()
