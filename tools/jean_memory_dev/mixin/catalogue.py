"""The alert catalogue: every alert's name, severity, `for`, expression, annotations and the panel that
answers it, as typed constants.

An alert name is typed once, here (STYLE principle 17): the rule files, the runbooks, the promtool
tests, the drill's fault table and the docs map all refer to `Alert.X`, and a test fails when a quoted
alert name appears in any other Python file.

Expressions and annotations are `${name}` templates filled from `Context.values` (see `context.py`
for the names): the same text yields the production rules and the drill's fast copy, which then differ
only in windows and `for`. Prometheus's own `{{ $value }}` passes through untouched.

Adding an alert is three edits:

1. here: a member of `Alert` and its entry in `CATALOGUE` (severity, `pending`, expression, summary,
   description, the panel that answers it); the order of `CATALOGUE` is the order of the rule file;
2. `alerts/runbooks/templates/<AlertName>.md`: Meaning, Impact, Diagnose, Mitigate, Escalate;
3. `promtool/`: a case where it fires (labels and annotations checked) and one where it stays silent.

Then `jean-memory-dev generate` writes the rules, runbook, tests and docs; `tests/rules` checks the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from jean_memory_dev.mixin import boards
from jean_memory_dev.mixin.boards import PanelRef
from jean_memory_dev.mixin.config import Config, Pending, Severity
from jean_memory_dev.mixin.context import Context
from jean_memory_dev.mixin.slos import (
    BUDGET_REMAINING,
    CANARY_ROUNDS,
    CANARY_SEARCHABLE,
    SLI_ERRORS,
    SLO_BUDGET,
    operation_selector,
)


class Alert(StrEnum):
    """Every alert, by the name Prometheus and Alertmanager see."""

    DOWN = "JeanMemoryDown"
    REPLICA_DOWN = "JeanMemoryReplicaDown"
    TOO_FEW_REPLICAS_READY = "JeanMemoryTooFewReplicasReady"
    HIGH_LATENCY = "JeanMemoryHighLatency"
    CREATION_LATENCY_HIGH = "JeanMemoryCreationLatencyHigh"
    SEARCH_LATENCY_HIGH = "JeanMemorySearchLatencyHigh"
    LOW_CACHE_HIT_RATE = "JeanMemoryLowCacheHitRate"
    HIGH_ERROR_RATE = "JeanMemoryHighErrorRate"
    SHUTTLE_BACKLOG_GROWING = "JeanMemoryShuttleBacklogGrowing"
    SHUTTLE_STALE = "JeanMemoryShuttleStale"
    LTM_UNREACHABLE = "JeanMemoryLTMUnreachable"
    STM_NEAR_BUDGET = "JeanMemorySTMNearBudget"
    ADMISSION_REJECTING = "JeanMemoryAdmissionRejecting"
    EVENT_LOOP_BLOCKED = "JeanMemoryEventLoopBlocked"
    DISK_ALMOST_FULL = "JeanMemoryDiskAlmostFull"
    DISK_FILLING_UP = "JeanMemoryDiskFillingUp"
    DATA_FILE_DAMAGED = "JeanMemoryDataFileDamaged"
    RETRIEVAL_QUALITY_DROPPED = "JeanMemoryRetrievalQualityDropped"
    EMBED_QUEUE_STALE = "JeanMemoryEmbedQueueStale"
    COHERENCE_LAG_HIGH = "JeanMemoryCoherenceLagHigh"
    TELEMETRY_PIPELINE_BROKEN = "JeanMemoryTelemetryPipelineBroken"
    AVAILABILITY_BUDGET_BURN = "JeanMemoryAvailabilityBudgetBurn"
    LATENCY_BUDGET_BURN = "JeanMemoryLatencyBudgetBurn"
    WATCHDOG = "Watchdog"
    OPERATION_BUDGET_BURN = "JeanMemoryOperationBudgetBurn"
    ERROR_BUDGET_EXHAUSTED = "JeanMemoryErrorBudgetExhausted"
    HOT_SEARCH_LATENCY_HIGH = "JeanMemoryHotSearchLatencyHigh"
    CREATION_AVERAGE_HIGH = "JeanMemoryCreationAverageHigh"
    CANARY_FAILING = "JeanMemoryCanaryFailing"
    TIME_TO_SEARCHABLE_HIGH = "JeanMemoryTimeToSearchableHigh"
    RECALL_BUDGET_BURN = "JeanMemoryRecallBudgetBurn"
    # What the service stands on (node, postgres and blackbox exporters) and the monitoring itself.
    HOST_DISK_ALMOST_FULL = "JeanMemoryHostDiskAlmostFull"
    HOST_DISK_FILLING_UP = "JeanMemoryHostDiskFillingUp"
    HOST_MEMORY_PRESSURE = "JeanMemoryHostMemoryPressure"
    POSTGRES_DOWN = "JeanMemoryPostgresDown"
    POSTGRES_CONNECTIONS_NEAR_LIMIT = "JeanMemoryPostgresConnectionsNearLimit"
    POSTGRES_REPLICATION_LAG = "JeanMemoryPostgresReplicationLagHigh"
    PROBE_FAILING = "JeanMemoryProbeFailing"
    RULE_EVALUATION_FAILURES = "JeanMemoryRuleEvaluationFailures"
    NOTIFICATIONS_FAILING = "JeanMemoryNotificationsFailing"
    CONFIG_RELOAD_FAILED = "JeanMemoryMonitoringConfigReloadFailed"
    ALERTMANAGER_MEMBERS_MISSING = "JeanMemoryAlertmanagerMembersMissing"
    SCRAPE_TARGET_DOWN = "JeanMemoryScrapeTargetDown"
    PROMETHEUS_NOT_INGESTING = "JeanMemoryPrometheusNotIngesting"

    @property
    def runbook(self) -> str:
        """The runbook's file name, in `alerts/runbooks/` and (as a template) in its `templates/`."""
        return f"{self.value}.md"


def runbook_url(config: Config, alert: Alert) -> str:
    """The one place a runbook link is made from an alert's name (kubernetes-mixin's add-runbook-links)."""
    return f"{config.service.runbook_base_url}/{alert.runbook}"


