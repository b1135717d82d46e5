"""The full cluster drill's faults of what the service stands on: PostgreSQL's synchronous standby stopped,
its connections held to the limit, HAProxy stopped while every replica stays healthy (the stack runs a
standby and the node, postgres and blackbox exporters for them)."""

from __future__ import annotations

from jean_memory_dev.cluster import ClusterStack
from jean_memory_dev.drill.model import Expect, Fault, Target
from jean_memory_dev.mixin import Alert
from jean_memory_dev.pgconnections import HeldConnections
from jean_memory_dev.processes import PostgresServer


class _StopStandby:
    """PostgreSQL's synchronous standby stopped (`pg_ctl stop -m fast`): commits on the primary wait for it."""

    def __init__(self, stack: ClusterStack | None) -> None:
        self.stack = stack

    def _standby(self) -> PostgresServer:
        assert self.stack is not None
        standby = self.stack.standby_server
        if standby is None:
            raise RuntimeError("the standby fault needs ClusterStack(standby=True): the full drill")
        return standby

    def inject(self, run: Target) -> None:
        self._standby().stop()

    def clear(self, run: Target) -> None:
        self._standby().start()

    def describe(self) -> str:
        return "the synchronous standby stopped (pg_ctl stop -m fast); commits wait for it"


class _HoldConnections:
    """A client holding idle connections to the primary until 90 % of max_connections are in use."""

    RATIO = 0.9

    def __init__(self, stack: ClusterStack | None) -> None:
        self.stack = stack
        self.held: HeldConnections | None = None

    def inject(self, run: Target) -> None:
        assert self.stack is not None
        self.held = HeldConnections(self.stack.postgres.url).fill_to(self.RATIO)

    def clear(self, run: Target) -> None:
        if self.held is not None:
            self.held.close()

    def describe(self) -> str:
        return f"idle connections held open until {self.RATIO:.0%} of the primary's max_connections are in use"


class _StopHaproxy:
    """HAProxy stopped: every replica healthy and scraped, none reachable through the front door."""

    def __init__(self, stack: ClusterStack | None) -> None:
        self.stack = stack

    def inject(self, run: Target) -> None:
        assert self.stack is not None
        self.stack.haproxy.stop()

    def clear(self, run: Target) -> None:
        assert self.stack is not None
        self.stack.haproxy.start()
        self.stack.haproxy.wait_servers("UP")

    def describe(self) -> str:
        return "HAProxy stopped while every replica stays healthy"


#: The postgres job's scrape interval in the drill's timing (monitoringconfig.timing) and the exporter's retry.
_PG_SCRAPE_S = 3.0 + 1.0


def infrastructure(stack: ClusterStack | None = None) -> tuple[Fault, ...]:
    """The full cluster drill's faults of what the service stands on (`stack` None: for `coverage()`, which
    reads only the names and expectations)."""
    writes_wait = frozenset(
        a.value
        for a in (
            Alert.HIGH_LATENCY,
            Alert.HIGH_ERROR_RATE,
            Alert.AVAILABILITY_BUDGET_BURN,
            Alert.LATENCY_BUDGET_BURN,
            Alert.CREATION_LATENCY_HIGH,
            Alert.TOO_FEW_REPLICAS_READY,
            Alert.PROBE_FAILING,
            Alert.LTM_UNREACHABLE,
            Alert.EMBED_QUEUE_STALE,
            Alert.ADMISSION_REJECTING,
        )
    )
    scrape = (_PG_SCRAPE_S, "the postgres job is scraped every 3 s; the exporter takes ~1 s to see a server away")
    return (
        Fault(
            "standby_stopped",
            (_StopStandby(stack),),
            (Expect.of(Alert.POSTGRES_DOWN),),
            # Synchronous replication: every commit waits for the standby, so adds stall until it is back.
            writes_wait,
            onset={Alert.POSTGRES_DOWN: scrape},
            recovery={Alert.POSTGRES_DOWN: scrape},
        ),
        Fault(
            "connections_exhausted",
            (_HoldConnections(stack),),
            (Expect.of(Alert.POSTGRES_CONNECTIONS_NEAR_LIMIT),),
            # The replicas' pools cannot grow past what is left.
            frozenset(a.value for a in (Alert.HIGH_ERROR_RATE, Alert.AVAILABILITY_BUDGET_BURN)),
            onset={Alert.POSTGRES_CONNECTIONS_NEAR_LIMIT: scrape},
            recovery={Alert.POSTGRES_CONNECTIONS_NEAR_LIMIT: scrape},
        ),
        Fault(
            "front_door_gone",
            (_StopHaproxy(stack),),
            (Expect.of(Alert.PROBE_FAILING),),
        ),
    )
