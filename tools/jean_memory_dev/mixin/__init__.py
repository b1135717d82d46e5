"""The monitoring mixin: Jean Memory's alerts, recording rules, promtool tests, runbooks, dashboards and
reference docs, all generated from one typed config (`alerts/thresholds.yaml`) and one alert catalogue.

    config.py     the typed config: every selector, threshold and window
    context.py    the config seen from one variant, its values by name for `${name}` templates
    catalogue.py  every alert as a typed constant (how to add one: see its docstring)
    slos.py       the SLOs by name, and the series every SLO is recorded under (burn rates, period, metadata)
    promql.py     the PromQL builders the rules, the dashboards and the drill share
    rules.py      recording and alert rules, production and the drill's fast copy
    promtool/     a firing and a silent promtool case per alert
    runbooks.py   runbooks from the Markdown templates in alerts/runbooks/templates/
    boards.py     dashboard uids, titles and descriptions, the symptom index; dashboards/ the grafanalib modules
    grafana.py    what Grafana does to a panel's query ($__rate_interval, variables): tests and drills send the same
    dashlint.py   the dashboards' lint (`make check`): rate windows, datasource variable, descriptions, links
    links.py      each alert's link to the dashboard panel that answers it
    docs.py       docs/reference/{settings,metrics,monitoring,dashboards}.md
    layout.py     where every source and output lives
    generate.py   `jean-memory-dev generate [--check]`

The generated files are committed and drift-checked (`make check`; tests/unit/test_generated.py).
"""

from jean_memory_dev.mixin.catalogue import (
    BURN_ALERTS,
    CATALOGUE,
    CLUSTER_ALERTS,
    COLLECTOR_METRICS,
    DEADMAN_ALERT,
    INFRASTRUCTURE_METRICS,
    Alert,
    runbook_url,
)
from jean_memory_dev.mixin.config import Config, ConfigError, Severity, Variant, load
from jean_memory_dev.mixin.context import Context

__all__ = [
    "BURN_ALERTS",
    "CATALOGUE",
    "CLUSTER_ALERTS",
    "COLLECTOR_METRICS",
    "DEADMAN_ALERT",
    "INFRASTRUCTURE_METRICS",
    "Alert",
    "Config",
    "ConfigError",
    "Context",
    "Severity",
    "Variant",
    "load",
    "runbook_url",
]
