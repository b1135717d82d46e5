"""What the drills inject, and what each injection must raise: a fault, the alerts it must deliver (with the
severity expected, for the burn alerts that have two), the alerts it may also raise (its consequences), and
what the bounds must allow beyond the intervals (an age threshold to reach, a backlog to ship).

A fault is an `Action` (an `/admin/faults` spec, a process paused or killed, a load shape) or several at
once. The quick run (`make test`) injects `QUICK`; the full run (`make drill`) adds `FULL_EMBEDDED` and the
cluster run (`CLUSTER`, plus its HA and silence drills). `coverage()` says which fault drills each alert
of the catalogue, and a test checks that none is left out.
"""

from __future__ import annotations

from jean_memory.cluster.embedqueue import JANITOR_INTERVAL_S, QUEUE_STATE_INTERVAL_S
from jean_memory_dev.drill import golden
from jean_memory_dev.drill.actions import (
    AdminFaults,
    FillStm,
    HeavySearches,
    KillService,
    OversizedBatches,
    Stall,
    StopPrometheus,
)
from jean_memory_dev.drill.model import Expect, Fault
from jean_memory_dev.drill.together import together
from jean_memory_dev.mixin import DEADMAN_ALERT, Alert, Severity, load

#: The cluster drill's embedding lease (JM_CLUSTER_LEASE_S): short, so claims are taken over soon after the
#: embedding fault is cleared.
CLUSTER_LEASE_S = 5.0

#: The STM budget (JM_STM_BUDGET_BYTES) the embedded service restarts with after `service_down`, so that the
#: `stm_full` drill fills it with tens of MB instead of the ~300 MB the default 512 MB would take. It must
#: hold the load's working set well under the alert's 90 %: by then the load has touched ~1,900 users holding
#: ~176 MB (34 % of 512 MB, full drill of 2026-11-26 06:46), about 70 % of 256 MB. A 48 MB budget kept the
#: tier at its budget and evicting ~13 users/s from the restart on: STMNearBudget rightly fired before the
#: fault (an instant comparison, flapping across the eviction's 90 % floor, had hidden it).
STM_DRILL_BUDGET = 256 * 2**20


def _names(*alerts: Alert) -> frozenset[str]:
    return frozenset(a.value for a in alerts)


def _thresholds() -> tuple[float, float]:
    config = load()
    return config.thresholds.shuttle_oldest_pending_seconds, config.cluster.embed_queue_oldest_seconds


def quick() -> tuple[Fault, ...]:
    """The five original faults (their bounds unchanged), each also delivering the SLO burn page its errors or
    latency cause (the fast rules' burn windows), and the blocked event loop: injected two by two where
    they are independent (`together`), so that one wait for detection, one for the resolutions and one
    settle serve two faults."""
    return (
        together("error_ratio+loop_blocked", error_ratio(), loop_blocked()),
        together("latency+flags", latency(), flags()),
    )


def latency() -> Fault:
    """Every operation 150 ms slower."""
    return Fault(
        "latency",
        (AdminFaults({"latency_ms": {"add": 150, "search": 150, "get": 150, "list": 150}}, "+150 ms"),),
        (Expect.of(Alert.HIGH_LATENCY), Expect.of(Alert.LATENCY_BUDGET_BURN, Severity.CRITICAL)),
        _names(Alert.CREATION_LATENCY_HIGH, Alert.SEARCH_LATENCY_HIGH, Alert.OPERATION_BUDGET_BURN),
        burn=50.0,  # at least 90 % of requests over 25 ms against a 1 % budget
    )


def error_ratio() -> Fault:
    """Three requests in ten answered with a 500."""
    return Fault(
        "error_ratio",
        (AdminFaults({"error_ratio": {"add": 0.3, "search": 0.3, "get": 0.3}}, "30 % injected 500s"),),
        (Expect.of(Alert.HIGH_ERROR_RATE), Expect.of(Alert.AVAILABILITY_BUDGET_BURN, Severity.CRITICAL)),
        # Half of the canary's rounds meet an injected 500 (its add or its search): its SLO burns too.
        _names(Alert.OPERATION_BUDGET_BURN),
        burn=150.0,  # about 27 % of requests fail against a 0.1 % budget
    )


