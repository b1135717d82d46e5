"""Recording rules and alert rules, as the documents Prometheus loads, for one variant.

Two variants come from the one config: `production` and `fast` (the fire drills). They differ only in
windows and `for` durations; every threshold, selector, label, annotation and expression shape is the
same (a test compares them).

Recording rules aggregate per job, except the SLO's request counts, which keep `instance` so that the
SLO dashboard can show the budget of the replicas it selects; the job's ratios are summed from them.
The trend rules (`jm:trend_*`, production only, evaluated every `trends.interval`) record the product
plan's figures over `trends.window` as sums per replica (sums and counts, not ratios, and buckets, not
quantiles), so that the Trends dashboard can add up the replicas it selects and compare with `offset`.
The expressions a dashboard also draws (request and operation rates, the error and cache hit ratios,
the SLO ratios) come from `promql`, so a panel filtered by replica and the rule an alert reads are one
text:

    >>> groups = alert_rules(Context(load(), Variant.FAST))["groups"]
"""

from __future__ import annotations

from typing import Any

from jean_memory_dev.mixin.catalogue import CATALOGUE, AlertRule, runbook_url
from jean_memory_dev.mixin.config import Variant, duration_seconds
from jean_memory_dev.mixin.context import Context
from jean_memory_dev.mixin.links import panel_url
from jean_memory_dev.mixin.promql import (
    FIVE_XX,
    HTTP,
    JOB_INSTANCE,
    api,
    cache_hit_ratio,
    canary_late_ratio,
    canary_success_ratio,
    creation_p99,
    error_ratio,
    operations_rate,
    p99,
    recall_miss_ratio,
    requests_rate,
    route_slow_ratio,
    slo_error_ratio,
    slo_slow_ratio,
    total,
    trend_name,
)
from jean_memory_dev.mixin.slos import (
    BUDGET_REMAINING,
    ROUTES,
    SLI_ERRORS,
    SLO_BUDGET,
    SLO_OBJECTIVE,
    SLO_PERIOD,
    SLOS,
)


def _tag(ctx: Context) -> str:
    """Group-name suffix: the fast copy's groups must not collide with production's when both load."""
    return "" if ctx.variant is Variant.PRODUCTION else f".{ctx.variant}"


def slo_windows(ctx: Context) -> list[str]:
    """Every window a burn alert reads, long and short, in first-use order: each gets its SLO ratios."""
    seen: list[str] = []
    for burn in ctx.burns:
        for window in (burn.long, burn.short):
            if window not in seen:
                seen.append(window)
    return seen


