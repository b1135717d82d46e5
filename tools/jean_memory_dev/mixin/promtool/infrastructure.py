"""promtool cases of the infrastructure alerts: the host, PostgreSQL, the probes and the monitoring itself.

Kept apart from the service's cases (`service.py`) so that the service's cases and these
grow apart without touching each other. As there, each alert fires on one input (labels and rendered
annotations written by hand, as a person reads them) and stays silent on its neighbour.
"""

from __future__ import annotations

from typing import Any

from jean_memory_dev.mixin.catalogue import INFRASTRUCTURE_LABELS, Alert
from jean_memory_dev.mixin.config import Severity
from jean_memory_dev.mixin.promtool.cases import Cases


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    body = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{body}}}", "values": values}


def _fired(
    c: Cases, alert: Alert, severity: Severity, labels: dict[str, str], description: str, value: str
) -> list[Any]:
    return [
        {
            "exp_labels": c.labels(severity, **labels, **INFRASTRUCTURE_LABELS),
            "exp_annotations": c.annotations(alert, description, value),
        }
    ]


def cases(c: Cases) -> list[dict[str, Any]]:
    """Every infrastructure alert: one input where it fires, one where it stays silent."""
    return [*host_cases(c), *postgres_cases(c), *probe_cases(c), *monitoring_cases(c), *target_cases(c)]


def host_cases(c: Cases) -> list[dict[str, Any]]:
    """The host: its filesystem full or filling, its memory under pressure."""
    infra = c.config.infrastructure
    out: list[dict[str, Any]] = []
    # Host filesystem: 3 % of 100 GiB free pages; half free is silent.
    node = {"job": infra.node_job, "instance": "host:9100"}
    fs = {**node, "fstype": "ext4", "mountpoint": "/"}
    total = 100 * 2**30
    for free, fires in ((0.03, True), (0.5, False)):
        series = [
            _series("node_filesystem_avail_bytes", fs, f"{total * free:g}x20"),
            _series("node_filesystem_size_bytes", fs, f"{total}x20"),
            _series("node_filesystem_readonly", fs, "0x20"),
        ]
        exp = _fired(
            c,
            Alert.HOST_DISK_ALMOST_FULL,
            Severity.CRITICAL,
            fs,
            "host:9100: / has 3% free (threshold 5%); PostgreSQL, Prometheus and the service stop writing when it is "
            "full.",
            "3%",
        )
        out.append(c.case(Alert.HOST_DISK_ALMOST_FULL, series, "15m", exp if fires else []))
    # 30 GiB of 100 free, falling 100 MB a minute (full in about 5 hours): a ticket; holding steady: silent.
    start = 30 * 2**30
    for per_min, fires in ((100_000_000, True), (0, False)):
        series = [
            _series("node_filesystem_avail_bytes", fs, f"{start}-{per_min}x40"),
            _series("node_filesystem_size_bytes", fs, f"{total}x40"),
            _series("node_filesystem_readonly", fs, "0x40"),
        ]
        exp = _fired(
            c,
            Alert.HOST_DISK_FILLING_UP,
            Severity.WARNING,
            fs,
            "host:9100: / has 27.21% free (under 40%) and, at the pace of the last 6h, it is full within 24h.",
            "27.21% free",
        )
        out.append(c.case(Alert.HOST_DISK_FILLING_UP, series, "30m", exp if fires else []))
    # Memory: 1 GiB of 20 available (5 %) files a ticket; half available is silent.
    for available, fires in ((2**30, True), (10 * 2**30, False)):
        series = [
            _series("node_memory_MemAvailable_bytes", node, f"{available}x20"),
            _series("node_memory_MemTotal_bytes", node, f"{20 * 2**30}x20"),
        ]
        exp = _fired(
            c,
            Alert.HOST_MEMORY_PRESSURE,
            Severity.WARNING,
            node,
            "host:9100: 5% of the host's memory is available (threshold 10%); next come swapping, page-cache misses "
            "and the OOM killer.",
            "5%",
        )
        out.append(c.case(Alert.HOST_MEMORY_PRESSURE, series, "15m", exp if fires else []))

    return out


