"""Jean Memory / SLOs and error budget: availability and latency objectives, burn rates; below them every
SLO over its period (per operation too), and the synthetic user.

The SLO rules keep each replica's request counts, so the top panels show the budget of the replicas
selected (All: the job's, as the burn alerts see it). The period's panels and the canary's are the job's by
design (`slos.JOB_LEVEL_RECORDS`; the canary is no replica): the replica filter leaves them as they are."""

from jean_memory_dev.mixin import Alert, boards
from jean_memory_dev.mixin.dashboards.common import (
    PRODUCTION,
    RATE,
    SEL,
    SLO,
    make_dashboard,
    row,
    target,
    timeseries,
)
from jean_memory_dev.mixin.promql import canary_searchable_p99, slo_error_ratio, slo_slow_ratio
from jean_memory_dev.mixin.slos import (
    BUDGET_REMAINING,
    CANARY_ROUNDS,
    SLI_ERRORS,
    SLO_BUDGET,
    operation_selector,
)

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
        row(f"Every SLO over its {SLO.period} period, and the synthetic user", 16),
        timeseries(
            "Error budget remaining over the period",
            [target(f"{BUDGET_REMAINING}{SLO.period}", "{{slo}}")],
            (0, 17, 12, 8),
            "percentunit",
            threshold=0,
            description=f"Share of each SLO's error budget left over the last {SLO.period} (1: untouched, 0 or "
            f"less: spent, {Alert.ERROR_BUDGET_EXHAUSTED} files a ticket). The period's bad share is the mean of "
            f"the {PRODUCTION.rate} share, as Sloth computes it.",
        ),
        timeseries(
            "Burn rate per operation",
            [
                target(
                    f"{SLI_ERRORS}{w}{{{operation_selector()}}}\n/ on (slo) group_left ()\n{SLO_BUDGET}",
                    f"{{{{slo}}}} {w}",
                    chr(65 + i),
                )
                for i, w in enumerate(dict.fromkeys(b.long for b in SLO.burn_alerts))
            ],
            (12, 17, 12, 8),
            "short",
            threshold=14.4,
            description="Each per-operation SLO's bad share over its budget (add and search latency, canary "
            "success, time to searchable): 1 spends the budget exactly over the period; "
            f"{Alert.OPERATION_BUDGET_BURN} pages and tickets on the same windows as the SLOs above.",
        ),
        timeseries(
            "Canary rounds by result",
            [
                target(
                    f"sum by (result) (rate({CANARY_ROUNDS}{{{PRODUCTION.canary_sel}}}[{RATE}]))",
                    "{{result}}",
                )
            ],
            (0, 25, 12, 8),
            "ops",
            description="The synthetic user's rounds (add a memory, search until found by meaning, delete it) "
            "per second, by outcome: anything but success is what a client would have met.",
        ),
        timeseries(
            "Canary time to searchable",
            [
                target(canary_searchable_p99(PRODUCTION.canary_sel, RATE), "p99"),
                target(
                    canary_searchable_p99(PRODUCTION.canary_sel, RATE).replace("0.99", "0.5", 1),
                    "p50",
                    "B",
                ),
            ],
            (12, 25, 12, 8),
            "s",
            threshold=PRODUCTION.config.canary.time_to_searchable_p99_seconds,
            description="Seconds from the canary sending an add to a search finding it by meaning; the line is "
            f"{Alert.TIME_TO_SEARCHABLE_HIGH}'s threshold. Rising: embeddings slow or queued.",
        ),
    ],
    tags=("jean-memory", "slo"),
    refresh="30s",
    since="now-24h",
)
