"""One stack under drill, composed of the parts every run shares: the load (`LoadDriver`), the alerting as
the drill reads it (`AlertObserver`: Prometheus and the receiver), and the engine that runs one fault and
checks what arrives (`FaultEngine`). `DrillRun` adds the phases around the faults: the warm-up, the
healthy window and the dashboard check.

The monitoring (a Prometheus pair, three clustered Alertmanagers, the receiver) is handed in, started:
one `Monitoring` serves the embedded run and then the cluster run, each pointing its scrapes at its own
service processes.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from jean_memory_dev.background import Beside
from jean_memory_dev.drill import golden, machine
from jean_memory_dev.drill.dashcheck import check_dashboards
from jean_memory_dev.drill.engine import FaultEngine
from jean_memory_dev.drill.loaddriver import LoadDriver
from jean_memory_dev.drill.noise import REPORTED_ONLY, TOLERATED, breaches
from jean_memory_dev.drill.observer import AlertObserver, names, wait_for
from jean_memory_dev.drill.report import DrillResult, RunLog
from jean_memory_dev.mixin import Alert, load
from jean_memory_dev.mixin.boards import Mode
from jean_memory_dev.mixin.config import duration_seconds
from jean_memory_dev.nativestack import Monitoring
from jean_memory_dev.perf.workload import LOAD_QUERIES, query_pool
from jean_memory_dev.processes import AlertmanagerServer, PrometheusServer

ADMIN_TOKEN = "drill-admin-token-0123456789"  # a throwaway stack's token, never a production one
#: What every drilled service runs with, in both modes: the hash embedder (no model to load), the admin
#: routes the faults are injected through, one trace in ten, and no warm promotions at start.
SERVICE_ENV = {
    "JM_EMBEDDER": "hash",
    "JM_FAULTS_ENABLED": "true",
    "JM_ADMIN_TOKEN": ADMIN_TOKEN,
    "JM_TRACE_SAMPLE_RATIO": "0.1",
    "JM_STM_WARM_USERS": "0",
}


class DrillRun:
    """One stack under drill (the drill's `model.Target`). Subclasses start it and say how to reach the
    service: `front` (where the load goes), `service_urls()`, `service_process()`, `service_processes()`,
    `kill_service()`, `restart_service()`."""

    mode: Mode
    #: (alertname, severity) the healthy window tolerates and reports (`noise`: where their figure held over
    #: the whole window).
    tolerated: frozenset[tuple[str, str]] = TOLERATED
    #: Whether a tolerated ticket's figure must hold over the whole healthy window (`noise`), or is only reported.
    figures_must_hold = True
    #: Whether the stack runs the node, postgres and blackbox exporters (the full cluster drill): without them
    #: their boards (`boards.EXPORTER_BOARDS`) draw nothing and are skipped, and reported so.
    exporters = False

    def __init__(
        self, folder: Path, result: DrillResult, monitoring: Monitoring, *, healthy_s: float, full: bool, users: int
    ) -> None:
        self.folder = folder
        self.result = result
        #: How long the healthy window lasts; whether the full drill's faults run too.
        self.healthy_s = healthy_s
        self.full = full
        self.monitoring = monitoring
        self.ha = monitoring.ha
        self.report = RunLog(result, self.mode)
        self.observer = AlertObserver(monitoring)
        self.load = LoadDriver(folder, users)
        self.engine = FaultEngine(self, self.observer, self.report, ha=self.ha, tolerated=self.tolerated)
        #: When this run's stack began to serve load (Unix seconds): Prometheus's figures before it are another's.
        self.started_at = time.time()

    @property
    def prometheus(self) -> list[PrometheusServer]:
        return self.monitoring.prometheus

    @property
    def alertmanagers(self) -> list[AlertmanagerServer]:
        return self.monitoring.alertmanagers

    # ---- what subclasses provide -------------------------------------------------------------------
    @property
    def front(self) -> str:
        raise NotImplementedError

    def service_urls(self) -> list[str]:
        """Every service process's own URL (the embedded service, or each replica)."""
        raise NotImplementedError

    def service_process(self, replica: int | None = None) -> subprocess.Popen[bytes]:
        raise NotImplementedError

    def service_processes(self) -> list[subprocess.Popen[bytes]]:
        """Every running service process (the embedded service, or each live replica)."""
        raise NotImplementedError

    def kill_service(self) -> None:
        raise NotImplementedError

    def restart_service(self, env: dict[str, str]) -> None:
        raise NotImplementedError

    # ---- the service -------------------------------------------------------------------------------
    def admin(self, spec: dict[str, Any] | None) -> None:
        """Set (or with None clear) the injected faults on every service process."""
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        for url in self.service_urls():
            endpoint = f"{url}/admin/faults"
            r = httpx.put(endpoint, json=spec, headers=headers) if spec else httpx.delete(endpoint, headers=headers)
            r.raise_for_status()

    def service_gauge(self, name: str) -> float:
        """A gauge from the first service process's /metrics, read directly (no scrape delay)."""
        text = httpx.get(f"{self.service_urls()[0]}/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name:
                    return float(sample.value)
        raise KeyError(name)

    def start_load(self) -> None:
        """The golden users first (the service replays their searches from its start), then the load."""
        self.started_at = time.time()
        golden.seed(self.front)
        self.load.start(self.front)

    # ---- phases ------------------------------------------------------------------------------------
    def warm_up(self, timeout_s: float = 240.0, label: str = "warm-up") -> None:
        """Caches start cold: load until the cache hit ratio and the Watchdog are where they belong, and
        nothing fires.

        Only what the running service processes produced counts: the monitoring outlives a stack (the cluster
        run follows the embedded one on the same Prometheus pair, and a restarted service follows its killed
        self), and the recorded ratio is summed by job, so for a while it still holds the previous processes'
        warm figures. The ratio is read only once every rate window behind the held span began after this
        warm-up did (a cluster once started its healthy window on the embedded run's figures, with its own
        caches cold, and met JeanMemoryLowCacheHitRate in it)."""
        since = time.monotonic()
        rate = load().windows.fast.rate
        # Held for twice the rate window, not seen once: the ratio over one window is noisy while the caches
        # still fill (0.92 then 0.89 a window later, side by side on both builds), and a single sample over
        # 0.85 let a quick drill start its healthy window early and meet JeanMemoryLowCacheHitRate in it.
        held_s = 2 * duration_seconds(rate)
        held = f"{held_s:g}s"
        # The load's queries follow Zipf's law: left to the load alone, the query cache meets the rare ones
        # for minutes (slower still on a busy machine), so every query of its pool is searched once first
        # (three times: behind HAProxy each replica has its own cache).
        queries = query_pool(int(os.environ.get("JM_LOAD_QUERIES", str(LOAD_QUERIES))))
        with httpx.Client(base_url=self.front, timeout=30) as client:
            for query in queries * 3:
                client.post("/v1/search", json={"user_id": "drill-warm-up", "query": query, "k": 1})

        fresh_after_s = held_s + duration_seconds(rate)  # the held span, and the rate window behind its start

        def warm() -> bool:
            if time.monotonic() - since < fresh_after_s:
                return False
            hit = self.observer.query(f"min_over_time(jm:cache_hit:ratio_rate{rate}[{held}])")
            watchdog = any(a["labels"].get("alertname") == Alert.WATCHDOG for a in self.observer.received())
            quiet = not (self.observer.firing(pending=True) - self.tolerated)
            return bool(hit) and float(hit[0]["value"][1]) > 0.85 and watchdog and quiet

        if wait_for(warm, timeout_s) is None:
            firing = sorted(self.observer.firing(pending=True) - self.tolerated)
            self.report.fail(f"{label}: did not settle (firing: {firing}; {self._errors_by_source(held)})")

    def _errors_by_source(self, window: str) -> str:
        """Which process answered 5xx over `window`, on which route: what a failed warm-up reports, so that
        an availability alert that will not clear says whose errors hold it."""
        expr = (
            "sum by (instance, http_route) (increase(http_server_request_duration_seconds_count"
            f'{{http_response_status_class="5xx"}}[{window}])) > 0'
        )
        try:
            rows = self.observer.query(expr)
        except (httpx.HTTPError, IndexError) as exc:
            return f"5xx by source unknown: {exc!r}"
        found = [
            f"{r['metric'].get('instance')} {r['metric'].get('http_route')}: {float(r['value'][1]):.0f}" for r in rows
        ]
        return f"5xx over {window}: {', '.join(found) or 'none'}"

    def healthy(self, seconds: float, meanwhile: Callable[[], None] | None = None) -> None:
        """Healthy load: no alert but the Watchdog may fire and reach the receiver (the resolution of one
        the cold start raised may still arrive, at Alertmanager's next group_interval tick). What the machine
        gave the service meanwhile (`machine`: CPU stolen, the loop threads' run-queue wait) is reported
        beside the verdict, so that a failure says whether the service or its machine was slow.

        `meanwhile` runs in the window, beside the load (the dashboard check: queries to Prometheus only),
        and the window lasts until it is done too."""
        summary = self.report.summary
        watching = machine.watch(p.pid for p in self.service_processes())
        start = time.time()
        beside = Beside(meanwhile) if meanwhile is not None else None
        time.sleep(seconds)
        if beside is not None:
            beside.join()  # re-raises what it raised
        share = watching.end()
        firing = [
            a
            for a in self.observer.received_since(start)
            if a["status"] == "firing" and a["labels"].get("alertname") != Alert.WATCHDOG
        ]
        noise = [a for a in firing if (a["labels"].get("alertname"), a["labels"].get("severity")) not in self.tolerated]
        figures = share.describe()
        self.report.log(f"healthy window: {len(noise)} alerts besides the Watchdog; {figures}")
        tolerated = sorted(names([a for a in firing if a not in noise]))
        summary |= {
            "healthy_seconds": seconds,
            "false_positives": noise,
            "tolerated": tolerated,
            "machine": share.to_json(),
        }
        if noise:
            self.report.fail(
                f"healthy load: {len(noise)} alerts besides the Watchdog: {sorted(names(noise))} ({figures})"
            )
        checks = breaches(seconds)
        held = {name: not self.observer.query(checks[name]) for name in sorted({n for n, _ in self.tolerated})}
        summary["figures_held_over_window"] = held
        must_hold = [name for name in tolerated if name not in REPORTED_ONLY]
        broken = [name for name in must_hold if not held.get(name, False)] if self.figures_must_hold else []
        if broken:
            self.report.fail(
                f"healthy load: {broken} fired and their figures failed over the whole {seconds:.0f} s window"
            )

    def check_dashboards(self) -> None:
        """Every panel query that applies to this mode draws (`dashcheck`)."""
        live = self.observer.live_prometheus
        summary = check_dashboards(lambda: live()[0], self.mode, self.exporters, since=self.started_at)
        self.report.summary["dashboards"] = summary
        if summary["empty"]:
            self.report.fail(
                f"{self.mode} dashboards: {len(summary['empty'])} queries returned no data: {summary['empty']}"
            )
