"""Gauges whose value a function reads from state only the event loop may touch.

A scrape renders several hundred series; done on the event loop it held every request for milliseconds,
so the exposition (and the OTLP bridge's translation) runs in a worker thread. prometheus-client reads a
`set_function` gauge by calling its function during the collection, and these functions read state the
event loop mutates (the short-term tier's users, a partially resident user's overlay, the backlogs):
from another thread a dict could change size under them (it once failed an OTLP export and fired the
telemetry-pipeline alert). A `LoopGauge` keeps the function but calls it only in `refresh_functions`,
which the scrape and the bridge run on the loop just before they collect: the collection then reads
plain values, safe from any thread, and as fresh as before.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable

from prometheus_client import Gauge

log = logging.getLogger(__name__)

_WITH_FUNCTIONS: weakref.WeakSet[LoopGauge] = weakref.WeakSet()


class LoopGauge(Gauge):
    """A gauge whose `set_function` is evaluated by `refresh_functions` (on the loop), not by a collection."""

    _function: Callable[[], float] | None = None

    def set_function(self, f: Callable[[], float]) -> None:
        self._raise_if_not_observable()
        self._function = f  # called first by the next refresh: its owner may still be under construction
        _WITH_FUNCTIONS.add(self)

    def refresh(self) -> None:
        if self._function is not None:
            self.set(float(self._function()))


def refresh_functions() -> None:
    """Evaluate every function gauge of the process: call it on the event loop, before a collection."""
    for gauge in list(_WITH_FUNCTIONS):
        try:
            gauge.refresh()
        except Exception:  # a gauge of a component already closed (tests build several apps in one process)
            log.debug("gauge function failed", exc_info=True)
