"""Long work on the event loop, given back to it in slices.

Every request of every tenant shares the event loop: a callback that walks a 1,000-item batch in one
go (parsing, validating, inserting, embedding) delays all of them for as long as it runs. A loop over
many items awaits `Slices.pause()` after each item instead: it returns at once while the slice's time
budget lasts, and otherwise lets every other ready callback run before the loop goes on. Ordering is
kept (the same task continues where it stopped); what must not be interleaved with other tasks is
simply not paused in.
"""

from __future__ import annotations

import asyncio
import time

#: A slice's budget: short beside the latency of the smallest request, long beside a loop iteration.
SLICE_S = 0.001


class Slices:
    """A time budget for one long loop; `await pause()` between its steps."""

    __slots__ = ("_budget_s", "_since")

    def __init__(self, budget_s: float = SLICE_S) -> None:
        self._budget_s = budget_s
        self._since = time.perf_counter()

    def due(self) -> bool:
        """Whether the slice's budget is spent (the next `pause` yields)."""
        return time.perf_counter() - self._since >= self._budget_s

    async def pause(self) -> bool:
        """Yield to the event loop if the slice's budget is spent; whether it did."""
        if time.perf_counter() - self._since < self._budget_s:
            return False
        await asyncio.sleep(0)
        self._since = time.perf_counter()
        return True
