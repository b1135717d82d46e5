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
the SLO ratios) are built here from a selector and a grouping, so a panel filtered by replica and the
rule an alert reads are one text:

    >>> error_ratio('job="jean-memory"', "5m")                                   # the recording rule
    >>> error_ratio('job="jean-memory", instance=~"$instance"', "5m", by=())    # a panel
    >>> groups = alert_rules(Context(load(), Variant.FAST))["groups"]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jean_memory_dev.mixin.catalogue import CATALOGUE, AlertRule, runbook_url
from jean_memory_dev.mixin.config import Variant
from jean_memory_dev.mixin.context import Context
from jean_memory_dev.mixin.links import panel_url

HTTP = "http_server_request_duration_seconds"
JOB: tuple[str, ...] = ("job",)
#: The SLO's request counts keep the replica: the dashboards sum the ones their `instance` variable picks.
JOB_INSTANCE: tuple[str, ...] = ("job", "instance")


def _tag(ctx: Context) -> str:
    """Group-name suffix: the fast copy's groups must not collide with production's when both load."""
    return "" if ctx.variant is Variant.PRODUCTION else f".{ctx.variant}"


def total(expr: str, by: Sequence[str] = JOB) -> str:
    """`sum by (job) (expr)`; with no labels, `sum(expr)`: a panel's sum over the replicas it selects."""
    return f"sum by ({', '.join(by)}) ({expr})" if by else f"sum({expr})"


def api(sel: str) -> str:
    """The selector narrowed to the public API (`/v1/...`): what the latency and SLO rules measure."""
    return f'{sel}, http_route=~"/v1/.*"'


def requests_rate(sel: str, window: str, by: Sequence[str] = JOB) -> str:
    return total(f"rate({HTTP}_count{{{sel}}}[{window}])", by)


def error_ratio(sel: str, window: str, by: Sequence[str] = JOB) -> str:
    """5xx share of requests; 0 (not "no data") while no 5xx series exists yet."""
    requests = requests_rate(sel, window, by)
    errors = total(f'rate({HTTP}_count{{{sel}, http_response_status_class="5xx"}}[{window}])', by)
    return f"(\n  {errors}\n  or\n  0 * {requests}\n)\n/\n{requests}"


def cache_hit_ratio(sel: str, window: str, by: Sequence[str] = JOB) -> str:
    """Every search looks in L1; on a miss it looks in L2. Model avoided = L1 hits + L2 hits."""
    hits = total(f'rate(jm_cache_hits_total{{{sel}, level=~"l1|l2"}}[{window}])', by)
    lookups = total(
        f'rate(jm_cache_hits_total{{{sel}, level="l1"}}[{window}]) '
        f'+ rate(jm_cache_misses_total{{{sel}, level="l1"}}[{window}])',
        by,
    )
    return f"{hits}\n/\n{lookups}"


def operations_rate(sel: str, window: str, by: Sequence[str] = JOB) -> str:
    """Memory creations plus searches per second: the product plan's throughput."""
    creations = total(f"rate(jm_memory_creation_duration_seconds_count{{{sel}}}[{window}])", by)
    searches = total(f"rate(jm_search_duration_seconds_count{{{sel}}}[{window}])", by)
    return f"{creations}\n+\n{searches}"


def slo_error_ratio(sel: str, window: str, by: Sequence[str] = JOB) -> str:
    """The availability SLI's bad share over `window`, from the per-replica counts recorded below."""
    errors = total(f"jm:slo_availability_errors:rate{window}{{{sel}}}", by)
    return f"{errors}\n/\n{total(f'jm:slo_requests:rate{window}{{{sel}}}', by)}"


def slo_slow_ratio(sel: str, window: str, by: Sequence[str] = JOB) -> str:
    """The latency SLI's bad share over `window`: requests not faster than the threshold."""
    good = total(f"jm:slo_latency_good:rate{window}{{{sel}}}", by)
    return f"1 - (\n  {good}\n  /\n  {total(f'jm:slo_requests:rate{window}{{{sel}}}', by)}\n)"


def recall_miss_ratio(sel: str, window: str, by: Sequence[str] = JOB) -> str:
    """The recall SLI's bad share over `window`: the golden set's expected ids not found in the top k (empty
    while no replay runs: no golden set, or no replay in the window)."""
    hits = total(f"rate(jm_golden_hits_total{{{sel}}}[{window}])", by)
    expected = total(f"rate(jm_golden_expected_total{{{sel}}}[{window}])", by)
    return f"1 - (\n  {hits}\n  /\n  ({expected} > 0)\n)"


def slo_windows(ctx: Context) -> list[str]:
    """Every window a burn alert reads, long and short, in first-use order: each gets its SLO ratios."""
    seen: list[str] = []
    for burn in ctx.burns:
        for window in (burn.long, burn.short):
            if window not in seen:
                seen.append(window)
    return seen


def _p99(metric: str, sel: str, window: str) -> str:
    return f"histogram_quantile(0.99, sum by (job, le) (rate({metric}_bucket{{{sel}}}[{window}])))"


def creation_p99(sel: str, window: str) -> str:
    """Memory creation p99 over `window` (the drill also reads it over its whole healthy window)."""
    return _p99("jm_memory_creation_duration_seconds", sel, window)


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
        {"record": f"jm:search_latency:p99_{r}", "expr": _p99("jm_search_duration_seconds", s, r)},
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
            "expr": _p99("jm_cluster_invalidation_lag_seconds", s, r),
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
    return {"groups": groups}


FIVE_XX = 'http_response_status_class="5xx"'
#: The trend rules' prefix: what the Trends dashboard reads.
TREND = "jm:trend_"


def trend_name(figure: str, window: str, op: str = "rate") -> str:
    """`trend_name("operations", "1h")` -> `jm:trend_operations:rate1h` (sums and counts are rates too)."""
    return f"{TREND}{figure}:{op}{window}"


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
