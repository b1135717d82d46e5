"""The workload: concurrent clients on every replica, a nemesis, then the final state, then the verdict.

Clients are threads, each with its own connections to every replica; each operation goes to a
replica chosen at random. They share what was added (ids, per user) so that their operations land on
the same memories: a DELETE of an id whose add is still in flight on another replica, PATCHes of one
memory on two replicas, a forget while others add. A share of adds expire a moment later, so reads
and writes meet expiry at its boundary. Every id is added once (the checker's order of states
relies on it).

    verdict = run(Target(replicas, postgres), Plan(duration_s=20, seed=1), ("pause", "pg-fast"))
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from jean_memory.embedding.hashing import HashEmbedder
from jean_memory_dev.coherence.checker import State, Verdict, check, check_final
from jean_memory_dev.coherence.history import Event, History
from jean_memory_dev.coherence.nemesis import Nemesis, Target

#: Relative weights of the operations a client picks.
WEIGHTS = {
    "add": 20, "patch": 14, "delete": 6, "forget": 0.3,
    "get": 22, "list": 8, "search": 18, "history": 6, "export": 4,
}  # fmt: skip
WORDS = (
    "amber", "basil", "cedar", "delta", "ember", "fjord", "garnet", "harbor",
    "indigo", "juniper", "kelp", "lotus", "maple", "nectar", "onyx", "prism",
)  # fmt: skip


@dataclass
class Plan:
    duration_s: float = 20.0
    processes: int = 8
    users: int = 4
    seed: int = 1
    #: Share of adds that expire, between `expiry_s` bounds after they are sent.
    expiring: float = 0.1
    expiry_s: tuple[float, float] = (0.3, 2.0)
    timeout_s: float = 10.0
    #: Prefix of the users' names, so that several runs can share one cluster without meeting.
    tag: str = ""


class _Shared:
    """What clients know of each other's adds: ids per user (announced when the add is sent)."""

    def __init__(self, users: list[str]) -> None:
        self.lock = threading.Lock()
        self.ids: dict[str, list[str]] = {user: [] for user in users}
        self.texts: dict[str, str] = {}  # id -> the newest text a client was told about

    def pick(self, rng: random.Random, user: str) -> str | None:
        with self.lock:
            ids = self.ids[user]
            if not ids:
                return None
            recent = ids[-8:]  # half the time one of the newest: races with adds still in flight
            return rng.choice(recent) if rng.random() < 0.5 else rng.choice(ids)


class _Client:
    def __init__(self, n: int, urls: dict[str, str], shared: _Shared, history: History, plan: Plan) -> None:
        self.n = n
        self.rng = random.Random(plan.seed * 1000 + n)
        self.http = {name: httpx.Client(base_url=url, timeout=plan.timeout_s) for name, url in urls.items()}
        self.shared = shared
        self.history = history
        self.plan = plan
        self.count = 0

    def run(self, stop: threading.Event) -> None:
        kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
        try:
            while not stop.is_set():
                self.one(self.rng.choices(kinds, weights)[0])
        finally:
            for c in self.http.values():
                c.close()

    def text(self) -> str:
        self.count += 1
        words = " ".join(self.rng.choice(WORDS) for _ in range(4))
        return f"p{self.n} n{self.count} {words} t{self.rng.randrange(10**6)}"

    def one(self, kind: str) -> None:
        user = f"{self.plan.tag}u{self.rng.randrange(self.plan.users)}"
        replica = self.rng.choice(list(self.http))
        e = Event(self.n, replica, kind, user)
        if kind == "add":
            e.mid, e.arg = str(uuid.uuid4()), self.text()
            if self.rng.random() < self.plan.expiring:
                e.expires_at = time.time() + self.rng.uniform(*self.plan.expiry_s)
            with self.shared.lock:
                self.shared.ids[user].append(e.mid)
        elif kind in ("patch", "delete", "get", "history", "search"):
            mid = self.shared.pick(self.rng, user)
            if mid is None:
                return
            e.mid = mid
            if kind == "patch":
                e.arg = self.text()
            if kind == "search":
                with self.shared.lock:
                    known = self.shared.texts.get(mid)
                if known is None:
                    return
                e.arg = known
        self._send(e)
        self.history.record(e)
        if e.ok and kind in ("add", "patch"):
            with self.shared.lock:
                self.shared.texts[e.mid] = e.arg if kind == "add" else e.value["content"]

    def _send(self, e: Event) -> None:
        c = self.http[e.replica]
        params = {"user_id": e.user}
        e.invoked = time.time()
        try:
            r = self._request(c, e, params)
            e.status = r.status_code
            if e.ok:
                e.value = _parse(e.kind, r)
        except httpx.HTTPError:
            e.status = None
        e.completed = time.time()

    def _request(self, c: httpx.Client, e: Event, params: dict[str, str]) -> httpx.Response:
        if e.kind == "add":
            body: dict[str, Any] = {"user_id": e.user, "id": e.mid, "content": e.arg}
            if e.expires_at is not None:
                body["expires_at"] = e.expires_at
            return c.post("/v1/memories", json=body)
        if e.kind == "patch":
            return c.patch(f"/v1/memories/{e.mid}", params=params, json={"content": e.arg})
        if e.kind == "delete":
            return c.delete(f"/v1/memories/{e.mid}", params=params)
        if e.kind == "forget":
            return c.delete("/v1/memories", params=params)
        if e.kind == "get":
            return c.get(f"/v1/memories/{e.mid}", params=params)
        if e.kind == "list":
            return c.get("/v1/memories", params={**params, "limit": "1000"})
        if e.kind == "search":
            # `explain`: each hit's cosine apart from the fused score, for the stale-vector check.
            return c.post("/v1/search", json={"user_id": e.user, "query": e.arg, "k": 100, "explain": True})
        if e.kind == "history":
            return c.get(f"/v1/memories/{e.mid}/history", params=params)
        return c.get("/v1/memories/export", params=params)


