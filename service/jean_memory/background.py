"""One background task owned by a service object, and the periodic loop most of them run.

Every long-lived loop of the service (expiry sweeps, housekeeping, the golden-set replay, the loop-lag
probe...) needs the same three things: start a named task once, cancel it and wait for it on close
without letting the cancellation escape, and, for periodic work, survive one failed round so a
transient error never stops the loop for the rest of the process's life. Written once here, so a fix
to any of them (a leaked task, a swallowed cancellation) reaches all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any


class BackgroundTask:
    """A named task that is started at most once at a time and always awaited on `close`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Runs `work` as this object's task; a task still running is cancelled first (not awaited)."""
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.get_running_loop().create_task(work, name=self.name)

    def cancel(self) -> None:
        """Cancels the task without waiting: for a caller that cannot await (a synchronous fault switch)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def close(self) -> None:
        """Cancels the task and waits for it to finish; whatever it raised on the way out is not the caller's."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def every(
    interval_s: float,
    step: Callable[[], Awaitable[object]],
    log: logging.Logger,
    what: str,
    postponed: tuple[type[BaseException], ...] = (),
) -> None:
    """Runs `step` every `interval_s` seconds (after the first wait) until cancelled.

    A round that raises one of `postponed` (an expected outage: the store unreachable) is logged as a
    warning and retried at the next interval; any other error is logged with its stack and retried too.
    Cancellation always propagates.
    """
    while True:
        await asyncio.sleep(interval_s)
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except postponed as exc:
            log.warning("%s postponed: %s", what, exc)
        except Exception:
            log.exception("%s failed", what)
