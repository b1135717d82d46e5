"""Jean Memory / SLOs and error budget: availability and latency objectives, burn rates."""

from grafanalib.core import Dashboard, Time

from jean_memory_dev.mixin import boards
from jean_memory_dev.mixin.dashboards.common import SLO, target, timeseries

AVAIL_BUDGET = round(1 - SLO.availability.objective, 6)
LAT_BUDGET = round(1 - SLO.latency.objective, 6)
LONG = [b.long for b in SLO.burn_alerts]

dashboard = Dashboard(
    title=boards.SLO.title,
    uid=boards.SLO.uid,
    tags=["jean-memory", "slo"],
    timezone="utc",
    refresh="30s",
    time=Time("now-24h", "now"),
    panels=[
        timeseries(
            "Availability",
            [
                target(f"1 - jm:slo_availability_errors:ratio_rate{w}", f"non-5xx share over {w}", chr(65 + i))
                for i, w in enumerate(LONG)
            ],
            (0, 0, 12, 8),
            "percentunit",
            threshold=SLO.availability.objective,
            description=f"Objective {SLO.availability.objective:.1%} of /v1 requests without a 5xx.",
        ),
        timeseries(
            "Error budget remaining",
            [
                target(f"1 - (jm:slo_availability_errors:ratio_rate3d / {AVAIL_BUDGET})", "availability (3d)"),
                target(f"1 - (jm:slo_latency_slow:ratio_rate3d / {LAT_BUDGET})", "latency (3d)", "B"),
            ],
            (12, 0, 12, 8),
            "percentunit",
            description="Share of the error budget left, from the longest window the burn alerts use.",
        ),
        timeseries(
            "Burn rate (availability)",
            [
                target(f"jm:slo_availability_errors:ratio_rate{w} / {AVAIL_BUDGET}", f"{w}", chr(65 + i))
                for i, w in enumerate(sorted({w for b in SLO.burn_alerts for w in (b.long, b.short)}))
            ],
            (0, 8, 12, 8),
            "short",
            threshold=14.4,
            description="1 spends the budget exactly over the SLO period; pages at 14.4x (1h and 5m) and 6x "
            "(6h and 30m), tickets at 3x (1d and 2h) and 1x (3d and 6h).",
        ),
        timeseries(
            "Latency SLO",
            [
                target(f"1 - jm:slo_latency_slow:ratio_rate{w}", f"fast share over {w}", chr(65 + i))
                for i, w in enumerate(LONG)
            ],
            (12, 8, 12, 8),
            "percentunit",
            threshold=SLO.latency.objective,
            description=f"Objective {SLO.latency.objective:.0%} of /v1 requests faster than "
            f"{SLO.latency.threshold_seconds * 1000:g} ms.",
        ),
    ],
).auto_panel_ids()
