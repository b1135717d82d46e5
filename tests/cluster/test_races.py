"""Writes racing on one memory across replicas: the two reproductions of issue 20.

Replica a pauses between PostgreSQL's answer to its commit and acting on it (the `commit_pause_ms`
fault: what a stalled event loop does under load), so replica b's later commit reaches a's copy
through a catch-up first, deterministically. A replica's copy of a user only moves forward in
version, and a write's own result is applied to it only when it is newer than the copy (otherwise
the catch-up brought it already): an add racing a delete, or two PATCHes on two replicas, leave
every replica on the newest acknowledged state. A
stored vector is bound to the exact text it was computed from: six PATCHes of one memory committed
together leave the newest text's vector on the row, not an older one's.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.cluster.conftest import StartReplica

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROUNDS = 40
TOKEN = "races-admin-token-0123456"
PAUSED = {"JM_FAULTS_ENABLED": "true", "JM_ADMIN_TOKEN": TOKEN}
#: How long a replica may take to reflect an acknowledged write: reads check the version first, so this
#: is a margin for "never heals", not a delay the protocol needs.
SETTLE_S = 0.3


def _paused(start_replica: StartReplica) -> tuple[str, str]:
    """Replica a, whose commits' results are acted on late, and replica b; their URLs."""
    a, b = start_replica("a", env=PAUSED), start_replica("b")
    httpx.put(
        f"{a.url}/admin/faults", json={"commit_pause_ms": 150}, headers={"Authorization": f"Bearer {TOKEN}"}
    ).raise_for_status()
    return a.url, b.url


def test_an_add_racing_a_delete_on_another_replica_leaves_both_replicas_agreeing(start_replica: StartReplica) -> None:
    a, b = _paused(start_replica)
    disagreements: list[str] = []
    with httpx.Client(base_url=a, timeout=30) as ca, httpx.Client(base_url=b, timeout=30) as cb:
        ca.post("/v1/memories", json={"user_id": "race", "content": "keeps the user non-empty"})
        for n in range(ROUNDS):
            mid = str(uuid.uuid4())
            assert ca.get("/v1/memories", params={"user_id": "race"}).status_code == 200  # resident on a
            deleted = threading.Event()

            def delete_until_gone(mid: str = mid, deleted: threading.Event = deleted) -> None:
                with httpx.Client(base_url=b, timeout=30) as c:
                    while c.delete(f"/v1/memories/{mid}", params={"user_id": "race"}).status_code != 204:
                        pass
                deleted.set()

            deleter = threading.Thread(target=delete_until_gone)
            deleter.start()
            added = ca.post("/v1/memories", json={"user_id": "race", "id": mid, "content": f"round {n}"})
            assert added.status_code == 201
            deleter.join(30)
            assert deleted.is_set()
            time.sleep(SETTLE_S)
            seen = [c.get(f"/v1/memories/{mid}", params={"user_id": "race"}).status_code for c in (ca, cb)]
            if seen != [404, 404]:
                disagreements.append(f"round {n}: a {seen[0]}, b {seen[1]} after an acknowledged delete")
    assert not disagreements, disagreements


def test_patches_racing_on_two_replicas_leave_both_on_the_newest_version(start_replica: StartReplica) -> None:
    a, b = _paused(start_replica)
    stale: list[str] = []
    with (
        httpx.Client(base_url=a, timeout=30) as ca,
        httpx.Client(base_url=b, timeout=30) as cb,
        ThreadPoolExecutor(2) as pool,
    ):
        mid = ca.post("/v1/memories", json={"user_id": "p", "content": "version one"}).json()["id"]
        for n in range(ROUNDS):
            for c in (ca, cb):  # resident on both
                assert c.get(f"/v1/memories/{mid}", params={"user_id": "p"}).status_code == 200
            patched = list(
                pool.map(
                    lambda c, side, n=n: c.patch(
                        f"/v1/memories/{mid}", params={"user_id": "p"}, json={"content": f"round {n} by {side}"}
                    ).json(),
                    (ca, cb),
                    ("a", "b"),
                )
            )
            newest = max(patched, key=lambda m: int(m["version"]))
            time.sleep(SETTLE_S)
            for name, c in (("a", ca), ("b", cb)):
                got = c.get(f"/v1/memories/{mid}", params={"user_id": "p"}).json()
                if (got["version"], got["content"]) != (newest["version"], newest["content"]):
                    stale.append(f"round {n}: {name} holds v{got['version']}, newest acknowledged v{newest['version']}")
    assert not stale, stale


def test_an_updated_memory_is_searched_by_its_newest_text_only(start_replica: StartReplica) -> None:
    a, b = start_replica("a"), start_replica("b")
    misranked: list[str] = []
    with (
        httpx.Client(base_url=a.url, timeout=30) as ca,
        httpx.Client(base_url=b.url, timeout=30) as cb,
        ThreadPoolExecutor(6) as pool,
    ):
        for n in range(20):
            user = f"v{n}"
            mid = ca.post("/v1/memories", json={"user_id": user, "content": f"first text of round {n}"}).json()["id"]
            texts = [f"text {t} of round {n}: {' '.join(f'w{n}x{t}x{i}' for i in range(6))}" for t in range(6)]
            patched = list(
                pool.map(
                    lambda text, mid=mid, user=user: ca.patch(
                        f"/v1/memories/{mid}", params={"user_id": user}, json={"content": text}
                    ).json(),
                    texts,
                )
            )
            newest = max(patched, key=lambda m: int(m["version"]))["content"]
            hit = _indexed_hit(cb, user, newest, mid)
            if hit is None or hit["score"] < 0.99:
                misranked.append(f"round {n}: {hit}")
    assert not misranked, misranked


def _indexed_hit(client: httpx.Client, user: str, query: str, mid: str, timeout_s: float = 10.0) -> dict | None:
    """The memory's hit for `query` once its vector is delivered (tier `stm`), or the last one seen."""
    deadline = time.monotonic() + timeout_s
    hit = None
    while time.monotonic() < deadline:
        results = client.post("/v1/search", json={"user_id": user, "query": query, "k": 100}).json()["results"]
        hit = next((h for h in results if h["id"] == mid), None)
        if hit is not None and hit["tier"] == "stm":
            return hit
        time.sleep(0.05)
    return hit
