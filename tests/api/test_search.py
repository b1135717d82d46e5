"""Search: ranking, k, filters, read-your-writes, and isolation at scale."""

from __future__ import annotations

import httpx

from tests.helpers import add_batch


def add_many(client: httpx.Client, user: str, contents: list[str], **extra: object) -> list[str]:
    r = client.post("/v1/memories/batch", json={"user_id": user, "items": [{"content": c, **extra} for c in contents]})
    assert r.status_code == 201, r.text
    return r.json()["ids"]


def search(client: httpx.Client, user: str, query: str, **extra: object) -> dict:
    r = client.post("/v1/search", json={"user_id": user, "query": query, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def test_best_match_first(client: httpx.Client, user: str) -> None:
    add_many(client, user, ["my dog is called Rex", "I drink green tea every morning", "I live in Paris"])
    body = search(client, user, "green tea in the morning", k=3)
    assert body["results"][0]["content"] == "I drink green tea every morning"
    scores = [h["score"] for h in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert body["took_ms"] >= 0


def test_k_limits_results(client: httpx.Client, user: str) -> None:
    add_many(client, user, [f"note {i} about apples" for i in range(20)])
    assert len(search(client, user, "apples", k=5)["results"]) == 5
    assert len(search(client, user, "apples")["results"]) == 10
    assert len(search(client, user, "apples", k=100)["results"]) == 20


def test_filters_select_before_ranking(client: httpx.Client, user: str) -> None:
    add_many(client, user, [f"work item {i}" for i in range(30)], metadata={"kind": "work"})
    add_many(client, user, ["a quiet personal thought"], metadata={"kind": "private"})
    body = search(client, user, "work item", k=3, filters={"kind": "private"})
    assert [h["content"] for h in body["results"]] == ["a quiet personal thought"]


def test_a_write_is_searchable_immediately(client: httpx.Client, user: str) -> None:
    for i in range(5):
        r = client.post("/v1/memories", json={"user_id": user, "content": f"unique marker zebra{i}"})
        mid = r.json()["id"]
        hits = search(client, user, f"zebra{i}", k=1)["results"]
        assert hits and hits[0]["id"] == mid


def test_repeated_search_is_stable_and_sees_new_writes(client: httpx.Client, user: str) -> None:
    add_many(client, user, ["alpha beta", "gamma delta"])
    first = search(client, user, "alpha")
    assert search(client, user, "alpha")["results"] == first["results"]
    new = add_many(client, user, ["alpha alpha alpha"])
    assert search(client, user, "alpha")["results"][0]["id"] == new[0]


def test_user_with_five_among_100k_others_gets_all_five(client: httpx.Client, user: str) -> None:
    crowd = f"{user}-crowd"
    text = "meeting notes about the quarterly budget review"
    for start in range(0, 100_000, 1000):
        items = [{"content": f"{text} {i}"} for i in range(start, start + 1000)]
        add_batch(client, crowd, items)
    mine = add_many(client, user, [f"{text} mine {i}" for i in range(5)])
    body = search(client, user, text, k=10)
    assert sorted(h["id"] for h in body["results"]) == sorted(mine)


def test_users_never_see_each_other(client: httpx.Client, user: str) -> None:
    a, b = f"{user}-a", f"{user}-b"
    (mid,) = add_many(client, a, ["secret of user a"])
    assert search(client, b, "secret of user a")["results"] == []
    assert client.get(f"/v1/memories/{mid}", params={"user_id": b}).status_code == 404
    assert client.delete(f"/v1/memories/{mid}", params={"user_id": b}).status_code == 404
    assert client.get("/v1/memories", params={"user_id": b}).json()["items"] == []
    assert client.get(f"/v1/memories/{mid}", params={"user_id": a}).status_code == 200


def test_same_client_id_under_two_users_is_two_memories(client: httpx.Client, user: str) -> None:
    import uuid

    mid = str(uuid.uuid4())
    for owner, text in ((f"{user}-a", "a's memory"), (f"{user}-b", "b's memory")):
        r = client.post("/v1/memories", json={"user_id": owner, "content": text, "id": mid})
        assert r.status_code == 201
    assert client.get(f"/v1/memories/{mid}", params={"user_id": f"{user}-a"}).json()["content"] == "a's memory"
    assert client.get(f"/v1/memories/{mid}", params={"user_id": f"{user}-b"}).json()["content"] == "b's memory"
