"""The engine that runs one fault and checks what arrives.

For each fault: inject; wait until every expected alert has reached the receiver (through Alertmanager,
from every Prometheus replica) within its bound; check that no page outside the fault's allowed set
arrived meanwhile; clear; wait for each resolution within its bound; count the notifications of each
alert group (HA: both Prometheus replicas fire, the Alertmanager cluster notifies once); then wait until
the fault's consequences have cleared, so faults do not mask each other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jean_memory_dev.drill.bounds import (
    deadman_bound_s,
    deadman_resolution_bound_s,
    detection_bound_s,
    resolution_bound_s,
    settle_s,
)
from jean_memory_dev.drill.flushrace import UPSTREAM, deliveries, extra_after_resolution, is_flush_race
from jean_memory_dev.drill.model import Expect, Fault, Target
from jean_memory_dev.drill.observer import AlertObserver, matches, names, wait_for
from jean_memory_dev.drill.report import RunLog, named
from jean_memory_dev.mixin import BURN_ALERTS, DEADMAN_ALERT, Alert, Severity, load, runbook_url

#: A burn alert's ticket may outlive its fault by its long windows: the drill waits for pages to clear only.
BURN_TICKETS = frozenset((a.value, Severity.WARNING.value) for a in BURN_ALERTS)


def bounds(fault: Fault, expect: Expect) -> tuple[float, float, list[str]]:
    """(detection bound, resolution bound, notes) of one expected alert of a fault."""
    if expect.name == DEADMAN_ALERT:
        return deadman_bound_s(), deadman_resolution_bound_s(), []
    alert = Alert(expect.name)
    onset, why_onset = fault.onset.get(alert, (0.0, ""))
    recovery, why_recovery = fault.recovery.get(alert, (0.0, ""))
    detect = (
        detection_bound_s(alert, expect.severity, burn=fault.burn, onset_s=onset, failover=fault.failover)
        if alert in BURN_ALERTS
        else detection_bound_s(alert, onset_s=onset, failover=fault.failover)
    )
    resolve = resolution_bound_s(alert, expect.severity, recovery_s=recovery)
    notes = [f"+{onset:g} s onset: {why_onset}"] * bool(why_onset)
    notes += [f"+{recovery:g} s recovery: {why_recovery}"] * bool(why_recovery)
    return detect, resolve, notes


def this_incident(received: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(what the receiver got of one expected alert from its first firing on, what it got before).

    A resolution received before the fault's alert first fired closes the previous incident: the fault
    before raised the alert as a consequence, and a settle waits for Prometheus to stop firing, not for
    Alertmanager's next group_interval tick that tells the receiver."""
    first = min((a["received_at"] for a in received if a["status"] == "firing"), default=float("inf"))
    return [a for a in received if a["received_at"] >= first], [a for a in received if a["received_at"] < first]


def firing_notifications(incident: list[dict[str, Any]]) -> set[str]:
    """The notifications that told the receiver the alert fires, before the first that told it resolved."""
    first_resolved = min((a["received_at"] for a in incident if a["status"] == "resolved"), default=float("inf"))
    return {a["notification"] for a in incident if a["status"] == "firing" and a["received_at"] < first_resolved}


@dataclass
class Timeline:
    """One fault's run as the engine saw it: when it started and was cleared, what arrived when, and on
    which Prometheus replicas each expected alert was seen firing."""

    fault: Fault
    start: float
    bounds: dict[Expect, tuple[float, float, list[str]]]
    detected: dict[Expect, float] = field(default_factory=dict)
    resolved: dict[Expect, float] = field(default_factory=dict)
    seen_on: dict[Expect, set[str]] = field(default_factory=dict)
    live: set[str] = field(default_factory=set)
    pages: list[dict[str, Any]] = field(default_factory=list)
    #: When the clearing began (resolutions count from here) and ended (a restart included: the resolution
    #: clock and the settle count from here).
    clearing: float = 0.0
    cleared: float = 0.0


