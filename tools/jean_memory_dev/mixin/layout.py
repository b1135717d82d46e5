"""Where the mixin's source and every generated file live: one place, so the generator, the promtool
test file (which must load the exact files Prometheus loads), the docs' links and the orphan check
agree on every path."""

from __future__ import annotations

from pathlib import Path

from jean_memory_dev.paths import ALERTS, DASHBOARDS, DOCS, PROMETHEUS, ROOT

#: The one config.
SOURCE = ALERTS / "thresholds.yaml"

RUNBOOKS = ALERTS / "runbooks"
#: Hand-written runbook prose, one Markdown template per alert (`${name}` placeholders).
RUNBOOK_TEMPLATES = RUNBOOKS / "templates"
PROMTOOL_TESTS = ALERTS / "tests" / "jean-memory.test.yml"
DASHBOARDS_JSON = DASHBOARDS / "json"
REFERENCE = DOCS / "reference"
SERVICE_THRESHOLDS = ROOT / "service" / "jean_memory" / "telemetry" / "thresholds.py"
#: The collector's tail-sampling processor (a second `--config`, merged over otel-collector/config.yaml).
COLLECTOR_SAMPLING = ROOT / "otel-collector" / "tail-sampling.yaml"

#: Folders that hold nothing but generated files: a file in one that no source produces is an orphan.
GENERATED_DIRS = (
    ALERTS / "rules",
    ALERTS / "rules-fast",
    PROMETHEUS / "rules",
    PROMETHEUS / "rules-fast",
    ALERTS / "tests",
    RUNBOOKS,
    DASHBOARDS_JSON,
    REFERENCE,
)


def recording_rules(fast: bool) -> Path:
    """The recording rules Prometheus loads (`prometheus.yml`: PROM_RULES_DIR)."""
    return PROMETHEUS / ("rules-fast" if fast else "rules") / "jean-memory.recording.yml"


def alert_rules(fast: bool) -> Path:
    """The alert rules Prometheus loads (`prometheus.yml`: PROM_ALERTS_DIR)."""
    return ALERTS / ("rules-fast" if fast else "rules") / "jean-memory.alerts.yml"