#: Collector self-metrics the telemetry alert reads (OpenTelemetry Collector >= 0.107 internal
#: telemetry, Prometheus naming). The metric-name checks accept these besides the service's registry.
COLLECTOR_METRICS = (
    "otelcol_exporter_send_failed_spans_total",
    "otelcol_exporter_send_failed_metric_points_total",
    "otelcol_receiver_refused_spans_total",
    "otelcol_receiver_refused_metric_points_total",
    "otelcol_processor_refused_spans_total",
    "otelcol_processor_refused_metric_points_total",
)


#: Series of the exporters and of Prometheus and Alertmanager themselves that the infrastructure alerts and
#: boards read (node exporter 1.9, postgres exporter 0.17, blackbox exporter 0.26, Prometheus 2.53,
#: Alertmanager 0.28; tests/cluster/test_exporters.py checks each is exposed by the real processes).
INFRASTRUCTURE_METRICS = (
    "node_filesystem_avail_bytes",
    "node_filesystem_size_bytes",
    "node_filesystem_readonly",
    "node_memory_MemAvailable_bytes",
    "node_memory_MemTotal_bytes",
    "node_cpu_seconds_total",
    "node_load1",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "pg_up",
    "pg_stat_activity_count",
    "pg_settings_max_connections",
    "pg_replication_lag_seconds",
    "pg_replication_is_replica",
    "pg_stat_replication_pg_wal_lsn_diff",
    "pg_stat_database_xact_commit",
    "pg_stat_database_xact_rollback",
    "pg_locks_count",
    "pg_database_size_bytes",
    "probe_success",
    "probe_duration_seconds",
    "probe_http_status_code",
    "prometheus_rule_evaluation_failures_total",
    "prometheus_rule_evaluations_total",
    "prometheus_config_last_reload_successful",
    "prometheus_tsdb_head_samples_appended_total",
    "prometheus_notifications_errors_total",
    "alertmanager_notifications_failed_total",
    "alertmanager_notifications_total",
    "alertmanager_config_last_reload_successful",
    "alertmanager_cluster_members",
)


@dataclass(frozen=True, kw_only=True)
class AlertRule:
    """One rule of one variant's rule file, its text filled in; `rules.py` adds the common labels
    (severity, service, route) and the runbook link."""

    alert: Alert
    severity: Severity
    for_: str | None
    expr: str
    summary: str
    description: str
    value: str
    panel: PanelRef
    link_instance: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ThresholdAlert:
    """An alert with one severity: an expression over a threshold, pending for one of the windows.

    `expr` is a template, or a function of the context where the expression is built (a sum over a
    list of metrics); `pending` None fires at once (the Watchdog). `value` is how a person reads the
    expression's value (Prometheus's `{{ $value }}` with the right humanizer, or words where the number
    means nothing by itself): it becomes the `value` annotation the notifications show, and `${value}`
    in the description. `answers` are the panels to open, the first one linked from the notification
    (`dashboard_url`); `link_instance` also picks the alert's replica on that dashboard; `labels` are added to
    the rule's (the infrastructure alerts' `layer`)."""

    alert: Alert
    severity: Severity
    pending: Pending | None
    expr: str | Callable[[Context], str]
    summary: str
    description: str
    value: str
    answers: tuple[PanelRef, ...]
    link_instance: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)

    def rules(self, ctx: Context) -> tuple[AlertRule, ...]:
        where = f"{self.alert} in catalogue.py"
        expr = self.expr(ctx) if callable(self.expr) else ctx.fill(self.expr, where)
        return (
            AlertRule(
                alert=self.alert,
                severity=self.severity,
                for_=ctx.windows.pending(self.pending) if self.pending else None,
                expr=expr,
                summary=ctx.fill(self.summary, where),
                description=ctx.fill(self.description, where, value=self.value),
                value=self.value,
                panel=self.answers[0],
                link_instance=self.link_instance,
                labels=self.labels,
            ),
        )


@dataclass(frozen=True, kw_only=True)
class BurnRateAlert:
    """A multiwindow, multi-burn-rate SLO alert (SRE workbook, ch. 5): one rule per severity, sharing
    the name, from the config's burn windows; a page-rate burn is also a ticket-rate burn.

    `record` is the recording rule prefix of the SLI's bad-event ratio (the window is appended);
    `what` describes a bad request; `${slo}` and, in the description, `${factor}` and `${objective}`
    are filled per rule."""

    alert: Alert
    slo: Literal["availability", "latency", "recall"]
    record: str
    what: str
    answers: tuple[PanelRef, ...]
    summary: str = "Jean Memory is burning its ${slo} error budget"
    summary_page: str = "Jean Memory is burning its ${slo} error budget fast"
    description: str = (
        "The share of /v1 requests ${what} is ${value} over the long window, at least "
        "${factor}x the rate that spends the ${objective} SLO's budget (multiwindow, multi-burn-rate)."
    )
    value: str = "{{ $value | humanizePercentage }}"

    def rules(self, ctx: Context) -> tuple[AlertRule, ...]:
        where = f"{self.alert} in catalogue.py"
        objective = getattr(ctx.config.slo, self.slo).objective
        budget = round(1 - objective, 6)
        out = []
        for severity in (Severity.CRITICAL, Severity.WARNING):
            burns = [b for b in ctx.burns if b.severity is severity]
            if not burns:
                continue
            clauses = [
                f"(\n  {self.record}{b.long} > ({b.factor} * {budget})\n  and\n"
                f"  {self.record}{b.short} > ({b.factor} * {budget})\n)"
                for b in burns
            ]
            extra = {
                "slo": self.slo,
                "what": ctx.fill(self.what, where),
                "factor": str(min(b.factor for b in burns)),
                "objective": f"{objective:.1%}",
                "value": self.value,
            }
            summary = self.summary_page if severity is Severity.CRITICAL else self.summary
            out.append(
                AlertRule(
                    alert=self.alert,
                    severity=severity,
                    for_=burns[0].for_,
                    expr="\nor\n".join(clauses),
                    summary=ctx.fill(summary, where, **extra),
                    description=ctx.fill(self.description, where, **extra),
                    value=self.value,
                    panel=self.answers[0],
                    labels={"slo": self.slo},
                )
            )
        return tuple(out)


