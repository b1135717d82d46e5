"""Long work on the event loop, given back to it in slices.

Every request of every tenant shares the event loop: a callback that walks a 1,000-item batch in one
go (parsing, validating, inserting, embedding) delays all of them for as long as it runs. A loop over
many items awaits `Slices.pause()` after each item instead: it returns at once while the slice's time
budget lasts, and otherwise lets every other ready callback run before the loop goes on. Ordering is
kept (the same task continues where it stopped); what must not be interleaved with other tasks is
simply not paused in.

Bulk work takes turns: every paused loop waits in one queue (`Lane`), and one slice of it runs per turn
of the event loop, whoever's it is. With three batches and the embedder busy at once, a small request
waits behind one slice at each step of its way, not behind one slice of each of them.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: A slice's budget: short beside the latency of the smallest request, long beside a loop iteration.
SLICE_S = 0.001
#: Items `mapped` turns in the callback that called it, without yielding first.
MAPPED_AT_ONCE = 64


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
        await self.next_slice()
        return True

    async def next_slice(self) -> None:
        """Yield to the event loop now, whatever is left of the budget, and start a new slice."""
        await turn()
        self._since = time.perf_counter()


class Lane:
    """Bulk work's queue on one event loop: each loop iteration lets one waiting slice go on."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._pumping = False

    def turn(self) -> asyncio.Future[None]:
        """A future that resolves when this waiter's turn comes (after every callback ready now)."""
        fut = self._loop.create_future()
        self._waiting.append(fut)
        if not self._pumping:
            self._pumping = True
            self._loop.call_soon(self._release)
        return fut

    def _release(self) -> None:
        while self._waiting:
            fut = self._waiting.popleft()
            if not fut.done():  # a cancelled waiter gives its turn to the next
                fut.set_result(None)
                break
        if self._waiting:
            self._loop.call_soon(self._release)  # the next one, at the next iteration
        else:
            self._pumping = False


_lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Lane] = weakref.WeakKeyDictionary()


async def turn() -> None:
    """Wait for bulk work's next turn on the running loop (instead of `asyncio.sleep(0)`)."""
    loop = asyncio.get_running_loop()
    lane = _lanes.get(loop)
    if lane is None:
        lane = _lanes[loop] = Lane(loop)
    await lane.turn()


async def mapped(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`[fn(x) for x in items]` a slice at a time: a page of a thousand memories turned into JSON objects
    is milliseconds of work. A long one starts in a callback of its own: whatever made the items (a page
    walked) may have spent a slice already."""
    slices = Slices()
    if len(items) > MAPPED_AT_ONCE:
        await slices.next_slice()
    out: list[R] = []
    for item in items:
        out.append(fn(item))
        await slices.pause()
    return out
