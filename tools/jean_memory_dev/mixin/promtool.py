"""promtool unit tests for every alert, generated from the config so they move with it.

Each alert gets a case where it fires (labels and rendered annotations checked exactly) and a case
where it stays silent. Inputs are chosen so that `$value` is a round number: the expected text is
then written here by hand, as a person would read it, not computed by the code under test. The test
file loads the very rule files Prometheus loads (`layout.py`), by paths relative to itself.
"""

from __future__ import annotations

import os
from typing import Any

from jean_memory_dev.mixin import layout
from jean_memory_dev.mixin.catalogue import CATALOGUE, Alert, ThresholdAlert, runbook_url
from jean_memory_dev.mixin.config import Severity, Variant
from jean_memory_dev.mixin.context import Context
from jean_memory_dev.mixin.links import INSTANCE_VARIABLE, panel_url
from jean_memory_dev.mixin.rules import alert_rules, catalogue_rules, recording_rules

HTTP = "http_server_request_duration_seconds"
BUCKETS = (
    "0.00025",
    "0.0005",
    "0.001",
    "0.0025",
    "0.005",
    "0.01",
    "0.025",
    "0.05",
    "0.1",
    "0.25",
    "0.5",
    "1.0",
    "2.5",
    "5.0",
    "10.0",
    "+Inf",
)


def counter(name: str, labels: dict[str, str], per_min: float, minutes: int, start: float = 0) -> dict[str, str]:
    body = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{body}}}", "values": f"{start:g}+{per_min:g}x{minutes}"}


def gauge(name: str, labels: dict[str, str], value: float, minutes: int) -> dict[str, str]:
    body = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{body}}}", "values": f"{value:g}x{minutes}"}


def histogram(name: str, labels: dict[str, str], per_min: float, bucket: str, minutes: int) -> list[dict[str, str]]:
    """Every observation lands in `bucket`: cumulative buckets below it stay at 0."""
    out = []
    hit = False
    for le in BUCKETS:
        hit = hit or le == bucket
        out.append(counter(f"{name}_bucket", {**labels, "le": le}, per_min if hit else 0, minutes))
    out.append(counter(f"{name}_count", labels, per_min, minutes))
    return out


def http(job: str, cls: str, per_min: float, minutes: int, route: str = "/v1/search") -> dict[str, str]:
    labels = {"job": job, "http_request_method": "POST", "http_route": route, "http_response_status_class": cls}
    return counter(f"{HTTP}_count", labels, per_min, minutes)


