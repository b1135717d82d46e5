"""Where the repository's files are: the tooling works from a checkout (configs, rules, scripts)."""

from __future__ import annotations

from pathlib import Path

#: The checkout this package was installed from (editable install: `pip install -e .`).
ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "alerts"
PROMETHEUS = ROOT / "prometheus"
DASHBOARDS = ROOT / "dashboards"
DOCS = ROOT / "docs"
SCRIPTS = ROOT / "scripts"
RESULTS = ROOT / "perf-results"
