"""Shared pieces of the grafanalib dashboards: the config, datasources, the replica filter, panel builders.

Thresholds come from the typed config (`alerts/thresholds.yaml`, production windows); datasource UIDs
are fixed and match dashboards/provisioning/datasources/datasources.yml (a test checks both).

Every dashboard is built by `make_dashboard()`, which gives it the `instance` variable (the replicas to show:
several, or All), and every query over the service's series selects with `SEL`, which carries
`instance=~"$instance"`: the filter is written here once, not in each query. All is `.*`, which also
matches series without an `instance` label (metrics that arrive over OTLP). Panels over recorded
series aggregate per job and so cannot be filtered: they draw the expressions the rules record
(`rules.error_ratio(SEL, ...)`) over the selected replicas instead, and the SLO panels sum the
per-replica request counts the SLO rules keep.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from grafanalib.core import (
    REFRESH_ON_TIME_RANGE_CHANGE,
    Dashboard,
    GridPos,
    Panel,
    RowPanel,
    Stat,
    Target,
    Template,
    Templating,
    Threshold,
    Time,
    TimeSeries,
)

from jean_memory_dev.mixin.boards import Board
from jean_memory_dev.mixin.config import load
from jean_memory_dev.mixin.context import Context
from jean_memory_dev.mixin.promql import HTTP, api

CONFIG = load()
PRODUCTION = Context(CONFIG)
JOB = PRODUCTION.job
RATE = PRODUCTION.rate
T = CONFIG.targets
TH = CONFIG.thresholds
SLO = CONFIG.slo
CLUSTER = CONFIG.cluster

#: The template variable every dashboard has: the replicas (Prometheus `instance`) to show.
INSTANCE = "instance"
#: What All stands for (Grafana's allValue): every replica, and series without the label.
ALL = ".*"
#: The selector of the service's series on a dashboard: the job, and the replicas picked.
SEL = f'{PRODUCTION.sel}, {INSTANCE}=~"${INSTANCE}"'
#: Prometheus's ALERTS for this service: an alert about one replica carries its `instance`, one about the
#: job carries none (the empty alternative), so picking replicas hides only other replicas' alerts.
ALERTS_SEL = f'alertstate="firing", service="{JOB}", {INSTANCE}=~"${INSTANCE}|"'

PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
TEMPO = {"type": "tempo", "uid": "tempo"}
ALERTMANAGER = {"type": "alertmanager", "uid": "alertmanager"}


class ReplicaVariable(Template):
    """The `instance` variable, opened on All (grafanalib would make the default an option named so)."""

    def to_json_data(self) -> dict[str, Any]:
        data: dict[str, Any] = super().to_json_data()
        data["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
        data["definition"] = data["query"]
        return data


def replica_variable() -> Template:
    """Replicas by `instance` of the job's build info (every replica, every mode, exposes it); refreshed
    with the time range, as replicas come and go."""
    return ReplicaVariable(
        name=INSTANCE,
        label="Replica",
        query=f"label_values(jm_build_info{{{PRODUCTION.sel}}}, {INSTANCE})",
        dataSource=PROMETHEUS,
        multi=True,
        includeAll=True,
        allValue=ALL,
        refresh=REFRESH_ON_TIME_RANGE_CHANGE,
    )


def make_dashboard(
    board: Board,
    panels: Sequence[Panel],
    tags: Sequence[str] = ("jean-memory",),
    refresh: str = "10s",
    since: str = "now-1h",
) -> Dashboard:
    """A dashboard with the replica variable, UTC, panel ids assigned: how every dashboard is made."""
    return Dashboard(
        title=board.title,
        uid=board.uid,
        tags=list(tags),
        timezone="utc",
        refresh=refresh,
        time=Time(since, "now"),
        templating=Templating([replica_variable()]),
        panels=list(panels),
    ).auto_panel_ids()


class ExemplarTarget(Target):
    """A Prometheus query that also asks for exemplars (links from points on the graph to Tempo)."""

    def to_json_data(self) -> dict[str, Any]:
        data: dict[str, Any] = super().to_json_data()
        data["exemplar"] = True
        data["datasource"] = PROMETHEUS
        return data


def target(expr: str, legend: str, ref: str = "A", exemplar: bool = False) -> Target:
    cls = ExemplarTarget if exemplar else Target
    return cls(expr=expr, legendFormat=legend, refId=ref, datasource=PROMETHEUS)


def line(value: float, color: str = "red") -> list[Threshold]:
    """Base green, then `color` from `value` up: drawn as a dashed line on time series."""
    return [Threshold("green", 0, 0.0), Threshold(color, 1, float(value))]


def at_least(value: float) -> list[Threshold]:
    """Red below `value`, green from it: for counts that must stay up (replicas ready)."""
    return [Threshold("red", 0, 0.0), Threshold("green", 1, float(value))]


def row(title: str, y: int) -> RowPanel:
    return RowPanel(title=title, gridPos=GridPos(h=1, w=24, x=0, y=y))


def timeseries(
    title: str,
    targets: list[Target],
    pos: tuple[int, int, int, int],
    unit: str,
    threshold: float | None = None,
    description: str = "",
    **kw: Any,
) -> TimeSeries:
    x, y, w, h = pos
    extra: dict[str, Any] = {}
    if threshold is not None:
        kw["thresholds"] = line(threshold)
        kw["thresholdsStyleMode"] = "dashed"
    return TimeSeries(
        title=title,
        dataSource=PROMETHEUS,
        targets=targets,
        gridPos=GridPos(h=h, w=w, x=x, y=y),
        unit=unit,
        description=description,
        extraJson=extra,
        **kw,
    )


def stat(
    title: str, expr: str, pos: tuple[int, int, int, int], unit: str, thresholds: list[Threshold], description: str = ""
) -> Stat:
    x, y, w, h = pos
    return Stat(
        title=title,
        dataSource=PROMETHEUS,
        targets=[target(expr, title)],
        gridPos=GridPos(h=h, w=w, x=x, y=y),
        format=unit,
        thresholds=thresholds,
        reduceCalc="lastNotNull",
        description=description,
    )


def quantiles(metric: str, extra: str = "", by: str = "", qs: Sequence[str] = ("0.5", "0.95", "0.99")) -> list[Target]:
    """Quantiles (p50/p95/p99 unless told) of a histogram over the production rate window, with exemplars,
    over the selected replicas."""
    group = f"le{', ' + by if by else ''}"
    legend_by = f" {{{{{by}}}}}" if by else ""
    out = []
    for ref, q in zip("ABCDE", qs, strict=False):
        expr = f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{SEL}{extra}}}[{RATE}])))"
        out.append(target(expr, f"p{float(q) * 100:g}{legend_by}", ref, exemplar=True))
    return out


def replica_throughput(pos: tuple[int, int, int, int]) -> TimeSeries:
    """Requests per second, one line per replica: is the load balancer spreading the load?"""
    return timeseries(
        "Throughput by replica",
        [target(f"sum by ({INSTANCE}) (rate({HTTP}_count{{{SEL}}}[{RATE}]))", f"{{{{{INSTANCE}}}}}")],
        pos,
        "reqps",
        description="All requests per second, by replica (Prometheus `instance`).",
    )


def replica_latency(pos: tuple[int, int, int, int]) -> TimeSeries:
    """p99 of /v1 requests, one line per replica, against the latency SLO's threshold."""
    latency_ms = SLO.latency.threshold_seconds * 1000
    return timeseries(
        "Latency by replica (p99)",
        [
            target(
                f"histogram_quantile(0.99, sum by ({INSTANCE}, le) (rate({HTTP}_bucket{{{api(SEL)}}}[{RATE}])))",
                f"p99 {{{{{INSTANCE}}}}}",
                exemplar=True,
            )
        ],
        pos,
        "s",
        threshold=SLO.latency.threshold_seconds,
        description=f"p99 of /v1 requests by replica. The latency SLO wants {SLO.latency.objective:.0%} under "
        f"{latency_ms:g} ms: a replica above the line spends budget on its own.",
    )
