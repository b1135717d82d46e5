"""Recording rules and alert rules, as the documents Prometheus loads, for one variant.

Two variants come from the one config: `production` and `fast` (the fire drills). They differ only in
windows and `for` durations; every threshold, selector, label, annotation and expression shape is the
same (a test compares them).

    >>> groups = alert_rules(Context(load(), Variant.FAST))["groups"]
"""

from __future__ import annotations

from typing import Any

from jean_memory_dev.mixin.catalogue import CATALOGUE, AlertRule, runbook_url
from jean_memory_dev.mixin.config import Variant
from jean_memory_dev.mixin.context import Context

HTTP = "http_server_request_duration_seconds"


def _tag(ctx: Context) -> str:
    """Group-name suffix: the fast copy's groups must not collide with production's when both load."""
    return "" if ctx.variant is Variant.PRODUCTION else f".{ctx.variant}"


def _error_ratio(series: str, window: str) -> str:
    """5xx share of requests; 0 (not "no data") while no 5xx series exists yet."""
    total = f"sum by (job) (rate({series}}}[{window}]))"
    errors = f'sum by (job) (rate({series}, http_response_status_class="5xx"}}[{window}]))'
    return f"(\n  {errors}\n  or\n  0 * {total}\n)\n/\n{total}"


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
    api = f'{s}, http_route=~"/v1/.*"'
    rules: list[dict[str, str]] = [
        {"record": f"jm:http_requests:rate{r}", "expr": f"sum by (job) (rate({HTTP}_count{{{s}}}[{r}]))"},
        {"record": f"jm:api_requests:rate{r}", "expr": f"sum by (job) (rate({HTTP}_count{{{api}}}[{r}]))"},
        {"record": f"jm:http_errors:ratio_rate{r}", "expr": _error_ratio(f"{HTTP}_count{{{s}", r)},
        {
            "record": f"jm:api_latency:avg{r}",
            "expr": f"sum by (job) (rate({HTTP}_sum{{{api}}}[{r}]))\n/\n"
            f"sum by (job) (rate({HTTP}_count{{{api}}}[{r}]))",
        },
        {
            "record": f"jm:creation_latency:avg{r}",
            "expr": f"sum by (job) (rate(jm_memory_creation_duration_seconds_sum{{{s}}}[{r}]))\n/\n"
            f"sum by (job) (rate(jm_memory_creation_duration_seconds_count{{{s}}}[{r}]))",
        },
        {
            "record": f"jm:creation_latency:p99_{r}",
            "expr": "histogram_quantile(0.99, sum by (job, le) "
            f"(rate(jm_memory_creation_duration_seconds_bucket{{{s}}}[{r}])))",
        },
        {
            "record": f"jm:search_latency:p99_{r}",
            "expr": f"histogram_quantile(0.99, sum by (job, le) (rate(jm_search_duration_seconds_bucket{{{s}}}[{r}])))",
        },
        {
            "record": f"jm:hot_search_latency:p99_{r}",
            "expr": "histogram_quantile(0.99, sum by (job, le) "
            f'(rate(jm_search_duration_seconds_bucket{{{s}, tier=~"cache|stm"}}[{r}])))',
        },
        {
            "record": f"jm:searches:rate{r}",
            "expr": f"sum by (job) (rate(jm_search_duration_seconds_count{{{s}}}[{r}]))",
        },
        # Every search looks in L1; on a miss it looks in L2. Model avoided = L1 hits + L2 hits.
        {
            "record": f"jm:cache_hit:ratio_rate{r}",
            "expr": f'sum by (job) (rate(jm_cache_hits_total{{{s}, level=~"l1|l2"}}[{r}]))\n/\n'
            f'sum by (job) (rate(jm_cache_hits_total{{{s}, level="l1"}}[{r}]) '
            f'+ rate(jm_cache_misses_total{{{s}, level="l1"}}[{r}]))',
        },
        {
            "record": f"jm:operations:rate{r}",
            "expr": f"sum by (job) (rate(jm_memory_creation_duration_seconds_count{{{s}}}[{r}]))\n+\n"
            f"sum by (job) (rate(jm_search_duration_seconds_count{{{s}}}[{r}]))",
        },
        {"record": "jm:stm_budget:ratio", "expr": f"max by (job) (jm_stm_bytes{{{s}}} / jm_stm_budget_bytes{{{s}}})"},
        {
            "record": f"jm:admission_rejections:rate{r}",
            "expr": f"sum by (job) (rate(jm_admission_rejected_total{{{s}}}[{r}]))",
        },
    ]
    le = ctx.config.slo.latency.threshold_seconds
    slo_rules: list[dict[str, str]] = []
    for w in slo_windows(ctx):
        slo_rules.append(
            {"record": f"jm:slo_availability_errors:ratio_rate{w}", "expr": _error_ratio(f"{HTTP}_count{{{api}", w)}
        )
        slo_rules.append(
            {
                "record": f"jm:slo_latency_slow:ratio_rate{w}",
                "expr": f'1 - (\n  sum by (job) (rate({HTTP}_bucket{{{api}, le="{le}"}}[{w}]))\n  /\n'
                f"  sum by (job) (rate({HTTP}_count{{{api}}}[{w}]))\n)",
            }
        )
    tag = _tag(ctx)
    return {
        "groups": [
            {"name": f"jean-memory.recording{tag}", "rules": rules},
            {"name": f"jean-memory.slo.recording{tag}", "rules": slo_rules},
        ]
    }


def catalogue_rules(ctx: Context) -> list[AlertRule]:
    """Every alert rule of this variant, in catalogue order (a burn alert gives one per severity)."""
    return [rule for spec in CATALOGUE.values() for rule in spec.rules(ctx)]


def rule_document(ctx: Context, rule: AlertRule) -> dict[str, Any]:
    """One alert as Prometheus reads it: every alert carries severity, service and route labels, and a
    summary, a description and its runbook link."""
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
        "runbook_url": runbook_url(ctx.config, rule.alert),
    }
    return doc


def alert_rules(ctx: Context) -> dict[str, Any]:
    """The alert rule file: one group, every alert of the catalogue."""
    return {
        "groups": [
            {"name": f"jean-memory.alerts{_tag(ctx)}", "rules": [rule_document(ctx, r) for r in catalogue_rules(ctx)]}
        ]
    }
