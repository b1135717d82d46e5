"""The drill's dashboard check: every panel query that applies to the mode under drill returns data (a
finite point over the board's range: NaN draws nothing) from its Prometheus, as Grafana sends it with
every variable on All and `$__rate_interval` filled in.
Skipped: the collector's own panels and the Loki panel (neither runs natively), panels of the other mode
(`mixin.boards.applies`) and, where the run has no exporters, their boards; Trends queries are checked
as of now. A query that draws nothing is asked again until the slowest rule group has evaluated since
(`recorded_within_s`): the check runs beside the healthy window, and a recorded series (the Trends' hourly
rates, evaluated once a minute) may not exist yet at its start.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from typing import Any, cast

from jean_memory_dev.drill.bounds import Timing
from jean_memory_dev.mixin import load
from jean_memory_dev.mixin.boards import EXPORTER_BOARDS, Mode, applies, board_of
from jean_memory_dev.mixin.config import duration_seconds
from jean_memory_dev.mixin.grafana import Request, as_sent
from jean_memory_dev.mixin.layout import DASHBOARDS_JSON
from jean_memory_dev.processes import PrometheusServer


def sent(board: dict[str, Any], expr: str) -> Request:
    """A panel's query as Grafana sends it to the drill's Prometheus (scraped every `Timing.fast().scrape`, the
    datasource's scrape interval) with every template variable of its dashboard on All (the variable's
    `allValue`, `.*`: every replica, and series without the label) and `$__rate_interval` computed as
    Grafana does for the board's default range (`mixin/grafana.py`)."""
    return as_sent(board, expr, Timing.fast().scrape)


def with_all_selected(board: dict[str, Any], expr: str) -> str:
    """The text of `sent()`: what promtool parses."""
    return sent(board, expr).expr


def draws(prom: PrometheusServer, request: Request, since: float = 0.0) -> bool:
    """Whether the panel draws anything over its board's default range: a finite point (NaN draws nothing)
    in any series of the range query Grafana sends, at `since` (Unix seconds) or later. The drill's
    Prometheus outlives a stack: the cluster run's panels must draw from the cluster's own time, not from
    the embedded run's series still inside the board's range."""
    end = time.time()
    result = prom.query_range(request.expr, end - request.range_seconds, end, request.step_seconds)
    values = (v for r in result for at, v in cast(list[list[Any]], r["values"]) if float(at) >= since)
    return any(math.isfinite(float(v)) for v in values)


def without_offsets(expr: str) -> str:
    """A Trends query as of now: a fresh Prometheus has no data a day or a week back, so the drill checks
    that the series exist now (the offset itself is PromQL that promtool parses in tests/rules)."""
    return re.sub(r"\s+offset\s+\d+[smhdwy]", "", expr)


def recorded_within_s() -> float:
    """How long a recorded series may lag its inputs: the slowest rule group's interval (the trends group
    runs at `trends.interval` in the drill's stack too, the others at the fast evaluation interval), and a
    scrape."""
    timing = Timing.fast()
    return max(timing.evaluation, duration_seconds(load().trends.interval)) + timing.scrape


def check_dashboards(
    prom: Callable[[], PrometheusServer], mode: Mode, exporters: bool, since: float = 0.0
) -> dict[str, Any]:
    """The summary of the check (see the module's docstring): `queries` checked, `empty` ones (each with
    its expression), and what was skipped and why. `prom` gives a live Prometheus to ask; only points at
    `since` or later count (`draws`)."""
    checked, waiting, skipped, other_mode, no_exporters = 0, [], set(), set(), set()
    deadline = time.monotonic() + recorded_within_s()
    for path in sorted(DASHBOARDS_JSON.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                where = f"{path.stem} / {panel['title']}"
                request = sent(board, without_offsets(target["expr"]))
                expr = request.expr
                if "otelcol_" in expr or target["datasource"]["type"] == "loki":  # compose only
                    skipped.add(where)
                elif not applies(board_of(path.stem), panel["title"], mode):
                    other_mode.add(where)
                elif board_of(path.stem) in EXPORTER_BOARDS and not exporters:
                    no_exporters.add(where)
                else:
                    checked += 1
                    if not draws(prom(), request, since):
                        waiting.append((f"{where}: {expr}", request))
    # A recorded series appears at its group's next evaluation after its inputs do: asked again until the
    # slowest group has surely evaluated (the check runs beside the healthy window, early in the run).
    while waiting and time.monotonic() < deadline:
        time.sleep(Timing.fast().scrape)
        waiting = [(text, request) for text, request in waiting if not draws(prom(), request, since)]
    empty = [text for text, _ in waiting]
    return {
        "queries": checked,
        "empty": empty,
        "skipped_collector_only": sorted(skipped),
        "skipped_other_mode": sorted(other_mode),
        "skipped_no_exporters": sorted(no_exporters),
    }