def recording_rules(ctx: Context) -> dict[str, Any]:
    """Every expensive expression, recorded: what the alerts and dashboards read."""
    r, s = ctx.rate, ctx.sel
    rules: list[dict[str, str]] = [
        {"record": f"jm:http_requests:rate{r}", "expr": requests_rate(s, r)},
        {"record": f"jm:api_requests:rate{r}", "expr": requests_rate(api(s), r)},
        {"record": f"jm:http_errors:ratio_rate{r}", "expr": error_ratio(s, r)},
        {
            "record": f"jm:api_latency:avg{r}",
            "expr": f"sum by (job) (rate({HTTP}_sum{{{api(s)}}}[{r}]))\n/\n"
            f"sum by (job) (rate({HTTP}_count{{{api(s)}}}[{r}]))",
        },
        {
            "record": f"jm:creation_latency:avg{r}",
            "expr": f"sum by (job) (rate(jm_memory_creation_duration_seconds_sum{{{s}}}[{r}]))\n/\n"
            f"sum by (job) (rate(jm_memory_creation_duration_seconds_count{{{s}}}[{r}]))",
        },
        {"record": f"jm:creation_latency:p99_{r}", "expr": creation_p99(s, r)},
        {"record": f"jm:search_latency:p99_{r}", "expr": p99("jm_search_duration_seconds", s, r)},
        {
            "record": f"jm:hot_search_latency:p99_{r}",
            "expr": "histogram_quantile(0.99, sum by (job, le) "
            f'(rate(jm_search_duration_seconds_bucket{{{s}, tier=~"cache|stm"}}[{r}])))',
        },
        {
            "record": f"jm:searches:rate{r}",
            "expr": f"sum by (job) (rate(jm_search_duration_seconds_count{{{s}}}[{r}]))",
        },
        {"record": f"jm:cache_hit:ratio_rate{r}", "expr": cache_hit_ratio(s, r)},
        {"record": f"jm:operations:rate{r}", "expr": operations_rate(s, r)},
        {"record": "jm:stm_budget:ratio", "expr": f"max by (job) (jm_stm_bytes{{{s}}} / jm_stm_budget_bytes{{{s}}})"},
        {
            "record": f"jm:admission_rejections:rate{r}",
            "expr": f"sum by (job) (rate(jm_admission_rejected_total{{{s}}}[{r}]))",
        },
        # Cluster mode: commit on any replica -> change notification here (0 observations elsewhere: NaN).
        {
            "record": f"jm:cluster_invalidation_lag:p99_{r}",
            "expr": p99("jm_cluster_invalidation_lag_seconds", s, r),
        },
    ]
    le = ctx.config.slo.latency.threshold_seconds
    slo_rules: list[dict[str, str]] = []
    for w in slo_windows(ctx):
        requests = f"jm:slo_requests:rate{w}"
        errors = total(f'rate({HTTP}_count{{{api(s)}, http_response_status_class="5xx"}}[{w}])', JOB_INSTANCE)
        slo_rules += [
            {"record": requests, "expr": requests_rate(api(s), w, JOB_INSTANCE)},
            # 0, not "no data", while no 5xx series exists yet: a healthy service's budget stays full.
            {"record": f"jm:slo_availability_errors:rate{w}", "expr": f"{errors}\nor\n0 * {requests}{{{s}}}"},
            {
                "record": f"jm:slo_latency_good:rate{w}",
                "expr": total(f'rate({HTTP}_bucket{{{api(s)}, le="{le}"}}[{w}])', JOB_INSTANCE),
            },
            {"record": f"jm:slo_availability_errors:ratio_rate{w}", "expr": slo_error_ratio(s, w)},
            {"record": f"jm:slo_latency_slow:ratio_rate{w}", "expr": slo_slow_ratio(s, w)},
            {"record": f"jm:slo_recall_misses:ratio_rate{w}", "expr": recall_miss_ratio(s, w)},
        ]
    tag = _tag(ctx)
    groups: list[dict[str, Any]] = [
        {"name": f"jean-memory.recording{tag}", "rules": rules},
        {"name": f"jean-memory.slo.recording{tag}", "rules": slo_rules},
    ]
    if ctx.variant is Variant.PRODUCTION:  # the drill stages the production rules too: one copy is enough
        groups.append({"name": "jean-memory.trends", "interval": ctx.config.trends.interval, "rules": trend_rules(ctx)})
    groups.append({"name": f"jean-memory.slo-sli.recording{tag}", "rules": sli_rules(ctx)})
    if ctx.variant is Variant.PRODUCTION:  # one copy of the metadata: the fast rules' period joins it too
        groups.append({"name": "jean-memory.slo-meta", "rules": slo_meta_rules(ctx)})
    groups.append({"name": f"jean-memory.slo-period.recording{tag}", "rules": slo_period_rules(ctx)})
    return {"groups": groups}


# ---- SLOs per operation and over the period ---------------------------------------------------------------


def sli_errors(ctx: Context, slo: str, window: str) -> str:
    """SLO `slo`'s bad share over `window`, by job."""
    s, slo_config = ctx.sel, ctx.config.slo
    if slo == "availability":
        return f"jm:slo_availability_errors:ratio_rate{window}"
    if slo == "latency":
        return f"jm:slo_latency_slow:ratio_rate{window}"
    if slo == "recall":
        return f"jm:slo_recall_misses:ratio_rate{window}"
    if slo in ROUTES:
        return route_slow_ratio(s, ROUTES[slo], getattr(slo_config, slo).threshold_seconds, window)
    if slo == "canary_success":
        return f"1 - (\n{canary_success_ratio(ctx.canary_sel, window)}\n)"
    if slo == "time_to_searchable":
        return canary_late_ratio(ctx.canary_sel, slo_config.time_to_searchable.threshold_seconds, window)
    raise ValueError(f"unknown SLO {slo!r}")


def sli_rules(ctx: Context) -> list[dict[str, Any]]:
    """Every SLO's bad share over every window a burn alert reads, as `jm:slo_errors:ratio_rate<w>{slo}`."""
    return [
        {"record": f"{SLI_ERRORS}{w}", "expr": sli_errors(ctx, slo, w), "labels": {"slo": slo}}
        for w in slo_windows(ctx)
        for slo in SLOS
    ]


def slo_meta_rules(ctx: Context) -> list[dict[str, Any]]:
    """Each SLO's objective, error budget and period (production's: the drill's shorter period is a
    scaled-down copy of the same SLO)."""
    rules: list[dict[str, Any]] = []
    period = duration_seconds(ctx.config.slo.period)
    for slo in SLOS:
        objective = getattr(ctx.config.slo, slo).objective
        labels = {"slo": slo}
        rules += [
            {"record": SLO_OBJECTIVE, "expr": f"vector({objective})", "labels": labels},
            {"record": SLO_BUDGET, "expr": f"vector({round(1 - objective, 6)})", "labels": labels},
            {"record": SLO_PERIOD, "expr": f"vector({period:.0f})", "labels": labels},
        ]
    return rules


