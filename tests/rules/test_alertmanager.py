"""Alertmanager: the rendered config is valid, every alert routes where its `route` label says, and
inhibition works in a real Alertmanager."""

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
                # One alert name for every operation's SLO: a page on one silences that SLO's ticket only.
                alert(Alert.OPERATION_BUDGET_BURN, "critical", "jm-ops", slo="canary_success"),
                alert(Alert.OPERATION_BUDGET_BURN, "warning", "jm-ops", slo="canary_success"),
                alert(Alert.OPERATION_BUDGET_BURN, "warning", "jm-ops", slo="add_latency"),
            ],
        ).raise_for_status()
        deadline = time.monotonic() + 15
        state: dict[tuple[str, str], bool] = {}
        while time.monotonic() < deadline:
            got = httpx.get(f"{am.url}/api/v2/alerts").json()
            state = {
                (a["labels"]["alertname"], a["labels"]["severity"] + a["labels"].get("slo", "")): bool(
                    a["status"]["inhibitedBy"]
                )
                for a in got
            }
            ready = len(state) == 10 and state[(Alert.HIGH_ERROR_RATE, "critical")]
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
        assert state[(Alert.OPERATION_BUDGET_BURN, "warningcanary_success")], "the same SLO's ticket is silenced"
        assert not state[(Alert.OPERATION_BUDGET_BURN, "warningadd_latency")], "another SLO's ticket is not"
        assert not state[(Alert.OPERATION_BUDGET_BURN, "criticalcanary_success")]
        # Each SLO's burn is its own group: a second SLO's page is not held for the first one's group_interval.
        groups = httpx.get(f"{am.url}/api/v2/alerts/groups").json()
        burns = [g["labels"] for g in groups if g["labels"].get("alertname") == Alert.OPERATION_BUDGET_BURN]
        assert sorted((g.get("slo"), g["service"]) for g in burns) == [
            ("add_latency", "jm-ops"),
            ("canary_success", "jm-ops"),
            ("canary_success", "jm-ops"),
        ], burns
    finally:
        am.stop()


TEMPLATES = ROOT / "alerts" / "templates"


def _alert(rule: dict, **labels: str) -> dict:
    """A firing alert as Alertmanager hands it to a template: the rule's labels and annotations, with
    Prometheus's own template text replaced by what it renders (here: fixed sample values)."""

    def rendered(text: str) -> str:
        return re.sub(r"\{\{[^}]*\}\}", "SAMPLE", text)

    return {
        "status": "firing",
        "labels": {"alertname": rule["alert"], **rule["labels"], **labels},
        "annotations": {k: rendered(v) for k, v in rule["annotations"].items()},
        "startsAt": "2026-11-26T03:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": "0123456789abcdef",
    }


def _data(alerts: list[dict], receiver: str) -> dict:
    common = {k: v for k, v in alerts[0]["annotations"].items() if all(a["annotations"].get(k) == v for a in alerts)}
    return {
        "receiver": receiver,
        "status": "firing",
        "alerts": alerts,
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": {k: v for k, v in alerts[0]["labels"].items() if all(a["labels"].get(k) == v for a in alerts)},
        "commonAnnotations": common,
        "externalURL": "http://alertmanager:9093",
    }


