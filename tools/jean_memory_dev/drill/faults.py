"""What the drills inject, and what each injection must raise: a fault, the alerts it must deliver (with the
severity expected, for the burn alerts that have two), the alerts it may also raise (its consequences), and
what the bounds must allow beyond the intervals (an age threshold to reach, a backlog to ship).

A fault is an `Action` (an `/admin/faults` spec, a process paused or killed, a load shape) or several at
once. The quick run (`make test`) injects `QUICK`; the full run (`make drill`) adds `FULL_EMBEDDED` and the
cluster run (`CLUSTER`, plus its HA and silence drills). `coverage()` says which fault drills each alert
of the catalogue, and a test checks that none is left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from jean_memory.cluster.embedqueue import JANITOR_INTERVAL_S, QUEUE_STATE_INTERVAL_S
from jean_memory_dev.drill import golden
from jean_memory_dev.mixin import BURN_ALERTS, CATALOGUE, DEADMAN_ALERT, Alert, Severity, load

if TYPE_CHECKING:
    from jean_memory_dev.drill.base import DrillRun

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


class Action(Protocol):
    """One thing a fault does to the system, undone by `clear`."""

    def inject(self, run: DrillRun) -> None: ...

    def clear(self, run: DrillRun) -> None: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class Expect:
    """An alert the fault must deliver: by name (an `Alert`, or the dead man's switch's page) and severity."""

    name: str
    severity: Severity

    @classmethod
    def of(cls, alert: Alert, severity: Severity | None = None) -> Expect:
        """`severity` defaults to the alert's only one; a burn alert needs it said."""
        if severity is None:
            if alert in BURN_ALERTS:
                raise ValueError(f"{alert}: say which severity (page or ticket) the fault must raise")
            severity = CATALOGUE[alert].severity  # type: ignore[union-attr]
        return cls(alert.value, severity)

    @property
    def alert(self) -> Alert | None:
        return Alert(self.name) if self.name in Alert.__members__.values() else None


@dataclass(frozen=True)
class Fault:
    """A fault to inject, the alerts it must deliver, and the alerts it may also raise.

    `burn` is the fault's SLO burn rate (its bad share over the budget), taken on the low side: it sets the
    bound of an expected burn alert. `onset` and `recovery` add, per alert, what the fault needs before the
    condition can hold and what the system needs to recover, each with its reason (shown in the report).
    `failover`: the fault also kills the Alertmanager that would notify, so the bounds allow one peer timeout.
    """

    name: str
    actions: tuple[Action, ...]
    expect: tuple[Expect, ...]
    related: frozenset[str] = frozenset()
    burn: float | None = None
    onset: Mapping[str, tuple[float, str]] = field(default_factory=dict)
    recovery: Mapping[str, tuple[float, str]] = field(default_factory=dict)
    failover: bool = False

    def describe(self) -> str:
        return "; ".join(a.describe() for a in self.actions)

    @property
    def allowed(self) -> frozenset[str]:
        """Every alert name this fault may page with: what it expects and its consequences."""
        return self.related | {e.name for e in self.expect}


def _names(*alerts: Alert) -> frozenset[str]:
    return frozenset(a.value for a in alerts)


def _thresholds() -> tuple[float, float]:
    config = load()
    return config.thresholds.shuttle_oldest_pending_seconds, config.cluster.embed_queue_oldest_seconds


def quick() -> tuple[Fault, ...]:
    """The five original faults (their bounds unchanged; the three flags among them injected together), each
    also delivering the SLO burn page its errors or latency cause (the fast rules' burn windows), and the
    blocked event loop."""
    from jean_memory_dev.drill.actions import AdminFaults

    return (
        Fault(
            "latency",
            (AdminFaults({"latency_ms": {"add": 150, "search": 150, "get": 150, "list": 150}}, "+150 ms"),),
            (Expect.of(Alert.HIGH_LATENCY), Expect.of(Alert.LATENCY_BUDGET_BURN, Severity.CRITICAL)),
            _names(Alert.CREATION_LATENCY_HIGH, Alert.SEARCH_LATENCY_HIGH, Alert.OPERATION_BUDGET_BURN),
            burn=50.0,  # at least 90 % of requests over 25 ms against a 1 % budget
        ),
        Fault(
            "error_ratio",
            (AdminFaults({"error_ratio": {"add": 0.3, "search": 0.3, "get": 0.3}}, "30 % injected 500s"),),
            (Expect.of(Alert.HIGH_ERROR_RATE), Expect.of(Alert.AVAILABILITY_BUDGET_BURN, Severity.CRITICAL)),
            # Half of the canary's rounds meet an injected 500 (its add or its search): its SLO burns too.
            _names(Alert.OPERATION_BUDGET_BURN),
            burn=150.0,  # about 27 % of requests fail against a 0.1 % budget
        ),
        # Three independent flags, injected together: each breaks a different part (the long-term store, the
        # caches, the OTLP export) and raises its own alert, with its own bound, once; none of them moves the
        # others' signals. One inject, one wait for the resolutions and one settle instead of three.
        Fault(
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
        ),
        # A stand-in for a callback that computes: the 100 ms lag timer is late by up to 150 ms about once a
        # second (about a tenth of its samples), and the requests that meet the block wait for it, so the
        # latency SLO burns too (a sixth or so of requests over 25 ms).
        Fault(
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
        ),
    )