def slo_period_rules(ctx: Context) -> list[dict[str, Any]]:
    """Over the period: every SLO's bad share (the mean of its rate-window share, as Sloth computes it) and
    the error budget left."""
    period, rate = ctx.slo_period, ctx.rate
    if rate not in slo_windows(ctx):
        raise ValueError(f"the rate window {rate} must be a burn window: the period averages its SLO shares")
    errors = f"{SLI_ERRORS}{period}"
    return [
        {"record": errors, "expr": f"avg_over_time({SLI_ERRORS}{rate}[{period}])"},
        {
            "record": f"{BUDGET_REMAINING}{period}",
            "expr": f"1 - (\n  {errors}\n  / on (slo) group_left ()\n  {SLO_BUDGET}\n)",
        },
    ]


def trend_rules(ctx: Context) -> list[dict[str, str]]:
    """The product plan's figures over the long trend window, per replica (see the module's docstring)."""
    w, s = ctx.config.trends.window, ctx.sel
    by = JOB_INSTANCE
    requests = trend_name("api_requests", w)
    rules = [
        {"record": requests, "expr": requests_rate(api(s), w, by)},
        {
            "record": trend_name("api_errors", w),
            "expr": f"{total(f'rate({HTTP}_count{{{api(s)}, {FIVE_XX}}}[{w}])', by)}\nor\n0 * {requests}{{{s}}}",
        },
        {"record": trend_name("api_seconds_sum", w), "expr": total(f"rate({HTTP}_sum{{{api(s)}}}[{w}])", by)},
        {
            "record": trend_name("creation_seconds_sum", w),
            "expr": total(f"rate(jm_memory_creation_duration_seconds_sum{{{s}}}[{w}])", by),
        },
        {
            "record": trend_name("creation_seconds_count", w),
            "expr": total(f"rate(jm_memory_creation_duration_seconds_count{{{s}}}[{w}])", by),
        },
        {
            "record": trend_name("hot_search_seconds_bucket", w),
            "expr": total(f'rate(jm_search_duration_seconds_bucket{{{s}, tier=~"cache|stm"}}[{w}])', (*by, "le")),
        },
        {
            "record": trend_name("cache_hits", w),
            "expr": total(f'rate(jm_cache_hits_total{{{s}, level=~"l1|l2"}}[{w}])', by),
        },
        {
            "record": trend_name("cache_lookups", w),
            "expr": total(
                f'rate(jm_cache_hits_total{{{s}, level="l1"}}[{w}]) '
                f'+ rate(jm_cache_misses_total{{{s}, level="l1"}}[{w}])',
                by,
            ),
        },
        {"record": trend_name("operations", w), "expr": operations_rate(s, w, by)},
        # A gauge: its mean over the window.
        {
            "record": trend_name("stm_bytes", w, "avg"),
            "expr": f"avg by (job, instance) (avg_over_time(jm_stm_bytes{{{s}}}[{w}]))",
        },
    ]
    return rules


def catalogue_rules(ctx: Context) -> list[AlertRule]:
    """Every alert rule of this variant, in catalogue order (a burn alert gives one per severity)."""
    return [rule for spec in CATALOGUE.values() for rule in spec.rules(ctx)]


def rule_document(ctx: Context, rule: AlertRule) -> dict[str, Any]:
    """One alert as Prometheus reads it: every alert carries severity, service and route labels, and a
    summary, a description, its value as a person reads it, its runbook link and a link to the dashboard
    panel that answers it (what the notification templates in alerts/templates/ show)."""
    doc: dict[str, Any] = {"alert": rule.alert.value, "expr": rule.expr}
    if rule.for_ is not None:
        doc["for"] = rule.for_
    doc["labels"] = {
        "severity": rule.severity.value,
        "service": ctx.job,
        "route": rule.severity.route,
        **rule.labels,
    }
    doc["annotations"] = {
        "summary": rule.summary,
        "description": rule.description,
        "value": rule.value,
        "runbook_url": runbook_url(ctx.config, rule.alert),
        "dashboard_url": panel_url(ctx.config, rule.panel, rule.link_instance),
    }
    return doc


def alert_rules(ctx: Context) -> dict[str, Any]:
    """The alert rule file: one group, every alert of the catalogue."""
    return {
        "groups": [
            {"name": f"jean-memory.alerts{_tag(ctx)}", "rules": [rule_document(ctx, r) for r in catalogue_rules(ctx)]}
        ]
    }
