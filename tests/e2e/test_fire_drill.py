"""The fire drill, in the suite: the quick run (the full one is `make drill`).

Real load, real Prometheus in an HA pair and three clustered Alertmanagers with the drill rules. The
embedded service: the five original faults and a blocked event loop, each delivering its alert (and the SLO
burn page it causes) once, within its derived bound, and resolving; no false positive under healthy load;
every dashboard query answered; every Prometheus replica stopped and the dead man's switch pages. The
cluster: a replica killed under load (a ticket, no page, the load's errors within the SLO budget), two
replicas killed while the notifying Alertmanager and a Prometheus die (the page arrives once, and resolves).
Stops every process it starts. The checks without processes come first: every alert of the catalogue has a
drill, and the bounds are derived from the intervals as the docs say.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jean_memory_dev.drill import FAULTS, coverage, machine, run, table
from jean_memory_dev.drill.actions import AdminFaults
from jean_memory_dev.drill.bounds import (
    SLACK_S,
    Timing,
    deadman_bound_s,
    detection_bound_s,
    fast,
    reads_window,
    resolution_bound_s,
    settle_s,
)
from jean_memory_dev.drill.engine import firing_notifications, this_incident
from jean_memory_dev.drill.faults import (
    cluster_faults,
    deadman,
    error_ratio,
    flags,
    full_embedded,
    latency,
    loop_blocked,
)
from jean_memory_dev.drill.flushrace import Delivery, is_flush_race
from jean_memory_dev.drill.model import Expect
from jean_memory_dev.drill.observer import matches
from jean_memory_dev.drill.report import DrillResult, markdown
from jean_memory_dev.drill.together import together
from jean_memory_dev.mixin import BURN_ALERTS, DEADMAN_ALERT, Alert, Severity, load
from jean_memory_dev.mixin.config import duration_seconds
from jean_memory_dev.mixin.rules import catalogue_rules


def test_every_alert_of_the_catalogue_has_a_drill() -> None:
    covered = {c.alert: c for c in coverage()}
    assert set(covered) == {a.value for a in Alert} | {DEADMAN_ALERT}
    missing = [name for name, c in covered.items() if not c.runs and not c.why_not]
    assert not missing, f"alerts no drill raises, and no reason given: {missing}"
    for alert in BURN_ALERTS:  # both rules of a burn alert: the page and the ticket
        runs = " ".join(covered[alert.value].runs)
        assert "(page)" in runs and "(ticket)" in runs, alert


def test_faults_are_well_formed() -> None:
    faults = [*FAULTS, *full_embedded(), *cluster_faults(), deadman()]
    assert len({f.name for f in faults}) == len(faults)
    for fault in faults:
        assert fault.expect and fault.actions and fault.describe()
        expected = {e.name for e in fault.expect}
        assert not expected & fault.related, f"{fault.name}: an expected alert is not a consequence"
        if any(e.alert in BURN_ALERTS for e in fault.expect):
            assert fault.burn, f"{fault.name}: a burn alert's bound needs the fault's burn rate"


def test_the_quick_faults_keep_their_bounds_formula() -> None:
    """The formula the quick drill has always had (the original five, and the blocked loop since): rate window
    + for + scrape + 2 evaluations + group_wait + group_interval + 10 s; resolution: rate window + 2
    evaluations + group_interval + 10 s. (With the HA pair, group_interval is 10 s instead of 2 s: see
    monitoringconfig.timing; group_wait is 1.5 s, half an evaluation off Prometheus's sends: see
    alerts/alertmanager.yml.)"""
    t = Timing.fast()
    assert (t.scrape, t.evaluation, t.group_wait, t.group_interval) == (1, 1, 1.5, 10)
    expected = {
        Alert.HIGH_ERROR_RATE: 20 + 10 + 14.5 + 10,
        Alert.EVENT_LOOP_BLOCKED: 20 + 10 + 14.5 + 10,
        Alert.HIGH_LATENCY: 20 + 10 + 14.5 + 10,
        Alert.LTM_UNREACHABLE: 20 + 5 + 14.5 + 10,
        Alert.LOW_CACHE_HIT_RATE: 20 + 10 + 14.5 + 10,
        Alert.TELEMETRY_PIPELINE_BROKEN: 20 + 5 + 14.5 + 10,
    }
    assert [e.alert for f in FAULTS for e in f.expect if e.alert not in BURN_ALERTS] == list(expected)
    for alert, bound in expected.items():
        assert detection_bound_s(alert) == bound
    assert resolution_bound_s() == 20 + 2 + 10 + 10


def test_the_quick_faults_are_injected_two_by_two_where_independent() -> None:
    """Each pair's flags go in one `PUT /admin/faults` (a second would replace the first), each fault keeps its
    expected alerts and burn rate, and faults that could raise each other's alerts are refused."""
    assert [f.name for f in FAULTS] == ["error_ratio+loop_blocked", "latency+flags"]
    for pair, parts in zip(FAULTS, [(error_ratio(), loop_blocked()), (latency(), flags())], strict=True):
        assert pair.expect == parts[0].expect + parts[1].expect
        assert pair.burn == parts[0].burn
        (action,) = pair.actions
        assert isinstance(action, AdminFaults)
        assert action.spec == parts[0].actions[0].spec | parts[1].actions[0].spec  # type: ignore[attr-defined]
        assert not {e.name for e in pair.expect} & pair.related
    with pytest.raises(ValueError, match="loop_blocked may raise what latency must deliver"):
        together("x", latency(), loop_blocked())
    with pytest.raises(ValueError, match="flags may raise what error_ratio must deliver"):
        together("x", error_ratio(), flags())
    with pytest.raises(ValueError, match="burn rate"):
        together("x", latency(), error_ratio())
    with pytest.raises(ValueError, match="set by two faults"):
        together("x", flags(), dataclasses.replace(flags(), name="again", expect=()))


