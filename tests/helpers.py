"""Small helpers shared by the tests: scraping a metric, waiting for a condition, load streams."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families


def metric(url: str, name: str, **labels: str) -> float:
    """Sum of the samples named `name` (with these labels) on the service's /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def add_batch(
    client: httpx.Client, user: str, items: list[dict[str, object]], timeout_s: float = 120
) -> httpx.Response:
    """Batch add as a well-behaved client does: on 429 (the embedding backlog is full), wait and retry."""
    deadline = time.monotonic() + timeout_s
    while True:
        r = client.post("/v1/memories/batch", json={"user_id": user, "items": items})
        if r.status_code != 429 or time.monotonic() > deadline:
            r.raise_for_status()
            return r
        time.sleep(min(0.25, float(r.headers["retry-after"])))


def wait_shipped(url: str, timeout_s: float = 60) -> None:
    wait_until(lambda: metric(url, "jm_shuttle_pending") == 0, timeout_s, "the journal to drain into the store")


class AddStream:
    """Threads adding memories as fast as they can, remembering every acknowledged id."""

    def __init__(self, url: str, user: str, threads: int = 4) -> None:
        self.url = url
        self.user = user
        self.acked: dict[str, str] = {}
        self.errors: list[str] = []
        #: Requests that got no answer, never acknowledged: sent and then the server died with them in
        #: flight (`lost_in_flight`), or refused because it was already gone (`refused`).
        self.lost_in_flight = 0
        self.refused = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, worker: int) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                items = [{"id": str(uuid.uuid4()), "content": f"w{worker} n{n} item{j}"} for j in range(1 + n % 3)]
                try:
                    if len(items) == 1:
                        r = client.post("/v1/memories", json={"user_id": self.user, **items[0]})
                    else:
                        r = client.post("/v1/memories/batch", json={"user_id": self.user, "items": items})
                except httpx.HTTPError as exc:
                    with self._lock:
                        if isinstance(exc, httpx.ConnectError):
                            self.refused += 1
                        else:
                            self.lost_in_flight += 1
                    time.sleep(0.05)  # no answer: not acknowledged, and the server may be gone
                    continue
                if r.status_code == 201:
                    with self._lock:
                        self.acked.update((i["id"], i["content"]) for i in items)
                else:
                    self.errors.append(f"{r.status_code} {r.text[:200]}")

    def start(self) -> AddStream:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> dict[str, str]:
        self._stop.set()
        for t in self._threads:
            t.join(15)
        return dict(self.acked)


def all_ids(client: httpx.Client, user: str) -> list[str]:
    """Every id in the user's listing, following cursors (duplicates kept, to catch them)."""
    ids: list[str] = []
    cursor = None
    while True:
        params = {"user_id": user, "limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/memories", params=params).json()
        ids += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return ids


def known_metric_names() -> set[str]:
    """Every series name the service exposes (histograms expanded), the canary's, `up`, the collector's
    self-metrics the telemetry alert reads, and the exporters', Prometheus's and Alertmanager's series the
    infrastructure alerts read: what rules and dashboards may refer to."""
    from jean_memory.canary import CanaryMetrics
    from jean_memory.telemetry.metrics import metric_docs
    from jean_memory_dev.mixin import COLLECTOR_METRICS, INFRASTRUCTURE_METRICS

    known = {"up", *COLLECTOR_METRICS, *INFRASTRUCTURE_METRICS}
    for family in CanaryMetrics().registry.collect():  # the synthetic user's, scraped as its own job
        kind = {"counter": "_total"}.get(family.type, "")
        known.add(family.name + kind)
        if family.type == "histogram":
            known |= {f"{family.name}_bucket", f"{family.name}_count", f"{family.name}_sum"}
    for doc in metric_docs():
        known.add(doc.name)
        if doc.kind == "histogram":
            known |= {f"{doc.name}_bucket", f"{doc.name}_count", f"{doc.name}_sum"}
    return known


def new_id() -> str:
    return str(uuid.uuid4())


def wait_for(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """`check()`'s first truthy value, polled every 0.25 s; TimeoutError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.25)


def firing_alerts(prom: Any, alert: str, **labels: str) -> list[dict[str, Any]]:
    """The `ALERTS` series of `alert` firing on a Prometheus (a `PrometheusServer`), matching `labels`."""
    sel = ", ".join([f'alertname="{alert}"', 'alertstate="firing"', *(f'{k}="{v}"' for k, v in labels.items())])
    result: list[dict[str, Any]] = prom.query(f"ALERTS{{{sel}}}")
    return result


#: PromQL's grouping and matching clauses with their label lists (`by (job, le)`, `without (type)`,
#: `on (instance)`, `group_left (slo)`): label names, not metrics, so the metric-name checks drop them whole.
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def without_grouping(expr: str) -> str:
    """`expr` with its grouping and matching clauses (and their label lists) blanked out."""
    return GROUPING.sub(" ", expr)
