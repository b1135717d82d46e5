"""Jean Memory / Errors: what fails, where, and the lines that say why.

Error rates by type (the service's `jm_errors_total` and the HTTP status classes) and by route, the
latency of each status class with exemplars (a dot opens its trace in Tempo; with the collector's tail
sampling every failed request's trace is kept), and the latest warning and error lines from Loki (each
opens its trace through the Loki datasource's `trace_id` link). Loki runs only in the compose stack: the
logs panel is empty natively, where the same records reach the tests' OTLP receiver instead.

Built to the dashboard rules the lint enforces: `$__rate_interval` windows, datasource variables
(`datasource` for Prometheus, `loki`), a description on the board and each panel, links to the other
boards and the runbook, annotations for firing alerts and service restarts.
"""

from __future__ import annotations

from typing import Any

import attr
from grafanalib.core import (
    Annotations,
    Dashboard,
    DashboardLink,
    GridPos,
    Logs,
    Target,
    Template,
    Templating,
    Time,
    TimeSeries,
)

from jean_memory_dev.mixin import boards, promql
from jean_memory_dev.mixin.catalogue import Alert
from jean_memory_dev.mixin.dashboards.common import CONFIG, JOB, SEL, TH, line, replica_variable

HIGH_ERROR_RATE = str(Alert.HIGH_ERROR_RATE)
#: Grafana's rate window: at least four scrape intervals, more when a point spans more (the lint's rule).
RATE = "$__rate_interval"
PROM = {"type": "prometheus", "uid": "${datasource}"}
LOKI = {"type": "loki", "uid": "${loki}"}
HTTP = promql.HTTP
ERRORS = 'http_response_status_class=~"4xx|5xx"'
#: The warning and error lines of the service in Loki: its OTLP resource's service.name is the job; a
#: record's attributes are structured metadata there (dots become underscores: `error.type` is `error_type`).
LOGQL = f'{{service_name="{JOB}"}} | severity_text=~"WARN|ERROR|FATAL" or error_type!=""'


class DatasourceVariable(Template):
    """A datasource picker, opened on the provisioned datasource of its type."""

    def to_json_data(self) -> dict[str, Any]:
        data: dict[str, Any] = super().to_json_data()
        data["current"] = {"selected": True, "text": self.default, "value": self.default}
        return data


def datasource_variable(name: str, label: str, kind: str) -> Template:
    return DatasourceVariable(name=name, label=label, type="datasource", query=kind, default=kind)


class ExemplarProm(Target):
    """A Prometheus query that also asks for exemplars, on the dashboard's datasource variable."""

    def to_json_data(self) -> dict[str, Any]:
        data: dict[str, Any] = super().to_json_data()
        data["exemplar"] = True
        return data


def prom(expr: str, legend: str, ref: str = "A", exemplar: bool = False) -> Target:
    cls = ExemplarProm if exemplar else Target
    return cls(expr=expr, legendFormat=legend, refId=ref, datasource=PROM)


def series(
    title: str, targets: list[Target], pos: tuple[int, int, int, int], unit: str, description: str, **kw: Any
) -> TimeSeries:
    x, y, w, h = pos
    return TimeSeries(
        title=title,
        dataSource=PROM,
        targets=targets,
        gridPos=GridPos(h=h, w=w, x=x, y=y),
        unit=unit,
        description=description,
        **kw,
    )


def _or_zero(errors: str, by: str) -> str:
    """`errors`, or 0 per `by` group of all requests while no error series exists (a panel draws 0, not
    "no data")."""
    return f"{errors}\nor\n0 * sum by ({by}) (rate({HTTP}_count{{{SEL}}}[{RATE}]))"


def _alerts_annotation() -> dict[str, Any]:
    return {
        "name": "Alerts",
        "datasource": PROM,
        "enable": True,
        "iconColor": "red",
        "expr": f'ALERTS{{alertstate="firing", service="{JOB}"}}',
        "step": "30s",
        "titleFormat": "{{alertname}}",
        "tagKeys": "severity,instance",
        "textFormat": "{{alertname}} firing ({{severity}})",
    }


def _restarts_annotation() -> dict[str, Any]:
    return {
        "name": "Restarts",
        "datasource": PROM,
        "enable": True,
        "iconColor": "orange",
        "expr": f"changes(process_start_time_seconds{{{SEL}}}[{RATE}]) > 0",
        "step": "30s",
        "titleFormat": "restart",
        "tagKeys": "instance",
        "textFormat": "{{instance}} restarted",
    }