class Cases:
    """The cases, against the production rules (the ones a person reads and Prometheus pages from)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.job = ctx.job
        self.j = {"job": ctx.job}
        self.summaries = {r.alert: r.summary for r in catalogue_rules(ctx)}

    def labels(self, severity: Severity, **extra: str) -> dict[str, str]:
        return {"severity": severity.value, "service": self.job, "route": severity.route, **extra}

    def annotations(self, alert: Alert, description: str, value: str, instance: str = "") -> dict[str, str]:
        """What a firing alert must carry, `value` as rendered (written by hand, like the description)."""
        return {
            "summary": self.summaries[alert],
            "description": description,
            "value": value,
            "runbook_url": runbook_url(self.config, alert),
            "dashboard_url": self.dashboard_url(alert, instance),
        }

    def dashboard_url(self, alert: Alert, instance: str = "") -> str:
        """The panel link as Prometheus renders it for an alert about `instance` (or the job)."""
        spec = CATALOGUE[alert]
        per_replica = isinstance(spec, ThresholdAlert) and spec.link_instance
        url = panel_url(self.config, spec.answers[0], per_replica)
        return url.replace(INSTANCE_VARIABLE, f"var-instance={instance}") if per_replica else url

    def case(
        self, alert: Alert, series: list[dict[str, str]], at: str, expected: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return self.cases(series, at, {alert: expected})

    def cases(
        self, series: list[dict[str, str]], at: str, expected: dict[Alert, list[dict[str, Any]]]
    ) -> dict[str, Any]:
        """One input, several alerts checked against it: one fires, its neighbour stays silent."""
        return {
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                {"eval_time": at, "alertname": alert.value, "exp_alerts": exp} for alert, exp in expected.items()
            ],
        }

    def replica(self, instance: str, up: int, ready: int | None = None, mode: str = "cluster") -> list[dict[str, str]]:
        """One replica's `up`, and while it is up its build info (with `mode`) and `jm_ready`."""
        labels = {**self.j, "instance": instance}
        series = [gauge("up", labels, up, 20)]
        if up:
            info = {**labels, "version": "3.0.0", "python": "3.11.7", "mode": mode}
            ready = 1 if ready is None else ready
            series += [gauge("jm_build_info", info, 1, 20), gauge("jm_ready", labels, ready, 20)]
        return series

    def all(self) -> list[dict[str, Any]]:
        j, job, th = self.j, self.job, self.config.thresholds
        cases: list[dict[str, Any]] = []

        # JeanMemoryDown: no replica up. The only instance's scrape failing (up == 0, and its build info
        # absent: one alert for the job), and nothing reporting at all (absent, as over OTLP).
        down = [{"exp_labels": self.labels(Severity.CRITICAL, job=job), "exp_annotations": self._down()}]
        cases.append(self.cases(self.replica("a:8766", up=0), "10m", {Alert.DOWN: down, Alert.REPLICA_DOWN: []}))
        cases.append(self.case(Alert.DOWN, [], "10m", down))
        cases.append(self.cases(self.replica("a:8766", up=1), "10m", {Alert.DOWN: [], Alert.REPLICA_DOWN: []}))
        # One replica of two down: a ticket for that replica, no page.
        replica_down = [
            {
                "exp_labels": self.labels(Severity.WARNING, job=job, instance="a:8766"),
                "exp_annotations": self.annotations(
                    Alert.REPLICA_DOWN,
                    "Replica a:8766 of job jean-memory has failed its scrapes for 1m; at least one other replica "
                    "is up and serving.",
                    "a:8766 down",
                    instance="a:8766",
                ),
            }
        ]
        cases.append(
            self.cases(
                self.replica("a:8766", up=0) + self.replica("b:8766", up=1),
                "10m",
                {Alert.REPLICA_DOWN: replica_down, Alert.DOWN: []},
            )
        )

        # Replicas ready, in cluster mode only: 1 of 3 ready, then 0 of 2 (up but cut off from PostgreSQL),
        # page; 2 of 3 ready, or a lone embedded instance not ready (starting), stay silent.
        for replicas, value in (
            (self.replica("a:8766", 1) + self.replica("b:8766", 1, 0) + self.replica("c:8766", 1, 0), "1"),
            (self.replica("a:8766", 1, 0) + self.replica("b:8766", 1, 0), "0"),
        ):
            exp = [
                {
                    "exp_labels": self.labels(Severity.CRITICAL, job=job),
                    "exp_annotations": self.annotations(
                        Alert.TOO_FEW_REPLICAS_READY,
                        f"{value} replica(s) of job jean-memory in cluster mode report ready (jm_ready == 1); at "
                        "least 2 are needed to lose one and keep serving.",
                        f"{value} ready",
                    ),
                }
            ]
            cases.append(self.case(Alert.TOO_FEW_REPLICAS_READY, replicas, "10m", exp))
        for replicas in (
            self.replica("a:8766", 1) + self.replica("b:8766", 1) + self.replica("c:8766", 1, 0),
            self.replica("a:8766", 1, 0, mode="embedded"),
        ):
            cases.append(self.case(Alert.TOO_FEW_REPLICAS_READY, replicas, "10m", []))

        # High average latency: 6 s of request time per 60 requests a minute = 100 ms each.
        lat = {**j, "http_request_method": "POST", "http_route": "/v1/search", "http_response_status_class": "2xx"}
        for per_min, fires in ((6, True), (0.6, False)):
            series = [counter(f"{HTTP}_sum", lat, per_min, 30), counter(f"{HTTP}_count", lat, 60, 30)]
            exp = [
                {
                    "exp_labels": self.labels(Severity.CRITICAL, job=job),
                    "exp_annotations": self.annotations(
                        Alert.HIGH_LATENCY,
                        "Average /v1 response time over the last 5m is 100ms (threshold 50 ms).",
                        "100ms",
                    ),
                }
            ]
            cases.append(self.case(Alert.HIGH_LATENCY, series, "20m", exp if fires else []))

        # Creation p99: everything in the (25 ms, 50 ms] bucket gives 49.75 ms; in (0.5, 1] ms, silence.
        for bucket, fires in (("0.05", True), ("0.001", False)):
            series = histogram("jm_memory_creation_duration_seconds", {**j, "mode": "single"}, 60, bucket, 30)
            exp = [
                {
                    "exp_labels": self.labels(Severity.WARNING, job=job),
                    "exp_annotations": self.annotations(
                        Alert.CREATION_LATENCY_HIGH,
                        "Memory creation p99 over 5m is 49.75ms (threshold 25 ms; the target is a 5 ms average).",
                        "49.75ms",
                    ),
                }
            ]
            cases.append(self.case(Alert.CREATION_LATENCY_HIGH, series, "20m", exp if fires else []))

        # Search p99: everything in (100 ms, 250 ms] gives 248.5 ms.
        for bucket, fires in (("0.25", True), ("0.005", False)):
            series = histogram("jm_search_duration_seconds", {**j, "tier": "stm"}, 60, bucket, 30)
            exp = [
                {
                    "exp_labels": self.labels(Severity.WARNING, job=job),
                    "exp_annotations": self.annotations(
                        Alert.SEARCH_LATENCY_HIGH,
                        "Search p99 (all tiers) over 5m is 248.5ms (threshold 100 ms; hot-search target 25 ms).",
                        "248.5ms",
                    ),
                }
            ]
            cases.append(self.case(Alert.SEARCH_LATENCY_HIGH, series, "20m", exp if fires else []))

        # Cache hit rate: (L1 hits + L2 hits) / L1 lookups = (10 + 20) / 100 = 30 %; silent at 95 %.
        for l1_hit, l1_miss, l2_hit, fires in ((10, 90, 20, True), (90, 10, 5, False)):
            series = [
                counter("jm_cache_hits_total", {**j, "level": "l1"}, l1_hit, 30),
                counter("jm_cache_misses_total", {**j, "level": "l1"}, l1_miss, 30),
                counter("jm_cache_hits_total", {**j, "level": "l2"}, l2_hit, 30),
                counter("jm_search_duration_seconds_count", {**j, "tier": "stm"}, 100, 30),
            ]
            exp = [
                {
                    "exp_labels": self.labels(Severity.WARNING, job=job),
                    "exp_annotations": self.annotations(
                        Alert.LOW_CACHE_HIT_RATE,
                        "Share of searches answered without the model over 5m is 30% (threshold 80%, target 90%).",
                        "30%",
                    ),
                }
            ]
            cases.append(self.case(Alert.LOW_CACHE_HIT_RATE, series, "20m", exp if fires else []))

        # Error rate: 10 of 100 requests a minute are 5xx = 10 %; silent at 0.5 %.
        for bad, fires in ((10, True), (0.5, False)):
            series = [http(job, "5xx", bad, 30), http(job, "2xx", 100 - bad, 30)]
            exp = [
                {
                    "exp_labels": self.labels(Severity.CRITICAL, job=job),
                    "exp_annotations": self.annotations(
                        Alert.HIGH_ERROR_RATE,
                        "5xx share of requests over 5m is 10% (threshold 1%, target under 0.1%).",
                        "10%",
                    ),
                }
            ]
            cases.append(self.case(Alert.HIGH_ERROR_RATE, series, "20m", exp if fires else []))

        # Shuttle backlog: +100 writes a minute over 2000 waiting = 1.667/s; flat is silent.
        for growth, fires in ((100, True), (0, False)):
            series = [counter("jm_shuttle_pending", j, growth, 30, start=th.shuttle_backlog_min * 2)]
            exp = [
                {
                    "exp_labels": self.labels(Severity.WARNING, job=job),
                    "exp_annotations": self.annotations(
                        Alert.SHUTTLE_BACKLOG_GROWING,
                        "1.667 writes/s more are journaled than shipped to the long-term store; over 1000 are waiting.",
                        "1.667",
                    ),
                }
            ]
            cases.append(self.case(Alert.SHUTTLE_BACKLOG_GROWING, series, "20m", exp if fires else []))

        for age, fires in ((600, True), (30, False)):
            series = [gauge("jm_shuttle_oldest_pending_age_seconds", j, age, 20)]
            exp = [
                {
                    "exp_labels": self.labels(Severity.WARNING, job=job),
                    "exp_annotations": self.annotations(
                        Alert.SHUTTLE_STALE,
                        "The oldest write not yet in the long-term store is 10m 0s old (threshold 300 s).",
                        "10m 0s",
                    ),
                }
            ]
            cases.append(self.case(Alert.SHUTTLE_STALE, series, "10m", exp if fires else []))

        for up, fires in ((0, True), (1, False)):
            series = [gauge("jm_ltm_up", {**j, "store": "postgres"}, up, 20)]
            exp = [
                {
                    "exp_labels": self.labels(Severity.CRITICAL, job=job),
                    "exp_annotations": self.annotations(
                        Alert.LTM_UNREACHABLE,
                        "The last calls to the long-term store failed; writes are acknowledged from the journal and "
                        "retried, reads of users not in the short-term tier fail with 503.",
                        "store calls failing",
                    ),
                }
            ]
            cases.append(self.case(Alert.LTM_UNREACHABLE, series, "10m", exp if fires else []))

        budget = self.config.targets.stm_bytes
        # A steady 95 %; a tier at its budget evicting down to 88 % and filling again every other minute (its
        # average is over the threshold although every other sample is under it); a steady 50 %.
        sawtooth = {"series": gauge("jm_stm_bytes", j, 0, 1)["series"],
                    "values": " ".join(f"{budget * (0.88 if m % 2 else 1.0):g}" for m in range(31))}  # fmt: skip
        for stm, shown, fires in (
            (gauge("jm_stm_bytes", j, budget * 0.95, 30), "95%", True),
            (sawtooth, "94%", True),
            (gauge("jm_stm_bytes", j, budget * 0.5, 30), "", False),
        ):
            series = [stm, gauge("jm_stm_budget_bytes", j, budget, 30)]
            exp = [
                {
                    "exp_labels": self.labels(Severity.WARNING, job=job),
                    "exp_annotations": self.annotations(
                        Alert.STM_NEAR_BUDGET,
                        f"The short-term tier used {shown} of its budget on average over 5m (threshold 90% of "
                        "512 MB); cold users are being evicted.",
                        shown,
                    ),
                }
            ]
            cases.append(self.case(Alert.STM_NEAR_BUDGET, series, "20m", exp if fires else []))

        for per_min, fires in ((300, True), (6, False)):
            series = [
                counter(
                    "jm_admission_rejected_total",
                    {**j, "operation": "write", "reason": "embedding_backlog"},
                    per_min,
                    20,
                )
            ]
            exp = [
                {
                    "exp_labels": self.labels(Severity.WARNING, job=job),
                    "exp_annotations": self.annotations(
                        Alert.ADMISSION_REJECTING, "5 requests/s are refused with 429/503 (threshold 1/s).", "5"
                    ),
                }
            ]
            cases.append(self.case(Alert.ADMISSION_REJECTING, series, "10m", exp if fires else []))

        # Event-loop lag: every timer in (100, 250] ms late gives a p99 of 248.5 ms; in (10, 25] ms, silence.
        for bucket, fires in (("0.25", True), ("0.025", False)):
            series = histogram("jm_event_loop_lag_seconds", {**j, "instance": "a:8766"}, 600, bucket, 20)
            exp = [
                {
                    "exp_labels": self.labels(Severity.WARNING, job=job, instance="a:8766"),
                    "exp_annotations": self.annotations(
                        Alert.EVENT_LOOP_BLOCKED,
                        "The p99 of how late the event loop's 100 ms timer fires on a:8766 is 248.5ms over 5m "
                        "(threshold 100 ms): every request of every tenant on it waits that long.",
                        "248.5ms",
                        instance="a:8766",
                    ),
                }
            ]
            cases.append(self.case(Alert.EVENT_LOOP_BLOCKED, series, "15m", exp if fires else []))

        cases += self.disk_cases(j)
        cases += self.retrieval_cases(j)
        cases += self.target_cases(j)
        cases += self.operation_slo_cases(j)
        cases += self.period_cases(j)
        cases += self.canary_cases()

        # The shared embedding queue: every replica reports the same oldest age (10 minutes; 5 s is silent).
        for age, fires in ((600, True), (5, False)):
            series = [
                gauge("jm_cluster_embed_queue_oldest_age_seconds", {**j, "instance": i}, age, 20)
                for i in ("a:8766", "b:8766")
            ]
            exp = [
                {
                    "exp_labels": self.labels(Severity.WARNING, job=job),
                    "exp_annotations": self.annotations(
                        Alert.EMBED_QUEUE_STALE,
                        "The oldest memory in PostgreSQL without a vector is 10m 0s old (threshold 120 s; a dead "
                        "replica's claims are taken over after the 15 s lease).",
                        "10m 0s",
                    ),
                }
            ]
            cases.append(self.case(Alert.EMBED_QUEUE_STALE, series, "10m", exp if fires else []))

        # Coherence lag: every notification in (1 s, 2.5 s] gives a p99 of 2.485 s; in (25, 50] ms, silence.
        for bucket, fires in (("2.5", True), ("0.05", False)):
            series = histogram("jm_cluster_invalidation_lag_seconds", {**j, "instance": "a:8766"}, 60, bucket, 30)
            exp = [
                {
                    "exp_labels": self.labels(Severity.WARNING, job=job),
                    "exp_annotations": self.annotations(
                        Alert.COHERENCE_LAG_HIGH,
                        "p99 from a commit on any replica to its change notification on another is 2.485s over 5m "
                        "(threshold 1 s); reads stay correct but catch up from PostgreSQL first.",
                        "2.485s",
                    ),
                }
            ]
            cases.append(self.case(Alert.COHERENCE_LAG_HIGH, series, "20m", exp if fires else []))

        # Telemetry: the service's failed exports, or the collector's failed sends; both silent when 0.
        telemetry_desc = (
            "{} failed exports or refused/dropped items per second "
            "(service OTLP exports, collector receivers and exporters)."
        )
        for series, value in (
            ([counter("jm_telemetry_exports_total", {**j, "signal": "traces", "result": "failure"}, 60, 20)], "1"),
            (
                [
                    counter(
                        "otelcol_exporter_send_failed_spans_total",
                        {"job": "otel-collector", "exporter": "otlp/tempo"},
                        90,
                        20,
                    )
                ],
                "1.5",
            ),
        ):
            exp = [
                {
                    "exp_labels": self.labels(Severity.WARNING),
                    "exp_annotations": self.annotations(
                        Alert.TELEMETRY_PIPELINE_BROKEN, telemetry_desc.format(value), value
                    ),
                }
            ]
            cases.append(self.case(Alert.TELEMETRY_PIPELINE_BROKEN, series, "10m", exp))
        cases.append(
            self.case(
                Alert.TELEMETRY_PIPELINE_BROKEN,
                [
                    counter("jm_telemetry_exports_total", {**j, "signal": "traces", "result": "success"}, 60, 20),
                    counter("otelcol_exporter_send_failed_spans_total", {"job": "otel-collector"}, 0, 20),
                ],
                "10m",
                [],
            )
        )

        # A healthy service's error ratio is 0, not absent: panels show 0 % and budgets stay full.
        cases.append(
            {
                "interval": "1m",
                "input_series": [http(job, "2xx", 100, 30, route="/v1/search")],
                "promql_expr_test": [
                    {
                        "expr": "jm:http_errors:ratio_rate5m",
                        "eval_time": "20m",
                        "exp_samples": [{"labels": f'jm:http_errors:ratio_rate5m{{job="{job}"}}', "value": 0}],
                    },
                    {
                        "expr": "jm:slo_availability_errors:ratio_rate1h",
                        "eval_time": "20m",
                        "exp_samples": [
                            {"labels": f'jm:slo_availability_errors:ratio_rate1h{{job="{job}"}}', "value": 0}
                        ],
                    },
                ],
            }
        )

        # The SLO rules keep each replica's counts (for the dashboards) and sum them for the job (for the
        # alerts): replica a fails every request (cut off from its store), b none (no 5xx series: 0, not
        # absent); half of the job's requests fail.
        def replica_http(instance: str, cls: str, per_min: float) -> dict[str, str]:
            row = http(job, cls, per_min, 30)
            return {**row, "series": row["series"].replace("{", f'{{instance="{instance}", ', 1)}

        cases.append(
            {
                "interval": "1m",
                "input_series": [
                    replica_http("a:8766", "5xx", 100),
                    replica_http("b:8766", "2xx", 100),
                ],
                "promql_expr_test": [
                    {
                        "expr": 'jm:slo_availability_errors:rate1h{instance="b:8766"}',
                        "eval_time": "20m",
                        "exp_samples": [
                            {
                                "labels": f'jm:slo_availability_errors:rate1h{{instance="b:8766", job="{job}"}}',
                                "value": 0,
                            }
                        ],
                    },
                    {
                        "expr": "jm:slo_availability_errors:ratio_rate1h",
                        "eval_time": "20m",
                        "exp_samples": [
                            {"labels": f'jm:slo_availability_errors:ratio_rate1h{{job="{job}"}}', "value": 0.5}
                        ],
                    },
                ],
            }
        )
        cases += self._burn_cases()
        cases += self.recall_cases(j)
        cases.append(
            self.case(
                Alert.WATCHDOG,
                [],
                "1m",
                [
                    {
                        "exp_labels": self.labels(Severity.NONE),
                        "exp_annotations": self.annotations(
                            Alert.WATCHDOG,
                            "Always firing. If the receiver stops getting this, alerts are not being delivered.",
                            "always firing",
                        ),
                    }
                ],
            )
        )
        from jean_memory_dev.mixin import promtool_infrastructure  # it imports this module's Cases

        cases += promtool_infrastructure.cases(self)
        return cases

    def disk_cases(self, j: dict[str, str]) -> list[dict[str, Any]]:
        """The data folder's disk: 3 % free pages, half free stays silent; 30 GiB of 100 free and falling
        100 MB a minute (full in about 5 hours) files a ticket, the same disk holding steady stays silent."""
        job, total, inst = j["job"], 100 * 2**30, {**j, "instance": "a:8766"}
        cases = []
        for free, fires in ((0.03, True), (0.5, False)):
            series = [
                gauge("jm_disk_free_bytes", inst, total * free, 20),
                gauge("jm_disk_total_bytes", inst, total, 20),
            ]
            exp = [
                {
                    "exp_labels": self.labels(Severity.CRITICAL, job=job, instance="a:8766"),
                    "exp_annotations": self.annotations(
                        Alert.DISK_ALMOST_FULL,
                        "a:8766: the filesystem of JM_DATA_DIR has 3% free (threshold 5%); when it is full adds "
                        "get 507 until space returns.",
                        "3%",
                        instance="a:8766",
                    ),
                }
            ]
            cases.append(self.case(Alert.DISK_ALMOST_FULL, series, "15m", exp if fires else []))
        start = 30 * 2**30
        for per_min, fires in ((100_000_000, True), (0, False)):
            series = [
                {"series": f'jm_disk_free_bytes{{job="{job}", instance="a:8766"}}', "values": f"{start}-{per_min}x40"},
                gauge("jm_disk_total_bytes", inst, total, 40),
            ]
            exp = [
                {
                    "exp_labels": self.labels(Severity.WARNING, job=job, instance="a:8766"),
                    "exp_annotations": self.annotations(
                        Alert.DISK_FILLING_UP,
                        "a:8766: 27.21% free on the filesystem of JM_DATA_DIR (under 40%) and, at the pace of the "
                        "last 6h, it is full within 24h.",
                        "27.21% free",
                        instance="a:8766",
                    ),
                }
            ]
            cases.append(self.case(Alert.DISK_FILLING_UP, series, "30m", exp if fires else []))
        for damaged, fires in ((1, True), (0, False)):
            series = [gauge("jm_data_file_damaged", {**inst, "file": "store"}, damaged, 5)]
            exp = [
                {
                    "exp_labels": {**self.labels(Severity.CRITICAL, job=job, instance="a:8766"), "file": "store"},
                    "exp_annotations": self.annotations(
                        Alert.DATA_FILE_DAMAGED,
                        "a:8766: the background integrity check found the store damaged; the replica is out of "
                        "readiness and reads of the damaged pages fail.",
                        "store",
                        instance="a:8766",
                    ),
                }
            ]
            cases.append(self.case(Alert.DATA_FILE_DAMAGED, series, "2m", exp if fires else []))
        return cases

    def retrieval_cases(self, j: dict[str, str]) -> list[dict[str, Any]]:
        """Six hours of best matches in (0.75, 0.8], then a quarter of an hour in (0.1, 0.15]: the median
        (12.5 %) is under half the baseline's; six hours and a quarter at the same level stay silent."""
        job = j["job"]
        exp = [
            {
                "exp_labels": self.labels(Severity.WARNING, job=job),
                "exp_annotations": self.annotations(
                    Alert.RETRIEVAL_QUALITY_DROPPED,
                    "The median similarity of each search's best result over 5m is 12.5%, under 50% of its median "
                    "over 6h: the model and the stored vectors no longer agree (a broken or swapped model, noise "
                    "vectors). Searches still answer, with the wrong memories.",
                    "12.5%",
                ),
            }
        ]
        return [
            self.case(Alert.RETRIEVAL_QUALITY_DROPPED, score_series(j, [("0.8", 360), ("0.15", 15)]), "375m", exp),
            self.case(Alert.RETRIEVAL_QUALITY_DROPPED, score_series(j, [("0.8", 360), ("0.8", 15)]), "375m", []),
        ]

    def target_cases(self, j: dict[str, str]) -> list[dict[str, Any]]:
        """The plan's targets: hot searches all in (25 ms, 50 ms] give a p99 of 49.75 ms (over 25 ms), in
        (5 ms, 10 ms] silence; creation taking 10 ms on average (0.6 s per 60 adds a minute) is over 5 ms,
        2 ms is not."""
        job, cases = j["job"], []
        for bucket, fires in (("0.05", True), ("0.01", False)):
            series = histogram("jm_search_duration_seconds", {**j, "tier": "cache"}, 60, bucket, 30)
            exp = [
                {
                    "exp_labels": self.labels(Severity.WARNING, job=job),
                    "exp_annotations": self.annotations(
                        Alert.HOT_SEARCH_LATENCY_HIGH,
                        "The p99 of searches answered from the cache or the short-term tier over 5m is 49.75ms: "
                        "the product plan's target is 25 ms.",
                        "49.75ms",
                    ),
                }
            ]
            cases.append(self.case(Alert.HOT_SEARCH_LATENCY_HIGH, series, "20m", exp if fires else []))
        labels = {**j, "mode": "single"}
        for seconds_per_min, fires in ((0.6, True), (0.12, False)):
            series = [
                counter("jm_memory_creation_duration_seconds_sum", labels, seconds_per_min, 30),
                counter("jm_memory_creation_duration_seconds_count", labels, 60, 30),
            ]
            exp = [
                {
                    "exp_labels": self.labels(Severity.WARNING, job=job),
                    "exp_annotations": self.annotations(
                        Alert.CREATION_AVERAGE_HIGH,
                        "Memory creation took 10ms on average over 5m: the product plan's target is a 5 ms average.",
                        "10ms",
                    ),
                }
            ]
            cases.append(self.case(Alert.CREATION_AVERAGE_HIGH, series, "20m", exp if fires else []))
        return cases

    def operation_slo_cases(self, j: dict[str, str]) -> list[dict[str, Any]]:
        """Half of the adds slower than 25 ms for 150 minutes burns add_latency's budget 50x: page and ticket,
        labelled with the SLO; half of the canary's rounds failing burns canary_success's (under its own job);
        99.5 % of adds fast stays inside the budget."""
        job, cases = j["job"], []
        add = {**j, "http_request_method": "POST", "http_route": "/v1/memories", "http_response_status_class": "2xx"}
        canary = {"job": self.config.canary.job, "instance": "canary:9465"}
        scenarios = [
            (
                [counter(f"{HTTP}_bucket", {**add, "le": "0.025"}, 50, 150), counter(f"{HTTP}_count", add, 100, 150)],
                job,
                "add_latency",
            ),
            (
                [
                    counter("jm_canary_rounds_total", {**canary, "result": "success"}, 1, 150),
                    counter("jm_canary_rounds_total", {**canary, "result": "not_found"}, 1, 150),
                ],
                self.config.canary.job,
                "canary_success",
            ),
        ]
        for series, series_job, slo in scenarios:
            expected = []
            for severity, factor in ((Severity.CRITICAL, "6"), (Severity.WARNING, "1")):
                desc = (
                    f"The {slo} SLO's bad share is 50% over the long window, at least {factor}x the rate that "
                    "spends its error budget over the SLO period (multiwindow, multi-burn-rate)."
                )
                summary = "A Jean Memory operation is burning its error budget" + (
                    " fast" if severity is Severity.CRITICAL else ""
                )
                expected.append(
                    {
                        "exp_labels": self.labels(severity, job=series_job, slo=slo),
                        "exp_annotations": {
                            **self.annotations(Alert.OPERATION_BUDGET_BURN, desc, "50%"),
                            "summary": summary,
                        },
                    }
                )
            cases.append(self.case(Alert.OPERATION_BUDGET_BURN, series, "150m", expected))
        quiet = [counter(f"{HTTP}_bucket", {**add, "le": "0.025"}, 99.5, 150), counter(f"{HTTP}_count", add, 100, 150)]
        cases.append(self.case(Alert.OPERATION_BUDGET_BURN, quiet, "150m", []))
        return cases

    def period_cases(self, j: dict[str, str]) -> list[dict[str, Any]]:
        """0.2 % of /v1 requests failing for an hour is twice the availability SLO's 0.1 % budget: -100 % of it
        left over the period, a ticket; 0.05 % leaves half of it, silence. The metadata series say the SLO."""
        job, cases = j["job"], []
        period = self.config.slo.period
        for errors, fires in ((0.2, True), (0.05, False)):
            series = [http(job, "5xx", errors, 60), http(job, "2xx", 100 - errors, 60)]
            exp = [
                {
                    "exp_labels": self.labels(Severity.WARNING, job=job, slo="availability"),
                    "exp_annotations": self.annotations(
                        Alert.ERROR_BUDGET_EXHAUSTED,
                        f"The availability SLO has -100% of its error budget left over the last {period}: it has "
                        "failed its objective for the period. Changes that risk it wait until the budget recovers.",
                        "-100%",
                    ),
                }
            ]
            cases.append(self.case(Alert.ERROR_BUDGET_EXHAUSTED, series, "60m", exp if fires else []))
        cases.append(
            {
                "interval": "1m",
                "input_series": [http(job, "5xx", 0.05, 60), http(job, "2xx", 99.95, 60)],
                "promql_expr_test": [
                    {
                        "expr": f'round(jm:slo_error_budget_remaining:ratio_rate{period}{{slo="availability"}}, 0.001)',
                        "eval_time": "60m",
                        "exp_samples": [
                            {
                                "labels": f'{{job="{job}", slo="availability"}}',
                                "value": 0.5,
                            }
                        ],
                    },
                    {
                        "expr": 'jm:slo_objective:ratio{slo="time_to_searchable"}',
                        "eval_time": "1m",
                        "exp_samples": [
                            {
                                "labels": 'jm:slo_objective:ratio{slo="time_to_searchable"}',
                                "value": self.config.slo.time_to_searchable.objective,
                            }
                        ],
                    },
                ],
            }
        )
        return cases

    def canary_cases(self) -> list[dict[str, Any]]:
        """Half of the canary's rounds not found fails it (under 90 %), every round succeeding does not; every
        round's memory found in (2.5 s, 5 s] gives a p99 of 4.975 s (over 2.5 s), in (50 ms, 100 ms] silence."""
        cj = {"job": self.config.canary.job, "instance": "canary:9465"}
        job, cases = cj["job"], []
        for failed, fires in ((30, True), (0, False)):
            series = [
                counter("jm_canary_rounds_total", {**cj, "result": "success"}, 60 - failed, 20),
                counter("jm_canary_rounds_total", {**cj, "result": "not_found"}, failed, 20),
            ]
            exp = [
                {
                    "exp_labels": self.labels(Severity.WARNING, job=job),
                    "exp_annotations": self.annotations(
                        Alert.CANARY_FAILING,
                        "Only 50% of the canary's rounds (add a memory, search until found by meaning, delete it) "
                        "succeeded over 5m (threshold 90%): clients see the same.",
                        "50%",
                    ),
                }
            ]
            cases.append(self.case(Alert.CANARY_FAILING, series, "15m", exp if fires else []))
        from jean_memory.canary import SEARCHABLE_BUCKETS

        for bucket, fires in ((5.0, True), (0.1, False)):
            series = [
                counter(
                    "jm_canary_time_to_searchable_seconds_bucket",
                    {**cj, "le": le},
                    60 if le == "+Inf" or float(le) >= bucket else 0,
                    20,
                )
                for le in [repr(float(b)) for b in SEARCHABLE_BUCKETS] + ["+Inf"]
            ]
            exp = [
                {
                    "exp_labels": self.labels(Severity.WARNING, job=job),
                    "exp_annotations": self.annotations(
                        Alert.TIME_TO_SEARCHABLE_HIGH,
                        "The p99 from the canary sending an add to a search finding it by meaning is 4.975s over 5m "
                        "(threshold 1000 ms): embeddings are slow or queued.",
                        "4.975s",
                    ),
                }
            ]
            cases.append(self.case(Alert.TIME_TO_SEARCHABLE_HIGH, series, "15m", exp if fires else []))
        return cases

    def recall_cases(self, j: dict[str, str]) -> list[dict[str, Any]]:
        """The golden set's replay: half its expected memories missing for 150 minutes pages and tickets; 5 %
        missing for 5 hours is a ticket (over 1x the 2 % budget, under 3x); 1 % missing, and a service with
        no golden set (its counters flat at 0), stay silent."""
        job, objective = j["job"], self.config.slo.recall.objective

        def replay(hits_per_min: float, minutes: int, expected_per_min: float = 100) -> list[dict[str, str]]:
            return [
                counter("jm_golden_expected_total", j, expected_per_min, minutes),
                counter("jm_golden_hits_total", j, hits_per_min, minutes),
            ]

        def fired(value: str, *severities: Severity) -> list[dict[str, Any]]:
            out = []
            for severity in severities:
                page = severity is Severity.CRITICAL
                desc = (
                    f"The share of the golden set's expected memories missing from their search's top results is "
                    f"{value} over the long window, at least {'6' if page else '1'}x the rate that spends the "
                    f"{objective:.1%} recall SLO's budget (multiwindow, multi-burn-rate). Searches answer, with the "
                    "wrong memories."
                )
                summary = "Jean Memory is burning its recall error budget" + (" fast" if page else "")
                out.append(
                    {
                        "exp_labels": self.labels(severity, job=job, slo="recall"),
                        "exp_annotations": {
                            **self.annotations(Alert.RECALL_BUDGET_BURN, desc, value),
                            "summary": summary + ": the golden set's memories are not found",
                        },
                    }
                )
            return out

        alert = Alert.RECALL_BUDGET_BURN
        return [
            self.case(alert, replay(50, 150), "150m", fired("50%", Severity.CRITICAL, Severity.WARNING)),
            self.case(alert, replay(95, 300), "300m", fired("5%", Severity.WARNING)),
            self.case(alert, replay(99, 300), "300m", []),
            self.case(alert, replay(0, 300, expected_per_min=0), "300m", []),
        ]

    def _down(self) -> dict[str, str]:
        return self.annotations(
            Alert.DOWN,
            f"No Jean Memory replica of job {self.job} is up: every scrape is failing, or (over OTLP) none has "
            f"reported for {self.ctx.windows.absent}.",
            "no replica up",
        )

    def _burn_cases(self) -> list[dict[str, Any]]:
        """Both severities of a burn alert share a name: a page-rate burn is also a ticket-rate burn."""
        job, cases = self.job, []
        lat = {
            "job": job,
            "http_request_method": "POST",
            "http_route": "/v1/search",
            "http_response_status_class": "2xx",
        }
        le = str(self.config.slo.latency.threshold_seconds)
        scenarios: list[tuple[Alert, list[dict[str, str]], str, str, tuple[Severity, ...]]] = [
            # 5 % of /v1 requests fail for 150 minutes: page and ticket.
            (
                Alert.AVAILABILITY_BUDGET_BURN,
                [http(job, "5xx", 5, 150), http(job, "2xx", 95, 150)],
                "150m",
                "5%",
                (Severity.CRITICAL, Severity.WARNING),
            ),
            # 0.4 % fail for 5 hours: over 3x the budget (ticket), under 6x (no page).
            (
                Alert.AVAILABILITY_BUDGET_BURN,
                [http(job, "5xx", 0.4, 300), http(job, "2xx", 99.6, 300)],
                "300m",
                "0.4%",
                (Severity.WARNING,),
            ),
            # 0.05 %: inside the budget.
            (
                Alert.AVAILABILITY_BUDGET_BURN,
                [http(job, "5xx", 0.05, 300), http(job, "2xx", 99.95, 300)],
                "300m",
                "",
                (),
            ),
            # Half of /v1 requests slower than the threshold: page and ticket; 0.5 % slow: inside the budget.
            (
                Alert.LATENCY_BUDGET_BURN,
                [counter(f"{HTTP}_bucket", {**lat, "le": le}, 50, 150), counter(f"{HTTP}_count", lat, 100, 150)],
                "150m",
                "50%",
                (Severity.CRITICAL, Severity.WARNING),
            ),
            (
                Alert.LATENCY_BUDGET_BURN,
                [counter(f"{HTTP}_bucket", {**lat, "le": le}, 99.5, 150), counter(f"{HTTP}_count", lat, 100, 150)],
                "150m",
                "",
                (),
            ),
        ]
        for alert, series, at, value, severities in scenarios:
            slo = "availability" if alert is Alert.AVAILABILITY_BUDGET_BURN else "latency"
            what = "5xx" if slo == "availability" else "slower than 25 ms"
            objective = getattr(self.config.slo, slo).objective
            expected = []
            for severity in severities:
                factor = "6" if severity is Severity.CRITICAL else "1"
                desc = (
                    f"The share of /v1 requests {what} is {value} over the long window, at least {factor}x the rate "
                    f"that spends the {objective:.1%} SLO's budget (multiwindow, multi-burn-rate)."
                )
                expected.append(
                    {
                        "exp_labels": self.labels(severity, job=job, slo=slo),
                        "exp_annotations": self._burn_annotations(alert, slo, severity, desc, value),
                    }
                )
            cases.append(self.case(alert, series, at, expected))
        return cases

    def _burn_annotations(self, alert: Alert, slo: str, severity: Severity, desc: str, value: str) -> dict[str, str]:
        summary = (
            f"Jean Memory is burning its {slo} error budget fast"
            if severity is Severity.CRITICAL
            else f"Jean Memory is burning its {slo} error budget"
        )
        return {**self.annotations(alert, desc, value), "summary": summary}


