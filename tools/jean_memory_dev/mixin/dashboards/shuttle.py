"""Jean Memory / Shuttle and LTM: the journal, the shuttle and the long-term store."""

from jean_memory_dev.mixin import boards
from jean_memory_dev.mixin.dashboards.common import RATE, SEL, TH, make_dashboard, quantiles, target, timeseries

dashboard = make_dashboard(
    boards.SHUTTLE,
    [
        timeseries(
            "Pending writes",
            [target(f"jm_shuttle_pending{{{SEL}}}", "journaled, not yet in the store")],
            (0, 0, 12, 8),
            "short",
            threshold=TH.shuttle_backlog_min,
        ),
        timeseries(
            "Oldest pending age",
            [target(f"jm_shuttle_oldest_pending_age_seconds{{{SEL}}}", "oldest")],
            (12, 0, 12, 8),
            "s",
            threshold=TH.shuttle_oldest_pending_seconds,
        ),
        timeseries(
            "Batch size",
            [
                target(
                    f"rate(jm_shuttle_batch_size_sum{{{SEL}}}[{RATE}])"
                    f" / rate(jm_shuttle_batch_size_count{{{SEL}}}[{RATE}])",
                    "mean writes per batch",
                ),
                target(f"rate(jm_shuttle_batches_total{{{SEL}}}[{RATE}])", "batches/s", "B"),
            ],
            (0, 8, 8, 7),
            "short",
        ),
        timeseries(
            "Retries and failures",
            [
                target(f"rate(jm_shuttle_retries_total{{{SEL}}}[{RATE}])", "retries/s"),
                target(
                    f"sum by (retryable) (rate(jm_shuttle_failures_total{{{SEL}}}[{RATE}]))",
                    "failures/s retryable={{retryable}}",
                    "B",
                ),
                target(f"increase(jm_shuttle_dead_letters_total{{{SEL}}}[1h])", "dead letters (1h)", "C"),
            ],
            (8, 8, 8, 7),
            "short",
        ),
        timeseries(
            "LTM up", [target(f"jm_ltm_up{{{SEL}}}", "{{store}}")], (16, 8, 8, 7), "short", valueMin=0, valueMax=1
        ),
        timeseries("LTM write latency", quantiles("jm_ltm_write_duration_seconds", by="store"), (0, 15, 12, 7), "s"),
        timeseries("LTM read latency", quantiles("jm_ltm_read_duration_seconds", by="store"), (12, 15, 12, 7), "s"),
    ],
)
