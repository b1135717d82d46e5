"""Filters in cluster mode: each replica evaluates a filter on its own copy of the user with the same
predicate as embedded mode, so random filters (on metadata, the times, `agent_id` and `run_id`), each
within a random scope or none, select the same memories on every replica (and as the grammar says), and
a bulk delete made through one replica is what every replica answers next, durably (PostgreSQL's
commit). The embedded paths: tests/integration/test_filter_paths.py."""

from __future__ import annotations

import json
import random

import httpx
import pytest

from tests.cluster.conftest import StartReplica
from tests.filtercases import SCOPE_FILTERS, live_ids, memories, random_filter, random_scope
from tests.integration.test_filter_paths import exported, listed, searched

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SEED = 20261207


def test_random_filters_select_alike_on_every_replica(start_replica: StartReplica) -> None:
    rng = random.Random(SEED)
    items = memories(rng, 200)
    a, b = start_replica("a"), start_replica("b")
    with httpx.Client(base_url=a.url, timeout=60) as ca, httpx.Client(base_url=b.url, timeout=60) as cb:
        assert ca.post("/v1/memories/batch", json={"user_id": "u", "items": items[:150]}).status_code == 201
        assert cb.post("/v1/memories/batch", json={"user_id": "u", "items": items[150:]}).status_code == 201
        gone = [item["id"] for item in rng.sample(items, 8)]
        for memory_id in gone:
            assert cb.delete(f"/v1/memories/{memory_id}", params={"user_id": "u"}).status_code == 204
        live = [item for item in items if item["id"] not in gone]
        cases = [(raw, {}) for raw in SCOPE_FILTERS] + [(random_filter(rng), random_scope(rng)) for _ in range(40)]
        for n, (raw, scope) in enumerate(cases):
            want = live_ids(live, raw, scope)
            for name, c in (("a", ca), ("b", cb)):
                where = f"filter {n} on replica {name}: {json.dumps(raw)} in {scope}"
                assert set(listed(c, raw, scope)) == want, where
                assert set(exported(c, raw, scope)) == want, where
                hits = searched(c, raw, scope)
                assert hits == want if len(want) <= 100 else len(hits) == 100 and hits <= want, where
        for n in range(4):  # a bulk delete through one replica (within a scope, or not); the other answers it next
            raw, scope = random_filter(rng), random_scope(rng)
            want = live_ids(live, raw, scope)
            through, other = (ca, cb) if n % 2 else (cb, ca)
            r = through.delete("/v1/memories", params={"user_id": "u", "filters": json.dumps(raw), **scope})
            assert r.status_code == 200 and r.json()["forgotten"] == len(want), (raw, r.text)
            live = [item for item in live if item["id"] not in want]
            assert set(listed(other, {"n": {"$exists": True}})) == {i["id"] for i in live}, raw
