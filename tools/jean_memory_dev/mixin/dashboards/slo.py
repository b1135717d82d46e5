"""Jean Memory / SLOs and error budget: availability and latency objectives, burn rates.

The SLO rules keep each replica's request counts, so these panels show the budget of the replicas
selected (All: the job's, as the burn alerts see it)."""

from jean_memory_dev.mixin import boards
from jean_memory_dev.mixin.dashboards.common import SEL, SLO, make_dashboard, target, timeseries
from jean_memory_dev.mixin.rules import slo_error_ratio, slo_slow_ratio

AVAIL_BUDGET = round(1 - SLO.availability.objective, 6)
LAT_BUDGET = round(1 - SLO.latency.objective, 6)
LONG = [b.long for b in SLO.burn_alerts]
#: The longest window a burn alert reads: the budget left is measured over it.
BUDGET_WINDOW = LONG[-1]


def errors(window: str) -> str:
    return slo_error_ratio(SEL, window, by=())


def slow(window: str) -> str:
    return slo_slow_ratio(SEL, window, by=())


dashboard = make_dashboard(
    boards.SLO,
    [
        timeseries(
            "Availability",
            [target(f"1 - (\n{errors(w)}\n)", f"non-5xx share over {w}", chr(65 + i)) for i, w in enumerate(LONG)],
            (0, 0, 12, 8),
            "percentunit",
            threshold=SLO.availability.objective,
            description=f"Objective {SLO.availability.objective:.1%} of /v1 requests without a 5xx.",
        ),
        timeseries(
            "Error budget remaining",
            [
                target(f"1 - ((\n{errors(BUDGET_WINDOW)}\n) / {AVAIL_BUDGET})", f"availability ({BUDGET_WINDOW})"),
                target(f"1 - ((\n{slow(BUDGET_WINDOW)}\n) / {LAT_BUDGET})", f"latency ({BUDGET_WINDOW})", "B"),
            ],
            (12, 0, 12, 8),
            "percentunit",
            description="Share of the error budget left, from the longest window the burn alerts use.",
        ),
        timeseries(
            "Burn rate (availability)",
            [
                target(f"(\n{errors(w)}\n) / {AVAIL_BUDGET}", f"{w}", chr(65 + i))
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
            [target(f"1 - (\n{slow(w)}\n)", f"fast share over {w}", chr(65 + i)) for i, w in enumerate(LONG)],
            (12, 8, 12, 8),
            "percentunit",
            threshold=SLO.latency.objective,
            description=f"Objective {SLO.latency.objective:.0%} of /v1 requests faster than "
            f"{SLO.latency.threshold_seconds * 1000:g} ms.",
        ),
    ],
    tags=("jean-memory", "slo"),
    refresh="30s",
    since="now-24h",
)