@dataclass(frozen=True, kw_only=True)
class OperationBurnAlert:
    """The burn policy of `BurnRateAlert` over the SLOs per operation at once: one rule per severity, each
    SLO's generic bad-share series (`slos.py`) against its own budget, joined from the SLO metadata `on
    (slo)` as Pyrra does, so the alert carries the `slo` that burns and a new SLO needs no new rule."""

    alert: Alert
    answers: tuple[PanelRef, ...]
    summary: str = "A Jean Memory operation is burning its error budget"
    summary_page: str = "A Jean Memory operation is burning its error budget fast"
    description: str = (
        "The {{ $labels.slo }} SLO's bad share is ${value} over the long window, at least ${factor}x the rate "
        "that spends its error budget over the SLO period (multiwindow, multi-burn-rate)."
    )
    value: str = "{{ $value | humanizePercentage }}"

    def rules(self, ctx: Context) -> tuple[AlertRule, ...]:
        where = f"{self.alert} in catalogue.py"
        sel = operation_selector()

        def over(window: str, factor: float) -> str:
            return f"{SLI_ERRORS}{window}{{{sel}}} > on (slo) group_left () ({factor} * {SLO_BUDGET})"

        out = []
        for severity in (Severity.CRITICAL, Severity.WARNING):
            burns = [b for b in ctx.burns if b.severity is severity]
            if not burns:
                continue
            clauses = [f"(\n  {over(b.long, b.factor)}\n  and\n  {over(b.short, b.factor)}\n)" for b in burns]
            extra = {"factor": str(min(b.factor for b in burns)), "value": self.value}
            summary = self.summary_page if severity is Severity.CRITICAL else self.summary
            out.append(
                AlertRule(
                    alert=self.alert,
                    severity=severity,
                    for_=burns[0].for_,
                    expr="\nor\n".join(clauses),
                    summary=ctx.fill(summary, where, **extra),
                    description=ctx.fill(self.description, where, **extra),
                    value=self.value,
                    panel=self.answers[0],
                )
            )
        return tuple(out)


AlertSpec = ThresholdAlert | BurnRateAlert | OperationBurnAlert


def _telemetry_failures(ctx: Context) -> str:
    """Failed exports and refused or dropped items, the service's and the collector's, summed; each
    term `or vector(0)` so that one missing series does not blank the sum."""
    r, s = ctx.rate, ctx.sel
    parts = [
        f'sum(rate(jm_telemetry_exports_total{{{s}, result="failure"}}[{r}]))',
        f"sum(rate(jm_telemetry_dropped_spans_total{{{s}}}[{r}]))",
        *(f"sum(rate({m}[{r}]))" for m in COLLECTOR_METRICS),
    ]
    joined = "\n+ ".join(f"({p} or vector(0))" for p in parts)
    return f"(\n  {joined}\n) > {ctx.config.thresholds.telemetry_failures_per_second}"