def test_file(ctx: Context) -> dict[str, Any]:
    """The promtool test document. It must run against the production rules, so it is built from the
    production context whatever variant the caller holds."""
    production = Context(ctx.config, Variant.PRODUCTION)
    here = layout.PROMTOOL_TESTS.parent
    rule_files = [
        os.path.relpath(layout.recording_rules(fast=False), here),
        os.path.relpath(layout.alert_rules(fast=False), here),
    ]
    # Recording groups before the alert group. Without an order promtool evaluates the groups in Go's map order,
    # which changes from run to run: an alert reading a recorded series then sees it one interval late in some
    # runs and not in others, and a case over a short window (the saw-tooth's 5m average) flakes.
    order = [g["name"] for doc in (recording_rules(production), alert_rules(production)) for g in doc["groups"]]
    return {
        "rule_files": rule_files,
        "evaluation_interval": "1m",
        "group_eval_order": order,
        "tests": Cases(production).all(),
    }


def score_series(labels: dict[str, str], segments: list[tuple[str, int]]) -> list[dict[str, str]]:
    """jm_search_top_score's buckets when 60 searches a minute score in bucket `le` for `minutes`, one
    segment after the other (cumulative buckets at and above it grow, those below stay)."""
    from jean_memory.telemetry.metrics import SCORE_BUCKETS

    out = []
    for le in [f"{b:g}" for b in SCORE_BUCKETS] + ["+Inf"]:
        values: list[str] = []
        count = 0
        for bucket, minutes in segments:
            per_min = 60 if float(le) >= float(bucket) else 0
            if values:  # later segments go on from where the previous one ended
                values.append(f"{count + per_min}+{per_min}x{minutes - 1}")
            else:
                values.append(f"0+{per_min}x{minutes}")
            count += per_min * minutes
        body = ", ".join(f'{k}="{v}"' for k, v in {**labels, "le": le}.items())
        out.append({"series": f"jm_search_top_score_bucket{{{body}}}", "values": " ".join(values)})
    return out
