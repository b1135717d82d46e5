"""Benchmark history: every full bench run appends its key figures to perf-results/history.jsonl and
redraws the plot; the committed history starts with the committed full run."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from jean_memory_dev.perf import bench, history

ROOT = Path(__file__).resolve().parents[2]


def full_run() -> dict:
    return json.loads((ROOT / "perf-results" / "bench-full.json").read_text())


def test_the_committed_history_holds_the_committed_full_run() -> None:
    entries = history.read()
    assert entries, "perf-results/history.jsonl is empty"
    first = next(e for e in entries if e["date"] == full_run()["baseline"]["date"])
    assert first["figures"] == history.figures(full_run())
    for entry in entries:
        assert {"date", "commit", "kind", "machine", "figures"} <= set(entry)
        assert entry["figures"], entry["date"]


def test_every_plotted_figure_is_recorded() -> None:
    recorded = set(history.figures(full_run()))
    for _title, _unit, series, _target in history.PANELS:
        for key, _label in series:
            assert key in recorded, key


def test_append_is_once_per_run_and_the_plot_is_drawn(tmp_path: Path) -> None:
    path, png = tmp_path / "history.jsonl", tmp_path / "history.png"
    history.append(full_run(), path, commit="abc1234")
    history.append(full_run(), path, commit="abc1234")
    later = {**full_run(), "baseline": {**full_run()["baseline"], "date": "2026-12-01T00:00:00+00:00"}}
    history.record(later, path, png)
    assert [e["date"][:10] for e in history.read(path)] == ["2026-11-24", "2026-12-01"]
    assert png.stat().st_size > 10_000


def test_a_full_bench_run_records_its_history() -> None:
    source = inspect.getsource(bench.run)
    assert "if full:" in source and "history.record(" in source
