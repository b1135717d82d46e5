"""Alertmanager: the rendered config is valid, every alert routes where its `route` label says, and
inhibition works in a real Alertmanager."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from jean_memory_dev.mixin import Alert
from jean_memory_dev.processes import AlertmanagerServer

ROOT = Path(__file__).resolve().parents[2]


def render(tmp_path: Path, **env: str) -> Path:
    out = tmp_path / "alertmanager.yml"
    subprocess.run(
        [sys.executable, "scripts/render-config", "alerts/alertmanager.yml", str(out)],
        cwd=ROOT,
        check=True,
        env={**os.environ, **env},
    )
    return out


def test_amtool_check_config(tmp_path: Path) -> None:
    for env in ({}, {"ALERT_WEBHOOK_URL": "http://receiver:9099", "AM_GROUP_WAIT": "1s"}):
        config = render(tmp_path, **env)
        result = subprocess.run(["amtool", "check-config", str(config)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_render_refuses_missing_required_values(tmp_path: Path) -> None:
    template = tmp_path / "t.yml"
    template.write_text("url: ${REQUIRED_THING}\n# example: ${NOT_REQUIRED}\n")
    result = subprocess.run(
        [sys.executable, "scripts/render-config", str(template), str(tmp_path / "o.yml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"]},
    )
    assert result.returncode != 0 and "REQUIRED_THING" in result.stderr


def test_every_alert_routes_to_its_route_label(tmp_path: Path) -> None:
    config = render(tmp_path)
    rules = yaml.safe_load((ROOT / "alerts" / "rules" / "jean-memory.alerts.yml").read_text())
    for rule in rules["groups"][0]["rules"]:
        labels = rule["labels"]
        args = [f"alertname={rule['alert']}", f"severity={labels['severity']}", f"service={labels['service']}"]
        result = subprocess.run(
            ["amtool", "config", "routes", "test", f"--config.file={config}", *args], capture_output=True, text=True
        )
        assert result.stdout.strip() == labels["route"], (rule["alert"], result.stdout, result.stderr)


def test_alertmanager_names_only_alerts_of_the_catalogue() -> None:
    """Inhibition rules match alert names typed in YAML: each must be an alert that exists."""
    config = yaml.safe_load((ROOT / "alerts" / "alertmanager.yml").read_text())
    matchers = [m for r in config["inhibit_rules"] for m in (*r["source_matchers"], *r["target_matchers"])]
    matchers += [m for r in config["route"]["routes"] for m in r.get("matchers", [])]
    names = {m.split('"')[1] for m in matchers if m.startswith("alertname")}
    assert names and names <= {a.value for a in Alert}, names - {a.value for a in Alert}


@pytest.mark.slow
def test_inhibition_in_a_real_alertmanager(tmp_path: Path) -> None:
    am = AlertmanagerServer(render(tmp_path, AM_GROUP_WAIT="1s"), tmp_path / "am").start()
    try:
        now = datetime.now(UTC)
        ends = (now + timedelta(minutes=10)).isoformat()

        def alert(name: Alert, severity: str, service: str = "jean-memory", **labels: str) -> dict:
            return {
                "labels": {"alertname": name.value, "severity": severity, "service": service, **labels},
                "startsAt": now.isoformat(),
                "endsAt": ends,
            }

        httpx.post(
            f"{am.url}/api/v2/alerts",
            json=[
                alert(Alert.AVAILABILITY_BUDGET_BURN, "critical"),
                alert(Alert.AVAILABILITY_BUDGET_BURN, "warning"),
                alert(Alert.DOWN, "critical"),
                alert(Alert.HIGH_ERROR_RATE, "critical"),
                alert(Alert.WATCHDOG, "none"),
                # Another service (a cluster that is up): too few replicas ready holds back the replica tickets.
                alert(Alert.TOO_FEW_REPLICAS_READY, "critical", "jm-cluster"),
                alert(Alert.REPLICA_DOWN, "warning", "jm-cluster", instance="a:8766"),
            ],
        ).raise_for_status()
        deadline = time.monotonic() + 15
        state: dict[tuple[str, str], bool] = {}
        while time.monotonic() < deadline:
            got = httpx.get(f"{am.url}/api/v2/alerts").json()
            state = {(a["labels"]["alertname"], a["labels"]["severity"]): bool(a["status"]["inhibitedBy"]) for a in got}
            ready = len(state) == 7 and state[(Alert.HIGH_ERROR_RATE, "critical")]
            if ready and state[(Alert.REPLICA_DOWN, "warning")]:
                break
            time.sleep(0.2)
        assert state[(Alert.AVAILABILITY_BUDGET_BURN, "warning")], "a ticket is silenced by its page"
        assert state[(Alert.HIGH_ERROR_RATE, "critical")], "symptoms are silenced while the service is down"
        assert state[(Alert.AVAILABILITY_BUDGET_BURN, "critical")], "so are pages about the dead service"
        assert not state[(Alert.DOWN, "critical")]
        assert not state[(Alert.WATCHDOG, "none")], "the Watchdog is never silenced"
        assert state[(Alert.REPLICA_DOWN, "warning")], "a replica's ticket is part of the too-few-ready page"
        assert not state[(Alert.TOO_FEW_REPLICAS_READY, "critical")]
    finally:
        am.stop()