_SPECS: tuple[AlertSpec, ...] = (
    # Down means no replica at all: with several, one replica down is a ticket (ReplicaDown), not a page.
    ThresholdAlert(
        alert=Alert.DOWN,
        severity=Severity.CRITICAL,
        pending=Pending.SERVICE_DOWN,
        expr="(sum by (job) (up{${sel}}) == 0)\nor\n(absent_over_time(jm_build_info{${sel}}[${absent}]) == 1)",
        summary="Jean Memory is down",
        description="No Jean Memory replica of job ${job} is up: every scrape is failing, or (over OTLP) none "
        "has reported for ${absent}.",
        value="no replica up",
        answers=(
            PanelRef(boards.TELEMETRY, "Scrape health"),
            PanelRef(boards.CLUSTER, "Replicas: expected, up, ready"),
        ),
    ),
    ThresholdAlert(
        alert=Alert.REPLICA_DOWN,
        severity=Severity.WARNING,
        pending=Pending.SERVICE_DOWN,
        expr="(up{${sel}} == 0)\nand on (job)\n(sum by (job) (up{${sel}}) >= 1)",
        summary="A Jean Memory replica is down",
        description="Replica {{ $labels.instance }} of job ${job} has failed its scrapes for ${service_down_for}; "
        "at least one other replica is up and serving.",
        value="{{ $labels.instance }} down",
        answers=(PanelRef(boards.CLUSTER, "Up and ready by replica"),),
        link_instance=True,
    ),
    # Counts only replicas whose build info says cluster mode: an embedded instance never fires it. With
    # no replica up at all the sum is empty and JeanMemoryDown pages instead.
    ThresholdAlert(
        alert=Alert.TOO_FEW_REPLICAS_READY,
        severity=Severity.CRITICAL,
        pending=Pending.SHORT,
        expr="sum by (job) (\n  jm_ready{${sel}}\n  and on (job, instance)\n"
        '  jm_build_info{${sel}, mode="cluster"}\n) < ${min_ready_replicas}',
        summary="Fewer than ${min_ready_replicas} Jean Memory replicas are ready",
        value="{{ $value }} ready",
        description="{{ $value }} replica(s) of job ${job} in cluster mode report ready (jm_ready == 1); at least "
        "${min_ready_replicas} are needed to lose one and keep serving.",
        answers=(
            PanelRef(boards.CLUSTER, "Replicas ready"),
            PanelRef(boards.CLUSTER, "Up and ready by replica"),
        ),
    ),
    ThresholdAlert(
        alert=Alert.HIGH_LATENCY,
        severity=Severity.CRITICAL,
        pending=Pending.STANDARD,
        expr="jm:api_latency:avg${rate} > ${avg_response_seconds}",
        summary="Jean Memory average response time is over ${avg_response_ms} ms",
        description="Average /v1 response time over the last ${rate} is ${value} (threshold ${avg_response_ms} ms).",
        value="{{ $value | humanizeDuration }}",
        answers=(
            PanelRef(boards.OVERVIEW, "Memory creation latency"),
            PanelRef(boards.OVERVIEW, "Search latency"),
        ),
    ),
    ThresholdAlert(
        alert=Alert.CREATION_LATENCY_HIGH,
        severity=Severity.WARNING,
        pending=Pending.STANDARD,
        expr="jm:creation_latency:p99_${rate} > ${creation_p99_seconds}",
        summary="Memory creation p99 is over ${creation_p99_ms} ms",
        description="Memory creation p99 over ${rate} is ${value} "
        "(threshold ${creation_p99_ms} ms; the target is a ${creation_avg_ms} ms average).",
        value="{{ $value | humanizeDuration }}",
        answers=(PanelRef(boards.OVERVIEW, "Memory creation latency"),),
    ),
    ThresholdAlert(
        alert=Alert.SEARCH_LATENCY_HIGH,
        severity=Severity.WARNING,
        pending=Pending.STANDARD,
        expr="jm:search_latency:p99_${rate} > ${search_p99_seconds}",
        summary="Search p99 is over ${search_p99_ms} ms",
        description="Search p99 (all tiers) over ${rate} is ${value} "
        "(threshold ${search_p99_ms} ms; hot-search target ${hot_search_p99_ms} ms).",
        value="{{ $value | humanizeDuration }}",
        answers=(PanelRef(boards.OVERVIEW, "Search latency"),),
    ),
    ThresholdAlert(
        alert=Alert.LOW_CACHE_HIT_RATE,
        severity=Severity.WARNING,
        pending=Pending.STANDARD,
        expr="jm:cache_hit:ratio_rate${rate} < ${cache_hit_ratio_min}\nand\njm:searches:rate${rate} > 0",
        summary="Cache hit rate is under ${cache_hit_ratio_min_pct}",
        description="Share of searches answered without the model over ${rate} is ${value} "
        "(threshold ${cache_hit_ratio_min_pct}, target ${cache_hit_ratio_pct}).",
        value="{{ $value | humanizePercentage }}",
        answers=(PanelRef(boards.OVERVIEW, "Cache hit rate"),),
    ),
    ThresholdAlert(
        alert=Alert.HIGH_ERROR_RATE,
        severity=Severity.CRITICAL,
        pending=Pending.STANDARD,
        expr="jm:http_errors:ratio_rate${rate} > ${error_ratio_max}",
        summary="Jean Memory error rate is over ${error_ratio_max_pct}",
        description="5xx share of requests over ${rate} is ${value} "
        "(threshold ${error_ratio_max_pct}, target under ${error_ratio_pct}).",
        value="{{ $value | humanizePercentage }}",
        answers=(PanelRef(boards.OVERVIEW, "Error rate"),),
    ),
    ThresholdAlert(
        alert=Alert.SHUTTLE_BACKLOG_GROWING,
        severity=Severity.WARNING,
        pending=Pending.STANDARD,
        expr="deriv(jm_shuttle_pending{${sel}}[${rate}]) > ${shuttle_backlog_growth_per_second}\n"
        "and\njm_shuttle_pending{${sel}} > ${shuttle_backlog_min}",
        summary="Writes are piling up in the journal",
        description="${value} writes/s more are journaled than shipped to the long-term store; "
        "over ${shuttle_backlog_min} are waiting.",
        value="{{ $value | humanize }}",
        answers=(PanelRef(boards.SHUTTLE, "Pending writes"),),
    ),
    ThresholdAlert(
        alert=Alert.SHUTTLE_STALE,
        severity=Severity.WARNING,
        pending=Pending.SHORT,
        expr="max by (job) (jm_shuttle_oldest_pending_age_seconds{${sel}}) > ${shuttle_oldest_pending_seconds}",
        summary="The oldest unshipped write is over ${shuttle_oldest_pending_seconds} s old",
        description="The oldest write not yet in the long-term store is ${value} old "
        "(threshold ${shuttle_oldest_pending_seconds} s).",
        value="{{ $value | humanizeDuration }}",
        answers=(PanelRef(boards.SHUTTLE, "Oldest pending age"),),
    ),
    ThresholdAlert(
        alert=Alert.LTM_UNREACHABLE,
        severity=Severity.CRITICAL,
        pending=Pending.SHORT,
        expr="max by (job) (jm_ltm_up{${sel}}) == 0",
        summary="The long-term store is unreachable",
        description="The last calls to the long-term store failed; writes are acknowledged from the journal and "
        "retried, reads of users not in the short-term tier fail with 503.",
        value="store calls failing",
        answers=(PanelRef(boards.SHUTTLE, "LTM up"),),
    ),
    ThresholdAlert(
        alert=Alert.STM_NEAR_BUDGET,
        severity=Severity.WARNING,
        pending=Pending.STANDARD,
        # Averaged over the window: a tier at its budget evicts down to 90 % of it and fills again, a saw-tooth
        # across the threshold that reset an instant comparison's `for` at every dip (the full drill of
        # 2026-11-26 06:06: 0.87 to 1.0 every few seconds, the ticket fired and resolved five times).
        expr="avg_over_time(jm:stm_budget:ratio[${rate}]) > ${stm_budget_ratio}",
        summary="The short-term tier is near its memory budget",
        value="{{ $value | humanizePercentage }}",
        description="The short-term tier used ${value} of its budget on average over ${rate} "
        "(threshold ${stm_budget_ratio_pct} of ${stm_mb} MB); cold users are being evicted.",
        answers=(PanelRef(boards.STM, "STM bytes vs budget"),),
    ),
    ThresholdAlert(
        alert=Alert.EVENT_LOOP_BLOCKED,
        severity=Severity.WARNING,
        pending=Pending.STANDARD,
        expr="histogram_quantile(0.99, sum by (job, instance, le) "
        "(rate(jm_event_loop_lag_seconds_bucket{${sel}}[${rate}])))\n> ${event_loop_lag_p99_seconds}",
        summary="Something holds a replica's event loop",
        value="{{ $value | humanizeDuration }}",
        description="The p99 of how late the event loop's 100 ms timer fires on {{ $labels.instance }} is ${value} "
        "over ${rate} (threshold ${event_loop_lag_p99_ms} ms): every request of every tenant on it waits that long.",
        answers=(
            PanelRef(boards.STM, "Event-loop lag"),
            PanelRef(boards.STM, "Garbage-collector pauses (p99) and frozen objects"),
        ),
        link_instance=True,
    ),
    ThresholdAlert(
        alert=Alert.ADMISSION_REJECTING,
        severity=Severity.WARNING,
        pending=Pending.SHORT,
        expr="jm:admission_rejections:rate${rate} > ${admission_rejections_per_second}",
        summary="Admission control is refusing requests",
        value="{{ $value | humanize }}",
        description="${value} requests/s are refused with 429/503 (threshold ${admission_rejections_per_second}/s).",
        answers=(PanelRef(boards.OVERVIEW, "Admission rejections"),),
    ),
    # The data folder's filesystem (journal, embedded store): per replica, as each has its own. The ratio is
    # free over total, so a small volume is judged by its share, as node-exporter's filesystem alerts do.
    ThresholdAlert(
        alert=Alert.DISK_ALMOST_FULL,
        severity=Severity.CRITICAL,
        pending=Pending.STANDARD,
        expr="jm_disk_free_bytes{${sel}} / jm_disk_total_bytes{${sel}} < ${disk_free_ratio_min}",
        summary="The data folder's disk is almost full",
        value="{{ $value | humanizePercentage }}",
        description="{{ $labels.instance }}: the filesystem of JM_DATA_DIR has ${value} free (threshold "
        "${disk_free_ratio_min_pct}); when it is full adds get 507 until space returns.",
        answers=(
            PanelRef(boards.QUALITY, "Disk free (data folder)"),
            PanelRef(boards.QUALITY, "Disk bytes free"),
        ),
        link_instance=True,
    ),
    ThresholdAlert(
        alert=Alert.DISK_FILLING_UP,
        severity=Severity.WARNING,
        pending=Pending.STANDARD,
        expr="(\n  jm_disk_free_bytes{${sel}} / jm_disk_total_bytes{${sel}} < ${disk_fill_free_ratio_max}\n)\n"
        "and\npredict_linear(jm_disk_free_bytes{${sel}}[${baseline}], ${fill_horizon_seconds}) < 0",
        summary="The data folder's disk is filling up",
        value="{{ $value | humanizePercentage }} free",
        description="{{ $labels.instance }}: ${value} on the filesystem of JM_DATA_DIR (under "
        "${disk_fill_free_ratio_max_pct}) and, at the pace of the last ${baseline}, it is full within ${fill_horizon}.",
        answers=(
            PanelRef(boards.QUALITY, "Disk bytes free"),
            PanelRef(boards.QUALITY, "Disk free (data folder)"),
        ),
        link_instance=True,
    ),
    # A large store's page-by-page check runs after the start (JM_STARTUP_CHECK_SYNC_BYTES): damage it finds
    # takes the replica out of readiness; any other damage stops the start (JeanMemoryDown then).
    ThresholdAlert(
        alert=Alert.DATA_FILE_DAMAGED,
        severity=Severity.CRITICAL,
        pending=None,
        expr="jm_data_file_damaged{${sel}} > 0",
        summary="A data file of the service is damaged",
        value="{{ $labels.file }}",
        description="{{ $labels.instance }}: the background integrity check found the {{ $labels.file }} damaged; "
        "the replica is out of readiness and reads of the damaged pages fail.",
        answers=(PanelRef(boards.QUALITY, "Data files damaged"),),
        link_instance=True,
    ),
    # Relative to its own past, so that it holds for any embedder (MiniLM's scores and the hash
    # embedder's differ): the median of the best match's similarity over the rate window falls under a share
    # of its median over the baseline window.
    ThresholdAlert(
        alert=Alert.RETRIEVAL_QUALITY_DROPPED,
        severity=Severity.WARNING,
        pending=Pending.STANDARD,
        expr="histogram_quantile(0.5, sum by (job, le) (rate(jm_search_top_score_bucket{${sel}}[${rate}])))\n"
        "< ${retrieval_score_drop_ratio}\n"
        "* histogram_quantile(0.5, sum by (job, le) (rate(jm_search_top_score_bucket{${sel}}[${baseline}])))",
        summary="Retrieval quality collapsed: best matches are far less similar than usual",
        value="{{ $value | humanizePercentage }}",
        description="The median similarity of each search's best result over ${rate} is ${value}, under "
        "${retrieval_score_drop_ratio_pct} of its median over ${baseline}: the model and the stored vectors "
        "no longer agree (a broken or swapped model, noise vectors). Searches still answer, with the wrong "
        "memories.",
        answers=(
            PanelRef(boards.QUALITY, "Best-match similarity"),
            PanelRef(boards.QUALITY, "Searches with no result"),
        ),
    ),
    # Every replica publishes the same queue, read from PostgreSQL: the max is the queue's.
    ThresholdAlert(
        alert=Alert.EMBED_QUEUE_STALE,
        severity=Severity.WARNING,
        pending=Pending.SHORT,
        expr="max by (job) (jm_cluster_embed_queue_oldest_age_seconds{${sel}}) > ${embed_queue_oldest_seconds}",
        summary="A memory has waited over ${embed_queue_oldest_seconds} s for its vector",
        value="{{ $value | humanizeDuration }}",
        description="The oldest memory in PostgreSQL without a vector is ${value} old "
        "(threshold ${embed_queue_oldest_seconds} s; a dead replica's claims are taken over after the "
        "${cluster_lease_s} s lease).",
        answers=(
            PanelRef(boards.CLUSTER, "Embedding queue oldest age"),
            PanelRef(boards.CLUSTER, "Embedding queue"),
            PanelRef(boards.CLUSTER, "Embedding claims by origin"),
        ),
    ),
    ThresholdAlert(
        alert=Alert.COHERENCE_LAG_HIGH,
        severity=Severity.WARNING,
        pending=Pending.STANDARD,
        expr="jm:cluster_invalidation_lag:p99_${rate} > ${invalidation_lag_p99_seconds}",
        summary="Replicas learn of each other's writes late",
        value="{{ $value | humanizeDuration }}",
        description="p99 from a commit on any replica to its change notification on another is "
        "${value} over ${rate} (threshold ${invalidation_lag_p99_seconds} s); reads stay "
        "correct but catch up from PostgreSQL first.",
        answers=(
            PanelRef(boards.CLUSTER, "Invalidation lag"),
            PanelRef(boards.CLUSTER, "Version checks by result"),
        ),
    ),
    ThresholdAlert(
        alert=Alert.TELEMETRY_PIPELINE_BROKEN,
        severity=Severity.WARNING,
        pending=Pending.SHORT,
        expr=_telemetry_failures,
        summary="Telemetry is being lost between the service and the backends",
        value="{{ $value | humanize }}",
        description="${value} failed exports or refused/dropped items per second "
        "(service OTLP exports, collector receivers and exporters).",
        answers=(
            PanelRef(boards.TELEMETRY, "Service OTLP exports"),
            PanelRef(boards.TELEMETRY, "Dropped spans"),
            PanelRef(boards.TELEMETRY, "Collector refused"),
            PanelRef(boards.TELEMETRY, "Collector export failures"),
        ),
    ),
    BurnRateAlert(
        alert=Alert.AVAILABILITY_BUDGET_BURN,
        slo="availability",
        record="jm:slo_availability_errors:ratio_rate",
        what="5xx",
        answers=(
            PanelRef(boards.SLO, "Burn rate (availability)"),
            PanelRef(boards.SLO, "Error budget remaining"),
        ),
    ),
    BurnRateAlert(
        alert=Alert.LATENCY_BUDGET_BURN,
        slo="latency",
        record="jm:slo_latency_slow:ratio_rate",
        what="slower than ${latency_threshold_ms} ms",
        answers=(PanelRef(boards.SLO, "Latency SLO"),),
    ),
    ThresholdAlert(
        alert=Alert.WATCHDOG,
        severity=Severity.NONE,
        pending=None,
        expr="vector(1)",
        summary="The alerting pipeline is alive",
        description="Always firing. If the receiver stops getting this, alerts are not being delivered.",
        value="always firing",
        answers=(PanelRef(boards.OVERVIEW, "Active alerts"),),
    ),
    # SLOs per operation: each burns against its own budget (see OperationBurnAlert).
    OperationBurnAlert(
        alert=Alert.OPERATION_BUDGET_BURN,
        answers=(
            PanelRef(boards.SLO, "Burn rate per operation"),
            PanelRef(boards.SLO, "Error budget remaining over the period"),
        ),
    ),
    # The period's budget spent: a ticket (the burn alerts page while it is being spent fast).
    ThresholdAlert(
        alert=Alert.ERROR_BUDGET_EXHAUSTED,
        severity=Severity.WARNING,
        pending=Pending.STANDARD,
        expr=f"{BUDGET_REMAINING}${{slo_period}} <= 0",
        summary="An SLO has spent its error budget for the period",
        value="{{ $value | humanizePercentage }}",
        description="The {{ $labels.slo }} SLO has ${value} of its error budget left over the last ${slo_period}: "
        "it has failed its objective for the period. Changes that risk it wait until the budget recovers.",
        answers=(PanelRef(boards.SLO, "Error budget remaining over the period"),),
    ),
    # The product plan's targets, watched (the thresholds above them page or ticket on harder breaches).
    ThresholdAlert(
        alert=Alert.HOT_SEARCH_LATENCY_HIGH,
        severity=Severity.WARNING,
        pending=Pending.STANDARD,
        expr="jm:hot_search_latency:p99_${rate} > ${hot_search_p99_seconds}",
        summary="Hot-search p99 is over the ${hot_search_p99_ms} ms target",
        value="{{ $value | humanizeDuration }}",
        description="The p99 of searches answered from the cache or the short-term tier over ${rate} is ${value}: "
        "the product plan's target is ${hot_search_p99_ms} ms.",
        answers=(PanelRef(boards.OVERVIEW, "Search latency"),),
    ),
    ThresholdAlert(
        alert=Alert.CREATION_AVERAGE_HIGH,
        severity=Severity.WARNING,
        pending=Pending.STANDARD,
        expr="jm:creation_latency:avg${rate} > ${creation_avg_seconds}",
        summary="Memory creation averages over the ${creation_avg_ms} ms target",
        value="{{ $value | humanizeDuration }}",
        description="Memory creation took ${value} on average over ${rate}: the product plan's target is a "
        "${creation_avg_ms} ms average.",
        answers=(PanelRef(boards.OVERVIEW, "Memory creation latency"),),
    ),
    # The synthetic user (`jean-memory canary`): the service as a client sees it.
    ThresholdAlert(
        alert=Alert.CANARY_FAILING,
        severity=Severity.WARNING,
        pending=Pending.SHORT,
        expr=f'sum by (job) (rate({CANARY_ROUNDS}{{${{canary_sel}}, result="success"}}[${{rate}}]))\n/\n'
        f"sum by (job) (rate({CANARY_ROUNDS}{{${{canary_sel}}}}[${{rate}}]))\n< ${{canary_success_ratio_min}}",
        summary="The synthetic user's rounds are failing",
        value="{{ $value | humanizePercentage }}",
        description="Only ${value} of the canary's rounds (add a memory, search until found by meaning, delete "
        "it) succeeded over ${rate} (threshold ${canary_success_ratio_min_pct}): clients see the same.",
        answers=(
            PanelRef(boards.SLO, "Canary rounds by result"),
            PanelRef(boards.SLO, "Canary time to searchable"),
        ),
    ),
    ThresholdAlert(
        alert=Alert.TIME_TO_SEARCHABLE_HIGH,
        severity=Severity.WARNING,
        pending=Pending.STANDARD,
        expr=f"histogram_quantile(0.99, sum by (job, le) (rate({CANARY_SEARCHABLE}_bucket{{${{canary_sel}}}}"
        "[${rate}])))\n> ${canary_time_to_searchable_p99_seconds}",
        summary="New memories take long to become searchable",
        value="{{ $value | humanizeDuration }}",
        description="The p99 from the canary sending an add to a search finding it by meaning is ${value} over "
        "${rate} (threshold ${canary_time_to_searchable_p99_ms} ms): embeddings are slow or queued.",
        answers=(
            PanelRef(boards.SLO, "Canary time to searchable"),
            PanelRef(boards.SLO, "Canary rounds by result"),
        ),
    ),
    # The golden set's replay (JM_GOLDEN_SET): the share of its expected memories missing from their search's
    # top k. No golden set, no series: the ratio is empty and the alert silent.
    BurnRateAlert(
        alert=Alert.RECALL_BUDGET_BURN,
        slo="recall",
        record="jm:slo_recall_misses:ratio_rate",
        what="",
        summary="Jean Memory is burning its recall error budget: the golden set's memories are not found",
        summary_page="Jean Memory is burning its recall error budget fast: the golden set's memories are not found",
        description="The share of the golden set's expected memories missing from their search's top results is "
        "${value} over the long window, at least ${factor}x the rate that spends the ${objective} recall SLO's "
        "budget (multiwindow, multi-burn-rate). Searches answer, with the wrong memories.",
        answers=(
            PanelRef(boards.QUALITY, "Golden-set recall"),
            PanelRef(boards.QUALITY, "Golden-set searches"),
        ),
    ),
)

