"""Watching the watchers, for real: the native HA monitoring (two Prometheus replicas on the drill's fast
rules, three clustered Alertmanagers, the receiver) with a fault a person could cause, and the alert about
the monitoring itself firing in Prometheus, then clearing once the fault is undone.

- a rule file that does not parse, reloaded (SIGHUP): JeanMemoryMonitoringConfigReloadFailed;
- a rule that parses but fails at every evaluation (many-to-many matching): JeanMemoryRuleEvaluationFailures;
- the notification receiver gone: JeanMemoryNotificationsFailing (the Watchdog's notifications fail);
- an Alertmanager killed (kill -9): JeanMemoryAlertmanagerMembersMissing on the two left, and
  JeanMemoryScrapeTargetDown for the one gone.

JeanMemoryPrometheusNotIngesting needs a Prometheus whose storage refuses samples, which no fault here
causes without breaking the machine's disk; promtool proves its rule.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from jean_memory_dev.mixin import Alert, load
from jean_memory_dev.nativestack import Monitoring, StackPorts
from jean_memory_dev.processes import PrometheusServer
from tests.helpers import firing_alerts, wait_for

pytestmark = pytest.mark.slow

INFRA = load().infrastructure


def firing(prom: PrometheusServer, alert: Alert) -> list[dict[str, Any]]:
    return firing_alerts(prom, alert)


def reload(prom: PrometheusServer) -> None:
    """What `kill -HUP` does to a Prometheus after its files changed."""
    assert prom.proc is not None
    os.kill(prom.proc.pid, signal.SIGHUP)


@pytest.fixture(scope="module")
def monitoring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitoring]:
    folder = tmp_path_factory.mktemp("watchers")
    stack = Monitoring(folder, StackPorts.free(), fast=True, ha=True)
    stack.render({})
    try:
        stack.start_alerting()
        stack.start_prometheus()
        prom = stack.prometheus[0]
        scraped = f'count(up{{job="{INFRA.alertmanager_job}"}} == 1) == 3'
        wait_for(lambda: prom.query(scraped) and firing(prom, Alert.WATCHDOG), 60, "monitoring up")
        yield stack
    finally:
        stack.stop()


def test_every_query_of_the_monitoring_board_draws(monitoring: Monitoring) -> None:
    """The drills check every board that applies to their mode, this one in both: each query returns data
    from the HA monitoring alone (no service, no exporter), as Grafana sends it."""
    import json

    from jean_memory_dev.drill.dashcheck import draws, sent
    from jean_memory_dev.mixin.boards import MONITORING
    from jean_memory_dev.mixin.layout import DASHBOARDS_JSON

    prom = monitoring.prometheus[0]
    board = json.loads((DASHBOARDS_JSON / f"{MONITORING.uid}.json").read_text())
    queries = [sent(board, t["expr"]) for p in board["panels"] for t in p.get("targets", [])]

    def empty() -> list[str]:
        return [q.expr for q in queries if not draws(prom, q)]

    missing: list[str] = []

    def drawn() -> bool:
        missing[:] = empty()
        return not missing

    try:
        wait_for(drawn, 30, "every Monitoring query with data")
    except TimeoutError:
        pytest.fail(f"queries without data: {missing}")


def test_a_rule_file_that_does_not_parse_fails_the_reload(monitoring: Monitoring) -> None:
    prom = monitoring.prometheus[0]
    broken = monitoring.config / "rules" / "broken.yml"
    broken.write_text("groups:\n  - name: broken\n    rules:\n      - record: broken\n        expr: sum(\n")
    try:
        reload(prom)
        alerts = wait_for(lambda: firing(prom, Alert.CONFIG_RELOAD_FAILED), 40, "ConfigReloadFailed")
        assert {(a["metric"]["job"], a["metric"]["instance"]) for a in alerts} == {
            (INFRA.prometheus_job, f"127.0.0.1:{prom.port}")
        }
    finally:
        broken.unlink()
    reload(prom)
    wait_for(lambda: not firing(prom, Alert.CONFIG_RELOAD_FAILED), 40, "ConfigReloadFailed resolved")


def test_a_rule_that_fails_every_evaluation_fires(monitoring: Monitoring) -> None:
    """Valid PromQL that fails at evaluation: three Alertmanager targets share `job`, so matching them on
    `job` alone is many-to-many (what a new label does to a rule written before it)."""
    prom = monitoring.prometheus[0]
    rule = monitoring.config / "rules" / "many-to-many.yml"
    am = f'up{{job="{INFRA.alertmanager_job}"}}'
    rule.write_text(
        f"groups:\n  - name: many-to-many\n    rules:\n      - record: job:up:doubled\n"
        f"        expr: '{am} + on (job) {am}'\n"
    )
    try:
        reload(prom)
        alerts = wait_for(lambda: firing(prom, Alert.RULE_EVALUATION_FAILURES), 40, "RuleEvaluationFailures")
        assert all(a["metric"]["rule_group"].endswith(";many-to-many") for a in alerts), alerts
    finally:
        rule.unlink()
    reload(prom)
    wait_for(lambda: not firing(prom, Alert.RULE_EVALUATION_FAILURES), 60, "RuleEvaluationFailures resolved")


def test_a_receiver_gone_fails_the_notifications(monitoring: Monitoring) -> None:
    """The Watchdog is notified every few seconds: with the receiver gone, every Alertmanager's webhook fails."""
    prom = monitoring.prometheus[0]
    monitoring.receiver.kill()
    try:
        alerts = wait_for(lambda: firing(prom, Alert.NOTIFICATIONS_FAILING), 60, "NotificationsFailing")
        assert {a["metric"]["integration"] for a in alerts} == {"webhook"}
    finally:
        monitoring.receiver.start()
    wait_for(lambda: not firing(prom, Alert.NOTIFICATIONS_FAILING), 90, "NotificationsFailing resolved")


def test_an_alertmanager_killed_is_missed_by_its_peers(monitoring: Monitoring) -> None:
    prom = monitoring.prometheus[0]
    victim = monitoring.alertmanagers[2]
    victim.kill()
    try:
        survivors = {f"127.0.0.1:{am.port}" for am in monitoring.alertmanagers[:2]}

        def missed() -> set[str]:  # each survivor notices on its own gossip and scrape timing
            return {a["metric"]["instance"] for a in firing(prom, Alert.ALERTMANAGER_MEMBERS_MISSING)}

        wait_for(lambda: missed() == survivors, 60, "AlertmanagerMembersMissing on both survivors")
        down = wait_for(lambda: firing(prom, Alert.SCRAPE_TARGET_DOWN), 30, "ScrapeTargetDown")
        assert [(a["metric"]["job"], a["metric"]["instance"]) for a in down] == [
            (INFRA.alertmanager_job, f"127.0.0.1:{victim.port}")
        ]
    finally:
        victim.start()
    monitoring.wait_settled()
    wait_for(lambda: not firing(prom, Alert.ALERTMANAGER_MEMBERS_MISSING), 60, "AlertmanagerMembersMissing resolved")
    wait_for(lambda: not firing(prom, Alert.SCRAPE_TARGET_DOWN), 30, "ScrapeTargetDown resolved")