def test_burn_bounds_follow_the_windows() -> None:
    """A 30 % error rate (burn 150x, taken low) fills the 2m/30s page clause (6x) in 120 * 6 / 150 s, before
    the 1m/20s one (14.4x, 60 * 14.4 / 150 s); the ticket at 2x fills the 4m/1m clause in 240 / 2 s; a page
    resolves within its longest short window."""
    t = Timing.fast()
    notify = t.scrape + 2 * t.evaluation + t.group_wait + t.group_interval
    page = detection_bound_s(Alert.AVAILABILITY_BUDGET_BURN, Severity.CRITICAL, burn=150.0)
    assert page == pytest.approx(min(120 * 6 / 150, 60 * 14.4 / 150) + 10 + notify + SLACK_S)
    ticket = detection_bound_s(Alert.AVAILABILITY_BUDGET_BURN, Severity.WARNING, burn=2.0)
    assert ticket == pytest.approx(240 * 1 / 2 + 10 + notify + SLACK_S)
    assert resolution_bound_s(Alert.AVAILABILITY_BUDGET_BURN, Severity.CRITICAL) == 30 + 2 + t.group_interval + SLACK_S
    with pytest.raises(ValueError):
        detection_bound_s(Alert.AVAILABILITY_BUDGET_BURN, Severity.CRITICAL, burn=3.0)  # never pages


def test_settle_follows_the_alerts_a_fault_can_raise() -> None:
    """After a fault, the drill waits the longest `for` of the alerts that fault can raise (what it expects
    and its consequences), plus the rate window for those whose expression reads a window (an instant
    condition such as `up == 0` cannot come true a window later), not the longest of the whole catalogue;
    the burn alerts count for their window (the drill waits for their pages to clear)."""
    rate = duration_seconds(load().windows.fast.rate)
    assert settle_s() == rate + 10 + 2  # every alert: the longest `for` of the fast rules is 10 s
    assert settle_s(flags().allowed) == rate + 10 + 2  # JeanMemoryLowCacheHitRate waits 10 s
    assert settle_s({Alert.LTM_UNREACHABLE.value, Alert.TELEMETRY_PIPELINE_BROKEN.value}) == rate + 5 + 2
    assert settle_s({Alert.LTM_UNREACHABLE.value}) == 5 + 2  # max(jm_ltm_up) == 0: no window
    assert settle_s({Alert.REPLICA_DOWN.value}) == 10 + 2  # up == 0, for 10 s
    assert settle_s(deadman().allowed) == 2  # the dead man's switch is no rule of Prometheus's
    assert settle_s({Alert.AVAILABILITY_BUDGET_BURN.value}) == rate + 2


