"""The drill's model: what a fault is (its actions, the alerts it must deliver and may also raise), and what
an action may ask of the system under drill (`Target`). Types only, so that the actions, the faults and the
runs can all import them without importing each other.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from jean_memory_dev.mixin import BURN_ALERTS, CATALOGUE, Alert, Severity
from jean_memory_dev.mixin.slos import OPERATION_SLOS
from jean_memory_dev.processes import PrometheusServer


class Target(Protocol):
    """What an action may ask of the system under drill: the embedded service or the cluster (the drill's
    runs provide it)."""

    @property
    def front(self) -> str:
        """Where clients send requests (the service, or HAProxy)."""
        ...

    @property
    def prometheus(self) -> Sequence[PrometheusServer]:
        """Every Prometheus replica of the monitoring."""
        ...

    def admin(self, spec: dict[str, Any] | None) -> None:
        """Set (or with None clear) the injected faults on every service process."""

    def service_gauge(self, name: str) -> float:
        """A gauge from the first service process's /metrics."""
        ...

    def service_process(self, replica: int | None = None) -> subprocess.Popen[bytes]:
        """The embedded service's process, or a cluster replica's (by index)."""
        ...

    def kill_service(self) -> None:
        """kill -9 of the embedded service."""

    def restart_service(self, env: dict[str, str]) -> None:
        """Start the killed service again on the same data, with `env` laid over its settings."""


class Action(Protocol):
    """One thing a fault does to the system, undone by `clear`."""

    def inject(self, run: Target) -> None: ...

    def clear(self, run: Target) -> None: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class Expect:
    """An alert the fault must deliver: by name (an `Alert`, or the dead man's switch's page) and severity,
    and for the alert that covers every operation's SLO, by its `slo` label: each SLO's burn is its own alert
    (and its own Alertmanager group), and a fault that burns one may burn another as well."""

    name: str
    severity: Severity
    slo: str | None = None

    @classmethod
    def of(cls, alert: Alert, severity: Severity | None = None, *, slo: str | None = None) -> Expect:
        """`severity` defaults to the alert's only one; a burn alert needs it said, and the per-operation burn
        alert its SLO."""
        if severity is None:
            if alert in BURN_ALERTS:
                raise ValueError(f"{alert}: say which severity (page or ticket) the fault must raise")
            severity = CATALOGUE[alert].severity  # type: ignore[union-attr]
        if (alert == Alert.OPERATION_BUDGET_BURN) != (slo is not None):
            raise ValueError(f"{alert}: an SLO label is said for {Alert.OPERATION_BUDGET_BURN} and it only")
        if slo is not None and slo not in OPERATION_SLOS:
            raise ValueError(f"{alert}: {slo!r} is not one of {OPERATION_SLOS}")
        return cls(alert.value, severity, slo)

    @property
    def labels(self) -> dict[str, str]:
        """The labels that tell this alert apart from others of its name."""
        return {"alertname": self.name, "severity": str(self.severity)} | ({"slo": self.slo} if self.slo else {})

    def __str__(self) -> str:
        return f"{self.name}{{slo={self.slo}}}" if self.slo else self.name

    @property
    def alert(self) -> Alert | None:
        return Alert(self.name) if self.name in Alert.__members__.values() else None


@dataclass(frozen=True)
class Fault:
    """A fault to inject, the alerts it must deliver, and the alerts it may also raise.

    `burn` is the fault's SLO burn rate (its bad share over the budget), taken on the low side: it sets the
    bound of an expected burn alert. `onset` and `recovery` add, per alert, what the fault needs before the
    condition can hold and what the system needs to recover, each with its reason (shown in the report).
    `failover`: the fault also kills the Alertmanager that would notify, so the bounds allow one peer timeout.
    """

    name: str
    actions: tuple[Action, ...]
    expect: tuple[Expect, ...]
    related: frozenset[str] = frozenset()
    burn: float | None = None
    onset: Mapping[str, tuple[float, str]] = field(default_factory=dict)
    recovery: Mapping[str, tuple[float, str]] = field(default_factory=dict)
    failover: bool = False

    def describe(self) -> str:
        return "; ".join(a.describe() for a in self.actions)

    @property
    def allowed(self) -> frozenset[str]:
        """Every alert name this fault may page with: what it expects and its consequences."""
        return self.related | {e.name for e in self.expect}
