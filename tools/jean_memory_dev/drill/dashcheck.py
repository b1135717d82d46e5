"""The drill's dashboard check: every panel query that applies to the mode under drill returns data (a
finite value: NaN draws nothing) from its Prometheus, as Grafana sends it with every variable on All.
Skipped: the collector's own panels (no collector runs natively), panels of the other mode
(`mixin.boards.applies`) and, where the run has no exporters, their boards; Trends queries are checked
as of now.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from jean_memory_dev.mixin.boards import EXPORTER_BOARDS, Mode, applies, board_of
from jean_memory_dev.mixin.layout import DASHBOARDS_JSON


def with_all_selected(board: dict[str, Any], expr: str) -> str:
    """A panel's query as Grafana sends it with every template variable of its dashboard on All (the
    variable's `allValue`, `.*`: every replica, and series without the label)."""
    variables = sorted(board.get("templating", {}).get("list", []), key=lambda v: -len(v["name"]))
    for variable in variables:
        expr = expr.replace(f"${variable['name']}", variable.get("allValue") or ".*")
    return expr


def without_offsets(expr: str) -> str:
    """A Trends query as of now: a fresh Prometheus has no data a day or a week back, so the drill checks
    that the series exist now (the offset itself is PromQL that promtool parses in tests/rules)."""
    return re.sub(r"\s+offset\s+\d+[smhdwy]", "", expr)


def check_dashboards(query: Callable[[str], list[dict[str, Any]]], mode: Mode, exporters: bool) -> dict[str, Any]:
    """The summary of the check (see the module's docstring): `queries` checked, `empty` ones (each with
    its expression), and what was skipped and why."""
    checked, empty, skipped, other_mode, no_exporters = 0, [], set(), set(), set()
    for path in sorted(DASHBOARDS_JSON.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                where = f"{path.stem} / {panel['title']}"
                expr = without_offsets(with_all_selected(board, target["expr"]))
                if "otelcol_" in expr:
                    skipped.add(where)
                elif not applies(board_of(path.stem), panel["title"], mode):
                    other_mode.add(where)
                elif board_of(path.stem) in EXPORTER_BOARDS and not exporters:
                    no_exporters.add(where)
                else:
                    checked += 1
                    if not any(math.isfinite(float(r["value"][1])) for r in query(expr)):
                        empty.append(f"{where}: {expr}")
    return {
        "queries": checked,
        "empty": empty,
        "skipped_collector_only": sorted(skipped),
        "skipped_other_mode": sorted(other_mode),
        "skipped_no_exporters": sorted(no_exporters),
    }
