"""Shared pieces of the grafanalib dashboards: the config, datasources, panel builders.

Thresholds come from the typed config (`alerts/thresholds.yaml`, production windows); datasource UIDs
are fixed and match dashboards/provisioning/datasources/datasources.yml (a test checks both).
"""

from __future__ import annotations

from typing import Any

from grafanalib.core import (
    GridPos,
    Stat,
    Target,
    Threshold,
    TimeSeries,
)

from jean_memory_dev.mixin.config import load
from jean_memory_dev.mixin.context import Context

CONFIG = load()
PRODUCTION = Context(CONFIG)
JOB = PRODUCTION.job
SEL = PRODUCTION.sel
RATE = PRODUCTION.rate
T = CONFIG.targets
TH = CONFIG.thresholds
SLO = CONFIG.slo

PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
TEMPO = {"type": "tempo", "uid": "tempo"}
ALERTMANAGER = {"type": "alertmanager", "uid": "alertmanager"}


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


def quantiles(metric: str, extra: str = "", by: str = "") -> list[Target]:
    """p50/p95/p99 of a histogram over the production rate window, with exemplars."""
    group = f"le{', ' + by if by else ''}"
    legend_by = f" {{{{{by}}}}}" if by else ""
    out = []
    for ref, q in zip("ABC", ("0.5", "0.95", "0.99"), strict=True):
        expr = f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{SEL}{extra}}}[{RATE}])))"
        out.append(target(expr, f"p{int(float(q) * 100)}{legend_by}", ref, exemplar=True))
    return out
