"""Jean Memory / STM and caches: the short-term tier, the caches, the embedding model and the runtime
(event-loop lag, garbage-collector pauses)."""

from jean_memory_dev.mixin import boards
from jean_memory_dev.mixin.dashboards.common import RATE, SEL, TH, T, make_dashboard, quantiles, target, timeseries
from jean_memory_dev.mixin.promql import cache_hit_ratio

dashboard = make_dashboard(
    boards.STM,
    [
        timeseries(
            "Cache hits and misses by level",
            [
                target(f"sum by (level) (rate(jm_cache_hits_total{{{SEL}}}[{RATE}]))", "hits {{level}}"),
                target(f"sum by (level) (rate(jm_cache_misses_total{{{SEL}}}[{RATE}]))", "misses {{level}}", "B"),
            ],
            (0, 0, 12, 8),
            "ops",
            description="l1: search results; l2: query embeddings; bloom: unknown ids.",
        ),
        timeseries(
            "Cache hit rate",
            [
                target(cache_hit_ratio(SEL, RATE, by=()), "rate (PromQL)"),
                target(f"jm_cache_hit_ratio{{{SEL}}}", "gauge (last 1000 searches)", "B"),
            ],
            (12, 0, 12, 8),
            "percentunit",
            threshold=TH.cache_hit_ratio_min,
            description="Share of searches answered without the model, from the counters and from the "
            "service's own gauge over its last 1000 searches. Low: queries do not repeat (new users, a "
            "changed workload) or the caches are too small for the working set.",
            valueMin=0,
            valueMax=1,
        ),
        timeseries(
            "STM bytes vs budget",
            [target(f"jm_stm_bytes{{{SEL}}}", "used"), target(f"jm_stm_budget_bytes{{{SEL}}}", "budget", "B")],
            (0, 8, 8, 7),
            "bytes",
            threshold=T.stm_bytes * TH.stm_budget_ratio,
            description="RAM of the short-term tier against its budget: at the line it evicts cold users, who are "
            "then reloaded from the long-term store (slower searches).",
        ),
        timeseries(
            "STM vectors and users",
            [target(f"jm_stm_vectors{{{SEL}}}", "vectors"), target(f"jm_stm_users{{{SEL}}}", "users", "B")],
            (8, 8, 8, 7),
            "short",
            description="Vectors and users resident in the short-term tier: what its bytes are spent on.",
        ),
        timeseries(
            "Evictions and promotions",
            [
                target(f"rate(jm_stm_evictions_total{{{SEL}}}[{RATE}])", "evicted users/s"),
                target(f"rate(jm_shuttle_promotions_total{{{SEL}}}[{RATE}])", "promoted users/s", "B"),
            ],
            (16, 8, 8, 7),
            "ops",
            description="Users evicted to stay within budget and users promoted back from the long-term store. "
            "Both high together is churn: the budget is too small for the users being served.",
        ),
        timeseries(
            "Embedding latency",
            quantiles("jm_embedding_duration_seconds"),
            (0, 15, 8, 7),
            "s",
            description="Time the model takes for one micro-batch (p50/p95/p99): every cache-missing search "
            "and every add's vector waits for it. A rise with flat traffic: the machine's CPU (Host board).",
        ),
        timeseries(
            "Embedding batch size",
            [
                target(
                    f"rate(jm_embedding_batch_size_sum{{{SEL}}}[{RATE}])"
                    f" / rate(jm_embedding_batch_size_count{{{SEL}}}[{RATE}])",
                    "mean texts per batch",
                )
            ],
            (8, 15, 8, 7),
            "short",
            description="Mean texts per micro-batch: under load the model batches more texts per call.",
        ),
        timeseries(
            "Embedding backlog",
            [target(f"jm_embedding_backlog{{{SEL}}}", "memories waiting for the model")],
            (16, 15, 8, 7),
            "short",
            description="Memories waiting for their vector (found lexically meanwhile). Growing steadily: the "
            "model cannot keep up with adds; see Embedding latency.",
        ),
        timeseries(
            "Time to searchable",
            quantiles("jm_memory_time_to_searchable_seconds"),
            (0, 22, 24, 7),
            "s",
            description="From acknowledgement to the vector being in the index (search sees pending writes "
            "lexically meanwhile).",
        ),
        timeseries(
            "Event-loop lag",
            quantiles("jm_event_loop_lag_seconds"),
            (0, 29, 12, 7),
            "s",
            description="How late a 100 ms timer fires: every request waits this long when the loop is blocked. "
            "A rise with flat traffic means something blocks the loop (run with JM_SLOW_CALLBACK_MS to name it).",
        ),
        timeseries(
            "Garbage-collector pauses (p99) and frozen objects",
            [
                target(
                    "histogram_quantile(0.99, sum by (le, generation) "
                    f"(rate(jm_gc_pause_seconds_bucket{{{SEL}}}[{RATE}])))",
                    "p99 generation {{generation}}",
                ),
                target(f"jm_gc_frozen_objects{{{SEL}}}", "frozen objects", "B"),
            ],
            (12, 29, 12, 7),
            "s",
            description="Full collections stall the loop; the GC policy freezes survivors every "
            "JM_GC_FREEZE_INTERVAL_S.",
        ),
    ],
)