ratio = promql.error_ratio(SEL, RATE)

dashboard = Dashboard(
    title=boards.ERRORS.title,
    uid=boards.ERRORS.uid,
    description="What fails, where, and the lines that say why: error rates by type and route, latency by status "
    "class with exemplars to traces, the latest warning and error lines (Loki, compose only).",
    tags=["jean-memory", "errors"],
    timezone="utc",
    refresh="10s",
    time=Time("now-1h", "now"),
    templating=Templating(
        [
            datasource_variable("datasource", "Prometheus", "prometheus"),
            datasource_variable("loki", "Loki", "loki"),
            attr.evolve(replica_variable(), dataSource=PROM),
        ]
    ),
    links=[
        DashboardLink(
            title="Jean Memory",
            type="dashboards",
            tags=["jean-memory"],
            asDropdown=True,
            includeVars=True,
            keepTime=True,
        ),
        DashboardLink(
            title=f"Runbook: {HIGH_ERROR_RATE}",
            type="link",
            uri=f"{CONFIG.service.runbook_base_url}/{HIGH_ERROR_RATE}.md",
            targetBlank=True,
            tooltip="What to do when the 5xx share stays over its threshold",
        ),
    ],
    annotations=Annotations([_alerts_annotation(), _restarts_annotation()]),
    panels=[
        series(
            "Error ratio (5xx)",
            [prom(ratio, "5xx share")],
            (0, 0, 8, 8),
            "percentunit",
            f"Share of requests answered 5xx over the selected replicas; the line is the alert's threshold "
            f"({TH.error_ratio_max:.0%}, {HIGH_ERROR_RATE}).",
            thresholds=line(TH.error_ratio_max),
            thresholdsStyleMode="dashed",
        ),
        series(
            "Error rate by type",
            [
                prom(
                    f"sum by (service, operation, error_type) (rate(jm_errors_total{{{SEL}}}[{RATE}]))\n"
                    "or on() vector(0)",
                    "{{service}} {{operation}} {{error_type}}",
                ),
                prom(
                    _or_zero(
                        f"sum by (http_response_status_class) (rate({HTTP}_count{{{SEL}, {ERRORS}}}[{RATE}]))",
                        "job",
                    ),
                    "HTTP {{http_response_status_class}}",
                    "B",
                ),
            ],
            (8, 0, 16, 8),
            "ops",
            "Errors per second by component, operation and error type (`jm_errors_total`: the embedder, the "
            "shuttle, the store, ...), and refused (4xx) and failed (5xx) requests. The type of a refused or "
            "failed request is in its log line (`error.type`), below.",
        ),
        series(
            "Error rate by route",
            [
                prom(
                    _or_zero(
                        f"sum by (http_route, http_response_status_class) "
                        f"(rate({HTTP}_count{{{SEL}, {ERRORS}}}[{RATE}]))",
                        "http_route",
                    ),
                    "{{http_route}} {{http_response_status_class}}",
                )
            ],
            (0, 8, 12, 8),
            "reqps",
            "Refused (4xx) and failed (5xx) requests per second by route template (a route with no errors draws 0).",
        ),
        series(
            "Latency by status class (p99, exemplars)",
            [
                prom(
                    f"histogram_quantile(0.99, sum by (le, http_response_status_class) "
                    f"(rate({HTTP}_bucket{{{SEL}}}[{RATE}])))",
                    "p99 {{http_response_status_class}}",
                    exemplar=True,
                )
            ],
            (12, 8, 12, 8),
            "s",
            "p99 latency of each status class. The dots are exemplars: a click opens that request's trace in "
            "Tempo (in compose the collector keeps every failed request's trace).",
        ),
        Logs(
            title="Latest error lines",
            dataSource=LOKI,
            targets=[Target(expr=LOGQL, refId="A", datasource=LOKI)],
            gridPos=GridPos(h=12, w=24, x=0, y=16),
            description="The service's latest warning and error lines, and every refused or failed request's line "
            "(Loki, fed over OTLP by the collector: compose only). Each line's trace_id opens its trace.",
            showTime=True,
            wrapLogMessages=True,
            enableLogDetails=True,
            sortOrder="Descending",
        ),
    ],
).auto_panel_ids()
