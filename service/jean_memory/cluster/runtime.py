"""Cluster mode's runtime: replicas over one PostgreSQL behind the use cases.

Writes are group-committed to PostgreSQL, reads check the user's version first (with change
notifications ahead of them), and embedding is shared through a queue in PostgreSQL, so any replica
may answer any request. A replica cannot know what the others wrote, so its id filter is off.
"""

from __future__ import annotations

import socket

from jean_memory.cluster.coherence import ChangeListener, VersionCheck
from jean_memory.cluster.committer import GroupCommitter
from jean_memory.cluster.embedqueue import SharedEmbeddingQueue
from jean_memory.cluster.expiry import ClusterExpirySweep
from jean_memory.cluster.history import ClusterHistory
from jean_memory.cluster.owncommits import OwnCommits
from jean_memory.cluster.pg import Pg
from jean_memory.cluster.tiers import ClusterTiers
from jean_memory.cluster.writes import ClusterWrites
from jean_memory.core.admission import BacklogAdmission
from jean_memory.core.caches import IdFilter
from jean_memory.core.history import HistoryOps
from jean_memory.core.housekeeping import Housekeeping
from jean_memory.core.tiers import Tiers
from jean_memory.core.vectors import VectorDelivery
from jean_memory.core.writes import WriteOps
from jean_memory.faults import FaultSpec
from jean_memory.runtime import Shared


class ClusterRuntime:
    def __init__(self, shared: Shared) -> None:
        s, m = shared.settings, shared.telemetry.metrics
        self._shared = shared
        replica = s.replica_id or f"{socket.gethostname()}:{s.port}"
        self.pg = Pg(
            s.effective_ltm_url, pool_size=s.ltm_pool_size, timeout_s=s.ltm_timeout_s, metrics=m.cluster,
            retry_after_s=s.retry_after_s,
        )  # fmt: skip
        # The store-of-record gauges and histograms every dashboard and the LTM alert read, as in embedded mode.
        m.ltm.up.labels("postgres").set_function(lambda: 1.0 if self.pg.ok else 0.0)
        # Built in the order they need each other, so nothing is wired after construction: the copies first,
        # then the shared embedding queue that advances them, then the committer that keeps them current.
        self.versions = VersionCheck(self.pg, m.cluster)
        model_id = shared.worker.embedder.model_id
        self.cluster_tiers = ClusterTiers(self.pg, shared.stm, self.versions, m.cluster, m.ltm, model_id)
        self.tiers: Tiers = self.cluster_tiers
        self.queue = SharedEmbeddingQueue(
            self.pg, shared.worker, m.cluster, replica_id=replica, lease_s=s.cluster_lease_s,
            tombstone_retention_s=s.cluster_tombstone_retention_s, on_stored=self.cluster_tiers.advance,
        )  # fmt: skip
        self.vectors = VectorDelivery(shared.worker, self.queue, shared.stm, m.writes)
        self.committer = GroupCommitter(
            self.pg, m.cluster, replica_id=replica, lease_s=s.cluster_lease_s, max_group=s.cluster_commit_max,
            max_pending=s.cluster_max_pending, retry_after_s=s.retry_after_s,
            ltm_write=m.ltm.write_duration.labels("postgres"),
            on_committed=OwnCommits(shared.stm, self.vectors, self.queue, m.cluster).committed,
        )  # fmt: skip
        self.listener = ChangeListener(self.pg, m.cluster, self.cluster_tiers.on_change)
        self.ids = IdFilter(s.bloom_capacity, m.caches, enabled=False)
        backlogs = BacklogAdmission(
            s, shared.worker, lambda: self.committer.pending, s.cluster_max_pending, m.admission
        )
        self.writes: WriteOps = ClusterWrites(
            self.committer, self.cluster_tiers, shared.dedupe, backlogs, shared.write_limit, shared.telemetry
        )
        self.history: HistoryOps = ClusterHistory(self.pg, shared.read_limit)
        self.expiry = ClusterExpirySweep(self.pg, m.lifecycle, s.expiry_sweep_s)
        # Probed every second: readiness must notice an outage even when no request touches PostgreSQL.
        self.housekeeping = Housekeeping(shared.stm, shared.gc, self.pg.ping, lambda: True)

    async def start(self) -> None:
        await self.pg.ping()  # creates the schema; if PostgreSQL is down, readiness says so and retries
        await self._shared.worker.warm_up()
        self._shared.worker.start()
        self.committer.start()
        self.listener.start()
        self.queue.start()
        self.expiry.start()
        self.housekeeping.start()

    async def close(self) -> None:
        await self.housekeeping.close()
        await self.expiry.close()
        await self.committer.close()
        await self.listener.close()
        await self.queue.close()
        await self._shared.worker.close()
        await self.pg.close()

    def readiness(self) -> dict[str, bool]:
        return {"tiers_loaded": True, "ltm_reachable": self.pg.ok}

    def apply_faults(self, spec: FaultSpec) -> None:
        self.pg.blocked = spec.ltm_unreachable
        self.committer.pause_s = spec.commit_pause_ms / 1000