def flags() -> Fault:
    """Three independent flags: each breaks a different part (the long-term store, the caches, the OTLP
    export) and raises its own alert, with its own bound, once; none of them moves the others' signals."""
    return Fault(
        "flags",
        (
            AdminFaults(
                {"ltm_unreachable": True, "cache_disabled": True, "collector_unreachable": True},
                "every long-term store call fails, L1 and L2 miss every lookup, every OTLP export fails",
            ),
        ),
        (
            Expect.of(Alert.LTM_UNREACHABLE),
            Expect.of(Alert.LOW_CACHE_HIT_RATE),
            Expect.of(Alert.TELEMETRY_PIPELINE_BROKEN),
        ),
        _names(
            Alert.HIGH_ERROR_RATE,
            Alert.AVAILABILITY_BUDGET_BURN,
            Alert.SHUTTLE_STALE,
            Alert.SHUTTLE_BACKLOG_GROWING,
            Alert.OPERATION_BUDGET_BURN,
        ),
    )


def loop_blocked() -> Fault:
    """A stand-in for a callback that computes: the 100 ms lag timer is late by up to 150 ms about once a
    second (about a tenth of its samples), and the requests that meet the block wait for it, so the latency
    SLO burns too (a sixth or so of requests over 25 ms)."""
    return Fault(
        "loop_blocked",
        (AdminFaults({"loop_block_ms": 150}, "the event loop held 150 ms once a second"),),
        (Expect.of(Alert.EVENT_LOOP_BLOCKED),),
        _names(
            Alert.LATENCY_BUDGET_BURN,
            Alert.HIGH_LATENCY,
            Alert.CREATION_LATENCY_HIGH,
            Alert.SEARCH_LATENCY_HIGH,
            Alert.OPERATION_BUDGET_BURN,
        ),
    )


def deadman() -> Fault:
    """Every Prometheus replica stopped: only the dead man's switch beside them can page."""
    return Fault("prometheus_gone", (StopPrometheus(),), (Expect(DEADMAN_ALERT, Severity.CRITICAL),))


def full_embedded() -> tuple[Fault, ...]:
    """The embedded service's other alerts, each with a fault or load shape of its own."""
    return quality_faults() + budget_faults() + resource_faults() + embedding_faults()


def quality_faults() -> tuple[Fault, ...]:
    """Ranking and retrieval degraded: the model's vectors made noise."""
    return (
        Fault(
            "embedding_noise",
            (
                AdminFaults(
                    {"embedding": "noise", "cache_disabled": True},
                    "the model answers random unit vectors and the caches miss, so every query is embedded wrong",
                ),
            ),
            (Expect.of(Alert.RETRIEVAL_QUALITY_DROPPED),),
            # The golden set's searches are embedded wrong too: its recall burns (the noisy_vectors fault is the
            # one that proves that alert).
            _names(Alert.LOW_CACHE_HIT_RATE, Alert.RECALL_BUDGET_BURN),
            recovery={
                Alert.RETRIEVAL_QUALITY_DROPPED: (
                    10.0,
                    "the caches are emptied when the fault is cleared: the load's queries are embedded again and "
                    "their best-match scores refill the window",
                )
            },
        ),
        # Ranking degraded and nothing else: latency, errors and the caches stay healthy; only the golden set's
        # replay (every golden.INTERVAL_S) sees the right memories stop coming back first.
        Fault(
            "noisy_vectors",
            (
                AdminFaults(
                    {"noisy_vectors": 0.9, "lexical_off": True},
                    "every query vector 90 % noise (stored vectors untouched), and the lexical leg switched off",
                ),
            ),
            (
                Expect.of(Alert.RECALL_BUDGET_BURN, Severity.CRITICAL),
                Expect.of(Alert.RECALL_BUDGET_BURN, Severity.WARNING),
            ),
            # The load's best matches score far lower; the caches are emptied when the fault starts and stops.
            _names(Alert.RETRIEVAL_QUALITY_DROPPED, Alert.LOW_CACHE_HIT_RATE),
            # About three quarters of the golden memories missed (tests/integration/test_golden_set.py measures
            # 0.25 recall@1 under this noise) against a 2 % budget: 37x, taken low.
            burn=20.0,
            onset={
                Alert.RECALL_BUDGET_BURN: (golden.INTERVAL_S, "the next replay of the golden set"),
            },
            recovery={
                Alert.RECALL_BUDGET_BURN: (golden.INTERVAL_S, "the next replay of the golden set"),
            },
        ),
    )


