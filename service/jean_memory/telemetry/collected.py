"""The registry's families, collected on the event loop and rendered off it.

Collecting calls the gauges' functions, which read state only the event loop mutates (the short-term
tier's users, the backlogs): from another thread a dict could change size under them. Rendering the
collected families (the text exposition of every series, or their OTLP translation) reads only what
collection made, and is most of the cost: it runs in a worker thread, so a scrape no longer holds the
event loop for the whole exposition.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector


class Collected(Collector):
    """A registry's families as they were when collected; a registry to every encoder that reads one."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.families = list(registry.collect())

    def collect(self) -> Iterable[Metric]:
        return self.families
