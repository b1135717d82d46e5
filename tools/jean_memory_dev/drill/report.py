"""The drill's result: JSON for `perf-results/drill-report.json`, and the tables for docs/drills.md.

`write_docs()` replaces the block between `<!-- drill:start -->` and `<!-- drill:end -->` in
docs/drills.md with this run's tables, and its `drill-summary` block with one row per alert
(`scripts/drill --docs`, or `--docs-from REPORT` for a saved run), so both show a real run.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jean_memory_dev.paths import ROOT

DRILLS = ROOT / "docs" / "drills.md"


@dataclass
class DrillResult:
    kind: str = "quick"
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    duration_s: float = 0.0
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    coverage: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, **details: Any) -> None:
        """A drill outcome that is not an alert's delivery (HA, silences, the load's error budget)."""
        self.checks.append({"check": name, "ok": ok, **details})
        if not ok:
            self.failures.append(f"{name}: {details}")

    @classmethod
    def load(cls, path: Path) -> DrillResult:
        """A run's report read back (`drill-report.json`), to write its tables again."""
        data = json.loads(path.read_text())
        return cls(
            kind=data["kind"],
            started=data["date"],
            duration_s=float(data["duration_s"]),
            runs=data["runs"],
            faults=data["faults"],
            checks=data["checks"],
            coverage=data["coverage"],
            failures=data["failures"],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "date": self.started,
            "duration_s": round(self.duration_s),
            "runs": self.runs,
            "faults": self.faults,
            "checks": self.checks,
            "coverage": self.coverage,
            "failures": self.failures,
            "ok": not self.failures,
        }


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:g} s"


def _notified(row: dict[str, Any]) -> str:
    """`1x`, or `1x (+2 HA flush race)` where Alertmanager's HA race added a firing and a resolution
    (see drill/flushrace.py)."""
    race = row.get("flush_race_notifications", 0)
    return f"{row['notifications']}x" + (f" (+{race} HA flush race)" if race else "")


def named(row: dict[str, Any]) -> str:
    """The alert's name, with the SLO where one name covers several (reports before 12-07 have no `slo`)."""
    return f"{row['alert']} ({row['slo']})" if row.get("slo") else str(row["alert"])


