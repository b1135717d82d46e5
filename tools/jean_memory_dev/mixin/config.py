"""The one config: `alerts/thresholds.yaml`, loaded into typed, frozen models.

Every selector, threshold and window the mixin uses is read here and nowhere else (STYLE principle 2):
rules, promtool tests, runbooks, dashboards, docs, the drill and the service's thresholds module all
take a `Config`. A missing, misspelt or mistyped value fails at load time naming its path
(`thresholds.avg_response_seconds: Field required`), never later as a `KeyError` deep in a generator.

    >>> config = load()
    >>> config.windows_for(Variant.FAST).rate
    '20s'
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    model_validator,
)

from jean_memory_dev.mixin.layout import SOURCE


def _number(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {type(value).__name__} {value!r}")
    return value


#: A number as the YAML spells it: an int stays an int, so generated text keeps the source's spelling
#: (`> 0`, not `> 0.0`) and the service's thresholds module stays byte-for-byte what it was. Strict:
#: `"0.05"` (a string) or `true` is refused rather than coerced.
Number = Annotated[int | float, BeforeValidator(_number)]

#: A Prometheus duration (`20s`, `5m`, `1d`): refused at load time, not when Prometheus parses the rule.
Duration = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9]+(ms|s|m|h|d|w|y)$")]

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_seconds(text: str) -> float:
    """`"5m"` -> 300.0: the drill's bounds are sums of windows."""
    match = re.fullmatch(r"([0-9]+)(ms|s|m|h|d|w|y)", text)
    if not match:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return float(match[1]) * _UNIT_SECONDS[match[2]]


class Severity(StrEnum):
    """An alert's `severity` label; Alertmanager routes on it (alerts/alertmanager.yml)."""

    CRITICAL = "critical"
    WARNING = "warning"
    NONE = "none"

    @property
    def route(self) -> str:
        """The receiver Alertmanager sends it to: also set as the `route` label, which a test checks
        against `amtool config routes test`."""
        return {Severity.CRITICAL: "page", Severity.WARNING: "ticket", Severity.NONE: "watchdog"}[self]


class Variant(StrEnum):
    """The two copies of the rules: only windows and `for` differ (the drill needs seconds, not minutes)."""

    PRODUCTION = "production"
    FAST = "fast"


class Pending(StrEnum):
    """Which of a variant's windows an alert stays pending for before it fires (its `for`)."""

    STANDARD = "for"
    SHORT = "for_short"
    SERVICE_DOWN = "service_down_for"


class _Model(BaseModel):
    """Frozen, and unknown keys are errors: a misspelt key in the YAML must not be silently ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Service(_Model):
    job: Annotated[str, StringConstraints(strict=True, min_length=1)]
    runbook_base_url: Annotated[str, StringConstraints(strict=True, pattern=r"^https?://")]
    #: Grafana's address: each alert's `dashboard_url` opens the panel that answers it there.
    dashboard_base_url: Annotated[str, StringConstraints(strict=True, pattern=r"^https?://[^/]+(/.*[^/])?$")]


class Targets(_Model):
    """The product plan's performance targets (dashboards draw them; the docs map quotes them)."""

    creation_avg_seconds: Number
    hot_search_p99_seconds: Number
    cache_hit_ratio: Number
    throughput_ops_per_second: Number
    error_ratio: Number
    stm_bytes: StrictInt


class Thresholds(_Model):
    """The alert thresholds."""

    avg_response_seconds: Number
    cache_hit_ratio_min: Number
    error_ratio_max: Number
    creation_p99_seconds: Number
    search_p99_seconds: Number
    stm_budget_ratio: Number
    shuttle_oldest_pending_seconds: Number
    shuttle_backlog_growth_per_second: Number
    shuttle_backlog_min: Number
    admission_rejections_per_second: Number
    telemetry_failures_per_second: Number
    disk_free_ratio_min: Number
    disk_fill_free_ratio_max: Number
    retrieval_score_drop_ratio: Number
    event_loop_lag_p99_seconds: Number


class Cluster(_Model):
    """Cluster mode's alert thresholds: replicas ready, the shared embedding queue, coherence lag."""

    min_ready_replicas: Annotated[StrictInt, Field(ge=1)]
    embed_queue_oldest_seconds: Number
    invalidation_lag_p99_seconds: Number


class Infrastructure(_Model):
    """The host, PostgreSQL, the probes and the monitoring itself: their scrape jobs and alert thresholds."""

    node_job: Annotated[str, StringConstraints(strict=True, min_length=1)]
    postgres_job: Annotated[str, StringConstraints(strict=True, min_length=1)]
    probe_job: Annotated[str, StringConstraints(strict=True, min_length=1)]
    prometheus_job: Annotated[str, StringConstraints(strict=True, min_length=1)]
    alertmanager_job: Annotated[str, StringConstraints(strict=True, min_length=1)]
    host_fs_free_ratio_min: Number
    host_fs_fill_free_ratio_max: Number
    host_memory_available_ratio_min: Number
    postgres_connections_ratio_max: Number
    postgres_replication_lag_seconds: Number
    probe_front_role: Annotated[str, StringConstraints(strict=True, min_length=1)]
    rule_failures_per_second: Number
    notification_failures_per_second: Number


