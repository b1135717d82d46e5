"""Jean Memory / Telemetry pipeline: the service's exports, the collector, the backends."""

from grafanalib.core import Dashboard, Time

from jean_memory_dev.mixin import boards
from jean_memory_dev.mixin.dashboards.common import RATE, SEL, target, timeseries

dashboard = Dashboard(
    title=boards.TELEMETRY.title,
    uid=boards.TELEMETRY.uid,
    tags=["jean-memory", "telemetry"],
    timezone="utc",
    refresh="10s",
    time=Time("now-1h", "now"),
    panels=[
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
        ),
        timeseries(
            "Dropped spans",
            [target(f"rate(jm_telemetry_dropped_spans_total{{{SEL}}}[{RATE}])", "dropped/s")],
            (12, 0, 12, 8),
            "ops",
            threshold=0.0001,
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
        ),
        timeseries(
            "Scrape health", [target("up", "{{job}} {{instance}}")], (0, 16, 24, 6), "short", valueMin=0, valueMax=1
        ),
    ],
).auto_panel_ids()
