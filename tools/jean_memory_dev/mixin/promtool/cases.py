"""The promtool cases' building blocks: `Cases` holds the context and writes what an alert must carry."""

from __future__ import annotations

from typing import Any

from jean_memory_dev.mixin.catalogue import CATALOGUE, Alert, ThresholdAlert, runbook_url
from jean_memory_dev.mixin.config import Severity
from jean_memory_dev.mixin.context import Context
from jean_memory_dev.mixin.links import INSTANCE_VARIABLE, panel_url
from jean_memory_dev.mixin.promtool.series import gauge
from jean_memory_dev.mixin.rules import catalogue_rules


class Cases:
    """What every case is made of, against the production rules (the ones a person reads and Prometheus pages
    from): the labels and annotations an alert must carry, its panel link, one input checked against
    several alerts, a replica's series."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.job = ctx.job
        self.j = {"job": ctx.job}
        self.summaries = {r.alert: r.summary for r in catalogue_rules(ctx)}

    def labels(self, severity: Severity, **extra: str) -> dict[str, str]:
        return {"severity": severity.value, "service": self.job, "route": severity.route, **extra}

    def annotations(self, alert: Alert, description: str, value: str, instance: str = "") -> dict[str, str]:
        """What a firing alert must carry, `value` as rendered (written by hand, like the description)."""
        return {
            "summary": self.summaries[alert],
            "description": description,
            "value": value,
            "runbook_url": runbook_url(self.config, alert),
            "dashboard_url": self.dashboard_url(alert, instance),
        }

    def dashboard_url(self, alert: Alert, instance: str = "") -> str:
        """The panel link as Prometheus renders it for an alert about `instance` (or the job)."""
        spec = CATALOGUE[alert]
        per_replica = isinstance(spec, ThresholdAlert) and spec.link_instance
        url = panel_url(self.config, spec.answers[0], per_replica)
        return url.replace(INSTANCE_VARIABLE, f"var-instance={instance}") if per_replica else url

    def case(
        self, alert: Alert, series: list[dict[str, str]], at: str, expected: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return self.cases(series, at, {alert: expected})

    def cases(
        self, series: list[dict[str, str]], at: str, expected: dict[Alert, list[dict[str, Any]]]
    ) -> dict[str, Any]:
        """One input, several alerts checked against it: one fires, its neighbour stays silent."""
        return {
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                {"eval_time": at, "alertname": alert.value, "exp_alerts": exp} for alert, exp in expected.items()
            ],
        }

    def replica(self, instance: str, up: int, ready: int | None = None, mode: str = "cluster") -> list[dict[str, str]]:
        """One replica's `up`, and while it is up its build info (with `mode`) and `jm_ready`."""
        labels = {**self.j, "instance": instance}
        series = [gauge("up", labels, up, 20)]
        if up:
            info = {**labels, "version": "3.0.0", "python": "3.11.7", "mode": mode}
            ready = 1 if ready is None else ready
            series += [gauge("jm_build_info", info, 1, 20), gauge("jm_ready", labels, ready, 20)]
        return series

    def down(self) -> dict[str, str]:
        return self.annotations(
            Alert.DOWN,
            f"No Jean Memory replica of job {self.job} is up: every scrape is failing, or (over OTLP) none has "
            f"reported for {self.ctx.windows.absent}.",
            "no replica up",
        )

    def burn_annotations(self, alert: Alert, slo: str, severity: Severity, desc: str, value: str) -> dict[str, str]:
        summary = (
            f"Jean Memory is burning its {slo} error budget fast"
            if severity is Severity.CRITICAL
            else f"Jean Memory is burning its {slo} error budget"
        )
        return {**self.annotations(alert, desc, value), "summary": summary}