#: A host filesystem worth watching (node-mixin's `fstype!=""`, without the kernel's pseudo-filesystems).
_FS = 'job="${node_job}", fstype!="", mountpoint!~"/(dev|proc|sys|run)(/.*)?"'

#: The label of the alerts about what the service stands on: alerts/alertmanager.yml does not inhibit them
#: when JeanMemoryDown fires (a full disk or a PostgreSQL down is the cause to see, not a symptom to hide).
INFRASTRUCTURE_LABELS: Mapping[str, str] = {"layer": "infrastructure"}

#: What the service stands on and the monitoring itself: the host, PostgreSQL, probes from outside, and
#: Prometheus and Alertmanager watching each other (after the node, postgres and prometheus/alertmanager mixins).
_INFRASTRUCTURE_SPECS: tuple[AlertSpec, ...] = (
    ThresholdAlert(
        alert=Alert.HOST_DISK_ALMOST_FULL,
        severity=Severity.CRITICAL,
        pending=Pending.STANDARD,
        expr=f"(\n  node_filesystem_avail_bytes{{{_FS}}}\n  / node_filesystem_size_bytes{{{_FS}}}\n"
        ") < ${host_fs_free_ratio_min}\n"
        f"and\nnode_filesystem_readonly{{{_FS}}} == 0",
        summary="A filesystem of the host is almost full",
        value="{{ $value | humanizePercentage }}",
        description="{{ $labels.instance }}: {{ $labels.mountpoint }} has ${value} free (threshold "
        "${host_fs_free_ratio_min_pct}); PostgreSQL, Prometheus and the service stop writing when it is full.",
        answers=(PanelRef(boards.HOST, "Filesystem free"),),
        labels=INFRASTRUCTURE_LABELS,
    ),
    ThresholdAlert(
        alert=Alert.HOST_DISK_FILLING_UP,
        severity=Severity.WARNING,
        pending=Pending.STANDARD,
        expr=f"(\n  node_filesystem_avail_bytes{{{_FS}}}\n  / node_filesystem_size_bytes{{{_FS}}}\n"
        ") < ${host_fs_fill_free_ratio_max}\n"
        f"and\npredict_linear(node_filesystem_avail_bytes{{{_FS}}}[${{baseline}}], ${{fill_horizon_seconds}}) < 0\n"
        f"and\nnode_filesystem_readonly{{{_FS}}} == 0",
        summary="A filesystem of the host is filling up",
        value="{{ $value | humanizePercentage }} free",
        description="{{ $labels.instance }}: {{ $labels.mountpoint }} has ${value} (under "
        "${host_fs_fill_free_ratio_max_pct}) and, at the pace of the last ${baseline}, it is full within "
        "${fill_horizon}.",
        answers=(PanelRef(boards.HOST, "Filesystem free"), PanelRef(boards.HOST, "Disk I/O")),
        labels=INFRASTRUCTURE_LABELS,
    ),
    ThresholdAlert(
        alert=Alert.HOST_MEMORY_PRESSURE,
        severity=Severity.WARNING,
        pending=Pending.STANDARD,
        expr='node_memory_MemAvailable_bytes{job="${node_job}"}\n/ node_memory_MemTotal_bytes{job="${node_job}"}\n'
        "< ${host_memory_available_ratio_min}",
        summary="The host is short of memory",
        value="{{ $value | humanizePercentage }}",
        description="{{ $labels.instance }}: ${value} of the host's memory is available (threshold "
        "${host_memory_available_ratio_min_pct}); next come swapping, page-cache misses and the OOM killer.",
        answers=(PanelRef(boards.HOST, "Memory available"),),
        labels=INFRASTRUCTURE_LABELS,
    ),
    ThresholdAlert(
        alert=Alert.POSTGRES_DOWN,
        severity=Severity.CRITICAL,
        pending=Pending.SERVICE_DOWN,
        expr='pg_up{job="${postgres_job}"} == 0',
        summary="A PostgreSQL server of the cluster is down",
        value="{{ $labels.instance }} unreachable",
        description="The exporter {{ $labels.instance }} cannot reach its PostgreSQL server for ${service_down_for}. "
        "A synchronous standby away blocks every commit on the primary until it returns; a primary away leaves "
        "the replicas without a store (JeanMemoryLTMUnreachable).",
        answers=(PanelRef(boards.POSTGRES, "Servers up"), PanelRef(boards.POSTGRES, "Standbys streaming")),
        labels=INFRASTRUCTURE_LABELS,
    ),
    ThresholdAlert(
        alert=Alert.POSTGRES_CONNECTIONS_NEAR_LIMIT,
        severity=Severity.WARNING,
        pending=Pending.SHORT,
        expr='sum by (job, instance) (pg_stat_activity_count{job="${postgres_job}"})\n/ on (job, instance)\n'
        'max by (job, instance) (pg_settings_max_connections{job="${postgres_job}"})\n'
        "> ${postgres_connections_ratio_max}",
        summary="PostgreSQL connections are near max_connections",
        value="{{ $value | humanizePercentage }}",
        description="{{ $labels.instance }}: connections are ${value} of max_connections (threshold "
        "${postgres_connections_ratio_max_pct}); at the limit new connections fail and the replicas' pools cannot "
        "grow.",
        answers=(PanelRef(boards.POSTGRES, "Connections vs max_connections"),),
        labels=INFRASTRUCTURE_LABELS,
    ),
    ThresholdAlert(
        alert=Alert.POSTGRES_REPLICATION_LAG,
        severity=Severity.WARNING,
        pending=Pending.SHORT,
        expr='pg_replication_lag_seconds{job="${postgres_job}"}\n> ${postgres_replication_lag_seconds}\n'
        'and on (job, instance)\npg_replication_is_replica{job="${postgres_job}"} == 1',
        summary="A PostgreSQL standby replays far behind its primary",
        value="{{ $value | humanizeDuration }}",
        description="{{ $labels.instance }}: the standby's last replayed transaction is ${value} old while WAL "
        "waits to be replayed (threshold ${postgres_replication_lag_seconds} s); promoted now, it would serve "
        "reads that far behind until it catches up.",
        answers=(PanelRef(boards.POSTGRES, "Replication lag"), PanelRef(boards.POSTGRES, "Standbys streaming")),
        labels=INFRASTRUCTURE_LABELS,
    ),
    ThresholdAlert(
        alert=Alert.PROBE_FAILING,
        severity=Severity.CRITICAL,
        pending=Pending.SERVICE_DOWN,
        expr='probe_success{job="${probe_job}", role="${probe_front_role}"} == 0',
        summary="Jean Memory is unreachable from outside",
        value="{{ $labels.instance }} failing",
        description="The blackbox probe of {{ $labels.instance }} (the front door users reach) has failed for "
        "${service_down_for}: HAProxy is down, or no replica behind it answers /readyz with 200.",
        answers=(PanelRef(boards.PROBES, "Probe success"), PanelRef(boards.PROBES, "Probe duration")),
        labels=INFRASTRUCTURE_LABELS,
    ),
    ThresholdAlert(
        alert=Alert.RULE_EVALUATION_FAILURES,
        severity=Severity.CRITICAL,
        pending=Pending.SHORT,
        expr="sum by (job, instance, rule_group) (\n"
        '  rate(prometheus_rule_evaluation_failures_total{job="${prometheus_job}"}[${rate}])\n'
        ") > ${rule_failures_per_second}",
        summary="Prometheus fails to evaluate rules",
        value="{{ $value | humanize }}",
        description="{{ $labels.instance }}: ${value} evaluations/s of rule group {{ $labels.rule_group }} fail: "
        "its alerts cannot fire and its recordings have gaps.",
        answers=(PanelRef(boards.MONITORING, "Rule evaluation failures"),),
        labels=INFRASTRUCTURE_LABELS,
    ),
    ThresholdAlert(
        alert=Alert.NOTIFICATIONS_FAILING,
        severity=Severity.WARNING,
        pending=Pending.SHORT,
        expr="sum by (job, instance, integration) (\n"
        '  rate(alertmanager_notifications_failed_total{job="${alertmanager_job}"}[${rate}])\n'
        ") > ${notification_failures_per_second}",
        summary="Alertmanager fails to deliver notifications",
        value="{{ $value | humanize }}",
        description="{{ $labels.instance }}: ${value} notifications/s to {{ $labels.integration }} receivers fail; "
        "alerts routed there reach nobody (this one may not either: check the receiver by hand).",
        answers=(PanelRef(boards.MONITORING, "Notifications failed"),),
        labels=INFRASTRUCTURE_LABELS,
    ),
    ThresholdAlert(
        alert=Alert.CONFIG_RELOAD_FAILED,
        severity=Severity.CRITICAL,
        pending=Pending.SHORT,
        expr='prometheus_config_last_reload_successful{job="${prometheus_job}"} == 0\nor\n'
        'alertmanager_config_last_reload_successful{job="${alertmanager_job}"} == 0',
        summary="Prometheus or Alertmanager rejected its configuration",
        value="{{ $labels.job }} on old config",
        description="{{ $labels.instance }} ({{ $labels.job }}): the last configuration reload failed; it runs on "
        "the previous configuration and a restart would not start at all.",
        answers=(PanelRef(boards.MONITORING, "Configuration reloads"),),
        labels=INFRASTRUCTURE_LABELS,
    ),
    ThresholdAlert(
        alert=Alert.ALERTMANAGER_MEMBERS_MISSING,
        severity=Severity.WARNING,
        pending=Pending.SHORT,
        expr='alertmanager_cluster_members{job="${alertmanager_job}"}\n< on (job) group_left\n'
        'count by (job) (up{job="${alertmanager_job}"})',
        summary="An Alertmanager has lost cluster peers",
        value="{{ $value }} members",
        description="{{ $labels.instance }} sees only ${value} in its cluster, fewer than the Alertmanagers "
        "Prometheus scrapes: silences and the notification log no longer reach them all, and a notification may "
        "be sent twice.",
        answers=(PanelRef(boards.MONITORING, "Alertmanager cluster members"),),
        labels=INFRASTRUCTURE_LABELS,
    ),
    ThresholdAlert(
        alert=Alert.SCRAPE_TARGET_DOWN,
        severity=Severity.WARNING,
        pending=Pending.SHORT,
        expr='up{job!="${job}"} == 0',
        summary="A scrape target of the stack is down",
        value="{{ $labels.job }} down",
        description="Prometheus cannot scrape {{ $labels.instance }} of job "
        "{{ $labels.job }}: what it watches is unwatched (the service's own replicas have JeanMemoryDown and "
        "JeanMemoryReplicaDown).",
        answers=(PanelRef(boards.MONITORING, "Scrape targets up"),),
        labels=INFRASTRUCTURE_LABELS,
    ),
    ThresholdAlert(
        alert=Alert.PROMETHEUS_NOT_INGESTING,
        severity=Severity.WARNING,
        pending=Pending.STANDARD,
        # Summed over `type`: Prometheus counts float and histogram samples apart, and the histogram series stays
        # flat wherever no native histogram is scraped (the prometheus-mixin's PrometheusNotIngestingSamples too).
        expr='sum without (type) (rate(prometheus_tsdb_head_samples_appended_total{job="${prometheus_job}"}[${rate}])) '
        "<= 0",
        summary="A Prometheus stores no samples",
        value="{{ $value | humanize }} samples/s",
        description="{{ $labels.instance }} appended ${value} over ${rate}: dashboards go blank and alerts "
        "resolve for want of data (a full or read-only disk, a corrupt head block).",
        answers=(PanelRef(boards.MONITORING, "Samples appended"),),
        labels=INFRASTRUCTURE_LABELS,
    ),
)

