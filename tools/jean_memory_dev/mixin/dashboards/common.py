"""Shared pieces of the grafanalib dashboards: the config, the datasource and replica variables, the rate
window, descriptions, links and annotations, panel builders.

Thresholds come from the typed config (`alerts/thresholds.yaml`). Every panel and query reads from the
`datasource` variable (any Prometheus; it opens on the provisioned one, whose exemplars link to Tempo:
dashboards/provisioning/datasources/datasources.yml), and every rate window is Grafana's `$__rate_interval`
(`RATE`; see `grafana.py`), so a board draws on any scrape interval and zoom level. Recording rules keep
their fixed windows; panels over recorded series (`jm:...:rate5m`) read them as recorded.

`make_dashboard()` gives each board what `dashlint.py` checks: the board's description (`boards.py`), each
panel's description completed from the catalogue (the service metrics it reads, with their help text; the
alerts it answers, with their severity and summary) and links to those alerts' runbooks, the links to the
other Jean Memory boards (by tag, keeping the time range and the variables), and the annotations: alerts
firing, replica restarts, deploys (a version not running an interval earlier).

Every dashboard is built by `make_dashboard()`, which gives it the `instance` variable (the replicas to show:
several, or All), and every query over the service's series selects with `SEL`, which carries
`instance=~"$instance"`: the filter is written here once, not in each query. All is `.*`, which also
matches series without an `instance` label (metrics that arrive over OTLP). Panels over recorded
series aggregate per job and so cannot be filtered: they draw the expressions the rules record
(`rules.error_ratio(SEL, ...)`) over the selected replicas instead, and the SLO panels sum the
per-replica request counts the SLO rules keep.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from grafanalib.core import (
    REFRESH_ON_TIME_RANGE_CHANGE,
    Annotations,
    Dashboard,
    DashboardLink,
    GridPos,
    Logs,
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

from jean_memory.telemetry.metrics import metric_docs
from jean_memory_dev.mixin.boards import Board, PanelRef
from jean_memory_dev.mixin.catalogue import CATALOGUE, Alert, runbook_url
from jean_memory_dev.mixin.config import Severity, load
from jean_memory_dev.mixin.context import Context
from jean_memory_dev.mixin.grafana import DATASOURCE, RATE_INTERVAL
from jean_memory_dev.mixin.promql import HTTP, api

CONFIG = load()
PRODUCTION = Context(CONFIG)
JOB = PRODUCTION.job
#: The window of every rate(), irate() and increase() on a panel: Grafana's, never a fixed one.
RATE = RATE_INTERVAL
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

#: Every board's tag: the links between boards list the boards that carry it.
TAG = "jean-memory"
#: The provisioned Prometheus (its exemplars link to Tempo): what the datasource variable opens on.
PROVISIONED_PROMETHEUS = "prometheus"
#: Where every Prometheus panel and query reads: the datasource variable's pick.
PROMETHEUS = {"type": "prometheus", "uid": f"${{{DATASOURCE}}}"}
TEMPO = {"type": "tempo", "uid": "tempo"}
ALERTMANAGER = {"type": "alertmanager", "uid": "alertmanager"}


class DatasourceVariable(Template):
    """A datasource variable (`type: datasource`): grafanalib writes query variables only. It opens on the
    datasource `default` (a uid), shown by its label, which is the provisioned datasource's name."""

    def to_json_data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": "datasource",
            "query": self.query,
            "current": {"selected": True, "text": self.label, "value": self.default},
            "hide": 0,
            "includeAll": False,
            "multi": False,
            "options": [],
            "refresh": 1,
            "regex": "",
        }


def datasource_variable() -> Template:
    """Which Prometheus the board reads: any Prometheus datasource, opened on the provisioned one."""
    return DatasourceVariable(name=DATASOURCE, label="Prometheus", query="prometheus", default=PROVISIONED_PROMETHEUS)


#: The Loki datasource variable a board with log panels adds (`make_dashboard(..., variables=[loki_variable()])`)
#: and its panels read; the lint accepts Loki panels and leaves their LogQL windows alone.
LOKI_VARIABLE = "loki"
LOKI = {"type": "loki", "uid": f"${{{LOKI_VARIABLE}}}"}


def loki_variable(provisioned: str = "loki") -> Template:
    """Which Loki a board's log panels read, opened on the provisioned one (its uid)."""
    return DatasourceVariable(name=LOKI_VARIABLE, label="Loki", query="loki", default=provisioned)


def logs(title: str, expr: str, pos: tuple[int, int, int, int], description: str) -> Logs:
    """A log panel over LogQL from the Loki variable: the newest lines first, with their labels."""
    x, y, w, h = pos
    return Logs(
        title=title,
        dataSource=LOKI,
        targets=[Target(expr=expr, refId="A", datasource=LOKI)],
        gridPos=GridPos(h=h, w=w, x=x, y=y),
        description=description,
        showTime=True,
        wrapLogMessages=True,
        enableLogDetails=True,
    )


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


