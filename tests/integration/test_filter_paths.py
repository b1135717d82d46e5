"""One filter, one answer, wherever the user lives: random filters (on metadata, the times, `agent_id` and
`run_id`) over the same memories, each read within a random scope or none, give the same memories on a
resident user (predicate over RAM) and on a partially resident one (the store's scan: the scope's and the
filter's SQL pre-filter on the columns, then the predicate, plus the overlay of recent writes), for
search, list and export, and bulk delete removes the same ones. Cluster replicas:
tests/cluster/test_filters.py."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import StartService
from tests.filtercases import SCOPE_FILTERS, live_ids, memories, random_filter, random_scope
from tests.helpers import metric, wait_shipped

SEED = 20261206
PARTIAL = {"JM_STM_PARTIAL_USER_VECTORS": "100", "JM_STM_WARM_USERS": "0", "JM_STM_SNAPSHOT_IVF_VECTORS": "0"}


def listed(c: httpx.Client, raw: dict[str, Any], scope: dict[str, str] | None = None) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    while True:
        params = {"user_id": "u", "limit": "70", "filters": json.dumps(raw), **(scope or {})}
        if cursor:
            params["cursor"] = cursor
        r = c.get("/v1/memories", params=params)
        assert r.status_code == 200, (raw, r.text)
        ids += [m["id"] for m in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return ids


def exported(c: httpx.Client, raw: dict[str, Any], scope: dict[str, str] | None = None) -> list[str]:
    r = c.get("/v1/memories/export", params={"user_id": "u", "filters": json.dumps(raw), **(scope or {})})
    assert r.status_code == 200, (raw, r.text)
    return [json.loads(line)["id"] for line in r.text.splitlines()]


def searched(c: httpx.Client, raw: dict[str, Any], scope: dict[str, str] | None = None) -> set[str]:
    body = {"user_id": "u", "query": "memory about", "k": 100, "filters": raw, **(scope or {})}
    r = c.post("/v1/search", json=body)
    assert r.status_code == 200, (raw, r.text)
    return {h["id"] for h in r.json()["results"]}


@pytest.mark.slow
def test_random_filters_select_alike_resident_and_partially_resident(
    start_service: StartService, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    items = memories(rng, 320)
    stored, later = items[:260], items[260:]
    first = start_service(PARTIAL, data_dir=tmp_path / "a")
    with httpx.Client(base_url=first.url, timeout=60) as c:
        assert c.post("/v1/memories/batch", json={"user_id": "u", "items": stored}).status_code == 201
        wait_shipped(first.url)
    first.stop()
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    partial = start_service(PARTIAL, data_dir=tmp_path / "a")  # the user is read from the store: partially resident
    resident = start_service({}, data_dir=tmp_path / "b")  # the default threshold: the whole user in RAM
    gone = [item["id"] for item in rng.sample(stored, 12)]
    clients = {"partial": httpx.Client(base_url=partial.url, timeout=60),
               "resident": httpx.Client(base_url=resident.url, timeout=60)}  # fmt: skip
    try:
        for c in clients.values():  # the same recent writes on both: the partial user's overlay
            assert c.post("/v1/memories/batch", json={"user_id": "u", "items": later}).status_code == 201
            for memory_id in gone:
                assert c.delete(f"/v1/memories/{memory_id}", params={"user_id": "u"}).status_code == 204
        assert metric(partial.url, "jm_stm_mapped_bytes") > 0, "the user was partially resident"
        assert metric(resident.url, "jm_stm_mapped_bytes") == 0, "the user was wholly resident"
        live = [item for item in items if item["id"] not in gone]
        sizes: list[int] = []
        cases = [(raw, {}) for raw in SCOPE_FILTERS] + [(random_filter(rng), random_scope(rng)) for _ in range(80)]
        for n, (raw, scope) in enumerate(cases):
            want = live_ids(live, raw, scope)
            sizes.append(len(want))
            for name, c in clients.items():
                where = f"filter {n} on the {name} user: {json.dumps(raw)} in {scope}"
                got = listed(c, raw, scope)
                assert set(got) == want and len(got) == len(want), where
                assert set(exported(c, raw, scope)) == want, where
                hits = searched(c, raw, scope)
                assert hits == want if len(want) <= 100 else len(hits) == 100 and hits <= want, where
        assert sum(1 for s in sizes if s == 0) < 60 and sum(1 for s in sizes if 0 < s < len(live)) > 15, sizes
        for _ in range(5):  # bulk delete by filter (within a scope, or not): the same memories leave both
            raw, scope = random_filter(rng), random_scope(rng)
            want = live_ids(live, raw, scope)
            for name, c in clients.items():
                r = c.delete("/v1/memories", params={"user_id": "u", "filters": json.dumps(raw), **scope})
                assert r.status_code == 200 and r.json()["forgotten"] == len(want), (name, raw, scope, r.text)
            live = [item for item in live if item["id"] not in want]
            for name, c in clients.items():
                assert set(listed(c, {"n": {"$exists": True}})) == {i["id"] for i in live}, (name, raw)
    finally:
        for c in clients.values():
            c.close()