def test_which_rules_read_a_window() -> None:
    rules = {r.alert: r for r in catalogue_rules(fast())}
    windowed = [Alert.HIGH_ERROR_RATE, Alert.HIGH_LATENCY, Alert.CREATION_LATENCY_HIGH, Alert.EVENT_LOOP_BLOCKED]
    assert all(reads_window(rules[a]) for a in windowed)  # a recorded ratio, a recorded p99, a rate()
    instant = [Alert.REPLICA_DOWN, Alert.TOO_FEW_REPLICAS_READY, Alert.LTM_UNREACHABLE, Alert.SHUTTLE_STALE]
    assert not any(reads_window(rules[a]) for a in instant)


def test_dead_mans_switch_bound() -> None:
    windows = load().windows.fast
    t = Timing.fast()
    lapse = 4 * max(t.evaluation, t.resend_delay) + t.watchdog_group_interval
    assert deadman_bound_s() == lapse + duration_seconds(windows.deadman_after) + 1 + SLACK_S


def test_the_docs_table_lists_every_alert() -> None:
    """What `scripts/drill --docs` writes into docs/drills.md names every alert, drilled or not."""
    result = DrillResult()
    result.coverage = [{"alert": c.alert, "runs": list(c.runs), "why_not": c.why_not} for c in coverage()]
    text = markdown(result)
    for alert in Alert:
        assert f"| {alert.value} |" in text, alert


def _sequence(*steps: tuple[float, str, str]) -> list[Delivery]:
    return [Delivery(at, n, status, sender) for n, (at, status, sender) in enumerate(steps, 1)]


def test_the_ha_flush_race_is_told_apart_from_a_real_duplicate() -> None:
    """Resolved by one peer, firing again from a later peer within its wait, resolved: Alertmanager's HA
    race (drill/flushrace.py), reported, not failed. Anything else that notifies twice still fails."""
    waits = 2 * Timing.fast().peer_timeout + SLACK_S
    a, b = "http://127.0.0.1:9093", "http://127.0.0.1:9094"
    race = _sequence((0, "firing", a), (30, "resolved", a), (33, "firing", b), (40, "resolved", a))
    assert is_flush_race(race, waits)
    once = _sequence((0, "firing", a), (30, "resolved", a))
    assert not is_flush_race(once, waits), "nothing after the resolution: no race to excuse"
    same_peer = _sequence((0, "firing", a), (30, "resolved", a), (33, "firing", a), (40, "resolved", a))
    assert not is_flush_race(same_peer, waits), "one peer notifying firing again: the alert fired again"
    late = _sequence((0, "firing", a), (30, "resolved", a), (30 + waits + 1, "firing", b), (80, "resolved", a))
    assert not is_flush_race(late, waits), "outside the peer waits of the resolution's flush"
    unresolved = _sequence((0, "firing", a), (30, "resolved", a), (33, "firing", b))
    assert not is_flush_race(unresolved, waits), "the sequence must end resolved"
    resolved_twice = _sequence((0, "firing", a), (30, "resolved", a), (40, "resolved", b))
    assert not is_flush_race(resolved_twice, waits), "two resolutions without a re-fire: a dedup failure"


