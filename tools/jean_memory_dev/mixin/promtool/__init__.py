"""promtool unit tests for every alert, generated from the config so they move with it.

Each alert gets a case where it fires (labels and rendered annotations checked exactly) and a case
where it stays silent. Inputs are chosen so that `$value` is a round number: the expected text is
then written here by hand, as a person would read it, not computed by the code under test. The test
file loads the very rule files Prometheus loads (`layout.py`), by paths relative to itself.

    series.py          input series (counters, gauges, histograms)
    cases.py           what every case is made of (labels, annotations, panel links)
    service.py         the service's alerts and the recordings they read
    pipelines.py       the embedding queue, coherence lag, the telemetry pipeline
    health.py          the data folder's disk, retrieval quality, the plan's targets
    slo.py             the SLOs' alerts (per operation, period, canary, recall, burn)
    infrastructure.py  the host, PostgreSQL, the probes, the monitoring itself
"""

from __future__ import annotations

import os
from typing import Any

from jean_memory_dev.mixin import layout
from jean_memory_dev.mixin.config import Variant
from jean_memory_dev.mixin.context import Context
from jean_memory_dev.mixin.promtool import health, infrastructure, pipelines, service, slo
from jean_memory_dev.mixin.promtool.cases import Cases
from jean_memory_dev.mixin.rules import alert_rules, recording_rules

__all__ = ["Cases", "all_cases", "test_file"]


def all_cases(c: Cases) -> list[dict[str, Any]]:
    """Every case, in the order the test file has always listed them."""
    j = c.j
    return [
        *service.availability_cases(c),
        *service.latency_cases(c),
        *service.traffic_cases(c),
        *service.shuttle_cases(c),
        *service.stm_cases(c),
        *service.loop_cases(c),
        *health.disk_cases(c, j),
        *health.retrieval_cases(c, j),
        *health.target_cases(c, j),
        *slo.operation_slo_cases(c, j),
        *slo.period_cases(c, j),
        *slo.canary_cases(c),
        *pipelines.pipeline_cases(c),
        *service.recording_cases(c),
        *slo.burn_cases(c),
        *slo.recall_cases(c, j),
        *service.watchdog_cases(c),
        *infrastructure.cases(c),
    ]


def test_file(ctx: Context) -> dict[str, Any]:
    """The promtool test document. It must run against the production rules, so it is built from the
    production context whatever variant the caller holds."""
    production = Context(ctx.config, Variant.PRODUCTION)
    here = layout.PROMTOOL_TESTS.parent
    rule_files = [
        os.path.relpath(layout.recording_rules(fast=False), here),
        os.path.relpath(layout.alert_rules(fast=False), here),
    ]
    # Recording groups before the alert group. Without an order promtool evaluates the groups in Go's map order,
    # which changes from run to run: an alert reading a recorded series then sees it one interval late in some
    # runs and not in others, and a case over a short window (the saw-tooth's 5m average) flakes.
    order = [g["name"] for doc in (recording_rules(production), alert_rules(production)) for g in doc["groups"]]
    return {
        "rule_files": rule_files,
        "evaluation_interval": "1m",
        "group_eval_order": order,
        "tests": all_cases(Cases(production)),
    }