def deadman() -> Fault:
    """Every Prometheus replica stopped: only the dead man's switch beside them can page."""
    from jean_memory_dev.drill.actions import StopPrometheus

    return Fault("prometheus_gone", (StopPrometheus(),), (Expect(DEADMAN_ALERT, Severity.CRITICAL),))


def full_embedded() -> tuple[Fault, ...]:
    """The embedded service's other alerts, each with a fault or load shape of its own."""
    from jean_memory_dev.drill.actions import (
        AdminFaults,
        FillStm,
        HeavySearches,
        KillService,
        OversizedBatches,
        Stall,
    )

    shuttle_stale_s, _ = _thresholds()
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
                Expect.of(Alert.OPERATION_BUDGET_BURN, Severity.WARNING),
            ),
            burn=2.0,  # 3x the budget on both SLOs, taken low: a ticket's pace, well under the pages' 6x
        ),
        Fault(
            "admission",
            (OversizedBatches(items=600, per_second=6.0),),
            (Expect.of(Alert.ADMISSION_REJECTING),),
            _names(Alert.OPERATION_BUDGET_BURN),
        ),
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
                Expect.of(Alert.CREATION_AVERAGE_HIGH),
            ),
            _names(
                Alert.HIGH_LATENCY, Alert.LATENCY_BUDGET_BURN, Alert.LOW_CACHE_HIT_RATE, Alert.OPERATION_BUDGET_BURN
            ),
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
            # records (0.97 -> 0.31 of the budget, full drill of 07:32). Writing up to ~170 MB saturates the
            # service for ~40 s: the latency SLO's burn is its consequence, not an unrelated page.
            (FillStm(to_ratio=0.93, content_bytes=30_000),),
            (Expect.of(Alert.STM_NEAR_BUDGET),),
            _names(Alert.CREATION_LATENCY_HIGH, Alert.LATENCY_BUDGET_BURN, Alert.OPERATION_BUDGET_BURN),
            onset={
                Alert.STM_NEAR_BUDGET: (
                    80.0,
                    "the filler writes up to ~170 MB (93 % of 256 MB less what the tier holds) at 2 to 3 MB/s "
                    "under the load",
                )
            },
            recovery={Alert.STM_NEAR_BUDGET: (10.0, "the filler user is forgotten and the tier releases it")},
        ),
        # Every embedding call 1 s longer (a throttled model): a round's search needs its query's vector and its
        # memory's, one or two batches, so every round's time to searchable is 1 to 2 s, past the 1 s threshold
        # by construction, and the SLO on it burns at a page's rate. The model still embeds ~64 texts a second
        # (a batch a call), about the load's write rate: its adds do not pile up behind it for long.
        Fault(
            "embedding_slow",
            (AdminFaults({"embed_delay_ms": 1000}, "every embedding call takes 1 s longer"),),
            (Expect.of(Alert.TIME_TO_SEARCHABLE_HIGH), Expect.of(Alert.OPERATION_BUDGET_BURN, Severity.CRITICAL)),
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
            (Expect.of(Alert.CANARY_FAILING), Expect.of(Alert.OPERATION_BUDGET_BURN, Severity.CRITICAL)),
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
            onset={Alert.CANARY_FAILING: (6.0, "a round gives up after its 5 s search timeout")},
            recovery={
                Alert.CANARY_FAILING: (
                    12.0,
                    "the batches under way when the fault clears still take 6 s; the backlog then drains",
                )
            },
        ),
    )


def cluster() -> tuple[Fault, ...]:
    """The cluster's alerts (the replica-down, too-few-ready and silence drills are run by the cluster
    drill itself: they also check the load's error budget, the HA failover and silences)."""
    from jean_memory_dev.drill.actions import AdminFaults, Stall

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


@dataclass(frozen=True)
class Covered:
    """How one alert of the catalogue is drilled: by which run and fault (or why it cannot be)."""

    alert: str
    runs: tuple[str, ...]
    why_not: str = ""


