"""Per-tenant fairness on a cluster replica: the same guard, the same share of the slots
(`tests/hostile/test_tenant_fairness.py` has the embedded mode's tests, the flood among them)."""

from __future__ import annotations

import pytest

from tests.cluster.conftest import StartReplica
from tests.hostile.test_tenant_fairness import SHARE_ENV, check_the_share

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_a_tenant_holds_at_most_its_share_of_a_replicas_slots(start_replica: StartReplica) -> None:
    check_the_share(start_replica(env=SHARE_ENV).url)
