"""The actions a drill fault is made of: the service's own fault injection, processes paused, killed or
stopped, and load shapes (requests a real client could send) that push one figure over its threshold.

Each action has `inject(run)` and `clear(run)`; what it needs from the system under drill it asks the run
for (`run.admin`, `run.service_process`, `run.restart_service`, `run.front`...), so the same action works
on the embedded service and on the cluster.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from jean_memory_dev.background import Background
from jean_memory_dev.drill.model import Target


@dataclass
class AdminFaults:
    """The service's `/admin/faults` (JM_FAULTS_ENABLED): on the service, or on every replica."""

    spec: dict[str, Any]
    what: str
    everywhere: bool = True

    def inject(self, run: Target) -> None:
        run.admin(self.spec)

    def clear(self, run: Target) -> None:
        run.admin(None)

    def describe(self) -> str:
        return f"{self.what} (`PUT /admin/faults {self.spec}`)"


@dataclass
class Stall:
    """The process is paused (SIGSTOP) for `stop_s` of every `stop_s + run_s`, as a process starved of CPU
    (a container at its CPU limit, a noisy neighbour): whatever is in flight when it stops takes that much
    longer. `replica` picks a cluster replica (by index); None is the embedded service."""

    stop_s: float
    run_s: float
    replica: int | None = None
    _loop: Background = field(default_factory=Background, init=False, repr=False)

    def inject(self, run: Target) -> None:
        pid = run.service_process(self.replica).pid

        def pause() -> None:
            os.kill(pid, signal.SIGSTOP)
            try:
                time.sleep(self.stop_s)
            finally:
                os.kill(pid, signal.SIGCONT)

        self._loop.start(pause, "stall", every_s=self.stop_s + self.run_s)

    def clear(self, run: Target) -> None:
        self._loop.stop()
        os.kill(run.service_process(self.replica).pid, signal.SIGCONT)

    def describe(self) -> str:
        who = "the service" if self.replica is None else f"replica {self.replica + 1}"
        return f"{who} paused (SIGSTOP) {self.stop_s * 1000:g} ms of every {(self.stop_s + self.run_s) * 1000:g} ms"


@dataclass
class KillService:
    """kill -9 of the embedded service; cleared by starting it again on the same data (with `restart_env`
    laid over its settings)."""

    restart_env: dict[str, str] = field(default_factory=dict)

    def inject(self, run: Target) -> None:
        run.kill_service()

    def clear(self, run: Target) -> None:
        run.restart_service(self.restart_env)

    def describe(self) -> str:
        extra = f", restarted with {self.restart_env}" if self.restart_env else ""
        return f"kill -9 of the service{extra}"


@dataclass
class StopPrometheus:
    """Every Prometheus replica stopped; cleared by starting them again (same data)."""

    def inject(self, run: Target) -> None:
        for prom in run.prometheus:
            prom.stop()

    def clear(self, run: Target) -> None:
        for prom in run.prometheus:
            prom.start()

    def describe(self) -> str:
        return "every Prometheus replica stopped"


@dataclass
class OversizedBatches:
    """A client sending batch adds larger than the embedding backlog's room (the drill's service runs with
    JM_EMBED_MAX_BACKLOG below `items`): each is refused at once with 429 and nothing is stored."""

    items: int
    per_second: float
    _loop: Background = field(default_factory=Background, init=False, repr=False)

    def inject(self, run: Target) -> None:
        client = httpx.Client(base_url=run.front, timeout=30)
        body = {"user_id": "drill-bulk-loader", "items": [{"content": f"bulk note {i}"} for i in range(self.items)]}
        self._loop.start(lambda: client.post("/v1/memories/batch", json=body), "oversized-batches", 1 / self.per_second)

    def clear(self, run: Target) -> None:
        self._loop.stop()

    def describe(self) -> str:
        return f"{self.per_second:g} batch adds/s of {self.items} items each, more than the backlog's room: 429"


