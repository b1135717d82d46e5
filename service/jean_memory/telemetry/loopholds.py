"""Every event-loop callback timed, in CPU and wall time, by the operation it served.

Every request of every tenant shares one event loop, so one callback that computes for long (a
1,000-item batch validated, embedded or indexed in one go) delays all of them. `jm_event_loop_lag_seconds`
shows that it happens; this says which operation did it, exactly, for tests and benchmarks.

Why not asyncio's debug mode: it records a traceback for every future and handle it creates, which
inflates the very holds it measures several times, by an amount that depends on the machine. Here each
callback costs two clock reads per clock. The CPU time (`time.thread_time`) of a hold is what the code
controls: it does not grow when the machine is busy and the loop's thread is descheduled, so a gate on it
(`tests/integration/test_event_loop.py`) is exact where a wall-clock bar is not. The wall time is
reported beside it: what the other requests waited.

It needs asyncio's own loop (uvloop's callbacks run in C), so `jean-memory serve` uses that loop when
`JM_SLOW_CALLBACK_MS` is set; each callback longer than that is logged. `GET /debug/loop-holds` serves
the longest hold per operation (`DELETE` starts a new measurement).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

from starlette.types import Scope

log = logging.getLogger(__name__)

#: The ASGI scope of the request a callback runs for (set by the telemetry middleware); a callback
#: outside any request belongs to its task (the embedding worker, the shuttle...).
REQUEST_SCOPE: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("jm_request_scope", default=None)


@dataclass(slots=True)
class Hold:
    """The longest callback of one operation, and how many there were."""

    callbacks: int = 0
    max_cpu_s: float = 0.0
    max_wall_s: float = 0.0
    total_cpu_s: float = 0.0
    longest: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "callbacks": self.callbacks,
            "max_cpu_s": self.max_cpu_s,
            "max_wall_s": self.max_wall_s,
            "total_cpu_s": self.total_cpu_s,
            "longest": self.longest,
        }


def operation_of(handle: asyncio.Handle) -> str:
    """`POST /v1/memories/batch` for a request's callback; `task <name>` or the callback otherwise."""
    context: contextvars.Context | None = getattr(handle, "_context", None)
    scope = context.get(REQUEST_SCOPE) if context is not None else None
    if scope is not None:
        route = getattr(scope.get("route"), "path", None)
        return f"{scope.get('method', '')} {route if isinstance(route, str) else 'unmatched'}"
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        return f"task {owner.get_name()}"
    return f"callback {getattr(callback, '__qualname__', type(callback).__name__)}"


class LoopHolds:
    """The holds of the running process's event loop, by operation (one instance per process).

    A watchdog thread looks at the callback running now every half `slow_s`; one that has run longer
    than `slow_s` gets its stack taken there and then, so the log says where it spent its time.
    """

    def __init__(self, slow_s: float) -> None:
        self.slow_s = slow_s
        self.holds: dict[str, Hold] = {}
        self._running: tuple[int, float] | None = None  # (thread id, start) of the callback running now
        self._stack = ""
        self._watchdog = threading.Thread(target=self._watch, name="loop-holds-watchdog", daemon=True)
        self._watchdog.start()

    def started(self, start: float) -> None:
        self._stack = ""
        self._running = (threading.get_ident(), start)

    def _watch(self) -> None:
        while True:
            time.sleep(self.slow_s / 2)
            running = self._running
            if running is None or self._stack or time.perf_counter() - running[1] < self.slow_s:
                continue
            frame = sys._current_frames().get(running[0])
            if frame is not None and self._running is running:
                self._stack = "".join(traceback.format_stack(frame, limit=12))

    def record(self, handle: asyncio.Handle, cpu_s: float, wall_s: float) -> None:
        self._running = None
        operation = operation_of(handle)
        hold = self.holds.get(operation)
        if hold is None:
            hold = self.holds[operation] = Hold()
        hold.callbacks += 1
        hold.total_cpu_s += cpu_s
        if cpu_s > hold.max_cpu_s:
            hold.max_cpu_s = cpu_s
            hold.longest = repr(handle)[:200]
        hold.max_wall_s = max(hold.max_wall_s, wall_s)
        if wall_s >= self.slow_s:
            log.warning("slow callback: %s held the event loop %.1f ms (%.1f ms of CPU): %s%s",
                        operation, wall_s * 1e3, cpu_s * 1e3, repr(handle)[:200],
                        f"; it was at:\n{self._stack}" if self._stack else "")  # fmt: skip

    def report(self) -> dict[str, dict[str, Any]]:
        return {operation: hold.as_dict() for operation, hold in sorted(self.holds.items())}

    def reset(self) -> None:
        self.holds = {}


_installed: LoopHolds | None = None


def install(slow_callback_ms: float) -> LoopHolds:
    """Time every callback of asyncio's event loops in this process from now on (idempotent)."""
    global _installed
    if _installed is not None:
        return _installed
    holds = _installed = LoopHolds(slow_callback_ms / 1000.0)
    run = asyncio.Handle._run
    wall, cpu = time.perf_counter, time.thread_time

    def timed_run(handle: asyncio.Handle) -> None:
        w0, c0 = wall(), cpu()
        holds.started(w0)
        try:
            run(handle)
        finally:
            holds.record(handle, cpu() - c0, wall() - w0)

    asyncio.Handle._run = timed_run  # type: ignore[method-assign,assignment]
    return holds


def installed() -> LoopHolds | None:
    """The process's hold recorder, when `install` was called."""
    return _installed
