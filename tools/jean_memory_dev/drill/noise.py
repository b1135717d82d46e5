"""Tickets the healthy window may tolerate, and the check that decides they were noise.

The drill runs its alerts on `fast` windows: a creation p99 over 20 s is read from about 300 adds at the
drill's load, so it is the third slowest add, and one 50 ms scheduling hiccup of a 2-core VM shared with
two Prometheus, three Alertmanagers, the receiver and locust fires the ticket; the production rule reads
a 5-minute window (4,500 adds) and ignores it. A tolerated ticket therefore passes only where the figure
it guards held over the *whole* healthy window: creation p99 under its threshold and the latency SLO's
slow share inside its budget (a burn factor of 1). A page is never tolerated, and a ticket whose figure
failed over the whole window is a false negative of the service, not noise: the window fails.
"""

from __future__ import annotations

from jean_memory_dev.mixin import Alert, Severity, load
from jean_memory_dev.mixin.config import Variant
from jean_memory_dev.mixin.context import Context
from jean_memory_dev.mixin.rules import HTTP, api, creation_p99, requests_rate, total

#: (alertname, severity) the healthy windows tolerate and report.
TOLERATED = frozenset(
    {
        (Alert.CREATION_LATENCY_HIGH.value, Severity.WARNING.value),
        (Alert.LATENCY_BUDGET_BURN.value, Severity.WARNING.value),
    }
)


def breaches(seconds: float) -> dict[str, str]:
    """For each tolerated alert, PromQL that returns a series when its figure over the last `seconds`
    (the whole healthy window) breaks what the alert guards."""
    config = load()
    ctx = Context(config, Variant.FAST)
    window = f"{int(seconds)}s"
    le = config.slo.latency.threshold_seconds
    good = total(f'rate({HTTP}_bucket{{{api(ctx.sel)}, le="{le}"}}[{window}])')
    requests = requests_rate(api(ctx.sel), window)
    creation = creation_p99(ctx.sel, window)
    return {
        Alert.CREATION_LATENCY_HIGH.value: f"{creation} > {config.thresholds.creation_p99_seconds}",
        Alert.LATENCY_BUDGET_BURN.value: f"1 - ({good} / {requests}) > {round(1 - config.slo.latency.objective, 9)}",
    }
