"""A sliding window of recent operations, for `/metrics/dashboard`.

Prometheus computes rates and quantiles over its own windows; this gives a person with curl (and
the product plan's dashboard) the same picture without a Prometheus: average, p95 and p99 of
creation and search, throughput, error rate, over the last `window_s` seconds. Bounded: at most
`max_samples` per kind are kept.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np


class SlidingWindow:
    def __init__(self, window_s: float = 60.0, max_samples: int = 50_000) -> None:
        self.window_s = window_s
        self._durations: dict[str, deque[tuple[float, float]]] = {
            "creation": deque(maxlen=max_samples),
            "search": deque(maxlen=max_samples),
        }
        self._requests: deque[tuple[float, bool]] = deque(maxlen=max_samples * 4)
        self.failed_total = 0

    def record(self, kind: str, duration_s: float) -> None:
        self._durations[kind].append((time.monotonic(), duration_s))

    def record_request(self, failed: bool) -> None:
        self._requests.append((time.monotonic(), failed))
        self.failed_total += failed

    def _trim(self, now: float) -> None:
        horizon = now - self.window_s
        queues: list[deque[tuple[float, float]] | deque[tuple[float, bool]]] = [
            *self._durations.values(),
            self._requests,
        ]
        for dq in queues:
            while dq and dq[0][0] < horizon:
                dq.popleft()

    def stats(self, kind: str) -> dict[str, float | int | None]:
        self._trim(time.monotonic())
        values = np.fromiter((d for _, d in self._durations[kind]), dtype=np.float64)
        if values.size == 0:
            return {"count": 0, "avg_ms": None, "p95_ms": None, "p99_ms": None}
        p95, p99 = np.percentile(values, [95, 99])
        return {
            "count": int(values.size),
            "avg_ms": round(float(values.mean()) * 1000, 3),
            "p95_ms": round(float(p95) * 1000, 3),
            "p99_ms": round(float(p99) * 1000, 3),
        }

    def requests(self) -> tuple[int, int, float]:
        """(requests, failed, seconds covered) in the window."""
        now = time.monotonic()
        self._trim(now)
        if not self._requests:
            return 0, 0, self.window_s
        covered = min(self.window_s, max(1e-3, now - self._requests[0][0]))
        return len(self._requests), sum(f for _, f in self._requests), covered
