"""Hybrid search: the lexical leg beside the vectors, the modes, explain, min_score and the boosts, and a
lexical index that stays exact under update, delete, forget and expiry."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.api.test_search import add_many, search


def ids(body: dict) -> list[str]:
    return [h["id"] for h in body["results"]]


def test_lexical_mode_matches_stemmed_words(client: httpx.Client, user: str) -> None:
    (cello,) = add_many(client, user, ["I play the cello on Sundays"])
    (run,) = add_many(client, user, ["I go running along the river"])
    body = search(client, user, "what exercise: runs", mode="lexical", explain=True)
    assert ids(body) == [run]  # "runs" and "running" share the stem; the cello shares no word
    # the cello, written just before, lends its words to the run (a conversation's context), not the reverse
    assert ids(search(client, user, "cello", mode="lexical")) == [cello, run]
    legs = body["results"][0]["explain"]
    assert legs["vector"] is None and legs["lexical"] > 0 and legs["lexical_normalized"] == 1.0


def test_hybrid_is_the_default_and_explains_both_legs(client: httpx.Client, user: str) -> None:
    add_many(client, user, ["I drink green tea every morning", "my dog is called Rex"])
    body = search(client, user, "green tea", explain=True)
    top = body["results"][0]
    assert top["content"] == "I drink green tea every morning"
    legs = top["explain"]
    assert legs["vector"] is not None and legs["lexical"] > 0
    assert top["score"] == pytest.approx(0.6 * max(0.0, legs["vector"]) + 0.4 * legs["lexical_normalized"])
    assert "explain" not in search(client, user, "green tea")["results"][0]


def test_vector_mode_ignores_words(client: httpx.Client, user: str) -> None:
    add_many(client, user, ["I drink green tea every morning", "my dog is called Rex"])
    top = search(client, user, "green tea", mode="vector", explain=True)["results"][0]
    assert top["score"] == pytest.approx(top["explain"]["vector"])


def test_min_score_leaves_out_weak_matches(client: httpx.Client, user: str) -> None:
    add_many(client, user, ["alpha bravo charlie", "delta echo foxtrot"])
    every = search(client, user, "alpha bravo", k=10)["results"]
    assert len(every) >= 1
    cut = every[0]["score"] - 1e-6
    kept = search(client, user, "alpha bravo", k=10, min_score=cut)["results"]
    assert [h["id"] for h in kept] == [every[0]["id"]]
    assert search(client, user, "alpha bravo", min_score=3.0)["results"] == []


def test_salience_and_recency_boosts_are_opt_in(client: httpx.Client, user: str) -> None:
    now = time.time()
    old = client.post(
        "/v1/memories",
        json={"user_id": user, "content": "notes on the garden", "salience": 0.0, "created_at": now - 365 * 86400},
    ).json()["id"]
    new = client.post(
        "/v1/memories", json={"user_id": user, "content": "notes on the garden", "salience": 1.0, "dedupe": False}
    ).json()["id"]
    plain = search(client, user, "garden notes", explain=True)["results"]
    assert {h["explain"]["recency"] for h in plain} == {0.0} and {h["explain"]["salience"] for h in plain} == {0.0}
    salient = search(client, user, "garden notes", salience_boost=0.5, explain=True)["results"]
    assert ids({"results": salient}) == [new, old] and salient[0]["explain"]["salience"] == 0.5
    recent = search(client, user, "garden notes", recency_boost=0.5, recency_half_life_s=86400, explain=True)
    assert ids(recent) == [new, old]
    assert recent["results"][0]["explain"]["recency"] == pytest.approx(0.5, abs=0.01)
    assert recent["results"][1]["explain"]["recency"] < 1e-6


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"mode": "fuzzy"}, "mode"),
        ({"mode": 1}, "mode"),
        ({"explain": "yes"}, "explain"),
        ({"min_score": -0.5}, "min_score"),
        ({"min_score": 4}, "min_score"),
        ({"min_score": True}, "min_score"),
        ({"recency_boost": 2}, "recency_boost"),
        ({"salience_boost": -1}, "salience_boost"),
        ({"recency_half_life_s": 0}, "recency_half_life_s"),
    ],
)
def test_bad_ranking_fields_are_named(client: httpx.Client, extra: dict, field: str) -> None:
    r = client.post("/v1/search", json={"user_id": "u", "query": "x", **extra})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]


# --- the lexical index stays exact -----------------------------------------------------------------


def lexical(client: httpx.Client, user: str, query: str) -> list[str]:
    return ids(search(client, user, query, mode="lexical"))


def test_update_replaces_the_indexed_words(client: httpx.Client, user: str) -> None:
    (mid,) = add_many(client, user, ["the harbour lighthouse at dusk"])
    (after,) = add_many(client, user, ["an unrelated shopping list"])
    assert lexical(client, user, "lighthouse") == [mid, after]  # the next memory has it as context
    r = client.patch(f"/v1/memories/{mid}", params={"user_id": user}, json={"content": "the mountain cabin at dawn"})
    assert r.status_code == 200, r.text
    assert lexical(client, user, "lighthouse") == []
    assert lexical(client, user, "cabin") == [mid, after]
    stale = search(client, user, "lighthouse harbour dusk", explain=True)["results"]
    assert [h["explain"]["lexical"] for h in stale] == [0.0] * len(stale)  # no stale words in the hybrid leg


def test_delete_and_forget_leave_nothing_indexed(client: httpx.Client, user: str) -> None:
    a, b = add_many(client, user, ["kayak trip on the lake", "kayak repair kit"])  # one batch: no context
    assert sorted(lexical(client, user, "kayak")) == sorted([a, b])
    assert client.delete(f"/v1/memories/{a}", params={"user_id": user}).status_code == 204
    assert lexical(client, user, "kayak") == [b]
    assert client.delete("/v1/memories", params={"user_id": user}).status_code == 200
    assert lexical(client, user, "kayak") == []
    (c,) = add_many(client, user, ["kayak again"])
    assert lexical(client, user, "kayak") == [c]


def test_expired_memories_leave_the_lexical_leg(client: httpx.Client, user: str) -> None:
    soon = time.time() + 1.5
    r = client.post("/v1/memories", json={"user_id": user, "content": "parking ticket reminder", "expires_at": soon})
    assert r.status_code == 201, r.text
    (kept,) = add_many(client, user, ["ticket for the concert"])
    assert sorted(lexical(client, user, "ticket")) == sorted([r.json()["id"], kept])
    while time.time() < soon + 0.05:
        time.sleep(0.05)
    assert lexical(client, user, "ticket") == [kept]
    assert lexical(client, user, "parking") == []  # nor as the context of the memory written after it
