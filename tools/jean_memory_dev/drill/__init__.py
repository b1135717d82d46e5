"""Fire drills: real load into the real service, real Prometheus and Alertmanager with the drill
rules, a fault injected, and the right alert delivered to the receiver in time, then resolved.

Phases: warm up (caches start cold), a healthy window in which nothing but the Watchdog may reach the
receiver, then for each fault: inject, wait for the expected alert, check that no page outside the
fault's related set started meanwhile, clear, wait for the resolution. Every dashboard query is run
against this Prometheus during load. The result is a JSON report and a table.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from jean_memory_dev.mixin import BURN_ALERTS, Alert, Context, Variant, load, runbook_url
from jean_memory_dev.mixin.config import duration_seconds
from jean_memory_dev.mixin.layout import DASHBOARDS_JSON
from jean_memory_dev.mixin.rules import catalogue_rules
from jean_memory_dev.nativestack import NativeStack, StackPorts
from jean_memory_dev.paths import ROOT
from jean_memory_dev.processes import free_port

LOCUSTFILE = Path(__file__).resolve().parent / "load" / "locustfile.py"
ADMIN_TOKEN = "drill-admin-token-0123456789"  # a throwaway stack's token, never a production one


@dataclass(frozen=True)
class Fault:
    """A fault to inject, the alert it must raise, and the alerts it may also raise (its consequences)."""

    name: str
    spec: dict[str, Any]
    expect: Alert
    related: frozenset[Alert] = frozenset()


FAULTS = (
    Fault(
        "latency",
        {"latency_ms": {"add": 150, "search": 150, "get": 150, "list": 150}},
        Alert.HIGH_LATENCY,
        frozenset({Alert.CREATION_LATENCY_HIGH, Alert.SEARCH_LATENCY_HIGH, Alert.LATENCY_BUDGET_BURN}),
    ),
    Fault(
        "error_ratio",
        {"error_ratio": {"add": 0.3, "search": 0.3, "get": 0.3}},
        Alert.HIGH_ERROR_RATE,
        frozenset({Alert.AVAILABILITY_BUDGET_BURN}),
    ),
    Fault(
        "ltm_unreachable",
        {"ltm_unreachable": True},
        Alert.LTM_UNREACHABLE,
        frozenset(
            {
                Alert.HIGH_ERROR_RATE,
                Alert.AVAILABILITY_BUDGET_BURN,
                Alert.SHUTTLE_STALE,
                Alert.SHUTTLE_BACKLOG_GROWING,
            }
        ),
    ),
    Fault("cache_disabled", {"cache_disabled": True}, Alert.LOW_CACHE_HIT_RATE),
    Fault("collector_unreachable", {"collector_unreachable": True}, Alert.TELEMETRY_PIPELINE_BROKEN),
)


def _fast() -> Context:
    """The drill runs the fast rules: the typed config seen through the fast windows."""
    return Context(load(), Variant.FAST)


def _for_s(for_: str | None) -> float:
    return duration_seconds(for_) if for_ else 0.0


def detection_bound_s(alert: Alert) -> float:
    """Worst case from fault to delivery, derived from the drill's intervals (stated in the report):
    the rate window fills with faulty samples, the alert is pending for its `for`, then evaluation,
    Alertmanager's group_wait and one group_interval, plus 10 s for scheduling on a busy 2-core VM."""
    ctx = _fast()
    rule = next(r for r in catalogue_rules(ctx) if r.alert is alert)
    scrape = evaluation = 1.0
    group_wait, group_interval = 1.0, 2.0
    return duration_seconds(ctx.rate) + _for_s(rule.for_) + scrape + 2 * evaluation + group_wait + group_interval + 10.0


def settle_s() -> float:
    """How long after a fault its consequences may still start firing: rate window + longest `for`
    (the SLO burn alerts aside: their long windows make them slow by design)."""
    ctx = _fast()
    longest = max(_for_s(r.for_) for r in catalogue_rules(ctx) if r.alert not in BURN_ALERTS)
    return duration_seconds(ctx.rate) + longest + 2.0


def resolution_bound_s() -> float:
    """Faulty samples leave the rate window, one evaluation, one group_interval, plus the same slack."""
    return duration_seconds(_fast().rate) + 2 * 1.0 + 2.0 + 10.0


def with_all_selected(board: dict[str, Any], expr: str) -> str:
    """A panel's query as Grafana sends it with every template variable of its dashboard on All (the
    variable's `allValue`, `.*`: every replica, and series without the label)."""
    variables = sorted(board.get("templating", {}).get("list", []), key=lambda v: -len(v["name"]))
    for variable in variables:
        expr = expr.replace(f"${variable['name']}", variable.get("allValue") or ".*")
    return expr


