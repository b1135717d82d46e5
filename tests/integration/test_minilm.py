"""The default embedder finds memories by meaning, and a fresh write is searchable at once."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import StartService

pytestmark = [pytest.mark.minilm, pytest.mark.slow]

MEMORIES = [
    "I am allergic to peanuts",
    "My car is a red Toyota",
    "I moved to Berlin last year",
    "My favourite sport is tennis",
]


def test_paraphrase_sharing_no_words_is_found(start_service: StartService) -> None:
    svc = start_service({"JM_EMBEDDER": "minilm"})
    query = "which food makes me ill"
    assert not set(query.lower().split()) & {w for m in MEMORIES for w in m.lower().split()}
    with httpx.Client(base_url=svc.url, timeout=60) as c:
        ids = c.post("/v1/memories/batch", json={"user_id": "u", "items": [{"content": m} for m in MEMORIES]})
        assert ids.status_code == 201
        deadline = time.monotonic() + 30
        while True:  # wait until every vector is indexed, so the ranking is the model's
            body = c.post("/v1/search", json={"user_id": "u", "query": query, "k": 4}).json()
            if all(h["tier"] == "stm" for h in body["results"]) or time.monotonic() > deadline:
                break
        assert body["results"][0]["content"] == "I am allergic to peanuts"
        assert all(h["tier"] == "stm" for h in body["results"])
        city = c.post("/v1/search", json={"user_id": "u", "query": "relocating to Germany", "k": 1}).json()
        assert city["results"][0]["content"] == "I moved to Berlin last year"


def test_read_your_writes_with_the_model(start_service: StartService) -> None:
    svc = start_service({"JM_EMBEDDER": "minilm"})
    with httpx.Client(base_url=svc.url, timeout=60) as c:
        for i in range(5):
            text = f"appointment number {i} with the orthodontist"
            mid = c.post("/v1/memories", json={"user_id": "ryw", "content": text}).json()["id"]
            hits = c.post("/v1/search", json={"user_id": "ryw", "query": "dentist appointment", "k": 10}).json()
            assert mid in [h["id"] for h in hits["results"]], "a write is visible to its author's next search"
