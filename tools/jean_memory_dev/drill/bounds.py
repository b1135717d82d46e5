"""How long an alert may take to reach the receiver, and to resolve: bounds derived from the drill's
intervals (the fast rules' windows and `for`, the stack's scrape, evaluation and notification timing),
never tuned to what a run happened to measure.

Detection, from the fault's injection to the notification:

    fill (the rate window fills with faulty samples; a burn alert's windows reach their factor)
    + onset (what the fault itself needs before the condition holds: an age threshold, a backlog to build)
    + for + one scrape + two evaluations + group_wait + group_interval
    + a peer timeout when the Alertmanager that would have notified was killed (it falls to the next one)
    + SLACK_S for scheduling on a busy 2-core VM.

Resolution, from the fault's removal (for a restart: from the process being ready again):

    the rate window (a burn alert: its longest short window) + two evaluations + group_interval
    + recovery (what the system needs to recover: a backlog shipped, a lease expired) + SLACK_S.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from jean_memory_dev.mixin import BURN_ALERTS, Alert, Context, Severity, Variant, load
from jean_memory_dev.mixin.catalogue import AlertRule
from jean_memory_dev.mixin.config import duration_seconds
from jean_memory_dev.mixin.rules import catalogue_rules
from jean_memory_dev.monitoringconfig import FAST_PEER_TIMEOUT, FAST_RESEND_DELAY, deadman_after_s, timing

#: Scheduling slack on a busy 2-core VM, added to every bound.
SLACK_S = 10.0


@dataclass(frozen=True)
class Timing:
    """The drill stack's intervals, in seconds (from `monitoringconfig.timing(fast=True)`)."""

    scrape: float
    evaluation: float
    group_wait: float
    group_interval: float
    watchdog_group_interval: float
    peer_timeout: float
    resend_delay: float

    @classmethod
    @cache
    def fast(cls) -> Timing:
        t = {k: duration_seconds(v) for k, v in timing(fast=True).items()}
        return cls(
            scrape=t["PROM_SCRAPE_INTERVAL"],
            evaluation=t["PROM_EVAL_INTERVAL"],
            group_wait=t["AM_GROUP_WAIT"],
            group_interval=t["AM_GROUP_INTERVAL"],
            watchdog_group_interval=t["AM_WATCHDOG_GROUP_INTERVAL"],
            peer_timeout=duration_seconds(FAST_PEER_TIMEOUT),
            resend_delay=duration_seconds(FAST_RESEND_DELAY),
        )


def fast() -> Context:
    """The drill runs the fast rules: the typed config seen through the fast windows."""
    return Context(load(), Variant.FAST)


def _for_s(for_: str | None) -> float:
    return duration_seconds(for_) if for_ else 0.0


def rules_of(alert: Alert, severity: Severity | None = None) -> list[AlertRule]:
    """The alert's fast rules (a burn alert has one per severity; `severity` picks one)."""
    rules = [r for r in catalogue_rules(fast()) if r.alert is alert and (severity is None or r.severity is severity)]
    if not rules:
        raise ValueError(f"no rule for {alert} at severity {severity}")
    return rules


def _burn_fill_s(severity: Severity, burn: float) -> float:
    """Time until the fastest of the severity's clauses holds at a steady burn rate `burn` (bad share over
    budget): both its windows' averages reach `factor` once `window * factor / burn` of faulty samples are in."""
    clauses = [b for b in fast().burns if b.severity is severity]
    times = [
        max(duration_seconds(b.long), duration_seconds(b.short)) * b.factor / burn for b in clauses if burn > b.factor
    ]
    if not times:
        raise ValueError(f"a burn of {burn}x never reaches a {severity} clause")
    return min(times)


def detection_bound_s(
    alert: Alert,
    severity: Severity | None = None,
    *,
    burn: float | None = None,
    onset_s: float = 0.0,
    failover: bool = False,
) -> float:
    """Worst case from fault to delivery (see the module's docstring). A burn alert needs the fault's
    `burn` (its bad share over the SLO's budget, taken low) and the `severity` expected."""
    t = Timing.fast()
    rules = rules_of(alert, severity)
    if alert in BURN_ALERTS:
        if burn is None or severity is None:
            raise ValueError(f"{alert}: a burn alert's bound needs the fault's burn rate and the severity")
        fill = _burn_fill_s(severity, burn)
    else:
        fill = duration_seconds(fast().rate)
    pending = max(_for_s(r.for_) for r in rules)
    notify = t.scrape + 2 * t.evaluation + t.group_wait + t.group_interval
    return fill + onset_s + pending + notify + (t.peer_timeout if failover else 0.0) + SLACK_S


def resolution_bound_s(alert: Alert | None = None, severity: Severity | None = None, recovery_s: float = 0.0) -> float:
    """Faulty samples leave the window, two evaluations, one group_interval, recovery, the same slack."""
    t = Timing.fast()
    window = duration_seconds(fast().rate)
    if alert in BURN_ALERTS:
        window = max(duration_seconds(b.short) for b in fast().burns if severity is None or b.severity is severity)
    return window + 2 * t.evaluation + t.group_interval + recovery_s + SLACK_S


def deadman_bound_s() -> float:
    """From the last Prometheus stopping to the dead man's switch's page: the Watchdog stays valid in
    Alertmanager for 4 x max(evaluation, resend delay) after Prometheus last sent it, is re-sent at most one
    watchdog group_interval later, then the switch waits `deadman_after` and checks every second."""
    t = Timing.fast()
    lapse = 4 * max(t.evaluation, t.resend_delay) + t.watchdog_group_interval
    return lapse + deadman_after_s(fast=True) + 1.0 + SLACK_S


def deadman_resolution_bound_s() -> float:
    """From Prometheus being ready again to the switch's resolution: one evaluation sends the Watchdog,
    group_wait, one more evaluation for a slow start, the slack."""
    t = Timing.fast()
    return 2 * t.evaluation + t.group_wait + t.scrape + SLACK_S


def settle_s(alerts: Iterable[str] | None = None) -> float:
    """How long after a fault its consequences may still start firing: the longest, over the alerts it can
    raise (`alerts`, by name: what a fault expects and its consequences; every alert of the catalogue when
    not given), of the alert's `for` plus the rate window where its expression reads a window (a rate, a
    recorded windowed figure: such a condition can still come true a window after the fault is gone; an
    instant one, `up == 0`, cannot), plus a scrape and an evaluation. The SLO burn alerts count for their
    windows only: the drill waits for their pages to clear, not their tickets. The dead man's switch is no
    rule."""
    ctx = fast()
    names = None if alerts is None else set(alerts)
    raised = [r for r in catalogue_rules(ctx) if names is None or r.alert.value in names]
    window = duration_seconds(ctx.rate)
    burns = window if any(r.alert in BURN_ALERTS for r in raised) else 0.0
    others = (_for_s(r.for_) + window * reads_window(r) for r in raised if r.alert not in BURN_ALERTS)
    return max([burns, *others]) + 2.0


#: A range selector (`[20s]`), or a recorded figure named for its window (`jm:http_errors:ratio_rate20s`,
#: `jm:creation_latency:p99_20s`, `jm:api_latency:avg20s`).
_WINDOW = re.compile(r"\[\d+[smhd]|\bjm:[a-z0-9_]+:[a-z0-9_]*?\d+[smhd]\b")


def reads_window(rule: AlertRule) -> bool:
    """Whether the rule's expression reads a window of samples, not only each series' latest."""
    return bool(_WINDOW.search(rule.expr))