def budget_faults() -> tuple[Fault, ...]:
    """Errors and refusals within a ticket's pace: a slow burn, an oversized client."""
    return (
        Fault(
            "slow_burn",
            (
                AdminFaults(
                    {
                        "error_ratio": {op: 0.003 for op in ("add", "search", "get", "list")} | {"delete": 0.03},
                        "latency_ms": {"delete": 30},
                    },
                    "0.3 % injected 500s on every operation but deletes (3 %), and +30 ms on deletes (3 % of requests)",
                ),
            ),
            # The deletes' 3 % fail the canary's rounds at about 3.6 %: a ticket's pace on its 1 % budget (3x),
            # under a page's 6x; the load's errors stay about 0.4 % (deletes are 3 % of its requests).
            (
                Expect.of(Alert.AVAILABILITY_BUDGET_BURN, Severity.WARNING),
                Expect.of(Alert.LATENCY_BUDGET_BURN, Severity.WARNING),
                Expect.of(Alert.OPERATION_BUDGET_BURN, Severity.WARNING, slo="canary_success"),
            ),
            burn=2.0,  # 3x the budget on both SLOs, taken low: a ticket's pace, well under the pages' 6x
        ),
        Fault(
            "admission",
            (OversizedBatches(items=600, per_second=6.0),),
            (Expect.of(Alert.ADMISSION_REJECTING),),
            _names(Alert.OPERATION_BUDGET_BURN),
        ),
    )