def test_a_per_operation_burn_is_told_apart_by_its_slo() -> None:
    """One alert name covers every operation's SLO: the drill expects one SLO's burn, and another SLO's alert
    in the same notification (resolved, or firing) is not it. Counting them together once made the expected
    page look notified only as resolved (the full drill of 12-07)."""
    expect = Expect.of(Alert.OPERATION_BUDGET_BURN, Severity.CRITICAL, slo="time_to_searchable")

    def entry(slo: str, status: str) -> dict:
        labels = {"alertname": Alert.OPERATION_BUDGET_BURN.value, "severity": "critical", "slo": slo}
        return {"labels": labels, "status": status}

    assert matches(entry("time_to_searchable", "firing"), expect)
    assert not matches(entry("canary_success", "resolved"), expect)
    assert str(expect) == f"{Alert.OPERATION_BUDGET_BURN.value}{{slo=time_to_searchable}}"
    with pytest.raises(ValueError):
        Expect.of(Alert.OPERATION_BUDGET_BURN, Severity.CRITICAL)  # which SLO must burn is said
    with pytest.raises(ValueError):
        Expect.of(Alert.OPERATION_BUDGET_BURN, Severity.CRITICAL, slo="nonsense")
    with pytest.raises(ValueError):
        Expect.of(Alert.HIGH_LATENCY, slo="add_latency")
    every = [
        e
        for f in (*FAULTS, *full_embedded(), *cluster_faults())
        for e in f.expect
        if e.name == Alert.OPERATION_BUDGET_BURN
    ]
    assert every and all(e.slo for e in every)


def test_the_machine_share_tells_a_starved_process_from_a_sleeping_one() -> None:
    """The healthy window's report reads the kernel's own counts: a process that only sleeps waits for no
    CPU; with twice as many busy processes as cores, each waits for one about half the time."""
    cores = os.cpu_count() or 1
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 * cores)]
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.5)
        watching = machine.watch([busy[0].pid, sleeper.pid])
        time.sleep(2.0)
        share = watching.end()
    finally:
        for proc in (*busy, sleeper):
            proc.kill()
            proc.wait()
    assert share.run_queue_wait_share[sleeper.pid] < 0.01
    assert share.run_queue_wait_share[busy[0].pid] > 0.25
    assert 0.0 <= share.steal_share < 1.0


@pytest.mark.drill
@pytest.mark.timeout(2400)  # minutes here (the embedded stack, then the cluster): past the 600 s default
def test_fire_drill(tmp_path: Path) -> None:
    result = run(tmp_path / "drill", full=False, healthy_s=60)
    print(table(result))
    assert not result.failures, "\n".join(result.failures)
    delivered = {(r["fault"], r["alert"]) for r in result.faults if r["time_to_detect_s"] is not None}
    assert {(f.name, e.name) for f in FAULTS for e in f.expect} <= delivered
    assert ("prometheus_gone", DEADMAN_ALERT) in delivered
    assert ("replica_killed", Alert.REPLICA_DOWN) in delivered
    assert ("two_replicas_killed", Alert.TOO_FEW_REPLICAS_READY) in delivered
    assert all(r["notifications"] == 1 for r in result.faults)
    assert result.checks and all(c["ok"] for c in result.checks)
    assert (tmp_path / "drill" / "drill-report.json").exists()


def test_the_previous_incidents_resolution_is_not_this_faults() -> None:
    """Injected two by two, a fault may expect an alert the fault before raised as a consequence: that
    incident's resolution can reach the receiver after the next fault starts (the settle waits for
    Prometheus, Alertmanager tells the receiver at its next group_interval tick). It closes the previous
    incident, so the page that follows is still notified once; a second firing notification before this
    incident's own resolution still counts twice."""

    def got(at: float, status: str, notification: str) -> dict[str, object]:
        return {"received_at": at, "status": status, "notification": notification}

    stale, fired, resolved = got(1, "resolved", "n0"), got(2, "firing", "n1"), got(9, "resolved", "n2")
    incident, earlier = this_incident([stale, fired, resolved])
    assert (incident, earlier) == ([fired, resolved], [stale])
    assert firing_notifications(incident) == {"n1"}
    assert firing_notifications(this_incident([stale, fired, got(3, "firing", "n3"), resolved])[0]) == {"n1", "n3"}
    assert this_incident([stale]) == ([], [stale])  # never fired: nothing of this incident
