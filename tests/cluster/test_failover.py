"""PostgreSQL failover: replicas on a two-host URL (`target_session_attrs=read-write`) over a primary with
a synchronous streaming standby. The primary is killed with kill -9 under load and the standby promoted:
every write acknowledged before, during and after is on the new primary, and the replicas follow it
without a restart (writes in the gap get 503, never an acknowledgement)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jean_memory_dev.processes import ReplicatedPostgres, ServiceProcess
from tests.helpers import AddStream, all_ids, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def replicated() -> Iterator[ReplicatedPostgres]:
    pg = ReplicatedPostgres().start()
    yield pg
    pg.destroy()


def test_failover_to_the_synchronous_standby_loses_no_acknowledged_write(
    replicated: ReplicatedPostgres, tmp_path: Path
) -> None:
    env = {"JM_CLUSTER": "true", "JM_LTM_URL": replicated.url, "JM_LTM_TIMEOUT_S": "2"}
    replicas = [ServiceProcess(tmp_path / f"r{i}", env={**env, "JM_REPLICA_ID": f"r{i}"}).start() for i in range(2)]
    try:
        streams = [AddStream(r.url, "failover-user", threads=2).start() for r in replicas]
        wait_until(lambda: all(len(s.acked) > 150 for s in streams), 60, "writes before the failover")
        old = replicated.primary.port
        new = replicated.failover()
        assert new.port != old
        before = sum(len(s.acked) for s in streams)
        wait_until(lambda: sum(len(s.acked) for s in streams) > before + 200, 60, "writes on the new primary")
        acked: dict[str, str] = {}
        for s in streams:
            acked |= s.stop()
        refused = sum(1 for s in streams for e in s.errors if e.startswith("503"))
        assert all(e.startswith("503") for s in streams for e in s.errors), [s.errors[:3] for s in streams]
        stored = set(new.psql("SELECT id FROM memories WHERE user_id = 'failover-user' AND NOT deleted").split())
        missing = set(acked) - stored
        assert not missing, f"{len(missing)} acknowledged writes are not on the promoted standby"
        for r in replicas:
            with httpx.Client(base_url=r.url, timeout=30) as c:
                wait_until(lambda c=c: c.get("/readyz").status_code == 200, 30, "the replica to be ready again")
                assert set(acked) <= set(all_ids(c, "failover-user"))
        print(f"acknowledged {len(acked)}; answered 503 during the failover: {refused}")
    finally:
        for r in replicas:
            r.stop()
