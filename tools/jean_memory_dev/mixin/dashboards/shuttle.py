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
            description="Writes acknowledged from the journal and not yet in the long-term store. A level under "
            "the line is normal batching; a climb that does not come back down means the store is slow or "
            "refusing: look at LTM up and Retries and failures.",
        ),
        timeseries(
            "Oldest pending age",
            [target(f"jm_shuttle_oldest_pending_age_seconds{{{SEL}}}", "oldest")],
            (12, 0, 12, 8),
            "s",
            threshold=TH.shuttle_oldest_pending_seconds,
            description="How long the oldest unshipped write has waited. It should stay near one batch interval; "
            "rising steadily means the shuttle is stuck (the store down, a write it keeps retrying).",
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
            description="Writes per batch and batches per second: under load batches grow, so fewer round trips "
            "carry more writes. Many tiny batches under load mean the store answers slowly.",
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
                target(f"rate(jm_shuttle_dead_letters_total{{{SEL}}}[{RATE}])", "dead letters/s", "C"),
            ],
            (8, 8, 8, 7),
            "short",
            description="Batch retries and failed writes per second (retryable or not), and writes the store "
            "refused for good (dead letters, parked in the journal). Any dead letter needs a look at the "
            "service's logs for the store's error.",
        ),
        timeseries(
            "LTM up",
            [target(f"jm_ltm_up{{{SEL}}}", "{{store}}")],
            (16, 8, 8, 7),
            "short",
            description="1 while the last call to the long-term store succeeded. At 0 writes wait in the journal "
            "and reads of users not in the short-term tier fail with 503: check the store (its disk, or "
            "PostgreSQL on the PostgreSQL board).",
            valueMin=0,
            valueMax=1,
        ),
        timeseries(
            "LTM write latency",
            quantiles("jm_ltm_write_duration_seconds", by="store"),
            (0, 15, 12, 7),
            "s",
            description="One batch write to the long-term store (p50/p95/p99): what the shuttle waits for. A rise "
            "here comes before Pending writes climbs.",
        ),
        timeseries(
            "LTM read latency",
            quantiles("jm_ltm_read_duration_seconds", by="store"),
            (12, 15, 12, 7),
            "s",
            description="One read from the long-term store (a promotion of a cold user, or a lookup): cold "
            "searches wait for it. High while the hot tier is small means users are evicted and reloaded.",
        ),
    ],
)
