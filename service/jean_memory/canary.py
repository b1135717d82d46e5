"""The synthetic user: `jean-memory canary` adds a memory, searches until it is found, then deletes it,
on a schedule, through the same HTTP path clients use, and exposes how that went as `jm_canary_*` metrics
on its own port for Prometheus to scrape.

Every other signal comes from the service about itself; a service that is up but unreachable through
HAProxy, or that accepts writes it cannot find again, is seen here as a user sees it. A round:

1. `POST /v1/memories` for the canary's own user (its API key binds it to its own tenant where keys are
   set), content with a fresh random marker;
2. `POST /v1/search` (always the same question, `PROBE`) every `poll` seconds until the new memory is among
   the results found by meaning (a hit whose `tier` is not `pending`: the service scores a memory still
   waiting for its vector lexically so that a fresh write is never invisible, but a write is *searchable*
   once its vector is indexed); the time from sending the add to that answer is
   `jm_canary_time_to_searchable_seconds`;
3. `DELETE /v1/memories/{id}`, also after a round that failed, so the canary leaves nothing behind.

A round's `result` is one of `RESULTS` (bounded: no ids or users in labels). Its thresholds and objectives
live in alerts/thresholds.yaml (`canary`, `slo.canary_success`, `slo.time_to_searchable`).

    jean-memory canary --url http://127.0.0.1:8776 --api-key-file /run/secrets/jm_canary_key
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

#: Where the canary serves its metrics unless told otherwise: the one default of CANARY_PORT (.env.example,
#: compose.yaml and the native stack read it from here or must agree, which tests/stack checks).
DEFAULT_PORT = 9465

#: The canary's question, the same every round: the new memory is told apart by its id, and a question
#: asked before costs the service no model run (a fresh one each round was a cache miss on every replica
#: it reached, a share of the cache hit ratio that is the users' figure, not the canary's).
PROBE = "canary probe: can a synthetic user find what it writes"
#: A round's outcome: the only values of `jm_canary_rounds_total{result}`.
RESULTS = ("success", "add_failed", "search_failed", "not_found", "delete_failed")

#: Seconds from sending the add to the search that found it. Bounded at both ends by what matters: a
#: round under 50 ms is as good as one of 5 ms, and one past the search timeout failed.
SEARCHABLE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

#: One request's duration, per step.
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class CanaryMetrics:
    """The canary's instruments on their own registry (injectable: tests pass a fresh one)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.rounds = Counter(
            "jm_canary_rounds", "Canary rounds (add, search until found, delete), by outcome.", ["result"], registry=r
        )
        self.time_to_searchable = Histogram(
            "jm_canary_time_to_searchable_seconds",
            "Seconds from sending a canary memory's add to the search that found it by meaning.",
            buckets=SEARCHABLE_BUCKETS,
            registry=r,
        )
        self.requests = Histogram(
            "jm_canary_request_duration_seconds",
            "Duration of each canary request, by step (add, search, delete) and status class.",
            ["step", "status_class"],
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            "jm_canary_last_success_timestamp_seconds", "Unix time of the last successful canary round.", registry=r
        )
        self.interval = Gauge("jm_canary_interval_seconds", "Seconds between the starts of two rounds.", registry=r)
        for result in RESULTS:  # every outcome exported from the start: a ratio of 0 failures, not "no data"
            self.rounds.labels(result)


@dataclass(frozen=True)
class CanaryConfig:
    url: str
    api_key: str = ""
    user_id: str = "jm-canary"
    interval_s: float = 30.0
    search_timeout_s: float = 30.0
    poll_s: float = 0.1
    request_timeout_s: float = 10.0


@dataclass(frozen=True)
class Round:
    result: str
    time_to_searchable_s: float | None = None


class _StepFailed(Exception):
    """A request of the round failed (transport error or a status other than the one expected)."""


