"""Jean Memory / Telemetry pipeline: the service's exports, the collector, the backends.

The collector's panels read the collector's own series (another job, not a replica): the replica
filter does not apply to them."""

from jean_memory_dev.mixin import boards
from jean_memory_dev.mixin.dashboards.common import JOB, RATE, SEL, make_dashboard, target, timeseries

dashboard = make_dashboard(
    boards.TELEMETRY,
    [
        timeseries(
            "Service OTLP exports",
            [
                target(
                    f"sum by (signal, result) (rate(jm_telemetry_exports_total{{{SEL}}}[{RATE}]))",
                    "{{signal}} {{result}}",
                )
            ],
            (0, 0, 12, 8),
            "ops",
            description="The service's OTLP export attempts per second by signal and result: failures mean the "
            "collector is down or refusing (see Collector refused).",
        ),
        timeseries(
            "Dropped spans",
            [target(f"rate(jm_telemetry_dropped_spans_total{{{SEL}}}[{RATE}])", "dropped/s {{instance}}")],
            (12, 0, 12, 8),
            "ops",
            threshold=0.0001,
            description="Spans the service dropped before export (queue full or export failed): traces are "
            "missing. Anything above zero: check the collector.",
        ),
        timeseries(
            "Collector refused",
            [
                target(f"sum(rate(otelcol_receiver_refused_spans_total[{RATE}]))", "spans/s"),
                target(f"sum(rate(otelcol_receiver_refused_metric_points_total[{RATE}]))", "metric points/s", "B"),
            ],
            (0, 8, 12, 8),
            "ops",
            description="The collector's receivers refusing data (memory_limiter under pressure).",
        ),
        timeseries(
            "Collector export failures",
            [
                target(
                    f"sum by (exporter) (rate(otelcol_exporter_send_failed_spans_total[{RATE}]))", "spans {{exporter}}"
                ),
                target(
                    f"sum by (exporter) (rate(otelcol_exporter_send_failed_metric_points_total[{RATE}]))",
                    "metric points {{exporter}}",
                    "B",
                ),
            ],
            (12, 8, 12, 8),
            "ops",
            description="What the collector failed to send on to Tempo and Prometheus, by exporter: a backend "
            "is down or unreachable.",
        ),
        timeseries(
            "Scrape health",
            [
                target(f"up{{{SEL}}}", f"{JOB} {{{{instance}}}}"),
                target(f'up{{job!="{JOB}"}}', "{{job}} {{instance}}", "B"),
            ],
            (0, 16, 24, 6),
            "short",
            description="1 while a scrape succeeds: the service's replicas selected, then the stack's other jobs.",
            valueMin=0,
            valueMax=1,
        ),
    ],
    tags=("jean-memory", "telemetry"),
)