def table(result: DrillResult) -> str:
    """One row per alert delivered: time to detect and to resolve against the bounds, notifications."""
    lines = [
        "| run | fault | alert | route | detect (bound) | resolve (bound) | notified | unrelated pages |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result.faults:
        lines.append(
            f"| {r['run']} | {r['fault']} | {named(r)} | {r['route']} | {_s(r['time_to_detect_s'])} "
            f"({r['detect_bound_s']:.0f} s) | {_s(r['time_to_resolve_s'])} ({r['resolve_bound_s']:.0f} s) | "
            f"{_notified(r)} | {', '.join(r['unrelated_pages']) or 'none'} |"
        )
    return "\n".join(lines)


def checks_table(result: DrillResult) -> str:
    lines = ["| check | result | details |", "|---|---|---|"]
    for c in result.checks:
        details = "; ".join(f"{k}: {v}" for k, v in c.items() if k not in ("check", "ok"))
        lines.append(f"| {c['check']} | {'ok' if c['ok'] else 'FAILED'} | {details} |")
    return "\n".join(lines)


def coverage_table(result: DrillResult) -> str:
    """Every alert of the catalogue: which drills raise it, and whether this run delivered it."""
    delivered: dict[str, list[str]] = {}
    for r in result.faults:
        if r["time_to_detect_s"] is not None:
            delivered.setdefault(r["alert"], []).append(f"{r['run']}/{r['fault']}")
    lines = ["| alert | drilled by | delivered in this run |", "|---|---|---|"]
    for c in result.coverage:
        runs = "; ".join(c["runs"]) or c.get("why_not", "")
        lines.append(f"| {c['alert']} | {runs} | {', '.join(delivered.get(c['alert'], [])) or '-'} |")
    return "\n".join(lines)


def summary_table(result: DrillResult) -> str:
    """The summary table: every alert of the catalogue, one row per route it has (a burn alert pages and
    tickets), with its fastest delivery in this run against its bounds, or what covers it instead."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in result.faults:
        key, best = (r["alert"], r["route"]), rows.get((r["alert"], r["route"]))
        if r["time_to_detect_s"] is not None and (best is None or r["time_to_detect_s"] < best["time_to_detect_s"]):
            rows[key] = r
    lines = ["| alert | route | drill | detect (bound) | resolve (bound) |", "|---|---|---|---|---|"]
    for c in result.coverage:
        hits = [r for (alert, _), r in sorted(rows.items()) if alert == c["alert"]]
        if not hits and c.get("why_not"):
            lines.append(f"| {c['alert']} | | not drilled | {c['why_not']} | |")
        elif not hits:
            lines.append(f"| {c['alert']} | | no fault of its own | {'; '.join(c['runs']) or '-'} | |")
        for hit in hits:
            lines.append(
                f"| {c['alert']} | {hit['route']} | {hit['run']}/{hit['fault']} | {_s(hit['time_to_detect_s'])} "
                f"({hit['detect_bound_s']:.0f} s) | {_s(hit['time_to_resolve_s'])} ({hit['resolve_bound_s']:.0f} s) |"
            )
    minutes = result.duration_s / 60
    failed = len(result.failures)
    verdict = "passed" if not failed else f"{failed} failure{'s' if failed != 1 else ''}"
    return (
        f"Latest `make drill` ({result.started[:16]}Z, {result.kind} drill, this 2-core VM, {minutes:.0f} minutes, "
        f"{verdict}; every run and check: [the tables above](#latest-run)):\n\n" + "\n".join(lines) + "\n"
    )


def markdown(result: DrillResult) -> str:
    minutes = result.duration_s / 60
    return (
        f"Latest run ({result.started[:10]}, {result.kind} drill, this 2-core VM, {minutes:.0f} minutes).\n\n"
        + table(result)
        + "\n\n"
        + checks_table(result)
        + "\n\nEvery alert of the catalogue, the drills that raise it, and whether this run delivered it:\n\n"
        + coverage_table(result)
        + "\n"
        + healthy_list(result)
        + failures_list(result)
    )


def tolerated_text(run: dict[str, Any]) -> str:
    """A run's tolerated tickets, each with whether its figure held over the whole healthy window."""
    held = run.get("figures_held_over_window", {})
    return ", ".join(
        f"{n} (its figure over the whole window {'held' if held.get(n) else 'did not hold'})"
        for n in run.get("tolerated", [])
    )


def healthy_list(result: DrillResult) -> str:
    """Each run's healthy window: its length, false positives, and the tickets tolerated with their figures."""
    lines = []
    for mode, run in result.runs.items():
        tolerated = tolerated_text(run)
        lines.append(
            f"- {mode}: {run.get('healthy_seconds', 0):.0f} s of healthy load, "
            f"{len(run.get('false_positives', []))} false positives, tolerated tickets: {tolerated or 'none'}\n"
        )
    return "\nHealthy windows (`drill/noise.py`):\n\n" + "".join(lines)


def failures_list(result: DrillResult) -> str:
    """What failed in the run, said where its tables are (empty when nothing did)."""
    if not result.failures:
        return ""
    return "\n**Failures in this run:**\n\n" + "".join(f"- {f}\n" for f in result.failures)


def _replace_block(page: Path, marker: str, body: str) -> None:
    text = page.read_text()
    block = f"<!-- {marker}:start -->\n{body}<!-- {marker}:end -->"
    new, n = re.subn(rf"<!-- {marker}:start -->.*?<!-- {marker}:end -->", lambda _: block, text, flags=re.S)
    if n != 1:
        raise ValueError(f"{page}: expected one {marker} block")
    page.write_text(new)


def write_docs(result: DrillResult, page: Path = DRILLS) -> None:
    """Put this run's tables between the drill markers of docs/drills.md, and its one-row-per-alert
    summary between the summary's markers."""
    _replace_block(page, "drill", markdown(result))
    _replace_block(page, "drill-summary", summary_table(result))


class RunLog:
    """One run's (a mode's) part of the result: its summary (`result.runs[mode]`), its failures, its log lines
    on stderr."""

    def __init__(self, result: DrillResult, mode: str) -> None:
        self.result = result
        self.mode = mode

    @property
    def summary(self) -> dict[str, Any]:
        return self.result.runs.setdefault(self.mode, {})

    def log(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')} {self.mode}] {message}", file=sys.stderr, flush=True)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Time one phase of the run (start, warm-up, a fault...): logged, and kept in the summary's `phases`,
        in order, so that a report says where a drill's minutes went."""
        start = time.monotonic()
        try:
            yield
        finally:
            took = round(time.monotonic() - start, 1)
            self.summary.setdefault("phases", []).append({"phase": phase, "seconds": took})
            self.log(f"{phase}: {took:.1f} s")

    def fail(self, message: str) -> None:
        self.result.failures.append(message)
        print(f"FAIL: {message}", file=sys.stderr, flush=True)
