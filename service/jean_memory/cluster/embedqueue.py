"""The shared embedding queue: every memory without a vector is some live replica's job.

A replica claims the rows it writes (in the commit itself, for `cluster_lease_s`) and embeds them
with its own model worker. A claim is not renewed: when it expires with the row still unembedded
(the replica died with `kill -9`, or its model failed on that row), any replica's janitor claims the
orphan (`FOR UPDATE SKIP LOCKED`, so two janitors never take the same row), embeds it and stores
the vector; the writer itself retries that way after a model failure. A row therefore waits for its
vector at most the lease, plus one janitor period, plus the embedding itself, after the replica that
wrote it died. A late writer and a janitor may both store a vector for one row: harmless, the same
text gives the same vector. Vectors are stored only if the row still holds exactly the text that was
embedded (its MD5) and is not deleted; the others are refused and counted
(`jm_cluster_vectors_refused_total`).

The janitor also publishes the queue's depth and oldest age, and purges tombstones older than
their retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import time
from collections.abc import Callable, Sequence

import numpy as np

from jean_memory.background import BackgroundTask
from jean_memory.cluster.pg import Pg
from jean_memory.cluster.schema import CLAIM_ORPHANS, PURGE_TOMBSTONES, QUEUE_STATE
from jean_memory.embedding.worker import EmbeddingWorker
from jean_memory.errors import Unavailable
from jean_memory.memory import Memory
from jean_memory.telemetry.metrics import ClusterMetrics

log = logging.getLogger(__name__)

JANITOR_INTERVAL_S = 1.0
QUEUE_STATE_INTERVAL_S = 5.0
PURGE_INTERVAL_S = 60.0
#: Orphans claimed per janitor round, and only while the local model is nearly idle.
ORPHAN_BATCH = 64
#: Vectors per `jm_store_vectors` call: asyncpg encodes a call's arguments in one event-loop callback
#: (512 vectors held it for 3 to 5 ms of CPU).
STORE_BATCH = 128


class SharedEmbeddingQueue:
    def __init__(
        self,
        pg: Pg,
        worker: EmbeddingWorker,
        metrics: ClusterMetrics,
        *,
        replica_id: str,
        lease_s: float,
        tombstone_retention_s: float,
        on_stored: Callable[[str, int, list[str]], None],
    ) -> None:
        self._pg = pg
        self._worker = worker
        self._metrics = metrics
        self._replica = replica_id
        self._lease = lease_s
        self._retention = tombstone_retention_s
        self._model_id = worker.embedder.model_id
        self._task = BackgroundTask("embedding-janitor")
        self._pending_store: list[tuple[str, str, str, bytes]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._own = metrics.embed_claims.labels("own")
        self._orphans = metrics.embed_claims.labels("orphan")
        #: Called with (user_id, version after the store, ids stored) so this replica's copy moves on too.
        self._on_stored = on_stored

    def start(self) -> None:
        self._task.start(self._run())

    async def close(self) -> None:
        await self._task.close()
        if self._flushing:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._flushing, 5)

    def claimed(self, n: int) -> None:
        """Count this replica's own writes, claimed in their commit."""
        self._own.inc(n)

    def backfill(self, memories: Sequence[Memory]) -> None:
        """Nothing to do: every row without a vector is in the queue itself (see `VectorSink`)."""

    def store(self, items: Sequence[tuple[Memory, int, np.ndarray]]) -> None:
        """Store vectors (memory, any nonzero number, vector) in PostgreSQL, batched, off the caller's path;
        each is bound to the text of the memory it was computed from."""
        self._pending_store.extend(
            (m.user_id, m.id, hashlib.md5(m.content.encode(), usedforsecurity=False).hexdigest(), v.tobytes())
            for m, _, v in items
        )
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush(), name="store-vectors")

    async def _flush(self) -> None:
        while self._pending_store:
            batch, self._pending_store = self._pending_store[:STORE_BATCH], self._pending_store[STORE_BATCH:]
            users, ids, hashes, vectors = (list(col) for col in zip(*batch, strict=True))
            try:
                rows = await self._pg.fetch(
                    "SELECT user_id, version, refused FROM jm_store_vectors($1, $2, $3, $4, $5)",
                    users, ids, hashes, vectors, self._model_id,
                )  # fmt: skip
            except Unavailable as exc:
                # The claims stay; after the lease another replica (or this one) embeds them again.
                log.warning("storing %d vectors failed (%s); they will be re-embedded after the lease", len(batch), exc)
                continue
            stored: dict[str, list[str]] = {}
            for user_id, mid in zip(users, ids, strict=True):
                stored.setdefault(user_id, []).append(mid)
            for user_id, version, refused in rows:
                if refused:
                    self._metrics.vectors_refused.inc(refused)
                if version is not None:
                    self._on_stored(user_id, int(version), stored.get(user_id, []))

    async def _run(self) -> None:
        last_state = last_purge = 0.0
        while True:
            await asyncio.sleep(JANITOR_INTERVAL_S)
            now = time.monotonic()
            try:
                if self._worker.backlog < ORPHAN_BATCH:
                    await self._claim_orphans()
                if now - last_state >= QUEUE_STATE_INTERVAL_S:
                    await self._publish_state()
                    last_state = now
                if now - last_purge >= min(PURGE_INTERVAL_S, self._retention):
                    await self._pg.execute(PURGE_TOMBSTONES, self._retention)
                    last_purge = now
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("embedding janitor: %s", exc)

    async def _claim_orphans(self) -> None:
        rows = await self._pg.fetch(CLAIM_ORPHANS, self._replica, self._lease, ORPHAN_BATCH)
        if not rows:
            return
        self._orphans.inc(len(rows))
        log.info("claimed %d memories whose embedding no live replica held", len(rows))
        for user_id, mid, content in rows:
            _, future = self._worker.enqueue(content)
            memory = Memory(mid, user_id, content, {}, 0.0, 0.0)
            future.add_done_callback(functools.partial(self._orphan_embedded, memory))

    def _orphan_embedded(self, memory: Memory, future: asyncio.Future[np.ndarray]) -> None:
        if not future.cancelled() and future.exception() is None:
            self.store([(memory, 1, future.result())])

    async def _publish_state(self) -> None:
        rows = await self._pg.fetch(QUEUE_STATE)
        claimed, unclaimed, oldest = rows[0]
        self._metrics.embed_queue.labels("claimed").set(claimed)
        self._metrics.embed_queue.labels("unclaimed").set(unclaimed)
        self._metrics.embed_queue_oldest_age.set(float(oldest))
