"""What the drill sees of the alerting: the active alerts of every live Prometheus replica, and what the receiver
was notified (through the Alertmanager cluster). Queries only: it injects nothing and fails nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from jean_memory_dev.drill.bounds import SLACK_S, Timing
from jean_memory_dev.drill.model import Expect
from jean_memory_dev.mixin import Alert, Severity
from jean_memory_dev.nativestack import Monitoring
from jean_memory_dev.processes import AlertmanagerServer, PrometheusServer


def wait_for(check: Callable[[], bool], timeout_s: float, every_s: float = 0.5) -> float | None:
    """Seconds until `check()` held, or None when it did not within `timeout_s`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if check():
            return time.monotonic() - start
        time.sleep(every_s)
    return None


def names(alerts: Sequence[dict[str, Any]]) -> set[str]:
    return {a["labels"].get("alertname", "?") for a in alerts}


def matches(alert: dict[str, Any], expect: Expect) -> bool:
    labels = alert["labels"]
    return all(labels.get(k) == v for k, v in expect.labels.items())


class AlertObserver:
    """The monitoring as the drill reads it: `prometheus`, `alertmanagers` and `receiver` are the
    `Monitoring`'s own processes (a fault may stop or kill some of them)."""

    def __init__(self, monitoring: Monitoring) -> None:
        self.monitoring = monitoring

    @property
    def prometheus(self) -> list[PrometheusServer]:
        return self.monitoring.prometheus

    @property
    def alertmanagers(self) -> list[AlertmanagerServer]:
        return self.monitoring.alertmanagers

    # ---- what the receiver was notified ------------------------------------------------------------
    def received(self) -> list[dict[str, Any]]:
        return [dict(a) for a in self.monitoring.receiver.received()]

    def received_since(self, since: float) -> list[dict[str, Any]]:
        return [a for a in self.received() if a["received_at"] >= since]

    def delivered(self, expect: Expect, status: str, since: float) -> list[dict[str, Any]]:
        return [a for a in self.received_since(since) if matches(a, expect) and a["status"] == status]

    def pages(self, since: float, allowed: frozenset[str]) -> list[dict[str, Any]]:
        """Pages (critical, or the dead man's switch) that arrived since `since` outside `allowed`."""
        return [
            a
            for a in self.received_since(since)
            if a["status"] == "firing"
            and a["labels"].get("severity") == Severity.CRITICAL
            and a["labels"].get("alertname") not in allowed
        ]

    def peer_waits_s(self) -> float:
        """How long after one peer's notification the last peer of the cluster may still send its own for
        the same flush (its position times the peer timeout), plus the drill's slack."""
        return (len(self.alertmanagers) - 1) * Timing.fast().peer_timeout + SLACK_S

    # ---- what Prometheus evaluates -----------------------------------------------------------------
    def live_prometheus(self) -> list[PrometheusServer]:
        return [p for p in self.prometheus if p.running]

    def query(self, expr: str, prom: PrometheusServer | None = None) -> list[dict[str, Any]]:
        target = prom or self.live_prometheus()[0]
        return [dict(r) for r in target.query(expr)]

    def firing(self, pending: bool = False) -> set[tuple[str, str]]:
        """(alertname, severity) of what fires now on any live replica (with `pending`, also what is on its
        way), the Watchdog aside. Read from each replica's rule manager (`active_alerts`), not the `ALERTS`
        series: after a restart (the dead man's switch drill) that series still shows what fired before."""
        out: set[tuple[str, str]] = set()
        for prom in self.live_prometheus():
            try:
                out |= {(a["labels"]["alertname"], a["labels"].get("severity", "")) for a in _active(prom, pending)}
            except httpx.HTTPError:
                continue
        return {a for a in out if a[0] != Alert.WATCHDOG}

    def firing_on(self, expect: Expect) -> set[str]:
        """The Prometheus replicas (by folder name) on which the expected alert fires now."""
        out = set()
        for prom in self.live_prometheus():
            try:
                if self.active_on(prom, expect.labels):
                    out.add(prom.folder.name)
            except httpx.HTTPError:
                continue
        return out

    @staticmethod
    def active_on(prom: PrometheusServer, labels: dict[str, str], pending: bool = False) -> bool:
        """Whether an alert with these labels fires now on `prom` (with `pending`, or is on its way), as its
        rule manager holds it (see `firing`)."""
        return any(_has_labels(a, labels) for a in _active(prom, pending))


def _active(prom: PrometheusServer, pending: bool) -> list[dict[str, Any]]:
    return [a for a in prom.active_alerts() if pending or a["state"] == "firing"]


def _has_labels(alert: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(alert["labels"].get(k) == v for k, v in labels.items())
