"""Event-loop lag: how late a timer fires, the symptom of a blocking call on the loop.

Every request shares one event loop; anything that blocks it (synchronous I/O, a long computation,
a full garbage collection) delays every request in flight, and no latency histogram says why. A task
sleeps `INTERVAL_S` and records how late it woke in `jm_event_loop_lag_seconds`. Which operation held
the loop, and for how long exactly, is `telemetry/loopholds.py`'s job (tests and benchmarks).
"""

from __future__ import annotations

import asyncio

from jean_memory.background import BackgroundTask
from jean_memory.telemetry.metrics import RuntimeMetrics

INTERVAL_S = 0.1


class LoopLagMonitor:
    def __init__(self, metrics: RuntimeMetrics) -> None:
        self._lag = metrics.event_loop_lag
        self._task = BackgroundTask("event-loop-lag")

    def start(self) -> None:
        self._task.start(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(INTERVAL_S)
            self._lag.observe(max(0.0, loop.time() - start - INTERVAL_S))

    async def close(self) -> None:
        await self._task.close()
