"""Garbage-collector policy: keep CPython's full collections off the request path.

A full (generation 2) collection walks every tracked object. The short-term tier holds hundreds of
thousands of long-lived objects (records, id maps, cache entries), so on a loaded service each full
collection stalled the event loop for tens of milliseconds, more than once a second under load: that
was the p99 of the mixed workload (a `gc.callbacks` probe, issue 6; figures in docs/performance.md). The policy
moves the survivors into the permanent generation every `gc_freeze_interval_s` (`gc.freeze()`, after
a young collection so fresh garbage is not frozen), so a full collection only walks what arrived
since. Objects frozen are still freed by reference counting; only *cyclic* garbage that was frozen
waits, until every `gc_full_collect_interval_s` the policy unfreezes and runs one full collection:
one long pause, rarely, instead of many. Pauses are observed in `jm_gc_pause_seconds`.

With the policy on, full collections are its own: CPython's automatic one is switched off (its threshold
out of reach). Between two freezes a burst of writes (1,000-item batches back to back) leaves tens of
thousands of survivors in the oldest generation, and the automatic full collection that walked them ran
inside whichever callback allocated next: the longest holds of the event loop under batches
(docs/performance.md). What it could have freed, cycles that died within a second of their promotion, is
frozen at the next freeze and freed by the periodic full collection. The young generations' thresholds are smaller than
CPython's for the same reason: a middle collection walks what three young ones left, not ten
(`gc_young_threshold`, `gc_middle_ratio`).
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from jean_memory.telemetry.metrics import RuntimeMetrics

log = logging.getLogger(__name__)


#: The oldest generation's threshold with the policy on: never reached, so no full collection starts by itself.
NO_AUTOMATIC_FULL = 1 << 30


class GcPolicy:
    def __init__(
        self,
        metrics: RuntimeMetrics,
        freeze_interval_s: float,
        full_collect_interval_s: float,
        young_threshold: int = 500,
        middle_ratio: int = 3,
    ) -> None:
        self._metrics = metrics
        self._freeze_interval = freeze_interval_s
        self._full_interval = full_collect_interval_s
        self._thresholds = (young_threshold, middle_ratio, NO_AUTOMATIC_FULL)
        self._previous: tuple[int, int, int] | None = None
        now = time.monotonic()
        self._last_freeze = now
        self._last_full = now
        self._started = 0.0
        self._frozen = 0
        self._pauses = [metrics.gc_pause.labels(str(g)) for g in range(3)]

    def install(self) -> None:
        """Observe pauses, and freeze what start-up left (imports, settings, the app): before the first
        request, so no request's allocation triggers a full collection over all of it."""
        gc.callbacks.append(self._observe)
        gc.collect()
        gc.freeze()
        self._frozen = gc.get_freeze_count()  # walks the permanent generation: once, here
        self._metrics.gc_frozen_objects.set(self._frozen)
        if self._freeze_interval:
            self._previous = gc.get_threshold()
            gc.set_threshold(*self._thresholds)

    def uninstall(self) -> None:
        if self._observe in gc.callbacks:
            gc.callbacks.remove(self._observe)
        if self._previous is not None:
            gc.set_threshold(*self._previous)
            self._previous = None

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._pauses[info["generation"]].observe(time.perf_counter() - self._started)

    def tick(self) -> None:
        """Called about once a second (from the service's housekeeping task)."""
        if not self._freeze_interval:
            return
        now = time.monotonic()
        if self._full_interval and now - self._last_full >= self._full_interval:
            self._last_full = self._last_freeze = now
            gc.unfreeze()
            start = time.perf_counter()
            found = gc.collect()
            log.info("full garbage collection: %d unreachable objects in %.1f ms", found,
                     (time.perf_counter() - start) * 1000)  # fmt: skip
            gc.freeze()
            self._frozen = gc.get_freeze_count()  # the full collection walked them all already
        elif now - self._last_freeze >= self._freeze_interval:
            self._last_freeze = now
            gc.collect(1)
            self._frozen += young_objects()
            gc.freeze()
        self._metrics.gc_frozen_objects.set(self._frozen)


def young_objects() -> int:
    """Objects in generations 0 to 2, which `gc.freeze()` moves to the permanent generation.

    Counted here, per freeze, because `gc.get_freeze_count()` walks the whole permanent generation: as
    the scrape's gauge function it held the event loop for tens of milliseconds at every scrape. The
    list `gc.get_objects` returns is itself tracked and young, so generation 0's lists it: not counted.
    """
    count = -1
    for generation in (0, 1, 2):
        count += len(gc.get_objects(generation=generation))
    return count