@dataclass
class DrillResult:
    healthy_seconds: float = 0.0
    false_positives: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    dashboards: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "healthy_seconds": self.healthy_seconds,
            "false_positives": self.false_positives,
            "faults": self.faults,
            "dashboards": self.dashboards,
            "failures": self.failures,
            "ok": not self.failures,
        }


class Drill:
    def __init__(self, folder: Path, healthy_s: float = 90.0, users: int = 10) -> None:
        self.folder = folder
        self.healthy_s = healthy_s
        self.users = users
        ports = StackPorts(free_port(), free_port(), free_port(), free_port())
        receiver = f"http://127.0.0.1:{ports.receiver}"
        env = {
            "JM_EMBEDDER": "hash",
            "JM_FAULTS_ENABLED": "true",
            "JM_ADMIN_TOKEN": ADMIN_TOKEN,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver,
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "JM_TRACE_SAMPLE_RATIO": "0.1",
            "JM_STM_WARM_USERS": "0",
        }
        self.stack = NativeStack(folder / "stack", fast=True, ports=ports, service_env=env)
        self.load: subprocess.Popen[bytes] | None = None
        self.result = DrillResult()

    # ---- plumbing --------------------------------------------------------------------------
    def start_load(self) -> None:
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
                self.stack.service.url,
                "--users",
                str(self.users),
                "--spawn-rate",
                str(self.users),
                "--run-time",
                "60m",
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

    def faults(self, spec: dict[str, Any] | None) -> None:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        url = f"{self.stack.service.url}/admin/faults"
        r = httpx.put(url, json=spec, headers=headers) if spec else httpx.delete(url, headers=headers)
        r.raise_for_status()

    def received(self) -> list[dict[str, Any]]:
        return [dict(a) for a in self.stack.receiver.received()]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.stack.prometheus.query(expr)]

    def wait_for(self, check: Any, timeout_s: float) -> float | None:
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if check():
                return time.monotonic() - start
            time.sleep(0.5)
        return None

    # ---- phases ----------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Caches start cold: load until the cache hit ratio and the watchdog are where they belong."""

        def warm() -> bool:
            hit = self.query(f"jm:cache_hit:ratio_rate{_fast().rate}")
            watchdog = any(a["labels"].get("alertname") == Alert.WATCHDOG for a in self.received())
            return bool(hit) and float(hit[0]["value"][1]) > 0.85 and watchdog and not self.firing()

        if self.wait_for(warm, 240) is None:
            self.result.failures.append(f"warm-up: did not settle (firing: {sorted(self.firing())})")

    def firing(self, pending: bool = False) -> set[str]:
        """Alerts firing now (with `pending`, also those on their way), the Watchdog aside."""
        selector = "ALERTS" if pending else 'ALERTS{alertstate="firing"}'
        return {r["metric"]["alertname"] for r in self.query(selector)} - {Alert.WATCHDOG.value}

    def healthy(self) -> None:
        start = time.time()
        time.sleep(self.healthy_s)
        self.result.healthy_seconds = self.healthy_s
        noise = [
            a for a in self.received() if a["received_at"] >= start and a["labels"].get("alertname") != Alert.WATCHDOG
        ]
        self.result.false_positives = noise
        if noise:
            self.result.failures.append(
                f"healthy load: {len(noise)} alerts besides the Watchdog: "
                f"{sorted({a['labels']['alertname'] for a in noise})}"
            )

    def run_fault(self, fault: Fault) -> None:
        bound = detection_bound_s(fault.expect)
        resolve_bound = resolution_bound_s()
        start = time.time()
        self.faults(fault.spec)

        def delivered(status: str, since: float) -> dict[str, Any] | None:
            for a in self.received():
                if a["received_at"] >= since and a["labels"].get("alertname") == fault.expect and a["status"] == status:
                    return a
            return None

        detected = self.wait_for(lambda: delivered("firing", start) is not None, bound + 30)
        alert = delivered("firing", start)
        pages = [
            a
            for a in self.received()
            if a["received_at"] >= start
            and a["status"] == "firing"
            and a["labels"].get("severity") == "critical"
            and a["labels"].get("alertname") not in fault.related | {fault.expect}
        ]
        cleared = time.time()
        self.faults(None)
        resolved = self.wait_for(lambda: delivered("resolved", cleared) is not None, resolve_bound + 60)
        row = {
            "fault": fault.name,
            "alert": fault.expect.value,
            "time_to_detect_s": round(detected, 1) if detected is not None else None,
            "detect_bound_s": bound,
            "time_to_resolve_s": round(resolved, 1) if resolved is not None else None,
            "resolve_bound_s": resolve_bound,
            "severity": alert["labels"].get("severity") if alert else None,
            "runbook_url": alert["annotations"].get("runbook_url") if alert else None,
            "unrelated_pages": sorted({a["labels"]["alertname"] for a in pages}),
        }
        self.result.faults.append(row)
        if detected is None or detected > bound:
            self.result.failures.append(f"{fault.name}: {fault.expect} not delivered within {bound:.0f}s ({detected})")
        config = load()
        if alert and alert["annotations"].get("runbook_url") != runbook_url(config, fault.expect):
            self.result.failures.append(f"{fault.name}: wrong runbook link {alert['annotations'].get('runbook_url')}")
        if alert and alert["labels"].get("service") != config.service.job:
            self.result.failures.append(f"{fault.name}: alert lacks the service label")
        if pages:
            self.result.failures.append(f"{fault.name}: unrelated pages {row['unrelated_pages']}")
        if resolved is None or resolved > resolve_bound:
            self.result.failures.append(
                f"{fault.name}: {fault.expect} not resolved within {resolve_bound:.0f}s ({resolved})"
            )
        # Let every alert this fault raised clear before the next fault, so faults do not mask each other:
        # an alert can still turn firing up to (rate window + longest `for`) after the fault is gone, so
        # wait that long, then until nothing is firing or pending (the slow SLO burn windows aside: they
        # take minutes by design).
        time.sleep(settle_s())
        self.wait_for(lambda: not (self.firing(pending=True) - BURN_ALERTS), 120)

    def check_dashboards(self) -> None:
        """Every panel query returns data from this Prometheus, except the collector's own panels (the
        native stack has no collector: those series exist only in the compose stack). Queries run as
        Grafana sends them with every template variable on All."""
        checked, empty, skipped = 0, [], []
        for path in sorted(DASHBOARDS_JSON.glob("*.json")):
            board = json.loads(path.read_text())
            for panel in board["panels"]:
                for target in panel.get("targets", []):
                    expr = with_all_selected(board, target["expr"])
                    if "otelcol_" in expr:
                        skipped.append(f"{path.stem} / {panel['title']}")
                        continue
                    checked += 1
                    if not self.query(expr):
                        empty.append(f"{path.stem} / {panel['title']}: {expr}")
        self.result.dashboards = {"queries": checked, "empty": empty, "skipped_collector_only": sorted(set(skipped))}
        if empty:
            self.result.failures.append(f"dashboards: {len(empty)} queries returned no data: {empty}")

    def run(self) -> DrillResult:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.stack.up()
        try:
            self.start_load()
            self.warm_up()
            self.healthy()
            self.check_dashboards()
            for fault in FAULTS:
                self.run_fault(fault)
        finally:
            self.stop_load()
            self.stack.down()
        (self.folder / "drill-report.json").write_text(json.dumps(self.result.to_json(), indent=2))
        return self.result


