"""The values one variant of the mixin is built from, by name, formatted once.

Alert expressions and annotations (in the catalogue), runbook templates and the docs map are text
with `${name}` placeholders filled from `Context.values`, so a number from the config is formatted in
one place and quoted the same way everywhere. The names:

- `job`, `sel` (`job="jean-memory"`), and the variant's windows: `rate`, `for`, `for_short`,
  `service_down_for`, `absent`, `watchdog_repeat`, `deadman_after`;
- `trend_window` (the long window of the `jm:trend_*` recording rules) and `trend_compare` (`1d and 1w`);
- every target, threshold and cluster threshold under its YAML key, as written (`avg_response_seconds`
  -> `0.05`, `min_ready_replicas` -> `2`);
  keys ending in `_seconds` also as milliseconds (`avg_response_ms` -> `50`), keys containing
  `ratio` also as a percentage (`cache_hit_ratio_min_pct` -> `80%`); `stm_mb` -> `512`;
- the SLOs: `availability_objective_pct`, `latency_objective_pct`, `recall_objective_pct`, `latency_threshold_seconds`,
  `latency_threshold_ms`, and `burn_policy` (the burn-rate windows in words);
- `cluster_lease_s`: the default of the service's `JM_CLUSTER_LEASE_S` (how long a replica's claim on a
  memory's embedding lasts), read from its `Settings` so that runbooks quote the number the code uses;
- each dashboard's title: `dashboard_overview`, `dashboard_stm`, `dashboard_shuttle`, `dashboard_slo`,
  `dashboard_telemetry`, `dashboard_cluster`, `dashboard_trends`, `dashboard_quality`;
- `baseline` and `fill_horizon` (also `fill_horizon_seconds`): the relative alerts' windows;
- `slo_period` (this variant's SLO period), and per operation SLO `<name>_objective_pct` (and, where it has
  one, `<name>_threshold_ms`): `add_latency`, `search_latency`, `canary_success`, `time_to_searchable`;
- the canary: `canary_job`, `canary_sel` (`job="jean-memory-canary"`), and its config's numbers prefixed
  `canary_` (`canary_success_ratio_min_pct`, `canary_time_to_searchable_p99_ms`, `canary_interval_seconds`...).
- every key of `infrastructure` (the exporters' and the monitoring's jobs, `node_job` -> `node`, and their
  thresholds, with `_pct` and `_ms` forms as above).

    >>> Context(load()).fill("jm:api_latency:avg${rate} > ${avg_response_seconds}")
    'jm:api_latency:avg5m > 0.05'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from string import Template

from jean_memory.config import Settings
from jean_memory_dev.mixin.boards import BOARDS
from jean_memory_dev.mixin.config import BurnWindow, Config, Severity, Variant, Windows, duration_seconds
from jean_memory_dev.mixin.slos import OPERATION_SLOS


class Placeholders(Template):
    """`string.Template` that knows only `${name}`: PromQL braces need no escaping, and Prometheus's own
    template variables (`{{ $value | humanize }}`) and a lone `$` pass through untouched. `substitute`
    raises `KeyError` for an unknown name, so a typo fails the generator instead of shipping."""

    pattern = r"""
        \$(?:
          (?P<escaped>(?!))                  |  # no escape: nothing but ${name} is special
          (?P<named>(?!))                    |  # bare $name is Prometheus's, not ours
          \{(?P<braced>[_a-z][_a-z0-9]*)\}   |
          (?P<invalid>(?!))
        )
    """  # type: ignore[assignment]  # typeshed declares a str but Template compiles it at class creation


class PlaceholderError(Exception):
    """A template names a value the context does not have."""


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:g}"


def _pct(ratio: float) -> str:
    return f"{ratio * 100:g}%"


def _burn_policy(burns: tuple[BurnWindow, ...]) -> str:
    """`14.4x over 1h and 5m, or 6x over 6h and 30m, pages; 3x over 1d and 2h, ... files a ticket`."""
    action = {Severity.CRITICAL: "pages", Severity.WARNING: "files a ticket"}
    parts = []
    for severity in (Severity.CRITICAL, Severity.WARNING):
        conditions = [f"{b.factor}x over {b.long} and {b.short}" for b in burns if b.severity is severity]
        if conditions:
            parts.append(f"{', or '.join(conditions)}, {action[severity]}")
    return "; ".join(parts)


@dataclass(frozen=True)
class Context:
    """The config seen from one variant (production or the drill's fast copy)."""

    config: Config
    variant: Variant = Variant.PRODUCTION

    @property
    def windows(self) -> Windows:
        return self.config.windows_for(self.variant)

    @property
    def burns(self) -> tuple[BurnWindow, ...]:
        return self.config.burns_for(self.variant)

    @property
    def job(self) -> str:
        return self.config.service.job

    @property
    def sel(self) -> str:
        """The selector every service series carries."""
        return f'job="{self.job}"'

    @property
    def rate(self) -> str:
        return self.windows.rate

    @cached_property
    def values(self) -> Mapping[str, str]:
        c, w = self.config, self.windows
        values = {
            "job": self.job,
            "sel": self.sel,
            "rate": w.rate,
            "for": w.for_,
            "for_short": w.for_short,
            "service_down_for": w.service_down_for,
            "absent": w.absent,
            "watchdog_repeat": w.watchdog_repeat,
            "deadman_after": w.deadman_after,
            "baseline": w.baseline,
            "fill_horizon": w.fill_horizon,
            "fill_horizon_seconds": f"{duration_seconds(w.fill_horizon):g}",
            "trend_window": c.trends.window,
            "trend_compare": " and ".join(c.trends.compare),
        }
        numbers: dict[str, float] = {**c.targets.model_dump(), **c.thresholds.model_dump(), **c.cluster.model_dump()}
        for key, number in numbers.items():
            values[key] = str(number)
            if key.endswith("_seconds"):
                values[key.removesuffix("_seconds") + "_ms"] = _ms(number)
            if "ratio" in key:
                values[f"{key}_pct"] = _pct(number)
        for key, value in c.infrastructure.model_dump().items():  # jobs and role names as text, numbers as above
            values[key] = str(value)
            if isinstance(value, int | float) and "ratio" in key:
                values[f"{key}_pct"] = _pct(value)
            if isinstance(value, int | float) and key.endswith("_seconds"):
                values[key.removesuffix("_seconds") + "_ms"] = _ms(value)
        values["stm_mb"] = str(c.targets.stm_bytes // 2**20)
        values["availability_objective_pct"] = _pct(c.slo.availability.objective)
        values["latency_objective_pct"] = _pct(c.slo.latency.objective)
        values["recall_objective_pct"] = _pct(c.slo.recall.objective)
        values["latency_threshold_seconds"] = str(c.slo.latency.threshold_seconds)
        values["latency_threshold_ms"] = _ms(c.slo.latency.threshold_seconds)
        values["burn_policy"] = _burn_policy(self.burns)
        values["cluster_lease_s"] = f"{Settings.model_fields['cluster_lease_s'].default:g}"
        for board in BOARDS:
            values["dashboard_" + board.uid.removeprefix("jm-")] = board.title
        values["slo_period"] = c.slo.period_for(self.variant)
        for name in OPERATION_SLOS:
            objective = getattr(c.slo, name)
            values[f"{name}_objective_pct"] = _pct(objective.objective)
            if hasattr(objective, "threshold_seconds"):
                values[f"{name}_threshold_ms"] = _ms(objective.threshold_seconds)
        values["canary_job"] = c.canary.job
        values["canary_sel"] = self.canary_sel
        for key, value in c.canary.model_dump().items():
            if key == "job":
                continue
            values[f"canary_{key}"] = str(value)
            if key.endswith("_seconds"):
                values[f"canary_{key.removesuffix('_seconds')}_ms"] = _ms(value)
            if "ratio" in key:
                values[f"canary_{key}_pct"] = _pct(value)
        return values

    @property
    def canary_sel(self) -> str:
        """The selector of the synthetic user's series (its own scrape job)."""
        return f'job="{self.config.canary.job}"'

    @property
    def slo_period(self) -> str:
        return self.config.slo.period_for(self.variant)

    def fill(self, template: str, where: str = "template", **extra: str) -> str:
        """`template` with every `${name}` replaced; `extra` adds names for this one text."""
        try:
            return Placeholders(template).substitute({**self.values, **extra})
        except KeyError as exc:
            raise PlaceholderError(f"{where}: unknown placeholder ${{{exc.args[0]}}}") from exc