def _parse(kind: str, r: httpx.Response) -> Any:
    if kind in ("delete",):
        return None
    if kind == "export":
        return [httpx.Response(200, content=line).json() for line in r.text.splitlines() if line]
    body = r.json()
    if kind == "list":
        if body["next_cursor"] is not None:
            raise ValueError("a user outgrew one page of the list: lower the plan's duration or raise its users")
        return body["items"]
    if kind == "search":
        return body["results"]
    return body


def run(target: Target, plan: Plan, nemeses: tuple[str, ...] = ()) -> tuple[Verdict, History]:
    """Run the workload (and the nemeses) for the plan's duration, then judge the history and the end."""
    urls = {f"r{n}": r.url for n, r in enumerate(target.replicas)}
    history, stop = History(), threading.Event()
    shared = _Shared([f"{plan.tag}u{n}" for n in range(plan.users)])
    clients = [_Client(n, urls, shared, history, plan) for n in range(plan.processes)]
    nemesis = Nemesis(target, nemeses, random.Random(plan.seed))
    threads = [threading.Thread(target=c.run, args=(stop,), name=f"client-{c.n}") for c in clients]
    threads.append(threading.Thread(target=nemesis.run, args=(stop,), name="nemesis"))
    for t in threads:
        t.start()
    try:
        time.sleep(plan.duration_s)
    finally:
        stop.set()
        for t in threads:
            t.join()
    embedder = HashEmbedder()
    events = sorted(history.events, key=lambda e: e.invoked)
    verdict = check(events, embedder.embed)
    latest = max((e.expires_at for e in events if e.expires_at is not None), default=0.0)
    time.sleep(max(0.0, latest + 0.2 - time.time()))  # every expiry passed: the end state is settled
    store, vectors = _settled_store(target, list(shared.ids), urls)
    replicas = {name: _export(url, list(shared.ids)) for name, url in urls.items()}
    check_final(events, store, replicas, vectors, verdict, embedder.embed)
    return verdict, history


def _export(url: str, users: list[str]) -> State:
    state: State = {}
    with httpx.Client(base_url=url, timeout=30) as c:
        for user in users:
            r = c.get("/v1/memories/export", params={"user_id": user})
            r.raise_for_status()
            for item in _parse("export", r):
                state[item["id"]] = (int(item["version"]), item["content"])
    return state


def _settled_store(
    target: Target, users: list[str], urls: dict[str, str], timeout_s: float = 60.0
) -> tuple[State, dict[str, tuple[str, np.ndarray | None]]]:
    """PostgreSQL's live rows once every vector is stored (embedded mode: the one replica's export)."""
    if target.postgres is None:
        return _export(next(iter(urls.values())), users), {}
    return asyncio.run(_read_store(target.postgres.url, users, timeout_s))


async def _read_store(
    url: str, users: list[str], timeout_s: float
) -> tuple[State, dict[str, tuple[str, np.ndarray | None]]]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + timeout_s
        query = (
            "SELECT id, revision, content, embedding FROM memories WHERE user_id = ANY($1::text[]) AND NOT deleted"
            " AND (expires_at IS NULL OR expires_at > extract(epoch FROM clock_timestamp()))"
        )
        while True:
            rows = await conn.fetch(query, users)
            if all(r["embedding"] is not None for r in rows) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    state = {r["id"]: (int(r["revision"]), r["content"]) for r in rows}
    vectors = {
        r["id"]: (r["content"], None if r["embedding"] is None else np.frombuffer(r["embedding"], dtype=np.float32))
        for r in rows
    }
    return state, vectors
