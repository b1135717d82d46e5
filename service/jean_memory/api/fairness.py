"""Per-tenant fairness: a rate limit and a share of the admission slots for each tenant.

Admission control (`core/admission.py`) is global: without this, one tenant's flood takes every read
or write slot and the other tenants get 503. Here, in the request guard (the one place that knows the
tenant before the body is read), each tenant gets

- **a rate** (`JM_TENANT_RATE_LIMIT`, a sliding window per tenant kept by the `limits` library in
  memory, a few microseconds a request): past it, 429 naming `tenant`, with Retry-After until the window has room;
- **a share of the slots** (`JM_TENANT_INFLIGHT_SHARE` of `JM_MAX_INFLIGHT_READS` and of
  `JM_MAX_INFLIGHT_WRITES`): a tenant holding its share gets 429 naming `tenant`, so the rest of the
  slots stay free for the others.

Both apply only when the API keys name two or more tenants: with one tenant there is nobody to be fair
to, and the global limits already bound it. A refusal here costs a header scan and a counter, so a
flooding tenant's surplus is answered without reaching the application.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from jean_memory.config import Settings
from jean_memory.telemetry.metrics import TenantMetrics

#: The field a per-tenant refusal names.
FIELD = "tenant"
#: The label of the default tenant (keys without `:tenant`) and of tenants past JM_TENANT_METRICS_MAX.
DEFAULT_LABEL, OTHER_LABEL = "default", "other"
OPERATIONS = ("read", "write")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a tenant's request is refused, and when it may try again."""

    message: str
    retry_after_s: int
    limit: str


def operation(method: str, path: str) -> str:
    """The admission class of a `/v1` request: reads are GETs and searches, everything else writes."""
    return "read" if method in ("GET", "HEAD") or path == "/v1/search" else "write"


class TenantFairness:
    """Counts each tenant's requests against its rate and its share of the slots."""

    def __init__(self, settings: Settings, metrics: TenantMetrics) -> None:
        tenants = sorted(set(settings.tenant_keys.values()))
        self.enabled = len(tenants) >= 2
        self._rates: list[RateLimitItem] = parse_many(settings.tenant_rate_limit) if settings.tenant_rate_limit else []
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._share = {
            "read": max(1, math.floor(settings.tenant_inflight_share * settings.max_inflight_reads)),
            "write": max(1, math.floor(settings.tenant_inflight_share * settings.max_inflight_writes)),
        }
        self._inflight: dict[tuple[str, str], int] = {}
        self._retry_after = settings.retry_after_s
        named = set(tenants[: settings.tenant_metrics_max])
        self._labels = {t: (t or DEFAULT_LABEL) if t in named else OTHER_LABEL for t in tenants}
        self._metrics = metrics
        # Each (tenant, operation)'s series, looked up once: `labels()` costs about a microsecond a call.
        self._admitted = {(t, op): metrics.admitted.labels(self.label(t), op) for t in tenants for op in OPERATIONS}
        self._held = {(t, op): metrics.inflight.labels(self.label(t), op) for t in tenants for op in OPERATIONS}
        for label in set(self._labels.values()) if self.enabled else ():
            for limit in ("rate", "concurrency"):
                metrics.rejected.labels(label, limit)

    def label(self, tenant: str) -> str:
        """The tenant's metric label: bounded by JM_TENANT_METRICS_MAX whatever the keys name."""
        return self._labels.get(tenant, OTHER_LABEL)

    def admit(self, tenant: str, op: str) -> Refusal | None:
        """Take a slot of `op` for `tenant`, or say why not. A taken slot is given back by `release`."""
        for rate in self._rates:
            if not self._limiter.hit(rate, tenant):
                self._metrics.rejected.labels(self.label(tenant), "rate").inc()
                reset = self._limiter.get_window_stats(rate, tenant).reset_time
                return Refusal(
                    f"this tenant's rate limit ({rate}) is reached",
                    max(1, math.ceil(reset - time.time())),
                    "rate",
                )
        key = (tenant, op)
        held = self._inflight.get(key, 0)
        if held >= self._share[op]:
            self._metrics.rejected.labels(self.label(tenant), "concurrency").inc()
            return Refusal(
                f"this tenant already has {held} {op} requests in flight (its share of the slots)",
                self._retry_after,
                "concurrency",
            )
        self._inflight[key] = held + 1
        self._admitted[key].inc()
        self._held[key].inc()
        return None

    def release(self, tenant: str, op: str) -> None:
        key = (tenant, op)
        held = self._inflight[key] - 1
        if held:
            self._inflight[key] = held
        else:
            del self._inflight[key]
        self._held[key].dec()
