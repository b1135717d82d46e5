"""Recording rules and alert rules, built from alerts/thresholds.yaml (a small monitoring mixin).

Two variants come from the one source: `production` and `fast` (the fire drills). They differ only
in windows and `for` durations; every threshold, selector and expression shape is the same.
"""

from __future__ import annotations

from typing import Any

#: Collector self-metrics the telemetry alert reads (OpenTelemetry Collector >= 0.107 internal
#: telemetry, Prometheus naming). The metric check accepts these besides the service's registry.
COLLECTOR_METRICS = (
    "otelcol_exporter_send_failed_spans_total",
    "otelcol_exporter_send_failed_metric_points_total",
    "otelcol_receiver_refused_spans_total",
    "otelcol_receiver_refused_metric_points_total",
    "otelcol_processor_refused_spans_total",
    "otelcol_processor_refused_metric_points_total",
)

SEVERITY_ROUTE = {"critical": "page", "warning": "ticket", "none": "watchdog"}


def _dur(text: str) -> str:
    return text


class Mixin:
    """Everything derived from the thresholds for one variant (production or fast)."""

    def __init__(self, data: dict[str, Any], variant: str = "production") -> None:
        self.data = data
        self.variant = variant
        self.job = data["service"]["job"]
        self.sel = f'job="{self.job}"'
        self.w = data["windows"][variant]
        self.t = data["targets"]
        self.th = data["thresholds"]
        self.slo = data["slo"]
        self.burns = self.slo["burn_alerts" if variant == "production" else "fast_burn_alerts"]
        self.runbook_base = data["service"]["runbook_base_url"]

    # ---- recording rules -------------------------------------------------------------------
    @property
    def rate(self) -> str:
        return str(self.w["rate"])

    def slo_windows(self) -> list[str]:
        seen: list[str] = []
        for b in self.burns:
            for key in ("long", "short"):
                if b[key] not in seen:
                    seen.append(b[key])
        return seen

    def recording_rules(self) -> dict[str, Any]:
        r, s = self.rate, self.sel
        http = "http_server_request_duration_seconds"
        api = f'{s}, http_route=~"/v1/.*"'
        rules: list[dict[str, str]] = [
            {"record": f"jm:http_requests:rate{r}", "expr": f"sum by (job) (rate({http}_count{{{s}}}[{r}]))"},
            {"record": f"jm:api_requests:rate{r}", "expr": f"sum by (job) (rate({http}_count{{{api}}}[{r}]))"},
            {
                "record": f"jm:http_errors:ratio_rate{r}",
                "expr": _error_ratio(f"{http}_count{{{s}", r),
            },
            {
                "record": f"jm:api_latency:avg{r}",
                "expr": f"sum by (job) (rate({http}_sum{{{api}}}[{r}]))\n/\n"
                f"sum by (job) (rate({http}_count{{{api}}}[{r}]))",
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
                "expr": "histogram_quantile(0.99, sum by (job, le) "
                f"(rate(jm_search_duration_seconds_bucket{{{s}}}[{r}])))",
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
            {
                "record": "jm:stm_budget:ratio",
                "expr": f"max by (job) (jm_stm_bytes{{{s}}} / jm_stm_budget_bytes{{{s}}})",
            },
            {
                "record": f"jm:admission_rejections:rate{r}",
                "expr": f"sum by (job) (rate(jm_admission_rejected_total{{{s}}}[{r}]))",
            },
        ]
        le = self.slo["latency"]["threshold_seconds"]
        slo_rules = []
        for w in self.slo_windows():
            slo_rules.append(
                {"record": f"jm:slo_availability_errors:ratio_rate{w}", "expr": _error_ratio(f"{http}_count{{{api}", w)}
            )
            slo_rules.append(
                {
                    "record": f"jm:slo_latency_slow:ratio_rate{w}",
                    "expr": f'1 - (\n  sum by (job) (rate({http}_bucket{{{api}, le="{le}"}}[{w}]))\n  /\n'
                    f"  sum by (job) (rate({http}_count{{{api}}}[{w}]))\n)",
                }
            )
        tag = "" if self.variant == "production" else f".{self.variant}"
        return {
            "groups": [
                {"name": f"jean-memory.recording{tag}", "interval": None, "rules": rules},
                {"name": f"jean-memory.slo.recording{tag}", "interval": None, "rules": slo_rules},
            ]
        }

    # ---- alerts ----------------------------------------------------------------------------
    def _alert(
        self,
        name: str,
        expr: str,
        severity: str,
        for_: str,
        summary: str,
        description: str,
        extra: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        labels = {"severity": severity, "service": self.job, "route": SEVERITY_ROUTE[severity], **(extra or {})}
        return {
            "alert": name,
            "expr": expr,
            "for": for_,
            "labels": labels,
            "annotations": {
                "summary": summary,
                "description": description,
                "runbook_url": f"{self.runbook_base}/{name}.md",
            },
        }

    def alert_rules(self) -> dict[str, Any]:
        r, s, w, th, t = self.rate, self.sel, self.w, self.th, self.t
        alerts = [
            self._alert(
                "JeanMemoryDown",
                f"(up{{{s}}} == 0)\nor\n(absent_over_time(jm_build_info{{{s}}}[{w['absent']}]) == 1)",
                "critical",
                w["service_down_for"],
                "Jean Memory is down",
                f"No Jean Memory instance of job {self.job} has reported for {w['absent']} "
                "(scrape failing, or no OTLP metrics arriving).",
            ),
            self._alert(
                "JeanMemoryHighLatency",
                f"jm:api_latency:avg{r} > {th['avg_response_seconds']}",
                "critical",
                w["for"],
                "Jean Memory average response time is over {} ms".format(_ms(th["avg_response_seconds"])),
                "Average /v1 response time over the last " + r + " is {{ $value | humanizeDuration }} "
                f"(threshold {_ms(th['avg_response_seconds'])} ms).",
            ),
            self._alert(
                "JeanMemoryCreationLatencyHigh",
                f"jm:creation_latency:p99_{r} > {th['creation_p99_seconds']}",
                "warning",
                w["for"],
                "Memory creation p99 is over {} ms".format(_ms(th["creation_p99_seconds"])),
                "Memory creation p99 over " + r + " is {{ $value | humanizeDuration }} "
                f"(threshold {_ms(th['creation_p99_seconds'])} ms; the target is a {_ms(t['creation_avg_seconds'])} ms "
                "average).",
            ),
            self._alert(
                "JeanMemorySearchLatencyHigh",
                f"jm:search_latency:p99_{r} > {th['search_p99_seconds']}",
                "warning",
                w["for"],
                "Search p99 is over {} ms".format(_ms(th["search_p99_seconds"])),
                "Search p99 (all tiers) over " + r + " is {{ $value | humanizeDuration }} "
                f"(threshold {_ms(th['search_p99_seconds'])} ms; "
                f"hot-search target {_ms(t['hot_search_p99_seconds'])} ms).",
            ),
            self._alert(
                "JeanMemoryLowCacheHitRate",
                f"jm:cache_hit:ratio_rate{r} < {th['cache_hit_ratio_min']}\nand\njm:searches:rate{r} > 0",
                "warning",
                w["for"],
                "Cache hit rate is under {:.0%}".format(th["cache_hit_ratio_min"]),
                "Share of searches answered without the model over " + r + " is {{ $value | humanizePercentage }} "
                f"(threshold {th['cache_hit_ratio_min']:.0%}, target {t['cache_hit_ratio']:.0%}).",
            ),
            self._alert(
                "JeanMemoryHighErrorRate",
                f"jm:http_errors:ratio_rate{r} > {th['error_ratio_max']}",
                "critical",
                w["for"],
                "Jean Memory error rate is over {:.0%}".format(th["error_ratio_max"]),
                "5xx share of requests over " + r + " is {{ $value | humanizePercentage }} "
                f"(threshold {th['error_ratio_max']:.0%}, target under {t['error_ratio']:.1%}).",
            ),
            self._alert(
                "JeanMemoryShuttleBacklogGrowing",
                f"deriv(jm_shuttle_pending{{{s}}}[{r}]) > {th['shuttle_backlog_growth_per_second']}\n"
                f"and\njm_shuttle_pending{{{s}}} > {th['shuttle_backlog_min']}",
                "warning",
                w["for"],
                "Writes are piling up in the journal",
                "{{ $value | humanize }} writes/s more are journaled than shipped to the long-term store; "
                f"over {th['shuttle_backlog_min']} are waiting.",
            ),
            self._alert(
                "JeanMemoryShuttleStale",
                f"max by (job) (jm_shuttle_oldest_pending_age_seconds{{{s}}}) > {th['shuttle_oldest_pending_seconds']}",
                "warning",
                w["for_short"],
                "The oldest unshipped write is over {} s old".format(th["shuttle_oldest_pending_seconds"]),
                "The oldest write not yet in the long-term store is {{ $value | humanizeDuration }} old "
                f"(threshold {th['shuttle_oldest_pending_seconds']} s).",
            ),
            self._alert(
                "JeanMemoryLTMUnreachable",
                f"max by (job) (jm_ltm_up{{{s}}}) == 0",
                "critical",
                w["for_short"],
                "The long-term store is unreachable",
                "The last calls to the long-term store failed; writes are acknowledged from the journal and "
                "retried, reads of users not in the short-term tier fail with 503.",
            ),
            self._alert(
                "JeanMemorySTMNearBudget",
                f"jm:stm_budget:ratio > {th['stm_budget_ratio']}",
                "warning",
                w["for"],
                "The short-term tier is near its memory budget",
                "The short-term tier uses {{ $value | humanizePercentage }} of its budget "
                f"(threshold {th['stm_budget_ratio']:.0%} of {t['stm_bytes'] // 2**20} MB); "
                "cold users are being evicted.",
            ),
            self._alert(
                "JeanMemoryAdmissionRejecting",
                f"jm:admission_rejections:rate{r} > {th['admission_rejections_per_second']}",
                "warning",
                w["for_short"],
                "Admission control is refusing requests",
                "{{ $value | humanize }} requests/s are refused with 429/503 "
                f"(threshold {th['admission_rejections_per_second']}/s).",
            ),
            self._alert(
                "JeanMemoryTelemetryPipelineBroken",
                self._telemetry_expr(),
                "warning",
                w["for_short"],
                "Telemetry is being lost between the service and the backends",
                "{{ $value | humanize }} failed exports or refused/dropped items per second "
                "(service OTLP exports, collector receivers and exporters).",
            ),
        ]
        alerts += self._burn_alerts()
        alerts.append(
            {
                "alert": "Watchdog",
                "expr": "vector(1)",
                "labels": {"severity": "none", "service": self.job, "route": "watchdog"},
                "annotations": {
                    "summary": "The alerting pipeline is alive",
                    "description": "Always firing. If the receiver stops getting this, alerts are not being delivered.",
                    "runbook_url": f"{self.runbook_base}/Watchdog.md",
                },
            }
        )
        tag = "" if self.variant == "production" else f".{self.variant}"
        return {"groups": [{"name": f"jean-memory.alerts{tag}", "rules": alerts}]}

    def _telemetry_expr(self) -> str:
        r = self.rate
        parts = [
            f'sum(rate(jm_telemetry_exports_total{{{self.sel}, result="failure"}}[{r}]))',
            f"sum(rate(jm_telemetry_dropped_spans_total{{{self.sel}}}[{r}]))",
        ]
        parts += [f"sum(rate({m}[{r}]))" for m in COLLECTOR_METRICS]
        joined = "\n+ ".join(f"({p} or vector(0))" for p in parts)
        return f"(\n  {joined}\n) > {self.th['telemetry_failures_per_second']}"

    def _burn_alerts(self) -> list[dict[str, Any]]:
        out = []
        for kind, record, objective in (
            ("Availability", "jm:slo_availability_errors:ratio_rate", self.slo["availability"]["objective"]),
            ("Latency", "jm:slo_latency_slow:ratio_rate", self.slo["latency"]["objective"]),
        ):
            budget = round(1 - objective, 6)
            for severity in ("critical", "warning"):
                burns = [b for b in self.burns if b["severity"] == severity]
                clauses = [
                    f"(\n  {record}{b['long']} > ({b['factor']} * {budget})\n  and\n"
                    f"  {record}{b['short']} > ({b['factor']} * {budget})\n)"
                    for b in burns
                ]
                what = (
                    "5xx"
                    if kind == "Availability"
                    else "slower than " + _ms_str(self.slo["latency"]["threshold_seconds"])
                )
                out.append(
                    self._alert(
                        f"JeanMemory{kind}BudgetBurn",
                        "\nor\n".join(clauses),
                        severity,
                        burns[0]["for"],
                        f"Jean Memory is burning its {kind.lower()} error budget fast"
                        if severity == "critical"
                        else f"Jean Memory is burning its {kind.lower()} error budget",
                        f"The share of /v1 requests {what} is {{{{ $value | humanizePercentage }}}} "
                        f"over the long window, at least {min(b['factor'] for b in burns)}x the rate "
                        f"that spends the {objective:.1%} SLO's budget "
                        "(multiwindow, multi-burn-rate).",
                        {"slo": kind.lower()},
                    )
                )
        return out

    def alert_names(self) -> list[str]:
        return sorted({a["alert"] for a in self.alert_rules()["groups"][0]["rules"]})


def _error_ratio(series: str, window: str) -> str:
    """5xx share of requests; 0 (not "no data") while no 5xx series exists yet."""
    total = f"sum by (job) (rate({series}}}[{window}]))"
    errors = f'sum by (job) (rate({series}, http_response_status_class="5xx"}}[{window}]))'
    return f"(\n  {errors}\n  or\n  0 * {total}\n)\n/\n{total}"


def _ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:g}"


def _ms_str(seconds: float) -> str:
    return f"{_ms(seconds)} ms"