def resource_faults() -> tuple[Fault, ...]:
    """What the service stands on: CPU, the long-term store, its process, its short-term tier's budget."""
    shuttle_stale_s, _ = _thresholds()
    return (
        # Half the time stopped: by this point of the drill the load alone needs 0.25 to 0.28 CPU-seconds a
        # second (the full drill of 07:32), so the 150-of-200 ms stall of earlier runs (a quarter of the time
        # running) left no room at all: in two of four runs the queue grew until scrapes timed out for 80 s
        # and JeanMemoryDown paged. Half of a core's time is room for the load and the heavy searches
        # (~0.37), and every request that meets a 100 ms stop still waits for it.
        Fault(
            "cpu_starved",
            (HeavySearches(memories=30_000, per_second=3.0), Stall(stop_s=0.1, run_s=0.1)),
            (
                Expect.of(Alert.CREATION_LATENCY_HIGH),
                Expect.of(Alert.SEARCH_LATENCY_HIGH),
                # The plan's targets: hot searches (cache, STM) past 25 ms at p99, creation past 5 ms on average.
                Expect.of(Alert.HOT_SEARCH_LATENCY_HIGH),
            ),
            _names(
                Alert.HIGH_LATENCY,
                Alert.LATENCY_BUDGET_BURN,
                Alert.LOW_CACHE_HIT_RATE,
                Alert.OPERATION_BUDGET_BURN,
                # A stop lengthens only the adds it meets: their average stayed under 5 ms (the full drill of
                # 2026-12-07), so the creation average has a fault of its own, `slow_commits`.
                Alert.CREATION_AVERAGE_HIGH,
            ),
        ),
        Fault(
            "slow_commits",
            (
                AdminFaults(
                    {"commit_pause_ms": 30.0}, "every journal commit answered 30 ms late, as a slow disk's fsync"
                ),
            ),
            # Every acknowledged add waits for its commit: the average is past 5 ms whatever the load's pace.
            (Expect.of(Alert.CREATION_AVERAGE_HIGH), Expect.of(Alert.CREATION_LATENCY_HIGH)),
            _names(Alert.HIGH_LATENCY, Alert.LATENCY_BUDGET_BURN, Alert.OPERATION_BUDGET_BURN),
        ),
        Fault(
            "ltm_outage",
            (AdminFaults({"ltm_unreachable": True}, "every long-term store call fails, held for minutes"),),
            (Expect.of(Alert.SHUTTLE_BACKLOG_GROWING), Expect.of(Alert.SHUTTLE_STALE)),
            _names(
                Alert.LTM_UNREACHABLE,
                Alert.HIGH_ERROR_RATE,
                Alert.AVAILABILITY_BUDGET_BURN,
                Alert.OPERATION_BUDGET_BURN,
            ),
            onset={
                Alert.SHUTTLE_BACKLOG_GROWING: (30.0, "over 1000 writes waiting, at the load's ~60 writes/s"),
                Alert.SHUTTLE_STALE: (shuttle_stale_s, "the oldest unshipped write must age past the threshold"),
            },
            recovery={
                Alert.SHUTTLE_STALE: (20.0, "the backlog ships"),
                Alert.SHUTTLE_BACKLOG_GROWING: (20.0, "the backlog ships"),
            },
        ),
        Fault(
            "service_down",
            (
                KillService(
                    restart_env={
                        "JM_STM_BUDGET_BYTES": str(STM_DRILL_BUDGET),
                    }
                ),
            ),
            (Expect.of(Alert.DOWN),),
            # Started again with cold caches and an empty short-term tier; the canary's rounds fail meanwhile.
            _names(
                Alert.LOW_CACHE_HIT_RATE,
                Alert.SEARCH_LATENCY_HIGH,
                Alert.CREATION_LATENCY_HIGH,
                Alert.OPERATION_BUDGET_BURN,
            ),
        ),
        Fault(
            "stm_full",
            # The filler stays under the default JM_STM_PARTIAL_USER_VECTORS (20,000): with the 2,000 an earlier
            # restart set, its ~5,000 memories went partially resident once shipped and the tier let go of their
            # records (0.97 -> 0.31 of the budget, full drill of 07:32). Its memories are counted mostly for their
            # 700 metadata keys (FillStm): ~3,500 of them fill ~170 MB of the tier from ~35 MB of requests, where
            # 30 KB texts took ~170 MB and saturated the service. Writing still loads it: the latency SLO's
            # burn is its consequence, not an unrelated page.
            (FillStm(to_ratio=0.93, content_bytes=1000, metadata_keys=700),),
            (Expect.of(Alert.STM_NEAR_BUDGET),),
            _names(Alert.CREATION_LATENCY_HIGH, Alert.LATENCY_BUDGET_BURN, Alert.OPERATION_BUDGET_BURN),
            onset={
                Alert.STM_NEAR_BUDGET: (
                    80.0,
                    "the filler adds up to ~170 MB to the tier (93 % of 256 MB less what it holds), from a fifth "
                    "of that in requests, under the load (detected after 40 s on 2026-12-07)",
                )
            },
            recovery={Alert.STM_NEAR_BUDGET: (10.0, "the filler user is forgotten and the tier releases it")},
        ),
    )


