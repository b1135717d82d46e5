"""What Grafana does to a panel's query before Prometheus sees it, so that tests and drills send the same.

A panel's PromQL is a template: `$datasource` picks the Prometheus, `$instance` the replicas, and the
rate windows are `$__rate_interval`, which Grafana computes per query from the panel's step and the
datasource's scrape interval (its `timeInterval`, provisioned as the global scrape interval of
prometheus.yml):

    $__interval      = max(round(range / max data points), scrape interval)
    $__rate_interval = max($__interval + scrape interval, 4 x scrape interval)

(Grafana's documentation, "Prometheus template variables"). Four scrape intervals keep at least two samples
in every window, so `rate()` never draws gaps; the step term keeps every sample counted once when a
panel spans days. Grafana takes the number of data points from the panel's width in pixels: `MAX_DATA_POINTS`
stands for a panel about a screen wide. Grafana also aligns a range query's start and end to the step; the
harness does not, so the newest minutes of a board spanning days are not cut off on a stack minutes old.

    >>> rate_interval_seconds(interval_seconds(3600, 15), 15)
    60
    >>> rate_interval_seconds(interval_seconds(3600, 1), 1)
    6
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Grafana's rate window: every rate(), irate() and increase() of a panel reads over it.
RATE_INTERVAL = "$__rate_interval"
#: The datasource template variable: every Prometheus panel and query names it, not a fixed datasource.
DATASOURCE = "datasource"
#: How many points Grafana asks for: a panel's width in pixels, here about a screen wide.
MAX_DATA_POINTS = 1000

#: Grafana's `roundInterval` (packages/grafana-data rangeutil): (below this many ms, use this many ms).
_ROUNDING_MS = (
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1_500, 1_000),
    (3_500, 2_000),
    (7_500, 5_000),
    (12_500, 10_000),
    (17_500, 15_000),
    (25_000, 20_000),
    (45_000, 30_000),
    (90_000, 60_000),
    (210_000, 120_000),
    (450_000, 300_000),
    (750_000, 600_000),
    (1_050_000, 900_000),
    (1_500_000, 1_200_000),
    (2_700_000, 1_800_000),
    (5_400_000, 3_600_000),
    (9_000_000, 7_200_000),
    (16_200_000, 10_800_000),
    (32_400_000, 21_600_000),
    (86_400_000, 43_200_000),
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def round_interval(seconds: float) -> float:
    """Grafana's rounding of a raw interval to a readable one (3.6 s -> 5 s, 86.4 s -> 1 m)."""
    ms = seconds * 1000
    if ms < 10:
        return 0.001
    for below, rounded in _ROUNDING_MS:
        if ms < below:
            return rounded / 1000
    return 86_400.0 if ms < 604_800_000 else 604_800.0


def interval_seconds(range_seconds: float, scrape_seconds: float, max_points: int = MAX_DATA_POINTS) -> float:
    """`$__interval`, the step: the range over the points asked for, rounded, never under the scrape interval."""
    return max(round_interval(range_seconds / max_points), scrape_seconds)


def rate_interval_seconds(step_seconds: float, scrape_seconds: float) -> int:
    """`$__rate_interval` for a query at `step_seconds` on a datasource scraped every `scrape_seconds`."""
    return round(max(step_seconds + scrape_seconds, 4 * scrape_seconds))


def duration(text: str) -> float:
    """`1h`, `90s`, `7d` in seconds (one unit: what dashboards' time ranges use)."""
    match = re.fullmatch(r"(\d+)([smhdwy])", text)
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    return int(match[1]) * _UNITS[match[2]]


def range_seconds(board: Mapping[str, Any]) -> float:
    """How far back the dashboard opens (`now-1h` -> 3600)."""
    since = board["time"]["from"]
    if not since.startswith("now-"):
        raise ValueError(f"{board.get('uid')}: a relative time range is expected, not {since!r}")
    return duration(since.removeprefix("now-"))


@dataclass(frozen=True)
class Request:
    """A panel's query as Grafana sends it: the text with every variable replaced, and its range."""

    expr: str
    range_seconds: float
    step_seconds: float


def as_sent(board: Mapping[str, Any], expr: str, scrape_seconds: float) -> Request:
    """`expr` of a panel of `board` as Grafana sends it when the board opens on its default range with every
    template variable on All (a variable's `allValue`, `.*`: every replica, and series without the label)."""
    span = range_seconds(board)
    step = interval_seconds(span, scrape_seconds)
    text = expr.replace(RATE_INTERVAL, f"{rate_interval_seconds(step, scrape_seconds)}s")
    text = text.replace("$__interval", f"{step:g}s").replace("$__range", f"{span:g}s")
    variables = sorted(board.get("templating", {}).get("list", []), key=lambda v: -len(v["name"]))
    for variable in variables:
        if variable.get("type") == "datasource":
            continue  # picks where the query goes, never appears in it
        text = text.replace(f"${{{variable['name']}}}", variable.get("allValue") or ".*")
        text = text.replace(f"${variable['name']}", variable.get("allValue") or ".*")
    return Request(text, span, step)
