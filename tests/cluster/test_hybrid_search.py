"""Cluster mode: the lexical leg of every replica follows writes made on any replica (add, update, delete,
forget, expiry), so a word search on one replica never returns a text another replica replaced or removed."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.cluster.conftest import StartReplica

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def lexical(client: httpx.Client, user: str, query: str) -> list[str]:
    r = client.post("/v1/search", json={"user_id": user, "query": query, "mode": "lexical"})
    assert r.status_code == 200, r.text
    return [h["id"] for h in r.json()["results"]]


def add(client: httpx.Client, user: str, content: str, **extra: object) -> str:
    r = client.post("/v1/memories", json={"user_id": user, "content": content, **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_the_lexical_leg_follows_every_replica(start_replica: StartReplica) -> None:
    a, b = start_replica("a"), start_replica("b")
    with httpx.Client(base_url=a.url, timeout=30) as ca, httpx.Client(base_url=b.url, timeout=30) as cb:
        user = "hybrid-user"
        mid = add(ca, user, "the harbour lighthouse at dusk")
        assert lexical(cb, user, "lighthouse") == [mid]
        body = cb.post("/v1/search", json={"user_id": user, "query": "lighthouse", "explain": True}).json()
        assert body["results"][0]["explain"]["lexical"] > 0  # hybrid, the default, on the other replica

        r = cb.patch(f"/v1/memories/{mid}", params={"user_id": user}, json={"content": "the mountain cabin"})
        assert r.status_code == 200, r.text
        assert lexical(ca, user, "lighthouse") == []
        assert lexical(ca, user, "cabin") == [mid]

        other = add(ca, user, "a kayak on the lake", created_at=time.time() - 3600)
        assert lexical(cb, user, "kayak") == [other]
        assert cb.delete(f"/v1/memories/{other}", params={"user_id": user}).status_code == 204
        assert lexical(ca, user, "kayak") == []

        soon = time.time() + 1.5
        fleeting = add(cb, user, "parking ticket reminder", expires_at=soon)
        assert lexical(ca, user, "parking") == [fleeting]
        while time.time() < soon + 0.05:
            time.sleep(0.05)
        assert lexical(ca, user, "parking") == []

        assert ca.delete("/v1/memories", params={"user_id": user}).status_code == 200
        assert lexical(cb, user, "cabin") == []
        again = add(cb, user, "cabin again")
        assert lexical(ca, user, "cabin") == [again]
