"""What every drill run shares: the load, the receiver and Prometheus as the drill reads them, the warm-up,
the healthy window, the dashboard check, and the engine that injects one fault and checks what arrives.

For each fault: inject; wait until every expected alert has reached the receiver (through Alertmanager,
from every Prometheus replica) within its bound; check that no page outside the fault's allowed set
arrived meanwhile; clear; wait for each resolution within its bound; count the notifications of each
alert group (HA: both Prometheus replicas fire, the Alertmanager cluster notifies once); then wait until
the fault's consequences have cleared, so faults do not mask each other.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from jean_memory_dev.drill import golden
from jean_memory_dev.drill.bounds import (
    SLACK_S,
    Timing,
    deadman_bound_s,
    deadman_resolution_bound_s,
    detection_bound_s,
    resolution_bound_s,
    settle_s,
)
from jean_memory_dev.drill.faults import Expect, Fault
from jean_memory_dev.drill.flushrace import UPSTREAM, deliveries, extra_after_resolution, is_flush_race
from jean_memory_dev.drill.noise import REPORTED_ONLY, TOLERATED, breaches
from jean_memory_dev.drill.report import DrillResult
from jean_memory_dev.mixin import BURN_ALERTS, DEADMAN_ALERT, Alert, Severity, load, runbook_url
from jean_memory_dev.mixin.boards import EXPORTER_BOARDS, Mode, applies, board_of
from jean_memory_dev.mixin.config import duration_seconds
from jean_memory_dev.mixin.layout import DASHBOARDS_JSON
from jean_memory_dev.perf.workload import LOAD_QUERIES, query_pool
from jean_memory_dev.processes import AlertmanagerServer, PrometheusServer, ReceiverProcess

LOCUSTFILE = Path(__file__).resolve().parents[1] / "load" / "locustfile.py"
ADMIN_TOKEN = "drill-admin-token-0123456789"  # a throwaway stack's token, never a production one
#: A burn alert's ticket may outlive its fault by its long windows: the drill waits for pages to clear only.
BURN_TICKETS = frozenset((a.value, Severity.WARNING.value) for a in BURN_ALERTS)


#: Grafana's `$__rate_interval` as the drill fills it: the window the other panels' queries use.
RATE_INTERVAL = load().windows.production.rate


def with_all_selected(board: dict[str, Any], expr: str) -> str:
    """A panel's query as Grafana sends it with every template variable of its dashboard on All (the
    variable's `allValue`, `.*`: every replica, and series without the label)."""
    variables = sorted(board.get("templating", {}).get("list", []), key=lambda v: -len(v["name"]))
    for variable in variables:
        expr = expr.replace(f"${variable['name']}", variable.get("allValue") or ".*")
    return expr.replace("$__rate_interval", RATE_INTERVAL)


def without_offsets(expr: str) -> str:
    """A Trends query as of now: a fresh Prometheus has no data a day or a week back, so the drill checks
    that the series exist now (the offset itself is PromQL that promtool parses in tests/rules)."""
    return re.sub(r"\s+offset\s+\d+[smhdwy]", "", expr)