def postgres_cases(c: Cases) -> list[dict[str, Any]]:
    """PostgreSQL: a server unreachable, connections near the limit, a standby behind."""
    infra = c.config.infrastructure
    out: list[dict[str, Any]] = []
    # PostgreSQL: the standby's exporter cannot reach it.
    standby = {"job": infra.postgres_job, "instance": "standby:9187"}
    for up, fires in ((0, True), (1, False)):
        exp = _fired(
            c,
            Alert.POSTGRES_DOWN,
            Severity.CRITICAL,
            standby,
            "The exporter standby:9187 cannot reach its PostgreSQL server for 1m. A synchronous standby away blocks "
            "every commit on the primary until it returns; a primary away leaves the replicas without a store "
            f"({Alert.LTM_UNREACHABLE}).",
            "standby:9187 unreachable",
        )
        out.append(c.case(Alert.POSTGRES_DOWN, [_series("pg_up", standby, f"{up}x20")], "10m", exp if fires else []))
    # Connections: 45 idle + 45 active of 100 = 90 % files a ticket; 20 + 20 is silent.
    primary = {"job": infra.postgres_job, "instance": "primary:9187"}
    for each, fires in ((45, True), (20, False)):
        series = [
            _series("pg_stat_activity_count", {**primary, "datname": "postgres", "state": s}, f"{each}x20")
            for s in ("idle", "active")
        ] + [_series("pg_settings_max_connections", {**primary, "server": "127.0.0.1:5432"}, "100x20")]
        exp = _fired(
            c,
            Alert.POSTGRES_CONNECTIONS_NEAR_LIMIT,
            Severity.WARNING,
            primary,
            "primary:9187: connections are 90% of max_connections (threshold 80%); at the limit new connections fail "
            "and the replicas' pools cannot grow.",
            "90%",
        )
        out.append(c.case(Alert.POSTGRES_CONNECTIONS_NEAR_LIMIT, series, "10m", exp if fires else []))
    # Replication lag: a standby 2 minutes behind files a ticket; 5 s behind is silent.
    for lag, fires in ((120, True), (5, False)):
        series = [
            _series("pg_replication_lag_seconds", standby, f"{lag}x20"),
            _series("pg_replication_is_replica", standby, "1x20"),
        ]
        exp = _fired(
            c,
            Alert.POSTGRES_REPLICATION_LAG,
            Severity.WARNING,
            standby,
            "standby:9187: the standby's last replayed transaction is 2m 0s old while WAL waits to be replayed "
            "(threshold 30 s); promoted now, it would serve reads that far behind until it catches up.",
            "2m 0s",
        )
        out.append(c.case(Alert.POSTGRES_REPLICATION_LAG, series, "10m", exp if fires else []))

    return out


def probe_cases(c: Cases) -> list[dict[str, Any]]:
    """The probes: the front door failing pages, a replica's probe alone does not."""
    infra = c.config.infrastructure
    out: list[dict[str, Any]] = []
    # Probes: the front door failing pages; a replica's probe failing alone does not (ReplicaDown's job).
    front = {"job": infra.probe_job, "instance": "http://haproxy:8776/readyz", "role": infra.probe_front_role}
    replica = {"job": infra.probe_job, "instance": "http://replica-1:8766/readyz", "role": "replica"}
    exp = _fired(
        c,
        Alert.PROBE_FAILING,
        Severity.CRITICAL,
        front,
        "The blackbox probe of http://haproxy:8776/readyz (the front door users reach) has failed for 1m: HAProxy is "
        "down, or no replica behind it answers /readyz with 200.",
        "http://haproxy:8776/readyz failing",
    )
    out.append(c.case(Alert.PROBE_FAILING, [_series("probe_success", front, "0x20")], "10m", exp))
    silent = [_series("probe_success", front, "1x20"), _series("probe_success", replica, "0x20")]
    out.append(c.case(Alert.PROBE_FAILING, silent, "10m", []))

    return out


