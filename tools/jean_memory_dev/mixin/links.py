"""Links from an alert to the dashboard panel that answers it: `dashboard_url`, in every notification.

A panel is named in the catalogue by dashboard and title (`PanelRef`); Grafana opens one panel by its
numeric id (`/d/<uid>?viewPanel=<id>`), which the grafanalib modules assign in layout order. The ids
are read from the dashboards as built, so a link follows its panel when panels move.

    >>> panel_url(load(), PanelRef(boards.OVERVIEW, "Error rate"))
    'http://localhost:3000/d/jm-overview?viewPanel=12'
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from jean_memory_dev.mixin.boards import PanelRef
from jean_memory_dev.mixin.config import Config
from jean_memory_dev.mixin.dashboards import DASHBOARDS

#: The dashboards' replica variable (`dashboards/common.py`): set from the alert's own label.
INSTANCE_VARIABLE = "var-instance={{ $labels.instance }}"


@cache
def panel_ids() -> Mapping[tuple[str, str], int]:
    """Every panel's id by (dashboard uid, panel title)."""
    ids: dict[tuple[str, str], int] = {}
    for board in DASHBOARDS:
        for panel in board.panels:
            key = (str(board.uid), panel.title)
            if key in ids:
                raise ValueError(
                    f"{board.uid}: two panels are titled {panel.title!r}: a link could not tell them apart"
                )
            ids[key] = int(panel.id)
    return ids


def panel_url(config: Config, ref: PanelRef, link_instance: bool = False) -> str:
    """Grafana's URL of one panel, viewed alone; `link_instance` also selects the alert's replica."""
    key = (ref.board.uid, ref.panel)
    if key not in panel_ids():
        raise KeyError(f"{ref.board.title} has no panel {ref.panel!r}")
    url = f"{config.service.dashboard_base_url}/d/{ref.board.uid}?viewPanel={panel_ids()[key]}"
    return f"{url}&{INSTANCE_VARIABLE}" if link_instance else url