#: Every alert's spec, in rule-file order.
CATALOGUE: Mapping[Alert, AlertSpec] = {spec.alert: spec for spec in (*_SPECS, *_INFRASTRUCTURE_SPECS)}

#: SLO burn alerts: their long windows make them slow to clear by design (the drill does not wait for them).
BURN_ALERTS = frozenset(a for a, spec in CATALOGUE.items() if isinstance(spec, BurnRateAlert | OperationBurnAlert))

#: Alerts about cluster mode (several replicas over one PostgreSQL): a single embedded instance never
#: raises them, so an embedded drill must not see them and a cluster drill expects them.
CLUSTER_ALERTS = frozenset(
    {Alert.REPLICA_DOWN, Alert.TOO_FEW_REPLICAS_READY, Alert.EMBED_QUEUE_STALE, Alert.COHERENCE_LAG_HIGH}
)

#: The page of the dead man's switch (scripts/alert-receiver --deadman-after): raised outside Prometheus when
#: the Watchdog stops arriving, so not a rule of the catalogue; it links to the Watchdog's runbook.
DEADMAN_ALERT = "WatchdogMissing"

if set(CATALOGUE) != set(Alert):
    raise RuntimeError(f"alerts without a catalogue entry: {sorted(set(Alert) - set(CATALOGUE))}")