class DrillRun:
    """One stack under drill. Subclasses start it and say how to reach the service: `front` (where the load
    goes), `admin()`, `service_process()`, `kill_service()`, `restart_service()`."""

    mode: Mode
    #: (alertname, severity) the healthy window tolerates and reports (`noise`: where their figure held over
    #: the whole window).
    tolerated: frozenset[tuple[str, str]] = TOLERATED
    #: Whether a tolerated ticket's figure must hold over the whole healthy window (`noise`), or is only reported.
    figures_must_hold = True
    #: Whether the stack runs the node, postgres and blackbox exporters (the full cluster drill): without them
    #: their boards (`boards.EXPORTER_BOARDS`) draw nothing and are skipped, and reported so.
    exporters = False
    prometheus: list[PrometheusServer]
    alertmanagers: list[AlertmanagerServer]
    receiver: ReceiverProcess

    def __init__(self, folder: Path, result: DrillResult, users: int = 10, ha: bool = True) -> None:
        self.folder = folder
        self.result = result
        self.users = users
        self.ha = ha
        self.load: subprocess.Popen[bytes] | None = None

    # ---- what subclasses provide -------------------------------------------------------------------
    @property
    def front(self) -> str:
        raise NotImplementedError

    def service_urls(self) -> list[str]:
        """Every service process's own URL (the embedded service, or each replica)."""
        raise NotImplementedError

    def service_process(self, replica: int | None = None) -> subprocess.Popen[bytes]:
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

    # ---- load --------------------------------------------------------------------------------------
    def start_load(self) -> None:
        """The golden users first (the service replays their searches from its start), then the load."""
        golden.seed(self.front)
        log = (self.folder / "locust.log").open("ab")
        self.load = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(LOCUSTFILE),
                "--headless",
                "--host",
                self.front,
                "--users",
                str(self.users),
                "--spawn-rate",
                str(self.users),
                "--run-time",
                "180m",
                "--csv",
                str(self.folder / "locust"),
                "--only-summary",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "JM_LOAD_USERS": "2000"},
        )
        log.close()

    def stop_load(self) -> None:
        if self.load and self.load.poll() is None:
            os.killpg(self.load.pid, signal.SIGTERM)
            try:
                self.load.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.load.pid, signal.SIGKILL)
                self.load.wait(10)

    def load_totals(self) -> tuple[int, int]:
        """(requests, failures) the load has sent so far, from locust's stats history (written every second)."""
        path = self.folder / "locust_stats_history.csv"
        last: dict[str, str] | None = None
        if path.exists():
            with path.open() as f:
                for row in csv.DictReader(f):
                    if row.get("Name") == "Aggregated":
                        last = row
        if last is None:
            return 0, 0
        return int(last["Total Request Count"]), int(last["Total Failure Count"])

    # ---- what arrived, what fires ------------------------------------------------------------------
    def received(self) -> list[dict[str, Any]]:
        return [dict(a) for a in self.receiver.received()]

    def live_prometheus(self) -> list[PrometheusServer]:
        return [p for p in self.prometheus if p.running]

    def query(self, expr: str, prom: PrometheusServer | None = None) -> list[dict[str, Any]]:
        target = prom or self.live_prometheus()[0]
        return [dict(r) for r in target.query(expr)]

    def firing(self, pending: bool = False) -> set[tuple[str, str]]:
        """(alertname, severity) of what fires now on any live replica (with `pending`, also what is on its
        way), the Watchdog aside."""
        selector = "ALERTS" if pending else 'ALERTS{alertstate="firing"}'
        out: set[tuple[str, str]] = set()
        for prom in self.live_prometheus():
            try:
                out |= {(r["metric"]["alertname"], r["metric"].get("severity", "")) for r in self.query(selector, prom)}
            except httpx.HTTPError:
                continue
        return {a for a in out if a[0] != Alert.WATCHDOG}

    def firing_on(self, expect: Expect) -> set[str]:
        """The Prometheus replicas (by folder name) on which the expected alert fires now."""
        sel = f'ALERTS{{alertname="{expect.name}", severity="{expect.severity}", alertstate="firing"}}'
        out = set()
        for prom in self.live_prometheus():
            try:
                if self.query(sel, prom):
                    out.add(prom.folder.name)
            except httpx.HTTPError:
                continue
        return out

    @staticmethod
    def wait_for(check: Callable[[], bool], timeout_s: float, every_s: float = 0.5) -> float | None:
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if check():
                return time.monotonic() - start
            time.sleep(every_s)
        return None

    # ---- phases ------------------------------------------------------------------------------------
    def warm_up(self, timeout_s: float = 240.0, label: str = "warm-up") -> None:
        """Caches start cold: load until the cache hit ratio and the Watchdog are where they belong, and
        nothing fires."""
        rate = load().windows.fast.rate
        # Held for twice the rate window, not seen once: the ratio over one window is noisy while the caches
        # still fill (0.92 then 0.89 a window later, side by side on both builds), and a single sample over
        # 0.85 let a quick drill start its healthy window early and meet JeanMemoryLowCacheHitRate in it.
        held = f"{2 * duration_seconds(rate):g}s"
        # The load's queries follow Zipf's law: left to the load alone, the query cache meets the rare ones
        # for minutes (slower still on a busy machine), so every query of its pool is searched once first
        # (three times: behind HAProxy each replica has its own cache).
        queries = query_pool(int(os.environ.get("JM_LOAD_QUERIES", str(LOAD_QUERIES))))
        with httpx.Client(base_url=self.front, timeout=30) as client:
            for query in queries * 3:
                client.post("/v1/search", json={"user_id": "drill-warm-up", "query": query, "k": 1})

        def warm() -> bool:
            hit = self.query(f"min_over_time(jm:cache_hit:ratio_rate{rate}[{held}])")
            watchdog = any(a["labels"].get("alertname") == Alert.WATCHDOG for a in self.received())
            quiet = not (self.firing(pending=True) - self.tolerated)
            return bool(hit) and float(hit[0]["value"][1]) > 0.85 and watchdog and quiet

        if self.wait_for(warm, timeout_s) is None:
            self.fail(f"{label}: did not settle (firing: {sorted(self.firing(pending=True) - self.tolerated)})")

    def healthy(self, seconds: float) -> None:
        """Healthy load: no alert but the Watchdog may fire and reach the receiver (the resolution of one
        the cold start raised may still arrive, at Alertmanager's next group_interval tick)."""
        start = time.time()
        time.sleep(seconds)
        firing = [
            a
            for a in self.received()
            if a["received_at"] >= start and a["status"] == "firing" and a["labels"].get("alertname") != Alert.WATCHDOG
        ]
        noise = [a for a in firing if (a["labels"].get("alertname"), a["labels"].get("severity")) not in self.tolerated]
        tolerated = sorted(self.names([a for a in firing if a not in noise]))
        self.result.runs[self.mode]["healthy_seconds"] = seconds
        self.result.runs[self.mode]["false_positives"] = noise
        self.result.runs[self.mode]["tolerated"] = tolerated
        if noise:
            self.fail(f"healthy load: {len(noise)} alerts besides the Watchdog: {sorted(self.names(noise))}")
        checks = breaches(seconds)
        held = {name: not self.query(checks[name]) for name in sorted({n for n, _ in self.tolerated})}
        self.result.runs[self.mode]["figures_held_over_window"] = held
        must_hold = [name for name in tolerated if name not in REPORTED_ONLY]
        broken = [name for name in must_hold if not held.get(name, False)] if self.figures_must_hold else []
        if broken:
            self.fail(f"healthy load: {broken} fired and their figures failed over the whole {seconds:.0f} s window")

    def check_dashboards(self) -> None:
        """Every panel query that applies to this mode returns data (a finite value: NaN draws nothing) from
        this Prometheus, as Grafana sends it with every variable on All. Skipped: the collector's own panels
        (no collector runs natively), panels of the other mode (`mixin.boards.applies`) and, where the run has
        no exporters, their boards; Trends queries are checked as of now."""
        checked, empty, skipped, other_mode, no_exporters = 0, [], set(), set(), set()
        for path in sorted(DASHBOARDS_JSON.glob("*.json")):
            board = json.loads(path.read_text())
            for panel in board["panels"]:
                for target in panel.get("targets", []):
                    where = f"{path.stem} / {panel['title']}"
                    expr = without_offsets(with_all_selected(board, target["expr"]))
                    if "otelcol_" in expr or target["datasource"]["type"] == "loki":  # compose only
                        skipped.add(where)
                        continue
                    if not applies(board_of(path.stem), panel["title"], self.mode):
                        other_mode.add(where)
                        continue
                    if board_of(path.stem) in EXPORTER_BOARDS and not self.exporters:
                        no_exporters.add(where)
                        continue
                    checked += 1
                    if not any(math.isfinite(float(r["value"][1])) for r in self.query(expr)):
                        empty.append(f"{where}: {expr}")
        self.result.runs[self.mode]["dashboards"] = {
            "queries": checked,
            "empty": empty,
            "skipped_collector_only": sorted(skipped),
            "skipped_other_mode": sorted(other_mode),
            "skipped_no_exporters": sorted(no_exporters),
        }
        if empty:
            self.fail(f"{self.mode} dashboards: {len(empty)} queries returned no data: {empty}")

    # ---- one fault ---------------------------------------------------------------------------------
    @staticmethod
    def names(alerts: Sequence[dict[str, Any]]) -> set[str]:
        return {a["labels"].get("alertname", "?") for a in alerts}

    @staticmethod
    def matches(alert: dict[str, Any], expect: Expect) -> bool:
        return alert["labels"].get("alertname") == expect.name and alert["labels"].get("severity") == expect.severity

    def received_since(self, since: float) -> list[dict[str, Any]]:
        return [a for a in self.received() if a["received_at"] >= since]

    def delivered(self, expect: Expect, status: str, since: float) -> list[dict[str, Any]]:
        return [a for a in self.received_since(since) if self.matches(a, expect) and a["status"] == status]

    def peer_waits_s(self) -> float:
        """How long after one peer's notification the last peer of the cluster may still send its own for
        the same flush (its position times the peer timeout), plus the drill's slack."""
        return (len(self.alertmanagers) - 1) * Timing.fast().peer_timeout + SLACK_S

    def pages(self, since: float, allowed: frozenset[str]) -> list[dict[str, Any]]:
        """Pages (critical, or the dead man's switch) that arrived since `since` outside `allowed`."""
        return [
            a
            for a in self.received()
            if a["received_at"] >= since
            and a["status"] == "firing"
            and a["labels"].get("severity") == Severity.CRITICAL
            and a["labels"].get("alertname") not in allowed
        ]

    def bounds(self, fault: Fault, expect: Expect) -> tuple[float, float, list[str]]:
        """(detection bound, resolution bound, notes) of one expected alert of a fault."""
        if expect.name == DEADMAN_ALERT:
            return deadman_bound_s(), deadman_resolution_bound_s(), []
        alert = Alert(expect.name)
        onset, why_onset = fault.onset.get(alert, (0.0, ""))
        recovery, why_recovery = fault.recovery.get(alert, (0.0, ""))
        detect = (
            detection_bound_s(alert, expect.severity, burn=fault.burn, onset_s=onset, failover=fault.failover)
            if alert in BURN_ALERTS
            else detection_bound_s(alert, onset_s=onset, failover=fault.failover)
        )
        resolve = resolution_bound_s(alert, expect.severity, recovery_s=recovery)
        notes = [f"+{onset:g} s onset: {why_onset}"] * bool(why_onset)
        notes += [f"+{recovery:g} s recovery: {why_recovery}"] * bool(why_recovery)
        return detect, resolve, notes

    def run_fault(self, fault: Fault, during: Callable[[], None] | None = None) -> list[dict[str, Any]]:
        """Inject, check delivery, clear, check resolution, settle (see the module's docstring). `during`
        runs once the fault is injected (the HA drill kills monitoring processes from it)."""
        bounds = {e: self.bounds(fault, e) for e in fault.expect}
        for action in fault.actions:  # what must exist before the fault's clock starts (a big user...)
            prepare = getattr(action, "prepare", None)
            if prepare is not None:
                prepare(self)
                self.settle()
        start = time.time()
        for action in fault.actions:
            action.inject(self)
        if during is not None:
            during()
        detected: dict[Expect, float] = {}
        seen_on: dict[Expect, set[str]] = {e: set() for e in fault.expect}

        def all_detected() -> bool:
            for e in fault.expect:
                if e not in detected and self.delivered(e, "firing", start):
                    detected[e] = time.time() - start
                if self.ha and e.alert is not None and len(seen_on[e]) < len(self.live_prometheus()):
                    seen_on[e] |= self.firing_on(e)
            return len(detected) == len(fault.expect)

        self.wait_for(all_detected, max(b[0] for b in bounds.values()) + 30)
        live = {p.folder.name for p in self.live_prometheus()}  # a fault may have killed one
        if self.ha:  # give every live replica the chance to have been seen firing
            self.wait_for(lambda: all(live <= seen_on[e] for e in detected), 5)
            for e in detected:
                seen_on[e] |= self.firing_on(e)
        pages = self.pages(start, fault.allowed)
        cleared = time.time()
        for action in reversed(fault.actions):
            action.clear(self)
        resolved_at = time.time()
        resolved: dict[Expect, float] = {}

        def all_resolved() -> bool:
            for e in detected:
                if e not in resolved and self.delivered(e, "resolved", resolved_at):
                    resolved[e] = time.time() - resolved_at
            return len(resolved) == len(detected)

        self.wait_for(all_resolved, max(b[1] for b in bounds.values()) + 60)
        rows = [
            self._row(fault, e, bounds[e], start, cleared, detected, resolved, seen_on, pages, live)
            for e in fault.expect
        ]
        self.result.faults += rows
        for r in rows:
            self.log(
                f"{fault.name}: {r['alert']} ({r['route']}) detected {r['time_to_detect_s']} s "
                f"(bound {r['detect_bound_s']:.0f}), resolved {r['time_to_resolve_s']} s "
                f"(bound {r['resolve_bound_s']:.0f}), notified {r['notifications']}x"
            )
        self.settle(since=resolved_at)
        return rows

    def _row(
        self,
        fault: Fault,
        e: Expect,
        bounds: tuple[float, float, list[str]],
        start: float,
        cleared: float,
        detected: dict[Expect, float],
        resolved: dict[Expect, float],
        seen_on: dict[Expect, set[str]],
        pages: list[dict[str, Any]],
        live: set[str],
    ) -> dict[str, Any]:
        detect_bound, resolve_bound, notes = bounds
        mine = [a for a in self.received_since(start) if self.matches(a, e)]  # one read of the receiver
        firing = [a for a in mine if a["status"] == "firing"]
        resolved_alerts = [a for a in mine if a["status"] == "resolved"]
        first_resolved = min((a["received_at"] for a in resolved_alerts), default=float("inf"))
        notifications = {a["notification"] for a in firing if a["received_at"] < first_resolved}
        resolutions = {a["notification"] for a in resolved_alerts if a["received_at"] >= cleared}
        sequence = deliveries(mine)
        described = [d.describe(start) for d in sequence]
        race = self.ha and len(resolutions) > 1 and is_flush_race(sequence, self.peer_waits_s())
        if race:
            notes = [*notes, f"Alertmanager HA flush race: resolved, firing, resolved from two peers ({UPSTREAM})"]
        alert = firing[0] if firing else None
        row = {
            "run": str(self.mode),
            "fault": fault.name,
            "what": fault.describe(),
            "alert": e.name,
            "severity": str(e.severity),
            "route": e.severity.route,
            "time_to_detect_s": round(detected[e], 1) if e in detected else None,
            "detect_bound_s": round(detect_bound, 1),
            "time_to_resolve_s": round(resolved[e], 1) if e in resolved else None,
            "resolve_bound_s": round(resolve_bound, 1),
            "notifications": len(notifications),
            "resolved_notifications": len(resolutions),
            "flush_race_notifications": len(extra_after_resolution(sequence)) if race else 0,
            "deliveries": described,
            "firing_on": sorted(seen_on.get(e, set())),
            "runbook_url": alert["annotations"].get("runbook_url") if alert else None,
            "dashboard_url": alert["annotations"].get("dashboard_url") if alert else None,
            "value": alert["annotations"].get("value") if alert else None,
            "unrelated_pages": sorted(self.names(pages)),
            "notes": notes,
        }
        where = f"{self.mode}/{fault.name}: {e.name} ({e.severity})"
        if e not in detected or detected[e] > detect_bound:
            self.fail(f"{where} not delivered within {detect_bound:.0f} s ({row['time_to_detect_s']})")
        if e not in resolved or resolved[e] > resolve_bound:
            self.fail(f"{where} not resolved within {resolve_bound:.0f} s ({row['time_to_resolve_s']})")
        if e in detected and len(notifications) != 1:
            self.fail(f"{where} notified {len(notifications)} times, not once")
        if e in resolved and len(resolutions) != 1 and not race:
            told = ", ".join(described)
            self.fail(f"{where} resolution notified {len(resolutions)} times, not once (after the fault: {told})")
        if self.ha and e.alert is not None and any(d.sender is None for d in sequence):
            self.fail(f"{where}: a notification does not name the Alertmanager that sent it")
        if self.ha and e.alert is not None and e in detected and not live <= seen_on[e]:
            self.fail(f"{where} fired on {sorted(seen_on[e])} only, not on every live replica {sorted(live)}")
        if alert and e.alert is not None:
            config = load()
            if alert["annotations"].get("runbook_url") != runbook_url(config, e.alert):
                self.fail(f"{where}: wrong runbook link {alert['annotations'].get('runbook_url')}")
            if alert["labels"].get("service") != config.service.job:
                self.fail(f"{where}: alert lacks the service label")
            if not str(alert["annotations"].get("dashboard_url", "")).startswith(config.service.dashboard_base_url):
                self.fail(f"{where}: no dashboard link")
        if pages:
            self.fail(f"{where}: unrelated pages {row['unrelated_pages']}")
        return row

    def settle(self, since: float | None = None, timeout_s: float = 150.0) -> None:
        """Let every alert a fault raised clear before the next fault, so faults do not mask each other:
        an alert can still turn firing up to (rate window + longest `for`) after the fault is gone, so wait
        until that long after `since` (when the fault was cleared; now when not given), then until nothing
        fires or is pending (burn tickets aside: their long windows keep them for minutes by design; they
        page nobody). Counting from the clearing, not from the resolutions the drill waited for in between,
        keeps the guarantee and spends no time twice."""
        start = time.time() if since is None else since
        time.sleep(max(0.0, start + settle_s() - time.time()))
        self.wait_for(lambda: not (self.firing(pending=True) - BURN_TICKETS - self.tolerated), timeout_s)

    def log(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')} {self.mode}] {message}", file=sys.stderr, flush=True)

    def fail(self, message: str) -> None:
        self.result.failures.append(message)
        print(f"FAIL: {message}", file=sys.stderr, flush=True)
