"""Fire drills: real load into the real service, real Prometheus and Alertmanager (in HA: two Prometheus
replicas, three clustered Alertmanagers) with the drill rules, a fault injected, and the right alert
delivered to the receiver once and in time, then resolved.

    scripts/drill              # = make drill: the full run (every alert, the cluster, HA, silences)
    scripts/drill --quick      # the quick run of `make test` (tests/e2e/test_fire_drill.py)
    scripts/drill --docs       # also write the tables into docs/drills.md

One monitoring stack in HA (two Prometheus replicas, three clustered Alertmanagers, the receiver) serves
both runs: started once, its scrapes pointed at the embedded service, then at the cluster.

The quick run: the embedded service, its five original faults (each also delivering the SLO burn page it
causes) and a blocked event loop, independent ones injected together (`together.py`), and the dead man's
switch, during which the cluster's processes start; then the cluster (PostgreSQL, three replicas behind
HAProxy): a replica killed under load within the SLO's error budget, two replicas killed while an
Alertmanager and a Prometheus die. The full run adds the embedded service's other alerts, and in the cluster
a silenced replica under maintenance, a stalling replica, every replica's model failing. `faults.coverage()`
names the drill of every alert.

    model.py         what a fault is (actions, expected alerts, consequences), what an action may ask (Target)
    actions.py       admin faults, processes paused or killed, load shapes
    faults.py        the faults of each run
    infrafaults.py   the full cluster run's faults of PostgreSQL and HAProxy
    coverage.py      which drill raises each alert of the catalogue, and why the others are not drilled
    bounds.py        detection, resolution and settle bounds, derived from the intervals
    runner.py        one stack under drill (DrillRun): the phases, composing the three parts below
    loaddriver.py    the locust load
    observer.py      Prometheus and the receiver, as the drill reads them
    engine.py        the engine that injects one fault and checks what arrives
    dashcheck.py     every dashboard query answered
    embeddeddrill.py the embedded service
    clusterdrill.py  the cluster
    report.py        JSON report and Markdown tables
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from jean_memory_dev.background import side_by_side
from jean_memory_dev.drill.bounds import detection_bound_s, resolution_bound_s, settle_s
from jean_memory_dev.drill.clusterdrill import ClusterDrill
from jean_memory_dev.drill.coverage import coverage
from jean_memory_dev.drill.dashcheck import with_all_selected
from jean_memory_dev.drill.embeddeddrill import EmbeddedDrill
from jean_memory_dev.drill.faults import quick
from jean_memory_dev.drill.report import DrillResult, checks_table, coverage_table, table, tolerated_text, write_docs
from jean_memory_dev.nativestack import Monitoring, StackPorts
from jean_memory_dev.paths import ROOT

__all__ = [
    "FAULTS",
    "DrillResult",
    "coverage",
    "detection_bound_s",
    "main",
    "resolution_bound_s",
    "run",
    "settle_s",
    "table",
    "with_all_selected",
]

#: The quick run's faults (the five original ones and the blocked event loop).
FAULTS = quick()


def run(folder: Path, full: bool = False, healthy_s: float = 120.0, cluster: bool = True) -> DrillResult:
    """Run the drill in `folder`: the embedded stack, then (unless `cluster=False`) the cluster, both under
    one monitoring stack. Every process started is stopped, whatever happens; the JSON report is written
    to `folder/drill-report.json`."""
    result = DrillResult(kind="full" if full else "quick")
    result.coverage = [asdict(c) for c in coverage()]
    started = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    monitoring = Monitoring(folder / "monitoring", StackPorts.free(), fast=True, ha=True)
    cluster_run: ClusterDrill | None = None

    def start_cluster() -> ClusterDrill:
        """Made and started while the embedded run's last fault runs (the embedded stack's ports are taken
        by then, so the cluster's free ports cannot collide with them)."""
        nonlocal cluster_run
        cluster_run = ClusterDrill(folder / "cluster", result, monitoring, healthy_s=min(healthy_s, 60.0), full=full)
        cluster_run.start_stack()
        return cluster_run

    try:
        monitoring.render({})  # Alertmanager's configuration; Prometheus scrapes once a stack is up
        monitoring.start_alerting(settle=False)  # the embedded run waits for the cluster before its first fault
        next_run = start_cluster if cluster else None
        EmbeddedDrill(folder / "embedded", result, monitoring, healthy_s=healthy_s, full=full, next_run=next_run).run()
        if cluster:
            (cluster_run or start_cluster()).run()
    except Exception as exc:  # reported; every process was stopped by the runs' own `finally`
        result.failures.append(f"drill aborted: {exc!r}")
    finally:
        # The drill is over: Prometheus first (so the cluster's stop points no scrape away), then the rest of the
        # monitoring and the cluster side by side: no alert counts any more.
        side_by_side([prom.stop for prom in monitoring.prometheus])
        side_by_side([monitoring.stop] + ([cluster_run.stop] if cluster_run is not None else []))
        result.duration_s = time.monotonic() - started
        (folder / "drill-report.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="scripts/drill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the quick run only (as in make test)")
    parser.add_argument("--no-cluster", action="store_true", help="the embedded service only")
    parser.add_argument("--healthy", type=float, default=120.0, help="seconds of healthy load (no false positives)")
    parser.add_argument("--report", type=Path, default=ROOT / "perf-results" / "drill-report.json")
    parser.add_argument("--docs", action="store_true", help="write the tables into docs/drills.md")
    parser.add_argument("--docs-from", type=Path, metavar="REPORT", help="write the docs from a saved report; no run")
    args = parser.parse_args(argv)
    # A stopped drill (SIGTERM: CI's timeout, kill) unwinds like Ctrl-C, so every `finally` stops the
    # processes it started instead of leaving Prometheus, Alertmanagers and the service running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.docs_from:
        saved = DrillResult.load(args.docs_from)
        saved.coverage = [asdict(c) for c in coverage()]  # the catalogue as it is now: newer alerts say why
        write_docs(saved)
        print(f"wrote the tables of {args.docs_from} ({saved.kind}, {saved.started}); failures: {len(saved.failures)}")
        return 0
    folder = Path(tempfile.mkdtemp(prefix="jm-drill-"))
    try:
        result = run(folder, full=not args.quick, healthy_s=args.healthy, cluster=not args.no_cluster)
    finally:
        report = folder / "drill-report.json"
        if report.exists():
            args.report.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(report, args.report)
        shutil.rmtree(folder, ignore_errors=True)
    for mode, summary in result.runs.items():
        dashboards = summary.get("dashboards", {})
        tolerated = tolerated_text(summary)
        print(
            f"{mode}: healthy load {summary.get('healthy_seconds', 0):.0f} s, alerts besides the Watchdog: "
            f"{len(summary.get('false_positives', []))}, tolerated tickets: {tolerated or 'none'}; dashboard "
            f"queries with data: {dashboards.get('queries', 0) - len(dashboards.get('empty', []))}"
            f"/{dashboards.get('queries', 0)}"
        )
    print(table(result), checks_table(result), coverage_table(result), sep="\n\n")
    print(f"\n{result.kind} drill: {result.duration_s / 60:.1f} minutes")
    for failure in result.failures:
        print(f"FAIL: {failure}")
    if args.docs and not result.failures:
        write_docs(result)
    print(f"report: {args.report}")
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
