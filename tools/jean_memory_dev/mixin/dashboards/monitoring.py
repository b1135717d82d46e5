"""Jean Memory / Monitoring: Prometheus and Alertmanager watching each other (each Prometheus scrapes itself,
its peer and every Alertmanager): rule failures, notifications, reloads, the Alertmanager cluster, scrape
targets, ingestion. Their series are other jobs': the replica filter does not apply to them."""

from jean_memory_dev.mixin import boards
from jean_memory_dev.mixin.dashboards.common import CONFIG, JOB, RATE, make_dashboard, target, timeseries

INFRA = CONFIG.infrastructure
PROM = f'job="{INFRA.prometheus_job}"'
AM = f'job="{INFRA.alertmanager_job}"'

dashboard = make_dashboard(
    boards.MONITORING,
    [
        timeseries(
            "Rule evaluation failures",
            [
                target(
                    "sum by (instance, rule_group) "
                    f"(rate(prometheus_rule_evaluation_failures_total{{{PROM}}}[{RATE}]))",
                    "{{instance}} {{rule_group}}",
                )
            ],
            (0, 0, 12, 8),
            "ops",
            threshold=0.0001,
            description="Failed evaluations per second, by rule group: a failing group's alerts cannot fire.",
        ),
        timeseries(
            "Notifications failed",
            [
                target(
                    f"sum by (instance, integration) (rate(alertmanager_notifications_failed_total{{{AM}}}[{RATE}]))",
                    "failed {{integration}} {{instance}}",
                ),
                target(
                    f"sum by (instance, integration) (rate(alertmanager_notifications_total{{{AM}}}[{RATE}]))",
                    "sent {{integration}} {{instance}}",
                    "B",
                ),
                target(
                    f"sum by (instance) (rate(prometheus_notifications_errors_total{{{PROM}}}[{RATE}]))",
                    "Prometheus to Alertmanager errors {{instance}}",
                    "C",
                ),
            ],
            (12, 0, 12, 8),
            "ops",
            description="Notifications per second from each Alertmanager to its receivers, sent and failed, and "
            "Prometheus's failures to hand alerts to the Alertmanagers.",
        ),
        timeseries(
            "Configuration reloads",
            [
                target(f"prometheus_config_last_reload_successful{{{PROM}}}", "prometheus {{instance}}"),
                target(f"alertmanager_config_last_reload_successful{{{AM}}}", "alertmanager {{instance}}", "B"),
            ],
            (0, 8, 12, 8),
            "short",
            description="1 when the last configuration (re)load succeeded; 0 means running on an older one.",
            valueMin=0,
            valueMax=1,
        ),
        timeseries(
            "Alertmanager cluster members",
            [
                target(f"alertmanager_cluster_members{{{AM}}}", "seen by {{instance}}"),
                target(f"count(up{{{AM}}})", "Alertmanagers scraped", "B"),
            ],
            (12, 8, 12, 8),
            "short",
            description="Peers each Alertmanager sees, against how many Prometheus scrapes: fewer means silences "
            "and the notification log do not reach them all.",
        ),
        timeseries(
            "Scrape targets up",
            [target(f'sum by (job) (up{{job!="{JOB}"}}) / count by (job) (up{{job!="{JOB}"}})', "{{job}}")],
            (0, 16, 12, 8),
            "percentunit",
            description="Share of each job's targets scraped successfully (the service's replicas are on the "
            "Cluster board).",
            valueMin=0,
            valueMax=1,
        ),
        timeseries(
            "Samples appended",
            [
                target(
                    f"sum without (type) (rate(prometheus_tsdb_head_samples_appended_total{{{PROM}}}[{RATE}]))",
                    "{{instance}}",
                )
            ],
            (12, 16, 12, 8),
            "ops",
            description="Samples stored per second by each Prometheus: 0 means nothing is recorded or alerted on.",
        ),
    ],
    tags=("jean-memory", "monitoring"),
)
