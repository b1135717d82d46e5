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
    uid: str
    title: str

    @property
    def short(self) -> str:
        """`Jean Memory / Overview` -> `Overview`: enough inside tables about Jean Memory."""
        return self.title.removeprefix("Jean Memory / ")


OVERVIEW = Board("jm-overview", "Jean Memory / Overview")
STM = Board("jm-stm", "Jean Memory / STM and caches")
SHUTTLE = Board("jm-shuttle", "Jean Memory / Shuttle and LTM")
SLO = Board("jm-slo", "Jean Memory / SLOs and error budget")
TELEMETRY = Board("jm-telemetry", "Jean Memory / Telemetry pipeline")
CLUSTER = Board("jm-cluster", "Jean Memory / Cluster")
TRENDS = Board("jm-trends", "Jean Memory / Trends")
QUALITY = Board("jm-quality", "Jean Memory / Retrieval quality and lifecycle")

HOST = Board("jm-host", "Jean Memory / Host")
POSTGRES = Board("jm-postgres", "Jean Memory / PostgreSQL")
PROBES = Board("jm-probes", "Jean Memory / Probes")
MONITORING = Board("jm-monitoring", "Jean Memory / Monitoring")
ERRORS = Board("jm-errors", "Jean Memory / Errors")

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
