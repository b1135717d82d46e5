"""Jean Memory / Trends: the product plan's figures now, a day ago and a week ago.

Each panel draws one figure from the `jm:trend_*` recording rules (sums per replica over the trend
window, `trends.window`), three times: now, and shifted by each of `trends.compare` with PromQL's
`offset`, against the plan's target. A slow regression (a figure creeping up week over week) shows here
long before it crosses an alert threshold. The stat row gives the change against the longest
comparison. Prometheus must keep at least the longest comparison plus the window
(PROMETHEUS_RETENTION, 30 days by default).
"""

from __future__ import annotations

from collections.abc import Callable

from grafanalib.core import Panel

from jean_memory_dev.mixin import boards
from jean_memory_dev.mixin.dashboards.common import CONFIG, SEL, TH, T, make_dashboard, stat, target, timeseries
from jean_memory_dev.mixin.promql import trend_name

WINDOW = CONFIG.trends.window
COMPARE = CONFIG.trends.compare
#: A figure as PromQL over the selected replicas, at an offset (`""` for now, else ` offset 1w`).
Figure = Callable[[str], str]


def rec(figure: str, off: str, op: str = "rate") -> str:
    """A trend recording over the selected replicas, shifted by `off`."""
    return f"{trend_name(figure, WINDOW, op)}{{{SEL}}}{off}"


def ratio(numerator: str, denominator: str) -> Figure:
    return lambda off: f"sum({rec(numerator, off)})\n/\nsum({rec(denominator, off)})"


def offset(ago: str) -> str:
    return f" offset {ago}"


#: (title, figure, unit, target, description, change): `change` is how the stat row compares with a week
#: ago: "ratio" (relative: 0.1 is 10 % higher) or "delta" (absolute, in the figure's unit: for shares that
#: are often 0, where a ratio would be 0/0).
FIGURES: tuple[tuple[str, Figure, str, float, str, str], ...] = (
    (
        "Average response time",
        ratio("api_seconds_sum", "api_requests"),
        "s",
        TH.avg_response_seconds,
        f"Mean /v1 response time over {WINDOW}; the plan's alert is over {TH.avg_response_seconds * 1000:g} ms.",
        "ratio",
    ),
    (
        "Memory creation (average)",
        ratio("creation_seconds_sum", "creation_seconds_count"),
        "s",
        T.creation_avg_seconds,
        f"Mean time to a durable acknowledgement over {WINDOW}; target {T.creation_avg_seconds * 1000:g} ms.",
        "ratio",
    ),
    (
        "Hot search p99",
        lambda off: f"histogram_quantile(0.99, sum by (le) ({rec('hot_search_seconds_bucket', off)}))",
        "s",
        T.hot_search_p99_seconds,
        f"p99 of searches answered hot (cache, stm) over {WINDOW}; target {T.hot_search_p99_seconds * 1000:g} ms.",
        "ratio",
    ),
    (
        "Cache hit rate",
        ratio("cache_hits", "cache_lookups"),
        "percentunit",
        T.cache_hit_ratio,
        f"Searches answered without the model over {WINDOW}; target over {T.cache_hit_ratio:.0%}.",
        "delta",
    ),
    (
        "Throughput",
        lambda off: f"sum({rec('operations', off)})",
        "ops",
        T.throughput_ops_per_second,
        f"Adds and searches per second over {WINDOW}; the plan asks for {T.throughput_ops_per_second:g}/s of capacity.",
        "ratio",
    ),
    (
        "Error rate",
        ratio("api_errors", "api_requests"),
        "percentunit",
        T.error_ratio,
        f"5xx share of /v1 requests over {WINDOW}; target under {T.error_ratio:.1%}.",
        "delta",
    ),
    (
        "STM memory",
        lambda off: f"sum({rec('stm_bytes', off, 'avg')})",
        "bytes",
        T.stm_bytes,
        f"Short-term tier bytes (mean over {WINDOW}); the plan's budget {T.stm_bytes // 2**20} MB.",
        "ratio",
    ),
)


def comparison(title: str, figure: Figure, unit: str, goal: float, description: str, pos: tuple[int, int]) -> Panel:
    """One figure: now and each comparison, one line each, against its target."""
    x, y = pos
    lines = [target(figure(""), "now")]
    lines += [target(figure(offset(ago)), f"{ago} ago", chr(66 + i)) for i, ago in enumerate(COMPARE)]
    return timeseries(title, lines, (x, y, 12, 8), unit, threshold=goal, description=description)


def change(title: str, figure: Figure, unit: str, how: str, pos: tuple[int, int]) -> Panel:
    """How far the figure moved since the longest comparison: relatively (0.1 is 10 % higher than then), or
    as a difference in its own unit."""
    x, y = pos
    ago = COMPARE[-1]
    now, then = figure(""), figure(offset(ago))
    if how == "ratio":
        expr, shown, what = f"(\n{now}\n)\n/\n(\n{then}\n)\n- 1", "percentunit", "as a share of then"
    else:
        expr, shown, what = f"(\n{now}\n)\n-\n(\n{then}\n)", unit, "the difference"
    return stat(
        f"{title}: change over {ago}",
        expr,
        (x, y, 3, 4),
        shown,
        [],
        description=f"Now against {ago} ago, {what} ({WINDOW} windows).",
    )


_panels: list[Panel] = [
    change(title, figure, unit, how, (i * 3, 0)) for i, (title, figure, unit, _, _, how) in enumerate(FIGURES)
]
_panels += [
    comparison(title, figure, unit, goal, description, ((i % 2) * 12, 4 + (i // 2) * 8))
    for i, (title, figure, unit, goal, description, _) in enumerate(FIGURES)
]

dashboard = make_dashboard(boards.TRENDS, _panels, tags=("jean-memory", "trends"), refresh="1m", since="now-7d")