class FaultEngine:
    """Runs faults against `target` (the system under drill), reading the alerting through `observer` and
    writing rows and failures into `log`'s result. `ha`: every live Prometheus replica must be seen firing;
    `tolerated`: the (alertname, severity) a settle does not wait for."""

    def __init__(
        self, target: Target, observer: AlertObserver, log: RunLog, *, ha: bool, tolerated: frozenset[tuple[str, str]]
    ) -> None:
        self.target = target
        self.observer = observer
        self.log = log
        self.ha = ha
        self.tolerated = tolerated

    def run_fault(
        self, fault: Fault, during: Callable[[], None] | None = None, *, settle: bool = True
    ) -> list[dict[str, Any]]:
        """Inject, check delivery, clear, check resolution, settle (see the module's docstring). `during`
        runs once the fault is injected (the HA drill kills monitoring processes from it; the embedded run
        starts the cluster from it). `settle=False` where no fault follows: nothing is left to mask, and a
        run's warm-up waits until nothing fires anyway."""
        for action in fault.actions:  # what must exist before the fault's clock starts (a big user...)
            prepare = getattr(action, "prepare", None)
            if prepare is not None:
                prepare(self.target)
                self.settle()
        seen = self._inject_and_detect(fault, during)
        self._clear_and_resolve(seen)
        rows = [self._row(seen, e) for e in fault.expect]
        self.log.result.faults += rows
        for r in rows:
            self.log.log(
                f"{fault.name}: {named(r)} ({r['route']}) "
                f"detected {r['time_to_detect_s']} s "
                f"(bound {r['detect_bound_s']:.0f}), resolved {r['time_to_resolve_s']} s "
                f"(bound {r['resolve_bound_s']:.0f}), notified {r['notifications']}x"
            )
        if settle:
            self.settle(since=seen.cleared, fault=fault)
        return rows

    def _inject_and_detect(self, fault: Fault, during: Callable[[], None] | None) -> Timeline:
        seen = Timeline(fault, time.time(), {e: bounds(fault, e) for e in fault.expect})
        seen.seen_on = {e: set() for e in fault.expect}
        for action in fault.actions:
            action.inject(self.target)
        if during is not None:
            during()

        def all_detected() -> bool:
            for e in fault.expect:
                if e not in seen.detected and self.observer.delivered(e, "firing", seen.start):
                    seen.detected[e] = time.time() - seen.start
                if self.ha and e.alert is not None and len(seen.seen_on[e]) < len(self.observer.live_prometheus()):
                    seen.seen_on[e] |= self.observer.firing_on(e)
            return len(seen.detected) == len(fault.expect)

        wait_for(all_detected, max(b[0] for b in seen.bounds.values()) + 30)
        seen.live = {p.folder.name for p in self.observer.live_prometheus()}  # a fault may have killed one
        if self.ha:  # give every live replica the chance to have been seen firing
            wait_for(lambda: all(seen.live <= seen.seen_on[e] for e in seen.detected), 5)
            for e in seen.detected:
                seen.seen_on[e] |= self.observer.firing_on(e)
        seen.pages = self.observer.pages(seen.start, fault.allowed)
        return seen

    def _clear_and_resolve(self, seen: Timeline) -> None:
        seen.clearing = time.time()
        for action in reversed(seen.fault.actions):
            action.clear(self.target)
        seen.cleared = resolved_at = time.time()

        def all_resolved() -> bool:
            for e in seen.detected:
                if e not in seen.resolved and self.observer.delivered(e, "resolved", resolved_at):
                    seen.resolved[e] = time.time() - resolved_at
            return len(seen.resolved) == len(seen.detected)

        wait_for(all_resolved, max(b[1] for b in seen.bounds.values()) + 60)

    def _row(self, seen: Timeline, e: Expect) -> dict[str, Any]:
        detect_bound, resolve_bound, notes = seen.bounds[e]
        mine = [a for a in self.observer.received_since(seen.start) if matches(a, e)]  # one read of the receiver
        mine, earlier = this_incident(mine)
        if earlier:
            notes = [*notes, "the previous incident's resolution arrived before it fired (not counted)"]
        firing = [a for a in mine if a["status"] == "firing"]
        resolved_alerts = [a for a in mine if a["status"] == "resolved"]
        notifications = firing_notifications(mine)
        sequence = deliveries(mine)
        resolutions = {a["notification"] for a in resolved_alerts if a["received_at"] >= seen.clearing}
        race = self.ha and len(resolutions) > 1 and is_flush_race(sequence, self.observer.peer_waits_s())
        if race:
            notes = [*notes, f"Alertmanager HA flush race: resolved, firing, resolved from two peers ({UPSTREAM})"]
        alert = firing[0] if firing else None
        row = {
            "run": str(self.log.mode),
            "fault": seen.fault.name,
            "what": seen.fault.describe(),
            "alert": e.name,
            "slo": e.slo,
            "severity": str(e.severity),
            "route": e.severity.route,
            "time_to_detect_s": round(seen.detected[e], 1) if e in seen.detected else None,
            "detect_bound_s": round(detect_bound, 1),
            "time_to_resolve_s": round(seen.resolved[e], 1) if e in seen.resolved else None,
            "resolve_bound_s": round(resolve_bound, 1),
            "notifications": len(notifications),
            "resolved_notifications": len(resolutions),
            "flush_race_notifications": len(extra_after_resolution(sequence)) if race else 0,
            "deliveries": [d.describe(seen.start) for d in sequence],
            "firing_on": sorted(seen.seen_on.get(e, set())),
            "runbook_url": alert["annotations"].get("runbook_url") if alert else None,
            "dashboard_url": alert["annotations"].get("dashboard_url") if alert else None,
            "value": alert["annotations"].get("value") if alert else None,
            "unrelated_pages": sorted(names(seen.pages)),
            "notes": notes,
        }
        self._check_row(seen, e, row, alert, race=race, senders_named=all(d.sender for d in sequence))
        return row

    def _check_row(
        self,
        seen: Timeline,
        e: Expect,
        row: dict[str, Any],
        alert: dict[str, Any] | None,
        *,
        race: bool,
        senders_named: bool,
    ) -> None:
        """Fail the run where the row breaks a bound, was notified other than once, or lacks a link."""
        where = f"{self.log.mode}/{seen.fault.name}: {e} ({e.severity})"
        detect_bound, resolve_bound, _ = seen.bounds[e]
        if e not in seen.detected or seen.detected[e] > detect_bound:
            self.log.fail(f"{where} not delivered within {detect_bound:.0f} s ({row['time_to_detect_s']})")
        if e not in seen.resolved or seen.resolved[e] > resolve_bound:
            self.log.fail(f"{where} not resolved within {resolve_bound:.0f} s ({row['time_to_resolve_s']})")
        if e in seen.detected and row["notifications"] != 1:
            self.log.fail(f"{where} notified {row['notifications']} times, not once")
        if e in seen.resolved and row["resolved_notifications"] != 1 and not race:
            told = ", ".join(row["deliveries"])
            self.log.fail(
                f"{where} resolution notified {row['resolved_notifications']} times, not once (after the fault: {told})"
            )
        if self.ha and e.alert is not None and not senders_named:
            self.log.fail(f"{where}: a notification does not name the Alertmanager that sent it")
        if self.ha and e.alert is not None and e in seen.detected and not seen.live <= seen.seen_on[e]:
            self.log.fail(
                f"{where} fired on {sorted(seen.seen_on[e])} only, not on every live replica {sorted(seen.live)}"
            )
        if alert and e.alert is not None:
            config = load()
            if alert["annotations"].get("runbook_url") != runbook_url(config, e.alert):
                self.log.fail(f"{where}: wrong runbook link {alert['annotations'].get('runbook_url')}")
            if alert["labels"].get("service") != config.service.job:
                self.log.fail(f"{where}: alert lacks the service label")
            if not str(alert["annotations"].get("dashboard_url", "")).startswith(config.service.dashboard_base_url):
                self.log.fail(f"{where}: no dashboard link")
        if seen.pages:
            self.log.fail(f"{where}: unrelated pages {row['unrelated_pages']}")

    def settle(self, since: float | None = None, timeout_s: float = 150.0, fault: Fault | None = None) -> None:
        """Let every alert a fault raised clear before the next fault, so faults do not mask each other:
        an alert can still turn firing up to (rate window + its `for`) after the fault is gone, so wait
        until that long after `since` (when the fault was cleared; now when not given) for the alerts
        `fault` can raise (every alert's, without one), then until nothing fires or is pending (burn
        tickets aside: their long windows keep them for minutes by design; they page nobody). Counting
        from the clearing, not from the resolutions the drill waited for in between, keeps the guarantee
        and spends no time twice."""
        start = time.time() if since is None else since
        time.sleep(max(0.0, start + settle_s(fault.allowed if fault else None) - time.time()))
        wait_for(lambda: not (self.observer.firing(pending=True) - BURN_TICKETS - self.tolerated), timeout_s)