def render_template(tmp_path: Path, name: str, data: dict) -> str:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    result = subprocess.run(
        [
            "amtool",
            "template",
            "render",
            f"--template.glob={TEMPLATES}/*.tmpl",
            f"--template.text={{{{ template {json.dumps(name)} . }}}}",
            f"--template.data={path}",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("route", ["page", "ticket"])
def test_every_alert_of_a_route_renders_with_what_a_human_acts_on(tmp_path: Path, route: str) -> None:
    """`amtool template render` of the route's title and text, for every alert that routes there: the
    summary, the value, the runbook and the dashboard panel are all in the message."""
    rules = yaml.safe_load((ROOT / "alerts" / "rules" / "jean-memory.alerts.yml").read_text())["groups"][0]["rules"]
    mine = [r for r in rules if r["labels"]["route"] == route]
    assert mine
    for rule in mine:
        labels = {"instance": "127.0.0.1:8767"} if "$labels.instance" in json.dumps(rule["annotations"]) else {}
        data = _data([_alert(rule, **labels)], route)
        title = render_template(tmp_path, f"jm.{route}.title", data)
        assert rule["alert"] in title and rule["labels"]["severity"] in title and "[FIRING:1]" in title, title
        text = render_template(tmp_path, f"jm.{route}.text", data)
        annotations = data["alerts"][0]["annotations"]
        for key in ("summary", "value", "runbook_url", "dashboard_url"):
            assert annotations[key] in text, (rule["alert"], key, text)
        assert "/d/jm-" in annotations["dashboard_url"] and "viewPanel=" in annotations["dashboard_url"]
        if labels:
            assert "replica 127.0.0.1:8767" in text


def test_a_group_of_several_alerts_lists_each_and_resolved_ones(tmp_path: Path) -> None:
    rules = yaml.safe_load((ROOT / "alerts" / "rules" / "jean-memory.alerts.yml").read_text())["groups"][0]["rules"]
    rule = next(r for r in rules if r["alert"] == Alert.REPLICA_DOWN)
    a, b = _alert(rule, instance="a:8766"), _alert(rule, instance="b:8766")
    b["status"] = "resolved"
    data = _data([a, b], "ticket")
    data["alerts"] = [a, b]
    text = render_template(tmp_path, "jm.ticket.text", data)
    assert "replica a:8766" in text and "RESOLVED" in text and "replica b:8766" in text
    assert render_template(tmp_path, "jm.pagerduty.description", data).strip().startswith(a["annotations"]["summary"])


def test_the_slack_and_pagerduty_examples_are_valid_uncommented(tmp_path: Path) -> None:
    """The commented receivers in alertmanager.yml, uncommented and given their secrets, pass
    `amtool check-config` with the templates loaded: the examples stay true."""
    lines = (ROOT / "alerts" / "alertmanager.yml").read_text().splitlines()
    out, uncommenting = [], False
    for line in lines:
        stripped = line.strip()
        if stripped in ("# pagerduty_configs:", "# slack_configs:"):
            uncommenting = True
        elif uncommenting and not stripped.startswith("#   ") and not stripped.startswith("#     "):
            uncommenting = False
        out.append(line.replace("# ", "", 1) if uncommenting else line)
    template = tmp_path / "alertmanager.yml"
    template.write_text("\n".join(out) + "\n")
    secrets = tmp_path / "secrets"  # read from files, never written into the config
    secrets.mkdir()
    (secrets / "slack_webhook_url").write_text("https://hooks.slack.com/services/T/B/X\n")
    (secrets / "pagerduty_routing_key").write_text("0123456789abcdef0123456789abcdef\n")
    config = tmp_path / "rendered.yml"
    subprocess.run(
        [sys.executable, "scripts/render-config", str(template), str(config)],
        cwd=ROOT,
        check=True,
        env={
            **os.environ,
            "AM_TEMPLATES_DIR": str(TEMPLATES),
            "AM_SECRETS_DIR": str(secrets),
        },
    )
    rendered = yaml.safe_load(config.read_text())
    receivers = {r["name"]: r for r in rendered["receivers"]}
    assert "pagerduty_configs" in receivers["page"] and "slack_configs" in receivers["ticket"]
    assert "jm.page.text" in json.dumps(receivers["page"]) and "jm.ticket.text" in json.dumps(receivers["ticket"])
    assert "dashboard_url" in json.dumps(receivers["page"]) and "dashboard_url" in json.dumps(receivers["ticket"])
    assert receivers["page"]["pagerduty_configs"][0]["routing_key_file"] == str(secrets / "pagerduty_routing_key")
    assert receivers["ticket"]["slack_configs"][0]["api_url_file"] == str(secrets / "slack_webhook_url")
    assert "hooks.slack.com" not in config.read_text() and "0123456789abcdef" not in config.read_text()
    result = subprocess.run(["amtool", "check-config", str(config)], capture_output=True, text=True)
    assert result.returncode == 0 and "1 templates" in result.stdout, result.stdout + result.stderr
