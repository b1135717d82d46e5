"""The dashboards by stable uid and title: what the catalogue, the runbooks and the docs point at.

Kept apart from the grafanalib modules so that naming a dashboard does not build one. A test checks
that every panel a `PanelRef` names exists on its dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass


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

BOARDS = (OVERVIEW, STM, SHUTTLE, SLO, TELEMETRY, CLUSTER)


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