class Canary:
    """Runs rounds against one service URL (the service port, or HAProxy's front door)."""

    def __init__(self, config: CanaryConfig, metrics: CanaryMetrics, client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.metrics = metrics
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._client = client or httpx.AsyncClient(
            base_url=config.url.rstrip("/"), headers=headers, timeout=config.request_timeout_s
        )
        metrics.interval.set(config.interval_s)

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, step: str, method: str, path: str, expect: int, **kwargs: object) -> httpx.Response:
        start = time.perf_counter()
        try:
            response = await self._client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            self.metrics.requests.labels(step, "error").observe(time.perf_counter() - start)
            raise _StepFailed(f"{step}: {type(exc).__name__}: {exc}") from exc
        self.metrics.requests.labels(step, f"{response.status_code // 100}xx").observe(time.perf_counter() - start)
        if response.status_code != expect:
            raise _StepFailed(f"{step}: HTTP {response.status_code}: {response.text[:200]}")
        return response

    async def clean(self) -> None:
        """Forget the canary's user: what a canary killed mid-round left behind (best effort)."""
        try:
            await self._client.delete("/v1/memories", params={"user_id": self.config.user_id})
        except httpx.HTTPError as exc:
            log.warning("canary: could not clean its user: %s", exc)

    async def round(self) -> Round:
        """One add, search-until-found, delete; counted in the metrics and returned."""
        outcome = await self._round()
        self.metrics.rounds.labels(outcome.result).inc()
        if outcome.result == "success":
            self.metrics.last_success.set(time.time())
        if outcome.time_to_searchable_s is not None:
            self.metrics.time_to_searchable.observe(outcome.time_to_searchable_s)
        return outcome

    async def _round(self) -> Round:
        c = self.config
        marker = uuid.uuid4().hex
        content = f"canary probe {marker}: a synthetic user checks that what it writes can be found"
        sent = time.perf_counter()
        try:
            added = await self._call(
                "add", "POST", "/v1/memories", 201, json={"user_id": c.user_id, "content": content}
            )
            memory_id = str(added.json()["id"])
        except (_StepFailed, KeyError, ValueError) as exc:
            log.warning("canary round failed: %s", exc)
            return Round("add_failed")
        found: float | None = None
        result = "not_found"
        deadline = sent + c.search_timeout_s
        query = {"user_id": c.user_id, "query": PROBE, "k": 5}
        cut = False  # whether the running search's timeout is the round's deadline
        try:
            while (left := deadline - time.perf_counter()) > 0:
                # A search still running at the deadline is given up: found later is not found in time.
                timeout = min(c.request_timeout_s, left)
                cut = left < c.request_timeout_s
                response = await self._call("search", "POST", "/v1/search", 200, json=query, timeout=timeout)
                if any(h.get("id") == memory_id and h.get("tier") != "pending" for h in response.json()["results"]):
                    found = time.perf_counter() - sent
                    result = "success"
                    break
                await asyncio.sleep(c.poll_s)
        except _StepFailed as exc:
            if not (cut and isinstance(exc.__cause__, httpx.TimeoutException)):
                log.warning("canary round failed: %s", exc)
                result = "search_failed"
        except (KeyError, ValueError) as exc:
            log.warning("canary round failed: unexpected search answer: %s", exc)
            result = "search_failed"
        if result == "not_found":
            log.warning("canary round failed: not found by meaning within %.1f s", c.search_timeout_s)
        try:
            await self._call("delete", "DELETE", f"/v1/memories/{memory_id}", 204, params={"user_id": c.user_id})
        except _StepFailed as exc:
            log.warning("canary round failed: %s", exc)
            if result == "success":
                result = "delete_failed"
        return Round(result, found)

    async def run(self, stop: asyncio.Event, rounds: int | None = None) -> None:
        """A round every `interval_s` (start to start; a slow round starts the next one at once) until
        `stop` is set or `rounds` rounds ran."""
        await self.clean()
        done = 0
        while not stop.is_set() and (rounds is None or done < rounds):
            start = time.monotonic()
            await self.round()
            done += 1
            wait = self.config.interval_s - (time.monotonic() - start)
            if wait > 0:
                with contextlib.suppress(TimeoutError):  # the interval ran out: the next round
                    await asyncio.wait_for(stop.wait(), timeout=wait)


def read_key(path: Path | None) -> str:
    """The canary's API key: the file's first line that is not blank or a comment (`key` or `key:tenant`,
    as the service's JM_API_KEYS_FILE spells its own lines; the tenant part is the service's business)."""
    if path is None:
        return ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line.partition(":")[0]
    raise SystemExit(f"jean-memory canary: {path} holds no key")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="http://127.0.0.1:8766", help="the service (or HAProxy's front door)")
    parser.add_argument("--api-key-file", type=Path, help="a file holding the canary's own API key (none: no auth)")
    parser.add_argument("--user-id", default="jm-canary", help="the synthetic user's id (default jm-canary)")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between rounds (default 30)")
    parser.add_argument("--search-timeout", type=float, default=30.0, help="give up searching after (default 30 s)")
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between searches of one round (0.1)")
    parser.add_argument("--host", default="127.0.0.1", help="metrics listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"metrics port (default {DEFAULT_PORT})")
    parser.add_argument("--rounds", type=int, help="stop after this many rounds (default: run until stopped)")


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = CanaryConfig(
        url=args.url,
        api_key=read_key(args.api_key_file),
        user_id=args.user_id,
        interval_s=args.interval,
        search_timeout_s=args.search_timeout,
        poll_s=args.poll,
    )
    metrics = CanaryMetrics()
    start_http_server(args.port, addr=args.host, registry=metrics.registry)
    log.info("canary: %s every %.1f s, metrics on %s:%d", config.url, config.interval_s, args.host, args.port)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        canary = Canary(config, metrics)
        try:
            await canary.run(stop, args.rounds)
        finally:
            await canary.close()

    asyncio.run(run())
    return 0