class Windows(_Model):
    """One variant's rate window, `for` durations and absence window."""

    rate: Duration
    for_: Duration = Field(alias="for")
    for_short: Duration
    service_down_for: Duration
    absent: Duration
    #: Alertmanager's repeat_interval for the Watchdog (the dead man's switch's heartbeat).
    watchdog_repeat: Duration
    #: The dead man's switch pages when no Watchdog arrived for this long.
    deadman_after: Duration
    #: The window the relative alerts compare with: the disk's fill pace, retrieval quality's own median.
    baseline: Duration
    #: The disk's ticket: the filesystem would be full within this long at the baseline window's pace.
    fill_horizon: Duration

    @model_validator(mode="after")
    def _deadman_outlasts_two_heartbeats(self) -> Windows:
        """One late or lost Watchdog must not page: the switch waits for at least two heartbeats."""
        if duration_seconds(self.deadman_after) < 2 * duration_seconds(self.watchdog_repeat):
            raise ValueError(f"deadman_after ({self.deadman_after}) must be at least twice watchdog_repeat")
        return self

    def pending(self, which: Pending) -> str:
        """The `for` of an alert that stays pending for `which`."""
        return {
            Pending.STANDARD: self.for_,
            Pending.SHORT: self.for_short,
            Pending.SERVICE_DOWN: self.service_down_for,
        }[which]


class WindowSets(_Model):
    production: Windows
    fast: Windows


class Trends(_Model):
    """Long-window recording rules for trend analysis, and the offsets the Trends dashboard compares with."""

    window: Duration
    interval: Duration
    compare: tuple[Duration, ...] = Field(min_length=1)


class Objective(_Model):
    objective: Number


class LatencyObjective(_Model):
    objective: Number
    threshold_seconds: Number  # must be a bucket boundary of http_server_request_duration_seconds


class BurnWindow(_Model):
    """One multiwindow burn-rate condition: both windows over `factor` x the budget, for `for_`."""

    severity: Severity
    long: Duration
    short: Duration
    factor: Number
    for_: Duration = Field(alias="for")


class Slo(_Model):
    availability: Objective
    latency: LatencyObjective
    recall: Objective
    burn_alerts: tuple[BurnWindow, ...] = Field(min_length=1)
    fast_burn_alerts: tuple[BurnWindow, ...] = Field(min_length=1)
    #: The SLO period: budget remaining and the budget-exhausted ticket are measured over it.
    period: Duration
    fast_period: Duration
    add_latency: LatencyObjective
    search_latency: LatencyObjective
    canary_success: Objective
    time_to_searchable: LatencyObjective

    def period_for(self, variant: Variant) -> str:
        return self.period if variant is Variant.PRODUCTION else self.fast_period


class Canary(_Model):
    """The synthetic user: its scrape job, its schedule (production and the drill's), its alert thresholds."""

    job: Annotated[str, StringConstraints(strict=True, min_length=1)]
    interval_seconds: Number
    search_timeout_seconds: Number
    fast_interval_seconds: Number
    fast_search_timeout_seconds: Number
    success_ratio_min: Number
    time_to_searchable_p99_seconds: Number  # must be a bucket boundary of jm_canary_time_to_searchable_seconds

    def schedule(self, fast: bool) -> tuple[float, float]:
        """(interval, search timeout) in seconds: the drill's when `fast`."""
        if fast:
            return self.fast_interval_seconds, self.fast_search_timeout_seconds
        return self.interval_seconds, self.search_timeout_seconds


class TailSampling(_Model):
    """The collector's tail-sampling policy beyond what the SLOs fix: the share of the rest, and its buffer."""

    keep_percent: Annotated[float, Field(ge=0, le=100)]
    decision_wait: Duration
    num_traces: Annotated[int, Field(gt=0)]


class Config(_Model):
    """`alerts/thresholds.yaml`, whole."""

    service: Service
    targets: Targets
    thresholds: Thresholds
    cluster: Cluster
    windows: WindowSets
    trends: Trends
    slo: Slo
    canary: Canary
    infrastructure: Infrastructure
    tail_sampling: TailSampling

    def windows_for(self, variant: Variant) -> Windows:
        return self.windows.production if variant is Variant.PRODUCTION else self.windows.fast

    def burns_for(self, variant: Variant) -> tuple[BurnWindow, ...]:
        return self.slo.burn_alerts if variant is Variant.PRODUCTION else self.slo.fast_burn_alerts

    def service_thresholds(self) -> dict[str, Any]:
        """What the service's `/metrics/dashboard` compares against: the YAML's targets, thresholds and
        SLOs as plain data, keys and number types as written."""
        return self.model_dump(mode="json", by_alias=True, include={"targets", "thresholds", "slo"})


class ConfigError(Exception):
    """The thresholds file is missing, not YAML, or a value is missing or of the wrong type."""


def load(path: Path = SOURCE) -> Config:
    """Read and validate the config; every problem is reported at once, each with its dotted path."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = [f"  {'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{path}: {len(problems)} invalid value(s)\n" + "\n".join(problems)) from exc