def monitoring_cases(c: Cases) -> list[dict[str, Any]]:
    """The monitoring itself: rule evaluations, notifications, configuration reloads, Alertmanager's members."""
    infra = c.config.infrastructure
    out: list[dict[str, Any]] = []
    # The monitoring itself.
    prom = {"job": infra.prometheus_job, "instance": "prometheus-1:9090"}
    group = {**prom, "rule_group": "/etc/prometheus/alerts/jean-memory.alerts.yml;jean-memory.alerts"}
    for per_min, fires in ((60, True), (0, False)):
        series = [_series("prometheus_rule_evaluation_failures_total", group, f"0+{per_min}x20")]
        exp = _fired(
            c,
            Alert.RULE_EVALUATION_FAILURES,
            Severity.CRITICAL,
            group,
            "prometheus-1:9090: 1 evaluations/s of rule group /etc/prometheus/alerts/jean-memory.alerts.yml;"
            "jean-memory.alerts fail: its alerts cannot fire and its recordings have gaps.",
            "1",
        )
        out.append(c.case(Alert.RULE_EVALUATION_FAILURES, series, "10m", exp if fires else []))
    am = {"job": infra.alertmanager_job, "instance": "alertmanager-1:9093"}
    webhook = {**am, "integration": "webhook"}
    for per_min, fires in ((120, True), (0, False)):
        series = [_series("alertmanager_notifications_failed_total", {**webhook, "reason": "other"}, f"0+{per_min}x20")]
        exp = _fired(
            c,
            Alert.NOTIFICATIONS_FAILING,
            Severity.WARNING,
            webhook,
            "alertmanager-1:9093: 2 notifications/s to webhook receivers fail; alerts routed there reach nobody "
            "(this one may not either: check the receiver by hand).",
            "2",
        )
        out.append(c.case(Alert.NOTIFICATIONS_FAILING, series, "10m", exp if fires else []))
    for who, labels, metric in (
        ("prometheus", prom, "prometheus_config_last_reload_successful"),
        ("alertmanager", am, "alertmanager_config_last_reload_successful"),
    ):
        exp = _fired(
            c,
            Alert.CONFIG_RELOAD_FAILED,
            Severity.CRITICAL,
            labels,
            f"{labels['instance']} ({who}): the last configuration reload failed; it runs on the previous "
            "configuration and a restart would not start at all.",
            f"{who} on old config",
        )
        out.append(c.case(Alert.CONFIG_RELOAD_FAILED, [_series(metric, labels, "0x20")], "10m", exp))
    healthy = [
        _series("prometheus_config_last_reload_successful", prom, "1x20"),
        _series("alertmanager_config_last_reload_successful", am, "1x20"),
    ]
    out.append(c.case(Alert.CONFIG_RELOAD_FAILED, healthy, "10m", []))
    # Three Alertmanagers scraped, one gone: the two left see two members each.
    peers = [{"job": infra.alertmanager_job, "instance": f"alertmanager-{i}:9093"} for i in (1, 2, 3)]
    for members, fires in ((2, True), (3, False)):
        series = [_series("up", p, f"{0 if fires and i == 2 else 1}x20") for i, p in enumerate(peers)]
        series += [
            _series("alertmanager_cluster_members", p, f"{members}x20") for p in peers[: members if fires else 3]
        ]
        exp = [
            {
                "exp_labels": c.labels(Severity.WARNING, **p, **INFRASTRUCTURE_LABELS),
                "exp_annotations": c.annotations(
                    Alert.ALERTMANAGER_MEMBERS_MISSING,
                    f"{p['instance']} sees only 2 members in its cluster, fewer than the Alertmanagers Prometheus "
                    "scrapes: silences and the notification log no longer reach them all, and a notification may "
                    "be sent twice.",
                    "2 members",
                ),
            }
            for p in peers[:2]
        ]
        out.append(c.case(Alert.ALERTMANAGER_MEMBERS_MISSING, series, "10m", exp if fires else []))
    return out


def target_cases(c: Cases) -> list[dict[str, Any]]:
    """A scrape target down, and a Prometheus that stopped ingesting."""
    infra = c.config.infrastructure
    node = {"job": infra.node_job, "instance": "host:9100"}
    prom = {"job": infra.prometheus_job, "instance": "prometheus-1:9090"}
    out: list[dict[str, Any]] = []
    # A target down: an exporter's is a ticket; the service's own are JeanMemoryDown's and ReplicaDown's.
    service = {"job": c.job, "instance": "a:8766"}
    exp = _fired(
        c,
        Alert.SCRAPE_TARGET_DOWN,
        Severity.WARNING,
        node,
        "Prometheus cannot scrape host:9100 of job node: what it watches is unwatched (the service's own replicas "
        f"have {Alert.DOWN} and {Alert.REPLICA_DOWN}).",
        "node down",
    )
    out.append(
        c.case(Alert.SCRAPE_TARGET_DOWN, [_series("up", node, "0x20"), _series("up", service, "1x20")], "10m", exp)
    )
    out.append(
        c.case(Alert.SCRAPE_TARGET_DOWN, [_series("up", node, "1x20"), _series("up", service, "0x20")], "10m", [])
    )
    # Ingestion: a flat samples counter files a ticket; a growing one is silent, though its histogram-samples
    # series (Prometheus counts float and histogram samples apart, by `type`) stays flat without native histograms.
    for per_min, fires in ((0, True), (6000, False)):
        series = [
            _series("prometheus_tsdb_head_samples_appended_total", {**prom, "type": "float"}, f"1000+{per_min}x20"),
            _series("prometheus_tsdb_head_samples_appended_total", {**prom, "type": "histogram"}, "0x20"),
        ]
        exp = _fired(
            c,
            Alert.PROMETHEUS_NOT_INGESTING,
            Severity.WARNING,
            prom,
            "prometheus-1:9090 appended 0 samples/s over 5m: dashboards go blank and alerts resolve for want of data "
            "(a full or read-only disk, a corrupt head block).",
            "0 samples/s",
        )
        out.append(c.case(Alert.PROMETHEUS_NOT_INGESTING, series, "15m", exp if fires else []))
    return out