def embedding_faults() -> tuple[Fault, ...]:
    """The model slowed past its thresholds: throttled, then stalled past the canary's timeout."""
    return (
        # Every embedding call 1 s longer (a throttled model): a round's search needs its query's vector and its
        # memory's, one or two batches, so every round's time to searchable is 1 to 2 s, past the 1 s threshold
        # by construction, and the SLO on it burns at a page's rate. The model still embeds ~64 texts a second
        # (a batch a call), about the load's write rate: its adds do not pile up behind it for long.
        Fault(
            "embedding_slow",
            (AdminFaults({"embed_delay_ms": 1000}, "every embedding call takes 1 s longer"),),
            (
                Expect.of(Alert.TIME_TO_SEARCHABLE_HIGH),
                Expect.of(Alert.OPERATION_BUDGET_BURN, Severity.CRITICAL, slo="time_to_searchable"),
            ),
            _names(
                Alert.ADMISSION_REJECTING,
                Alert.CANARY_FAILING,
                Alert.HIGH_LATENCY,
                Alert.LATENCY_BUDGET_BURN,
                Alert.SEARCH_LATENCY_HIGH,
                Alert.HOT_SEARCH_LATENCY_HIGH,
            ),
            burn=50.0,  # every round is late against time to searchable's 1 % budget
            onset={Alert.TIME_TO_SEARCHABLE_HIGH: (2.0, "a round's search may wait two 1 s batches")},
            recovery={Alert.TIME_TO_SEARCHABLE_HIGH: (2.0, "the round under way when the fault clears still waits")},
        ),
        # Every embedding call 6 s longer, past the drill canary's 5 s search timeout: no round finds its memory
        # in time (or, once the load's adds have filled the embedding backlog, gets its add accepted). The
        # load's adds are refused (429) past JM_EMBED_MAX_BACKLOG and its searches wait for their pending writes.
        Fault(
            "embedding_stalled",
            (AdminFaults({"embed_delay_ms": 6000}, "every embedding call takes 6 s longer"),),
            (
                Expect.of(Alert.CANARY_FAILING),
                Expect.of(Alert.OPERATION_BUDGET_BURN, Severity.CRITICAL, slo="canary_success"),
            ),
            _names(
                Alert.ADMISSION_REJECTING,
                Alert.TIME_TO_SEARCHABLE_HIGH,
                Alert.HIGH_ERROR_RATE,
                Alert.AVAILABILITY_BUDGET_BURN,
                Alert.HIGH_LATENCY,
                Alert.LATENCY_BUDGET_BURN,
                Alert.SEARCH_LATENCY_HIGH,
                Alert.HOT_SEARCH_LATENCY_HIGH,
            ),
            burn=50.0,  # every round fails against canary success's 1 % budget
            onset={
                Alert.CANARY_FAILING: (6.0, "a round gives up after its 5 s search timeout"),
                # The same wait before the first failed round: detected at 34 and 38 s of a 49 s bound without it.
                Alert.OPERATION_BUDGET_BURN: (6.0, "a round gives up after its 5 s search timeout"),
            },
            recovery={
                Alert.CANARY_FAILING: (
                    12.0,
                    "the batches under way when the fault clears still take 6 s; the backlog then drains",
                )
            },
        ),
    )


def cluster_faults() -> tuple[Fault, ...]:
    """The cluster's alerts (the replica-down, too-few-ready and silence drills are run by the cluster
    drill itself: they also check the load's error budget, the HA failover and silences)."""
    _, embed_stale_s = _thresholds()
    return (
        Fault(
            "replica_stalls",
            (Stall(stop_s=3.0, run_s=4.0, replica=2),),
            (Expect.of(Alert.COHERENCE_LAG_HIGH),),
            # The canary's requests HAProxy sends to the stopped replica wait up to 3 s.
            _names(Alert.OPERATION_BUDGET_BURN),
        ),
        Fault(
            "embedding_failing",
            (AdminFaults({"embedding": "failing"}, "every replica's model fails every batch", everywhere=True),),
            (Expect.of(Alert.EMBED_QUEUE_STALE),),
            # Searches whose query is not in the L2 cache need the model too: they fail (the canary's all do).
            _names(Alert.HIGH_ERROR_RATE, Alert.AVAILABILITY_BUDGET_BURN, Alert.OPERATION_BUDGET_BURN),
            onset={
                Alert.EMBED_QUEUE_STALE: (
                    embed_stale_s + QUEUE_STATE_INTERVAL_S,
                    "the oldest unembedded memory must age past the threshold; the gauge refreshes every "
                    f"{QUEUE_STATE_INTERVAL_S:g} s",
                )
            },
            recovery={
                Alert.EMBED_QUEUE_STALE: (
                    CLUSTER_LEASE_S + JANITOR_INTERVAL_S + QUEUE_STATE_INTERVAL_S,
                    "failed claims expire (lease), the janitor frees them, the gauge refreshes",
                )
            },
        ),
    )
