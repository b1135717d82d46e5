"""`make bench`: every measurement in one command, smoke-sized by default, full with `--full`.

Smoke (about two minutes; run by CI, asserts nothing about speed): the baseline analyzer on 2,000
memories, the index benchmark at 10,000, a short concurrency sweep and its plot, a short MiniLM
capacity run, the Python client's cost per call over raw httpx (300 calls a side), and LoCoMo recall
through the service on one conversation with the hash embedder (a few seconds; skipped where
`../shared/locomo/` is absent). Full (tens of minutes): the baseline with both embedders at 10k and
100k, the index benchmark at 10k and 100k for both embedders, the sweep from 1 to 64 connections, the
capacity run for 40 s, the client's overhead at 2,000 calls a side, round two's goals side by side
with round one's build (`perf/goals`: the idle write path, a user bigger than the tier, a million
memories and their cold start, MiniLM at 500 operations/s, telemetry overhead; about an hour), and
LoCoMo recall on every shared conversation with MiniLM (`jean-memory-dev recall`). 1M MiniLM memories
is its own command (half an hour of embedding):
`jean-memory-dev indexbench --embedder minilm --memories 1000000 --index sq8 flat --cache DIR`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jean_memory_dev.perf import baseline, capacity, clientbench, goals, history, indexbench, locomo, recall, sweep


def run(full: bool, results: Path) -> dict[str, Any]:
    results.mkdir(parents=True, exist_ok=True)
    tag = "full" if full else "smoke"
    work = Path(tempfile.mkdtemp(prefix="jm-bench-"))
    try:
        if full:
            scenarios = [
                baseline.Scenario(embedder=e, memories=n, users=n // 1000, duration_s=10.0)
                for e in ("hash", "minilm")
                for n in (10_000, 100_000)
            ]
            index_rows = indexbench.run(["hash", "minilm"], [10_000, 100_000])
            levels: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
            seconds = 5.0
            cap_seconds, model_seconds = 40.0, 10.0
        else:
            scenarios = [baseline.Scenario(embedder="hash", memories=2000, users=4, rate=200.0, duration_s=3.0)]
            index_rows = indexbench.run(["hash"], [10_000], n_queries=100)
            levels, seconds = (1, 4, 16, 32), 2.0
            cap_seconds, model_seconds = 6.0, 3.0
        report = baseline.run(scenarios)
        sweep_rows = sweep.sweep(work, levels, seconds)
        capacity_report = capacity.run("minilm", cap_seconds, model_seconds)
        client_report = clientbench.run(calls=2000 if full else 300)
        goals_report = goals.run() if full else None
        recall_report = _recall(full, results, tag)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    png = results / f"latency-vs-concurrency-{tag}.png"
    sweep.plot(sweep_rows, png, f"Jean Memory, hash embedder, add+search mix ({tag}, {datetime.now(UTC):%Y-%m-%d})")
    out = {
        "kind": tag,
        "baseline": report,
        "index": index_rows,
        "sweep": sweep_rows,
        "capacity": capacity_report,
        "client": client_report,
        "plot": str(png),
    }
    if recall_report is not None:
        out["recall"] = recall_report
    if goals_report is not None:
        out["goals"] = goals_report
        (results / "goals.json").write_text(json.dumps(goals_report, indent=2, sort_keys=True))
        goals.plot(goals_report, results / "goals.png")
    (results / f"bench-{tag}.json").write_text(json.dumps(out, indent=2, sort_keys=True))
    if full:  # the trend across runs: perf-results/history.jsonl and its plot (perf/history.py)
        history.record(out, results / history.HISTORY.name, results / history.PLOT.name)
    return out


def _recall(full: bool, results: Path, tag: str) -> dict[str, Any] | None:
    """LoCoMo recall (`perf/recall.py`): saved with its plot as recall-<tag>.json/.png; None without the data."""
    if not locomo.DEFAULT_PATH.is_dir():
        return None
    report = recall.run("minilm", None) if full else recall.run("hash", 1)
    (results / f"recall-{tag}.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    recall.plot(report, results / f"recall-{tag}.png")
    return {k: report[k] for k in ("date", "embedder", "conversations", "questions", "search_latency_ms", "retrievers")}


def summary(out: dict[str, Any]) -> str:
    parts = [
        baseline.table(out["baseline"]),
        "",
        baseline.targets_table(out["baseline"]),
        "",
        indexbench.table(out["index"]),
        "",
        "| connections | req/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|",
    ]
    parts += [
        f"| {r['connections']} | {r['rps']:.0f} | {r['p50_ms']} | {r['p99_ms']} | {r['error_rate']} |"
        for r in out["sweep"]
    ]
    parts += ["", capacity.table(out["capacity"]), "", clientbench.table(out["client"])]
    if "goals" in out:
        parts += ["", goals.tables(out["goals"])]
    if "recall" in out:
        service = out["recall"]["retrievers"]["service"]["overall"]
        cells = ", ".join(f"R@{k} {service[f'r@{k}']:.3f}" for k in recall.KS)
        parts += ["", f"LoCoMo recall through the service ({out['recall']['embedder']}): {cells}"]
    parts.append(f"\nplot: {out['plot']}")
    return "\n".join(parts)