#: Drills the cluster run performs itself (see `cluster.py`), by the alerts they expect.
CLUSTER_OWN = {
    Alert.REPLICA_DOWN.value: (
        "quick: replica_killed (ticket; kill -9 under load, the load's errors within the SLO budget)",
        "full: replica_maintenance (silenced: not delivered)",
    ),
    Alert.TOO_FEW_REPLICAS_READY.value: (
        "quick: two_replicas_killed (page; one Alertmanager and one Prometheus killed with kill -9 meanwhile)",
    ),
}


#: Alerts no drill raises on this machine, and what covers them instead.
NOT_DRILLED = {
    Alert.HOST_DISK_ALMOST_FULL.value: "needs a host filesystem nearly full (the drill's is the shared machine's "
    "disk); tests/cluster/test_exporters.py fills a real 8 MB tmpfs under the node exporter and sees it fire in a "
    "real Prometheus, and promtool tests the rule",
    Alert.HOST_DISK_FILLING_UP.value: "needs hours of steady growth toward a full filesystem; promtool tests the rule "
    "on a falling series, the Host dashboard draws node_filesystem_avail_bytes",
    Alert.HOST_MEMORY_PRESSURE.value: "needs the shared machine's memory nearly exhausted; promtool tests the rule, "
    "tests/cluster/test_exporters.py checks the node exporter exposes the series it reads",
    Alert.POSTGRES_REPLICATION_LAG.value: "needs a standby over 30 s behind; tests/cluster/test_exporters.py pauses a "
    "real standby's replay while the primary commits and sees pg_replication_lag_seconds grow (and return to 0), "
    "and promtool tests the rule",
    Alert.RULE_EVALUATION_FAILURES.value: "tests/stack/test_watchers.py: a rule failing every evaluation "
    "(many-to-many matching) loaded into the HA monitoring fires it",
    Alert.NOTIFICATIONS_FAILING.value: "tests/stack/test_watchers.py: the receiver killed under the HA monitoring "
    "fires it (the Watchdog's notifications fail)",
    Alert.CONFIG_RELOAD_FAILED.value: "tests/stack/test_watchers.py: a rule file that does not parse, reloaded "
    "(SIGHUP), fires it",
    Alert.ALERTMANAGER_MEMBERS_MISSING.value: "tests/stack/test_watchers.py: one of three Alertmanagers killed fires "
    "it on the two left (the quick cluster drill's two_replicas_killed raises it too, as a ticket)",
    Alert.SCRAPE_TARGET_DOWN.value: "tests/stack/test_watchers.py: the killed Alertmanager's target fires it",
    Alert.PROMETHEUS_NOT_INGESTING.value: "needs a Prometheus whose storage refuses samples (a full or read-only "
    "disk); promtool tests the rule on a flat counter",
    Alert.DISK_ALMOST_FULL.value: "needs the data folder on a nearly full filesystem (the drill's is the host's "
    "disk); tests/hostile/test_full_disk.py fills a real 8 MB tmpfs under the service (507, recovery, "
    "jm_disk_free_bytes) and promtool tests the rule",
    Alert.DISK_FILLING_UP.value: "needs hours of steady growth toward a full filesystem; promtool tests the rule "
    "on a falling series, the quality dashboard draws jm_disk_free_bytes",
    Alert.ERROR_BUDGET_EXHAUSTED.value: "fires in the drill after the error faults have spent the fast rules' "
    "10-minute period's budget, but clears only once the period has passed them (the drill does not wait a "
    "period); promtool tests the rule and the period's recordings (budget left, metadata)",
    Alert.DATA_FILE_DAMAGED.value: "needs a damaged store large enough to be checked after the start; "
    "tests/hostile/test_corruption.py damages a real store's page and sees the background check set "
    "jm_data_file_damaged and /readyz answer 503, and promtool tests the rule",
}


def coverage() -> list[Covered]:
    """Every alert of the catalogue (and the dead man's switch's page), with the drills that raise it."""
    runs: dict[str, list[str]] = {a.value: [] for a in Alert}
    runs[DEADMAN_ALERT] = []
    from jean_memory_dev.drill.cluster import infrastructure  # it imports this module

    for tag, faults in (("quick", quick()), ("full", full_embedded()), ("full", (*cluster(), *infrastructure()))):
        for fault in faults:
            for e in fault.expect:
                runs[e.name].append(f"{tag}: {fault.name} ({e.severity.route})")
    runs[DEADMAN_ALERT].append(f"quick: {deadman().name} (page)")
    runs[Alert.WATCHDOG.value].append("quick: every run waits for it; prometheus_gone stops it")
    for name, drills in CLUSTER_OWN.items():
        runs[name] += drills
    return [Covered(name, tuple(found), NOT_DRILLED.get(name, "")) for name, found in runs.items()]
