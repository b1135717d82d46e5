"""A realistic agent workload for locust: many users with Zipf-distributed activity.

Each simulated agent picks the user it acts for from a Zipf distribution (a few users are very
active, most are not) and mixes adds, batch adds, searches, gets and deletes. Queries come from a
Zipf-weighted pool too, so popular questions repeat (as agents' do) and the caches have work to do.

    locust -f tools/jean_memory_dev/load/locustfile.py --headless --host http://127.0.0.1:8766 \
        --users 50 --spawn-rate 10 --run-time 2m --csv out/locust --html out/locust.html

Knobs (environment): JM_LOAD_USERS (population, 5000), JM_LOAD_ZIPF (exponent, 1.1),
JM_LOAD_QUERIES (distinct queries, 500), JM_LOAD_API_KEY (bearer key, if the service needs one) or
JM_LOAD_API_KEY_FILE (a keys file as the service reads it: its first key; compose mounts the service's).
"""

from __future__ import annotations

import os
import random
import uuid
from pathlib import Path

from locust import FastHttpUser, between, task

from jean_memory_dev.perf.workload import LOAD_QUERIES, query_pool, sentence, zipf_cum_weights

POPULATION = int(os.environ.get("JM_LOAD_USERS", "5000"))
ZIPF = float(os.environ.get("JM_LOAD_ZIPF", "1.1"))
QUERIES = int(os.environ.get("JM_LOAD_QUERIES", str(LOAD_QUERIES)))


def api_key() -> str:
    """JM_LOAD_API_KEY, else the first key of JM_LOAD_API_KEY_FILE (`key` or `key:tenant` lines, `#` comments),
    else none: a key in a file stays out of the environment, where `docker inspect` would show it."""
    key = os.environ.get("JM_LOAD_API_KEY", "")
    path = os.environ.get("JM_LOAD_API_KEY_FILE", "")
    if key or not path:
        return key
    lines = [line.strip() for line in Path(path).read_text().splitlines()]
    return next((line.partition(":")[0] for line in lines if line and not line.startswith("#")), "")


API_KEY = api_key()


USER_WEIGHTS = zipf_cum_weights(POPULATION, ZIPF)
QUERY_POOL = query_pool(QUERIES)
QUERY_WEIGHTS = zipf_cum_weights(QUERIES, ZIPF)


class Agent(FastHttpUser):
    """One agent session: acts for Zipf-chosen users, remembers ids it created to get and delete them."""

    wait_time = between(0.05, 0.5)

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Bearer {API_KEY}"} if API_KEY else {}
        self.known: list[tuple[str, str]] = []

    def user_id(self) -> str:
        return f"user{random.choices(range(POPULATION), cum_weights=USER_WEIGHTS)[0]}"

    @task(40)
    def add(self) -> None:
        user = self.user_id()
        memory_id = str(uuid.uuid4())
        with self.client.post(
            "/v1/memories",
            json={"user_id": user, "content": sentence(n=9), "id": memory_id},
            headers=self.headers,
            name="add",
            catch_response=True,
        ) as r:
            if r.status_code == 201:
                self.known.append((user, memory_id))
                self.known = self.known[-200:]
            elif r.status_code == 429:
                r.success()  # back-pressure is a correct answer, counted by the service

    @task(5)
    def add_batch(self) -> None:
        items = [{"content": sentence(n=9)} for _ in range(random.randint(5, 50))]
        with self.client.post(
            "/v1/memories/batch",
            json={"user_id": self.user_id(), "items": items},
            headers=self.headers,
            name="add_batch",
            catch_response=True,
        ) as r:
            if r.status_code == 429:
                r.success()

    @task(45)
    def search(self) -> None:
        query = random.choices(QUERY_POOL, cum_weights=QUERY_WEIGHTS)[0]
        self.client.post(
            "/v1/search", json={"user_id": self.user_id(), "query": query, "k": 10}, headers=self.headers, name="search"
        )

    @task(7)
    def get(self) -> None:
        if self.known:
            user, memory_id = random.choice(self.known)
            self.client.get(f"/v1/memories/{memory_id}", params={"user_id": user}, headers=self.headers, name="get")

    @task(3)
    def delete(self) -> None:
        if self.known:
            user, memory_id = self.known.pop(random.randrange(len(self.known)))
            self.client.delete(
                f"/v1/memories/{memory_id}", params={"user_id": user}, headers=self.headers, name="delete"
            )
