"""The grafanalib dashboards, one importable module each, every one exporting `dashboard`.

`render()` turns them into the JSON Grafana provisions from `dashboards/json/<uid>.json`: sorted keys
and stable uids, so the committed files change only when a dashboard does.
"""

from __future__ import annotations

import json
from typing import Any

from jean_memory_dev.mixin.dashboards import (
    cluster,
    errors,
    host,
    monitoring,
    overview,
    postgres,
    probes,
    quality,
    shuttle,
    slo,
    stm,
    telemetry,
    trends,
)

#: Every dashboard, in uid order.
DASHBOARDS: tuple[Any, ...] = tuple(
    sorted(
        (
            m.dashboard
            for m in (
                cluster,
                errors,
                host,
                monitoring,
                overview,
                postgres,
                probes,
                quality,
                shuttle,
                slo,
                stm,
                telemetry,
                trends,
            )
        ),
        key=lambda d: str(d.uid),
    )
)


def to_json(dashboard: Any) -> str:
    """One dashboard as Grafana's JSON model."""
    data = dashboard.to_json_data()
    return json.dumps(data, sort_keys=True, indent=2, default=lambda o: o.to_json_data()) + "\n"


def render() -> dict[str, str]:
    """Every dashboard's JSON, by uid."""
    return {str(d.uid): to_json(d) for d in DASHBOARDS}
