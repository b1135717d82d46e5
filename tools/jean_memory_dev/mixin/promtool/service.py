"""promtool cases of the service's own alerts, one function per concern: availability, latency, traffic,
the shuttle, the short-term tier, the event loop, the recording rules they read, the Watchdog (the
embedding queue, coherence and telemetry are in `pipelines.py`). Each alert fires on one input (labels
and rendered annotations written by hand, as a person reads them) and stays silent on its neighbour.
"""

from __future__ import annotations

from typing import Any

from jean_memory_dev.mixin.catalogue import Alert
from jean_memory_dev.mixin.config import Severity
from jean_memory_dev.mixin.promql import HTTP
from jean_memory_dev.mixin.promtool.cases import Cases
from jean_memory_dev.mixin.promtool.series import counter, gauge, histogram, http


def availability_cases(c: Cases) -> list[dict[str, Any]]:
    """JeanMemoryDown, a replica down, too few replicas ready."""
    job = c.job
    cases: list[dict[str, Any]] = []
    # JeanMemoryDown: no replica up. The only instance's scrape failing (up == 0, and its build info
    # absent: one alert for the job), and nothing reporting at all (absent, as over OTLP).
    down = [{"exp_labels": c.labels(Severity.CRITICAL, job=job), "exp_annotations": c.down()}]
    cases.append(c.cases(c.replica("a:8766", up=0), "10m", {Alert.DOWN: down, Alert.REPLICA_DOWN: []}))
    cases.append(c.case(Alert.DOWN, [], "10m", down))
    cases.append(c.cases(c.replica("a:8766", up=1), "10m", {Alert.DOWN: [], Alert.REPLICA_DOWN: []}))
    # One replica of two down: a ticket for that replica, no page.
    replica_down = [
        {
            "exp_labels": c.labels(Severity.WARNING, job=job, instance="a:8766"),
            "exp_annotations": c.annotations(
                Alert.REPLICA_DOWN,
                "Replica a:8766 of job jean-memory has failed its scrapes for 1m; at least one other replica "
                "is up and serving.",
                "a:8766 down",
                instance="a:8766",
            ),
        }
    ]
    cases.append(
        c.cases(
            c.replica("a:8766", up=0) + c.replica("b:8766", up=1),
            "10m",
            {Alert.REPLICA_DOWN: replica_down, Alert.DOWN: []},
        )
    )

    # Replicas ready, in cluster mode only: 1 of 3 ready, then 0 of 2 (up but cut off from PostgreSQL),
    # page; 2 of 3 ready, or a lone embedded instance not ready (starting), stay silent.
    for replicas, value in (
        (c.replica("a:8766", 1) + c.replica("b:8766", 1, 0) + c.replica("c:8766", 1, 0), "1"),
        (c.replica("a:8766", 1, 0) + c.replica("b:8766", 1, 0), "0"),
    ):
        exp = [
            {
                "exp_labels": c.labels(Severity.CRITICAL, job=job),
                "exp_annotations": c.annotations(
                    Alert.TOO_FEW_REPLICAS_READY,
                    f"{value} replica(s) of job jean-memory in cluster mode report ready (jm_ready == 1); at "
                    "least 2 are needed to lose one and keep serving.",
                    f"{value} ready",
                ),
            }
        ]
        cases.append(c.case(Alert.TOO_FEW_REPLICAS_READY, replicas, "10m", exp))
    for replicas in (
        c.replica("a:8766", 1) + c.replica("b:8766", 1) + c.replica("c:8766", 1, 0),
        c.replica("a:8766", 1, 0, mode="embedded"),
    ):
        cases.append(c.case(Alert.TOO_FEW_REPLICAS_READY, replicas, "10m", []))

    return cases


