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
from jean_memory_dev.mixin.promql import (
    HTTP,
    api,
    canary_late_ratio,
    canary_success_ratio,
    creation_p99,
    requests_rate,
    route_slow_ratio,
    total,
)
from jean_memory_dev.mixin.slos import BUDGET_REMAINING, ROUTES

#: (alertname, severity) the healthy windows tolerate and report.
TOLERATED = frozenset(
    {
        (Alert.CREATION_LATENCY_HIGH.value, Severity.WARNING.value),
        (Alert.LATENCY_BUDGET_BURN.value, Severity.WARNING.value),
        (Alert.OPERATION_BUDGET_BURN.value, Severity.WARNING.value),
        (Alert.ERROR_BUDGET_EXHAUSTED.value, Severity.WARNING.value),
        (Alert.HOT_SEARCH_LATENCY_HIGH.value, Severity.WARNING.value),
        (Alert.CREATION_AVERAGE_HIGH.value, Severity.WARNING.value),
    }
)

#: Tolerated tickets whose figure is reported but never fails the window. The plan's targets (25 ms hot-search
#: p99, 5 ms creation average) are goals that live in benchmarks on a quiet machine (perf-results/), not on a
#: 2-core VM shared with the whole stack and locust. The budget over the drill's 10-minute period includes the
#: cold start before the window: spent there, it is the period remembering, not noise.
REPORTED_ONLY = frozenset(
    {
        Alert.ERROR_BUDGET_EXHAUSTED.value,
        Alert.HOT_SEARCH_LATENCY_HIGH.value,
        Alert.CREATION_AVERAGE_HIGH.value,
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
    slo = config.slo
    # Per operation: the adds' and searches' slow shares and the canary's failed share, each over its budget.
    operations = [
        f"({route_slow_ratio(ctx.sel, route, getattr(slo, name).threshold_seconds, window)}) > "
        f"{round(1 - getattr(slo, name).objective, 9)}"
        for name, route in ROUTES.items()
    ]
    operations.append(
        f"(1 - ({canary_success_ratio(ctx.canary_sel, window)})) > {round(1 - slo.canary_success.objective, 9)}"
    )
    late = canary_late_ratio(ctx.canary_sel, slo.time_to_searchable.threshold_seconds, window)
    operations.append(f"({late}) > {round(1 - slo.time_to_searchable.objective, 9)}")
    hot = (
        "histogram_quantile(0.99, sum by (job, le) "
        f'(rate(jm_search_duration_seconds_bucket{{{ctx.sel}, tier=~"cache|stm"}}[{window}])))'
    )
    creation_avg = (
        f"sum by (job) (rate(jm_memory_creation_duration_seconds_sum{{{ctx.sel}}}[{window}]))\n/\n"
        f"sum by (job) (rate(jm_memory_creation_duration_seconds_count{{{ctx.sel}}}[{window}]))"
    )
    return {
        Alert.CREATION_LATENCY_HIGH.value: f"{creation} > {config.thresholds.creation_p99_seconds}",
        Alert.LATENCY_BUDGET_BURN.value: f"1 - ({good} / {requests}) > {round(1 - config.slo.latency.objective, 9)}",
        Alert.OPERATION_BUDGET_BURN.value: "\nor\n".join(operations),
        Alert.ERROR_BUDGET_EXHAUSTED.value: f"{BUDGET_REMAINING}{ctx.slo_period} <= 0",
        Alert.HOT_SEARCH_LATENCY_HIGH.value: f"{hot} > {config.targets.hot_search_p99_seconds}",
        Alert.CREATION_AVERAGE_HIGH.value: f"{creation_avg} > {config.targets.creation_avg_seconds}",
    }