def board_annotations() -> Annotations:
    """Alerts firing (Prometheus's ALERTS, the replicas picked and the job's own), replica restarts (a new
    process start time) and deploys (a version of jm_build_info not running one interval earlier)."""

    def annotation(name: str, expr: str, title: str, color: str, tags: str = "") -> dict[str, Any]:
        return {
            "datasource": PROMETHEUS,
            "enable": True,
            "expr": expr,
            "iconColor": color,
            "name": name,
            "tagKeys": tags,
            "titleFormat": title,
            "useValueForTime": False,
        }

    return Annotations(
        [
            annotation("Alerts", f"ALERTS{{{ALERTS_SEL}}}", "{{alertname}}", "red", "severity"),
            annotation(
                "Restarts",
                f"changes(process_start_time_seconds{{{SEL}}}[{RATE}]) > 0",
                "restart {{instance}}",
                "orange",
                "instance",
            ),
            annotation(
                "Deploys",
                f"count by (version) (jm_build_info{{{SEL}}})\nunless\n"
                f"count by (version) (jm_build_info{{{SEL}}} offset {RATE})",
                "deploy {{version}}",
                "blue",
                "version",
            ),
        ]
    )


def board_links() -> list[DashboardLink]:
    """Every other Jean Memory board (by tag, in a menu), keeping the time range and the variables, and the
    runbooks."""
    return [
        DashboardLink(
            title="Jean Memory",
            type="dashboards",
            tags=[TAG],
            asDropdown=True,
            includeVars=True,
            keepTime=True,
        ),
        DashboardLink(
            title="Runbooks",
            type="link",
            uri=CONFIG.service.runbook_base_url,
            icon="doc",
            tooltip="One runbook per alert: meaning, impact, diagnosis, mitigation",
            targetBlank=True,
            keepTime=False,
        ),
    ]


@cache
def _metric_help() -> dict[str, str]:
    return {d.name: d.help for d in metric_docs()}


def metrics_read(panel: Panel) -> list[str]:
    """The service's metric families a panel's queries read, in order of first use."""
    names: dict[str, None] = {}
    help_ = _metric_help()
    for t in getattr(panel, "targets", []):
        for token in re.findall(r"\b[a-zA-Z_][a-zA-Z0-9_]*(?=\s*[{\[)])", t.expr):
            family = re.sub(r"_(bucket|count|sum)$", "", token)
            if family in help_:
                names[family] = None
    return list(names)


def answered_by(board: Board, title: str) -> list[Alert]:
    """The alerts that name this panel among those that answer them (its `answers` in the catalogue)."""
    ref = PanelRef(board, title)
    return [alert for alert, spec in CATALOGUE.items() if ref in spec.answers]


_ACTION = {Severity.CRITICAL: "pages", Severity.WARNING: "files a ticket"}


def _what(alert: Alert) -> str:
    """`pages: Jean Memory is down`: what the alert does and says, from its production rules."""
    rules = CATALOGUE[alert].rules(PRODUCTION)
    actions = " and ".join(dict.fromkeys(_ACTION.get(r.severity, "notifies") for r in rules))
    return f"{actions}: {rules[-1].summary}"


def complete(board: Board, panel: Panel) -> None:
    """The panel's description completed from the catalogue, and links to the runbooks of its alerts."""
    parts = [panel.description.strip()] if panel.description else []
    read = metrics_read(panel)
    if read:
        parts.append("Reads " + "; ".join(f"`{m}`: {_metric_help()[m]}" for m in read))
    alerts = answered_by(board, panel.title)
    if alerts:
        lines = [f"- **{a}** {_what(a)}" for a in alerts]
        parts.append("Alerts that point here (their runbooks are linked on this panel):\n" + "\n".join(lines))
        panel.links = [{"title": f"Runbook: {a}", "url": runbook_url(CONFIG, a), "targetBlank": True} for a in alerts]
    panel.description = "\n\n".join(parts)


def make_dashboard(
    board: Board,
    panels: Sequence[Panel],
    tags: Sequence[str] = (TAG,),
    refresh: str = "10s",
    since: str = "now-1h",
    variables: Sequence[Template] = (),
) -> Dashboard:
    """A dashboard with the datasource and replica variables (then `variables`, such as `loki_variable()`), its
    description, links and annotations, UTC, panel descriptions completed from the catalogue, panel ids
    assigned: how every dashboard is made."""
    for panel in panels:
        if not isinstance(panel, RowPanel):
            complete(board, panel)
    return Dashboard(
        title=board.title,
        uid=board.uid,
        description=board.description,
        tags=list(tags),
        timezone="utc",
        refresh=refresh,
        time=Time(since, "now"),
        templating=Templating([datasource_variable(), replica_variable(), *variables]),
        annotations=board_annotations(),
        links=board_links(),
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