def latency_cases(c: Cases) -> list[dict[str, Any]]:
    """Average latency, creation p99, search p99."""
    j, job = c.j, c.job
    cases: list[dict[str, Any]] = []
    # High average latency: 6 s of request time per 60 requests a minute = 100 ms each.
    lat = {**j, "http_request_method": "POST", "http_route": "/v1/search", "http_response_status_class": "2xx"}
    for per_min, fires in ((6, True), (0.6, False)):
        series = [counter(f"{HTTP}_sum", lat, per_min, 30), counter(f"{HTTP}_count", lat, 60, 30)]
        exp = [
            {
                "exp_labels": c.labels(Severity.CRITICAL, job=job),
                "exp_annotations": c.annotations(
                    Alert.HIGH_LATENCY,
                    "Average /v1 response time over the last 5m is 100ms (threshold 50 ms).",
                    "100ms",
                ),
            }
        ]
        cases.append(c.case(Alert.HIGH_LATENCY, series, "20m", exp if fires else []))

    # Creation p99: everything in the (25 ms, 50 ms] bucket gives 49.75 ms; in (0.5, 1] ms, silence.
    for bucket, fires in (("0.05", True), ("0.001", False)):
        series = histogram("jm_memory_creation_duration_seconds", {**j, "mode": "single"}, 60, bucket, 30)
        exp = [
            {
                "exp_labels": c.labels(Severity.WARNING, job=job),
                "exp_annotations": c.annotations(
                    Alert.CREATION_LATENCY_HIGH,
                    "Memory creation p99 over 5m is 49.75ms (threshold 25 ms; the target is a 5 ms average).",
                    "49.75ms",
                ),
            }
        ]
        cases.append(c.case(Alert.CREATION_LATENCY_HIGH, series, "20m", exp if fires else []))

    # Search p99: everything in (100 ms, 250 ms] gives 248.5 ms.
    for bucket, fires in (("0.25", True), ("0.005", False)):
        series = histogram("jm_search_duration_seconds", {**j, "tier": "stm"}, 60, bucket, 30)
        exp = [
            {
                "exp_labels": c.labels(Severity.WARNING, job=job),
                "exp_annotations": c.annotations(
                    Alert.SEARCH_LATENCY_HIGH,
                    "Search p99 (all tiers) over 5m is 248.5ms (threshold 100 ms; hot-search target 25 ms).",
                    "248.5ms",
                ),
            }
        ]
        cases.append(c.case(Alert.SEARCH_LATENCY_HIGH, series, "20m", exp if fires else []))

    return cases


def traffic_cases(c: Cases) -> list[dict[str, Any]]:
    """The cache hit rate and the error rate."""
    j, job = c.j, c.job
    cases: list[dict[str, Any]] = []
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
                "exp_labels": c.labels(Severity.WARNING, job=job),
                "exp_annotations": c.annotations(
                    Alert.LOW_CACHE_HIT_RATE,
                    "Share of searches answered without the model over 5m is 30% (threshold 80%, target 90%).",
                    "30%",
                ),
            }
        ]
        cases.append(c.case(Alert.LOW_CACHE_HIT_RATE, series, "20m", exp if fires else []))

    # Error rate: 10 of 100 requests a minute are 5xx = 10 %; silent at 0.5 %.
    for bad, fires in ((10, True), (0.5, False)):
        series = [http(job, "5xx", bad, 30), http(job, "2xx", 100 - bad, 30)]
        exp = [
            {
                "exp_labels": c.labels(Severity.CRITICAL, job=job),
                "exp_annotations": c.annotations(
                    Alert.HIGH_ERROR_RATE,
                    "5xx share of requests over 5m is 10% (threshold 1%, target under 0.1%).",
                    "10%",
                ),
            }
        ]
        cases.append(c.case(Alert.HIGH_ERROR_RATE, series, "20m", exp if fires else []))

    return cases


