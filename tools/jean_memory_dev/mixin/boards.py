"""The dashboards by stable uid and title: what the catalogue, the runbooks and the docs point at.

Kept apart from the grafanalib modules so that naming a dashboard does not build one. A test checks
that every panel a `PanelRef` names exists on its dashboard.

Which panels apply to which mode is said here too: a single embedded instance has no cluster series,
and cluster replicas have no journal to ship (the fire drills check every panel that applies to the
mode they run, and `applies()` is how they know).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Mode(StrEnum):
    """How the service runs: one embedded instance (SQLite or another store), or replicas over PostgreSQL."""

    EMBEDDED = "embedded"
    CLUSTER = "cluster"


@dataclass(frozen=True)
class Board:
    """A dashboard by uid and title, with the description Grafana shows under its title and the docs' index
    lists (what the board answers, for someone opening it at 3 a.m.)."""

    uid: str
    title: str
    description: str

    @property
    def short(self) -> str:
        """`Jean Memory / Overview` -> `Overview`: enough inside tables about Jean Memory."""
        return self.title.removeprefix("Jean Memory / ")


OVERVIEW = Board(
    "jm-overview",
    "Jean Memory / Overview",
    "Is the service meeting the product plan right now: latency, cache hit rate, throughput, errors, memory, "
    "rejections and the alerts firing, each against its target. Start here; the other boards explain what "
    "this one shows.",
)
STM = Board(
    "jm-stm",
    "Jean Memory / STM and caches",
    "The hot path: the short-term tier against its budget, the caches, the embedding model and the runtime "
    "(event-loop lag, garbage collection). Open it when searches slow down or the cache hit rate drops.",
)
SHUTTLE = Board(
    "jm-shuttle",
    "Jean Memory / Shuttle and LTM",
    "Writes on their way to the long-term store (the journal, the shuttle's batches, retries) and the store's "
    "health and latency. Open it when writes pile up or reads of cold users fail.",
)
SLO = Board(
    "jm-slo",
    "Jean Memory / SLOs and error budget",
    "How much error budget is left and how fast it burns: availability and latency over the burn windows, "
    "every SLO over its period, and the synthetic user (canary). Open it when a burn-rate alert fires.",
)
TELEMETRY = Board(
    "jm-telemetry",
    "Jean Memory / Telemetry pipeline",
    "Whether the service's metrics and traces reach the backends: its OTLP exports, dropped spans, the "
    "collector's refusals and failures, and every scrape target. Open it when a board or traces go missing.",
)
CLUSTER = Board(
    "jm-cluster",
    "Jean Memory / Cluster",
    "The replicas over one PostgreSQL: how many are up and ready, how load and errors spread, whether they "
    "see each other's writes, the shared embedding queue and the database pool.",
)
TRENDS = Board(
    "jm-trends",
    "Jean Memory / Trends",
    "The product plan's figures now, a day ago and a week ago: a slow regression shows here before any alert fires.",
)
QUALITY = Board(
    "jm-quality",
    "Jean Memory / Retrieval quality and lifecycle",
    "Whether searches still find the right memories (best-match similarity, empty results, the golden set's "
    "recall), what the lifecycle changes, and the data folder's disk and integrity.",
)

HOST = Board(
    "jm-host",
    "Jean Memory / Host",
    "The machine under the service (node exporter): filesystems, memory, CPU, disks and network.",
)
POSTGRES = Board(
    "jm-postgres",
    "Jean Memory / PostgreSQL",
    "The cluster's database (postgres exporter): servers and standbys, connections against max_connections, "
    "replication lag, transactions, locks and size.",
)
PROBES = Board(
    "jm-probes",
    "Jean Memory / Probes",
    "The service seen from outside (blackbox exporter): /readyz through HAProxy and on each replica. Open it "
    "when users say the service is unreachable.",
)
MONITORING = Board(
    "jm-monitoring",
    "Jean Memory / Monitoring",
    "The monitoring watching itself: Prometheus rule failures and ingestion, Alertmanager notifications, "
    "configuration reloads, the Alertmanager cluster and scrape targets. Open it when alerts stop arriving.",
)
ERRORS = Board(
    "jm-errors",
    "Jean Memory / Errors",
    "What is failing and why: the error ratio, errors by type and by route, latency by status class with "
    "exemplars to the failing requests' traces, and the latest error lines from Loki (compose).",
)

BOARDS = (OVERVIEW, STM, SHUTTLE, SLO, TELEMETRY, CLUSTER, TRENDS, QUALITY, HOST, POSTGRES, PROBES, MONITORING, ERRORS)

#: Boards drawn from the exporters (node, postgres, blackbox): empty where a stack runs none of them (the
#: quick drill's stacks; the full cluster drill and `make cluster` run them).
EXPORTER_BOARDS = frozenset({HOST, POSTGRES, PROBES})


@dataclass(frozen=True)
class PanelRef:
    """A panel by dashboard and title: where on-call looks first."""

    board: Board
    panel: str


def describe(panels: tuple[PanelRef, ...]) -> str:
    """`Overview / Error rate; SLOs and error budget / Burn rate`: panels grouped by dashboard, in order."""
    groups: dict[Board, list[str]] = {}
    for ref in panels:
        groups.setdefault(ref.board, []).append(ref.panel)
    return "; ".join(f"{board.short} / {', '.join(titles)}" for board, titles in groups.items())


BOTH = frozenset(Mode)
CLUSTER_ONLY = frozenset({Mode.CLUSTER})
EMBEDDED_ONLY = frozenset({Mode.EMBEDDED})

#: Boards that draw one mode's series only (the Cluster board's replica panels serve a lone instance too; an
#: embedded service has no PostgreSQL to export).
BOARD_MODES: Mapping[Board, frozenset[Mode]] = {POSTGRES: frozenset({Mode.CLUSTER})}

_COORDINATION = (
    "a histogram of cluster-mode work (group commits, version checks, change notifications): never observed embedded"
)
_SHUTTLE = "the journal's shipping to the store: cluster replicas commit to PostgreSQL and have no journal to ship"

#: Panels that draw one mode's series only, on boards that serve both (with the reason).
PANEL_MODES: Mapping[PanelRef, tuple[frozenset[Mode], str]] = {
    PanelRef(CLUSTER, "Invalidation lag"): (CLUSTER_ONLY, _COORDINATION),
    PanelRef(CLUSTER, "Version check duration"): (CLUSTER_ONLY, _COORDINATION),
    PanelRef(CLUSTER, "Commit latency"): (CLUSTER_ONLY, _COORDINATION),
    PanelRef(CLUSTER, "Commit group size"): (CLUSTER_ONLY, _COORDINATION),
    PanelRef(SHUTTLE, "Pending writes"): (EMBEDDED_ONLY, _SHUTTLE),
    PanelRef(SHUTTLE, "Oldest pending age"): (EMBEDDED_ONLY, _SHUTTLE),
    PanelRef(SHUTTLE, "Batch size"): (EMBEDDED_ONLY, _SHUTTLE),
    PanelRef(SHUTTLE, "Retries and failures"): (EMBEDDED_ONLY, _SHUTTLE),
}


def board_of(uid: str) -> Board:
    return next(b for b in BOARDS if b.uid == uid)


def applies(board: Board, panel: str, mode: Mode) -> bool:
    """Whether the panel draws data when the service runs in `mode`."""
    modes, _ = PANEL_MODES.get(PanelRef(board, panel), (BOARD_MODES.get(board, BOTH), ""))
    return mode in modes


#: Panels whose rate window is fixed on purpose (with the reason): every other panel query reads over Grafana's
#: `$__rate_interval` (`dashlint.py`).
FIXED_WINDOWS: Mapping[PanelRef, str] = {
    PanelRef(QUALITY, "Best-match similarity"): (
        "its alert line is the retrieval-quality alert's threshold: a share of the median over the alert's own "
        "baseline window, which does not follow the zoom"
    ),
}


@dataclass(frozen=True)
class Symptom:
    """What on-call sees, and the panels to open: `first`, then `then` (and `also`, words for what is no panel,
    such as the receiver's log). Listed in docs/reference/dashboards.md; a test checks every panel exists."""

    seen: str
    first: tuple[PanelRef, ...]
    then: tuple[PanelRef, ...]
    also: str = ""


#: From a symptom to the dashboard that shows it: the on-call index.
SYMPTOMS = (
    Symptom(
        "users cannot reach the service",
        (PanelRef(PROBES, "Probe success"), PanelRef(PROBES, "HTTP status")),
        (PanelRef(CLUSTER, "Up and ready by replica"), PanelRef(MONITORING, "Scrape targets up")),
        "HAProxy's own scrape target among them",
    ),
    Symptom(
        "slow answers",
        (PanelRef(OVERVIEW, "Search latency"), PanelRef(OVERVIEW, "Memory creation latency")),
        (PanelRef(STM, "Event-loop lag"), PanelRef(HOST, "CPU busy"), PanelRef(POSTGRES, "Locks")),
    ),
    Symptom(
        "errors (5xx)",
        (PanelRef(OVERVIEW, "Error rate"),),
        (
            PanelRef(ERRORS, "Error rate by type"),
            PanelRef(ERRORS, "Error rate by route"),
            PanelRef(ERRORS, "Latest error lines"),
            PanelRef(SHUTTLE, "LTM up"),
            PanelRef(POSTGRES, "Servers up"),
            PanelRef(POSTGRES, "Connections vs max_connections"),
        ),
    ),
    Symptom(
        "clients get 429 or 503 (turned away)",
        (PanelRef(OVERVIEW, "Admission rejections"),),
        (PanelRef(OVERVIEW, "Throughput"), PanelRef(STM, "Event-loop lag"), PanelRef(STM, "Embedding backlog")),
    ),
    Symptom(
        "adds stall, reads fine (cluster)",
        (PanelRef(POSTGRES, "Standbys streaming"), PanelRef(POSTGRES, "Servers up")),
        (PanelRef(POSTGRES, "Replication lag"), PanelRef(CLUSTER, "Embedding queue")),
    ),
    Symptom(
        "writes pile up, or a new memory is not found (embedded)",
        (PanelRef(SHUTTLE, "Pending writes"), PanelRef(SHUTTLE, "Oldest pending age")),
        (PanelRef(SHUTTLE, "Retries and failures"), PanelRef(STM, "Time to searchable")),
    ),
    Symptom(
        "new memories take long to become searchable",
        (PanelRef(SLO, "Canary time to searchable"),),
        (PanelRef(STM, "Embedding backlog"), PanelRef(STM, "Embedding latency"), PanelRef(CLUSTER, "Embedding queue")),
    ),
    Symptom(
        "searches answer the wrong memories",
        (PanelRef(QUALITY, "Best-match similarity"),),
        (PanelRef(QUALITY, "Golden-set recall"), PanelRef(OVERVIEW, "Cache hit rate")),
    ),
    Symptom(
        "a replica serves stale data (cluster)",
        (PanelRef(CLUSTER, "Invalidation lag"),),
        (PanelRef(CLUSTER, "Version checks by result"), PanelRef(CLUSTER, "Catch-ups by kind")),
    ),
    Symptom(
        "507 on adds, or a disk alert",
        (PanelRef(QUALITY, "Disk free (data folder)"),),
        (PanelRef(HOST, "Filesystem free"), PanelRef(HOST, "Disk I/O"), PanelRef(POSTGRES, "Database size")),
    ),
    Symptom(
        "the machine swaps or a process was OOM-killed",
        (PanelRef(HOST, "Memory available"),),
        (PanelRef(STM, "STM bytes vs budget"), PanelRef(OVERVIEW, "Process memory (RSS)")),
    ),
    Symptom(
        "a replica missing or not ready",
        (PanelRef(CLUSTER, "Up and ready by replica"),),
        (PanelRef(PROBES, "Probe success"),),
        'its `role="replica"` probe',
    ),
    Symptom(
        "alerts stopped arriving",
        (PanelRef(MONITORING, "Notifications failed"),),
        (PanelRef(MONITORING, "Alertmanager cluster members"), PanelRef(MONITORING, "Configuration reloads")),
        "the receiver's `/alerts`",
    ),
    Symptom(
        "a dashboard went blank",
        (PanelRef(MONITORING, "Samples appended"), PanelRef(MONITORING, "Scrape targets up")),
        (PanelRef(MONITORING, "Rule evaluation failures"),),
        "the board's `datasource` variable: is it the Prometheus that scrapes the service?",
    ),
    Symptom(
        "traces or metrics missing",
        (PanelRef(TELEMETRY, "Service OTLP exports"),),
        (PanelRef(TELEMETRY, "Collector export failures"), PanelRef(TELEMETRY, "Dropped spans")),
    ),
    Symptom(
        "error budget burning",
        (PanelRef(SLO, "Burn rate (availability)"), PanelRef(SLO, "Latency SLO")),
        (PanelRef(SLO, "Burn rate per operation"),),
        "then Overview, and the row above for the symptom",
    ),
    Symptom(
        "a figure creeps up over days",
        (PanelRef(TRENDS, "Average response time"),),
        (PanelRef(TRENDS, "Hot search p99"), PanelRef(TRENDS, "Error rate")),
        "every figure on Trends, now against a day and a week ago",
    ),
)