def table(result: DrillResult) -> str:
    lines = [
        "| fault | alert | severity | time to detect (bound) | time to resolve (bound) | unrelated pages |",
        "|---|---|---|---|---|---|",
    ]
    for r in result.faults:
        lines.append(
            f"| {r['fault']} | {r['alert']} | {r['severity']} | {r['time_to_detect_s']} s "
            f"({r['detect_bound_s']:.0f} s) | {r['time_to_resolve_s']} s ({r['resolve_bound_s']:.0f} s) | "
            f"{', '.join(r['unrelated_pages']) or 'none'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="scripts/drill", description=__doc__)
    parser.add_argument("--healthy", type=float, default=120.0, help="seconds of healthy load (no false positives)")
    parser.add_argument("--report", type=Path, default=ROOT / "perf-results" / "drill-report.json")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="jm-drill-"))
    try:
        result = Drill(folder, healthy_s=args.healthy).run()
    finally:
        report = folder / "drill-report.json"
        if report.exists():
            args.report.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(report, args.report)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"healthy load: {result.healthy_seconds:.0f} s, alerts besides the Watchdog: {len(result.false_positives)}")
    print(
        f"dashboard queries with data: {result.dashboards.get('queries', 0) - len(result.dashboards.get('empty', []))}"
        f"/{result.dashboards.get('queries', 0)}"
    )
    print(table(result))
    for failure in result.failures:
        print(f"FAIL: {failure}")
    print(f"report: {args.report}")
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
