"""Coherence between replicas: a batched version check before every read, change notifications ahead.

The guarantee: a read that starts after a write's acknowledgement, on any replica, sees that write.
Every read asks PostgreSQL for its user's version (`jm_user_versions`) in a query issued after the
read began, and brings the replica's copy up to that version first (an incremental catch-up, or a
load). Reads waiting at the same time share one query: while a check is in flight, new reads queue
for the next one, so a busy replica spends one round trip per batch of reads, not per read (the
pattern of a read barrier: Raft's ReadIndex, ZooKeeper's sync).

Change notifications (LISTEN `jm_changes`) arrive a little after each commit. They are not needed for
correctness; they let a replica invalidate and catch up a resident user before its next read, so the
read usually finds its copy already current, and they measure how far behind replicas run
(`jm_cluster_invalidation_lag_seconds`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import asyncpg

from jean_memory.background import BackgroundTask
from jean_memory.cluster.pg import Pg
from jean_memory.cluster.schema import CHANNEL, VERSIONS
from jean_memory.errors import Unavailable
from jean_memory.telemetry.metrics import ClusterMetrics

log = logging.getLogger(__name__)


class VersionCheck:
    """Batched reads of users' versions; a read's check is always a query issued after it asked."""

    def __init__(self, pg: Pg, metrics: ClusterMetrics) -> None:
        self._pg = pg
        self._metrics = metrics
        self._waiting: dict[str, list[asyncio.Future[int]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def version_of(self, user_id: str) -> int:
        """The user's committed version now (0 for a user nobody has written)."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(user_id, []).append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="version-check")
        return await future

    async def _run(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, {}
            start = time.perf_counter()
            try:
                rows = await self._pg.fetch(VERSIONS, list(batch))
            except Exception as exc:
                error = exc if isinstance(exc, Unavailable) else Unavailable(f"version check failed: {exc}")
                for futures in batch.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(error)
                continue
            self._metrics.version_check_duration.observe(time.perf_counter() - start)
            versions = {row[0]: int(row[1]) for row in rows}
            for user_id, futures in batch.items():
                for future in futures:
                    if not future.done():
                        future.set_result(versions.get(user_id, 0))


#: Called with (user_id, version) for each change another replica (or this one) committed.
OnChange = Callable[[str, int], None]


def _resolve(future: asyncio.Future[None], *_: object) -> None:
    if not future.done():
        future.set_result(None)


class ChangeListener:
    """Holds one connection LISTENing on `jm_changes`; reconnects (with backoff) when it is lost."""

    def __init__(self, pg: Pg, metrics: ClusterMetrics, on_change: OnChange) -> None:
        self._pg = pg
        self._metrics = metrics
        self._on_change = on_change
        self._task = BackgroundTask("change-listener")
        self.connected = False

    def start(self) -> None:
        self._task.start(self._run())

    async def close(self) -> None:
        await self._task.close()

    def _notified(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        version, committed_at, user_id = payload.split("|", 2)
        self._metrics.invalidation_lag.observe(max(0.0, time.time() - float(committed_at)))
        self._on_change(user_id, int(version))

    async def _run(self) -> None:
        delay = 0.1
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await self._pg.connect()
                lost = asyncio.get_running_loop().create_future()
                conn.add_termination_listener(functools.partial(_resolve, lost))
                await conn.add_listener(CHANNEL, self._notified)
                self.connected = True
                delay = 0.1
                while not lost.done():  # a half-open connection never reports its loss: probe it
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(lost), 5.0)
                    if not lost.done():
                        await conn.fetchval("SELECT 1", timeout=2.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("change listener: %s; reconnecting in %.1f s", exc, delay)
            finally:
                self.connected = False
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