def shuttle_cases(c: Cases) -> list[dict[str, Any]]:
    """The shuttle's backlog and its oldest unshipped write."""
    j, job, th = c.j, c.job, c.config.thresholds
    cases: list[dict[str, Any]] = []
    # Shuttle backlog: +100 writes a minute over 2000 waiting = 1.667/s; flat is silent.
    for growth, fires in ((100, True), (0, False)):
        series = [counter("jm_shuttle_pending", j, growth, 30, start=th.shuttle_backlog_min * 2)]
        exp = [
            {
                "exp_labels": c.labels(Severity.WARNING, job=job),
                "exp_annotations": c.annotations(
                    Alert.SHUTTLE_BACKLOG_GROWING,
                    "1.667 writes/s more are journaled than shipped to the long-term store; over 1000 are waiting.",
                    "1.667",
                ),
            }
        ]
        cases.append(c.case(Alert.SHUTTLE_BACKLOG_GROWING, series, "20m", exp if fires else []))

    for age, fires in ((600, True), (30, False)):
        series = [gauge("jm_shuttle_oldest_pending_age_seconds", j, age, 20)]
        exp = [
            {
                "exp_labels": c.labels(Severity.WARNING, job=job),
                "exp_annotations": c.annotations(
                    Alert.SHUTTLE_STALE,
                    "The oldest write not yet in the long-term store is 10m 0s old (threshold 300 s).",
                    "10m 0s",
                ),
            }
        ]
        cases.append(c.case(Alert.SHUTTLE_STALE, series, "10m", exp if fires else []))

    for up, fires in ((0, True), (1, False)):
        series = [gauge("jm_ltm_up", {**j, "store": "postgres"}, up, 20)]
        exp = [
            {
                "exp_labels": c.labels(Severity.CRITICAL, job=job),
                "exp_annotations": c.annotations(
                    Alert.LTM_UNREACHABLE,
                    "The last calls to the long-term store failed; writes are acknowledged from the journal and "
                    "retried, reads of users not in the short-term tier fail with 503.",
                    "store calls failing",
                ),
            }
        ]
        cases.append(c.case(Alert.LTM_UNREACHABLE, series, "10m", exp if fires else []))

    return cases


def stm_cases(c: Cases) -> list[dict[str, Any]]:
    """The short-term tier near its budget."""
    j, job = c.j, c.job
    cases: list[dict[str, Any]] = []
    budget = c.config.targets.stm_bytes
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
                "exp_labels": c.labels(Severity.WARNING, job=job),
                "exp_annotations": c.annotations(
                    Alert.STM_NEAR_BUDGET,
                    f"The short-term tier used {shown} of its budget on average over 5m (threshold 90% of "
                    "512 MB); cold users are being evicted.",
                    shown,
                ),
            }
        ]
        cases.append(c.case(Alert.STM_NEAR_BUDGET, series, "20m", exp if fires else []))

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
                "exp_labels": c.labels(Severity.WARNING, job=job),
                "exp_annotations": c.annotations(
                    Alert.ADMISSION_REJECTING, "5 requests/s are refused with 429/503 (threshold 1/s).", "5"
                ),
            }
        ]
        cases.append(c.case(Alert.ADMISSION_REJECTING, series, "10m", exp if fires else []))

    return cases


def loop_cases(c: Cases) -> list[dict[str, Any]]:
    """The event loop's lag."""
    j, job = c.j, c.job
    cases: list[dict[str, Any]] = []
    # Event-loop lag: every timer in (100, 250] ms late gives a p99 of 248.5 ms; in (10, 25] ms, silence.
    for bucket, fires in (("0.25", True), ("0.025", False)):
        series = histogram("jm_event_loop_lag_seconds", {**j, "instance": "a:8766"}, 600, bucket, 20)
        exp = [
            {
                "exp_labels": c.labels(Severity.WARNING, job=job, instance="a:8766"),
                "exp_annotations": c.annotations(
                    Alert.EVENT_LOOP_BLOCKED,
                    "The p99 of how late the event loop's 100 ms timer fires on a:8766 is 248.5ms over 5m "
                    "(threshold 100 ms): every request of every tenant on it waits that long.",
                    "248.5ms",
                    instance="a:8766",
                ),
            }
        ]
        cases.append(c.case(Alert.EVENT_LOOP_BLOCKED, series, "15m", exp if fires else []))

    return cases


def recording_cases(c: Cases) -> list[dict[str, Any]]:
    """The recording rules an alert and a panel read: 0 (not absent) when healthy; the job's SLO counts summed
    from the replicas'."""
    job = c.job
    cases: list[dict[str, Any]] = []
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
                    "exp_samples": [{"labels": f'jm:slo_availability_errors:ratio_rate1h{{job="{job}"}}', "value": 0}],
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
    return cases


def watchdog_cases(c: Cases) -> list[dict[str, Any]]:
    """The Watchdog: always firing."""
    cases: list[dict[str, Any]] = []
    cases.append(
        c.case(
            Alert.WATCHDOG,
            [],
            "1m",
            [
                {
                    "exp_labels": c.labels(Severity.NONE),
                    "exp_annotations": c.annotations(
                        Alert.WATCHDOG,
                        "Always firing. If the receiver stops getting this, alerts are not being delivered.",
                        "always firing",
                    ),
                }
            ],
        )
    )
    return cases