@dataclass
class HeavySearches:
    """A client searching one big user (`memories` memories, written first) with a metadata filter, each
    search scanning every record: a few milliseconds of CPU each, in which a stall is likely to land."""

    memories: int
    per_second: float
    user: str = "drill-archive"
    batch: int = 250
    _loop: Background = field(default_factory=Background, init=False, repr=False)

    def prepare(self, run: Target) -> None:
        """Write the big user once, before the fault's clock starts: batches of `batch` (under the drill's
        embedding backlog), a well-behaved client's retry on 429."""
        client = httpx.Client(base_url=run.front, timeout=60)
        if client.get("/v1/memories", params={"user_id": self.user, "limit": 1}).json().get("items"):
            return
        for start in range(0, self.memories, self.batch):
            items = [
                {"content": f"archived note {i} about topic {i % 97}", "metadata": {"shard": f"s{i % 50}"}}
                for i in range(start, min(self.memories, start + self.batch))
            ]
            post_admitted(client, "/v1/memories/batch", {"user_id": self.user, "items": items})

    def inject(self, run: Target) -> None:
        client = httpx.Client(base_url=run.front, timeout=30)

        def search() -> None:
            query = {"user_id": self.user, "query": f"topic {uuid.uuid4().hex[:6]}", "k": 50}
            client.post("/v1/search", json={**query, "filters": {"shard": f"s{int(time.monotonic()) % 50}"}})

        self._loop.start(search, "heavy-searches", every_s=1 / self.per_second)

    def clear(self, run: Target) -> None:
        self._loop.stop()

    def describe(self) -> str:
        return (
            f"{self.per_second:g} filtered searches/s over a user with {self.memories:,} memories "
            "(each scans every record)"
        )


def post_admitted(client: httpx.Client, path: str, body: dict[str, Any], patience_s: float = 60.0) -> httpx.Response:
    """POST as a well-behaved client: refused for now (429, 503), wait as its Retry-After says (a second at
    most, so the drill's clock is not spent asleep) and send it again, for up to `patience_s`. A drill once
    aborted here: its filler met the admission of a backlog an earlier fault had left."""
    deadline = time.monotonic() + patience_s
    while True:
        r = client.post(path, json=body)
        if r.status_code not in (429, 503) or time.monotonic() > deadline:
            r.raise_for_status()
            return r
        time.sleep(min(1.0, max(0.05, float(r.headers.get("retry-after") or 0.1))))


@dataclass
class FillStm:
    """One user writes memories until the short-term tier holds `to_ratio` of its budget, and keeps searching
    them (once a second, from before its first write) so that the tier holds them: unsearched, the filler would be
    the least recently used user and the first evicted when the load promotes another, and the tier would drop
    under the threshold within seconds. Cleared by forgetting the user.

    The tier is filled as a tenant with wide metadata fills it: each memory carries `metadata_keys` keys, which
    the tier counts at their RAM cost (a dict entry each, `Memory.approx_bytes`), so the drill sends a fraction
    of the bytes that texts alone would need. Filled with large texts instead, the filler pushed the whole
    budget through the journal, the model and the store, saturated the service (its latency paged) and met
    admission's 429s (docs/drills.md). The gauges are read again after every batch, so what the load promotes
    meanwhile counts toward the target too."""

    to_ratio: float
    content_bytes: int
    metadata_keys: int = 0
    user: str = "drill-stm-filler"
    #: How long the filling may take before the fault gives up on it (the detection bound then fails the row).
    fill_timeout_s: float = 150.0
    _loop: Background = field(default_factory=Background, init=False, repr=False)

    def inject(self, run: Target) -> None:
        client = httpx.Client(base_url=run.front, timeout=60)
        budget = run.service_gauge("jm_stm_budget_bytes")
        text = ("stm drill filler " * (self.content_bytes // 17 + 1))[: self.content_bytes]
        metadata = {f"k{i:03d}": 0 for i in range(self.metadata_keys)}
        batch = {"user_id": self.user, "items": [{"content": text, "metadata": metadata}] * 25}
        search = {"user_id": self.user, "query": "stm drill filler", "k": 1}
        self._loop.start(lambda: client.post("/v1/search", json=search), "stm-filler-warm", every_s=1.0)
        deadline = time.monotonic() + self.fill_timeout_s
        while run.service_gauge("jm_stm_bytes") < self.to_ratio * budget and time.monotonic() < deadline:
            post_admitted(client, "/v1/memories/batch", batch)

    def clear(self, run: Target) -> None:
        self._loop.stop()
        client = httpx.Client(base_url=run.front, timeout=120)
        client.delete("/v1/memories", params={"user_id": self.user}).raise_for_status()  # forget the user

    def describe(self) -> str:
        wide = f" with {self.metadata_keys} metadata keys each" if self.metadata_keys else ""
        return (
            f"one user writes {self.content_bytes // 1000} KB memories{wide} until the short-term tier holds "
            f"{self.to_ratio:.0%} of its budget, and searches them each second; cleared by forgetting the user"
        )
